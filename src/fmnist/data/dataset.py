"""The assignment's batching Dataset: indexable batches, reshuffled on demand."""

from __future__ import annotations

import math
import operator

import torch


class Dataset:
    """Batches of `(samples, labels)`: `len()` is the number of batches, the last may be smaller."""

    def __init__(self, samples: torch.Tensor, labels: torch.Tensor, batch_size: int) -> None:
        batch_size = count(batch_size, "batch_size")
        samples, labels = torch.as_tensor(samples), torch.as_tensor(labels)  # numpy too
        if len(samples) != len(labels):
            raise ValueError(f"samples and labels differ in length: {len(samples)} samples, "
                             f"{len(labels)} labels")
        self.samples = samples
        self.labels = labels
        self.batch_size = batch_size
        self.order = torch.arange(len(samples))

    def __len__(self) -> int:
        """Number of batches, `ceil(N / batch_size)`."""
        return math.ceil(len(self.samples) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch `index` of the current permutation; negative indices count from the end."""
        index = operator.index(index)  # accept numpy/torch integers, refuse floats and slices
        n = len(self)
        if index < -n or index >= n:
            raise IndexError(f"batch index {index} out of range for {n} batches")
        index %= n
        rows = self.order[index * self.batch_size: (index + 1) * self.batch_size]
        return self.samples[rows], self.labels[rows]

    @property
    def num_samples(self) -> int:
        """Number of samples N."""
        return len(self.samples)

    def shuffle(self, generator: torch.Generator | None = None) -> None:
        """Draw a new permutation of the samples; labels move with their samples."""
        self.order = torch.randperm(len(self.samples), generator=generator)

    def to(self, device: torch.device | str) -> Dataset:
        """Return a dataset with the same batches whose tensors live on `device`."""
        moved = Dataset(self.samples.to(device), self.labels.to(device), self.batch_size)
        moved.order = self.order.clone()
        return moved


def count(value: object, name: str) -> int:
    """`value` as an int >= 1 (numpy and torch integers too), else ValueError naming `name`."""
    try:
        size = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        size = None
    if isinstance(value, bool) or size is None or size < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return size
