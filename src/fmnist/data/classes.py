"""What every part of the pipeline agrees on about Fashion-MNIST itself."""

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SIZE = (28, 28)
TRAIN_SAMPLES = 60000  # in train-images-idx3-ubyte; the test file holds 10000
