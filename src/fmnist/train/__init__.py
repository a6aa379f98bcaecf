"""Training: `fit` and evaluation, augmentation, and the tuned network's recipe."""
