"""Figures of the data: one sample per class, and one batch."""

import math

import torch
from matplotlib.figure import Figure

from fmnist.data.classes import CLASS_NAMES


def image_grid(images: torch.Tensor, titles: list[str], columns: int, title: str) -> Figure:
    """A grid of grayscale images [N, 1, 28, 28] with one title each."""
    rows = math.ceil(len(images) / columns)
    fig = Figure(figsize=(1.6 * columns, 1.8 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, name in zip(axes.flat, images, titles, strict=False):
        ax.imshow(image.squeeze(0).cpu().numpy(), cmap="gray_r", vmin=0.0, vmax=1.0)
        ax.set_title(name, fontsize=8)
    fig.suptitle(title)
    return fig


def class_samples_figure(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Figure:
    """One random sample of each class, titled with its class name."""
    labels = y.argmax(dim=1)
    picks = []
    for k in range(len(CLASS_NAMES)):
        rows = torch.nonzero(labels == k).flatten()
        if len(rows):
            picks.append(int(rows[torch.randint(len(rows), (1,), generator=generator)]))
    return image_grid(x[picks], [CLASS_NAMES[int(labels[i])] for i in picks], 5,
                      "One random training sample per class")


def batch_figure(x: torch.Tensor, y: torch.Tensor, count: int = 16) -> Figure:
    """The first `count` samples of a batch with their class names."""
    names = [CLASS_NAMES[int(k)] for k in y[:count].argmax(dim=1)]
    return image_grid(x[:count], names, 4, f"{min(count, len(x))} samples of a training batch")
