"""fmnist: Fashion-MNIST from raw gz files to a tuned, evaluated classifier."""

__version__ = "0.1.0"
