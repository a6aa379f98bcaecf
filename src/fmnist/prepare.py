"""Turn raw IDX arrays into normalized, split, one-hot tensors."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from fmnist.dataset import Dataset
from fmnist.errors import DataError, ParamError
from fmnist.idx import CLASS_NAMES, load_mnist

NUM_CLASSES = len(CLASS_NAMES)
ArrayLike = TypeVar("ArrayLike", np.ndarray, torch.Tensor)
SPLITS = ("train", "val", "test")


def to_tensors(images: np.ndarray, labels: np.ndarray) -> dict[str, torch.Tensor]:
    """uint8 [N, 784] and [N] -> {"x": float32 [N, 1, 28, 28] in [0, 1], "y": one-hot [N, 10]}."""
    x = torch.from_numpy(images.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)  # (N, 1, H, W)
    y = torch.nn.functional.one_hot(torch.from_numpy(labels.astype(np.int64)), NUM_CLASSES)
    return {"x": x, "y": y.float()}


def split_indices(n: int, val_fraction: float, generator: torch.Generator,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (train, val) index tensors, `round(n * val_fraction)` of them for validation."""
    if not 0.0 < val_fraction < 1.0:
        raise ParamError(f"params.yaml: 'data.val_fraction' must be in (0, 1), got {val_fraction}")
    n_val = round(n * val_fraction)
    if n_val == 0 or n_val == n:
        raise ParamError(f"params.yaml: 'data.val_fraction' {val_fraction} leaves an empty split "
                         f"of {n} samples")
    order = torch.randperm(n, generator=generator)
    return order[n_val:].sort().values, order[:n_val].sort().values


def subsample(images: ArrayLike, labels: ArrayLike, limit: int, generator: torch.Generator,
              ) -> tuple[ArrayLike, ArrayLike]:
    """A seeded random subset of `limit` samples, numpy arrays or tensors (all when limit is 0)."""
    if limit <= 0 or limit >= len(labels):
        return images, labels
    rows = torch.randperm(len(labels), generator=generator)[:limit].sort().values.numpy()
    return images[rows], labels[rows]


def prepare_splits(raw_dir: str | Path, val_fraction: float, generator: torch.Generator,
                   limit: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Load the raw files and return {"train", "val", "test"} tensor dicts."""
    images, labels = subsample(*load_mnist(raw_dir, "train"), limit, generator)
    train_rows, val_rows = split_indices(len(labels), val_fraction, generator)
    full = to_tensors(images, labels)
    test_images, test_labels = subsample(*load_mnist(raw_dir, "t10k"), limit, generator)
    return {
        "train": {k: v[train_rows] for k, v in full.items()},
        "val": {k: v[val_rows] for k, v in full.items()},
        "test": to_tensors(test_images, test_labels),
    }


def load_split(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a saved split and check its shapes."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: prepared split not found (run `dvc repro prepare`)")
    split = torch.load(path, weights_only=True)
    x, y = split.get("x"), split.get("y")
    if x is None or y is None or x.ndim != 4 or y.shape != (len(x), NUM_CLASSES):
        raise DataError(f"{path}: expected {{'x': [N, 1, 28, 28], 'y': [N, {NUM_CLASSES}]}}")
    return split


def load_dataset(path: str | Path, batch_size: int) -> Dataset:
    """A Dataset over a saved split."""
    split = load_split(path)
    return Dataset(split["x"], split["y"], batch_size)


def class_counts(onehot: torch.Tensor) -> dict[str, int]:
    """Samples per class name."""
    counts = onehot.sum(dim=0).long().tolist()
    return dict(zip(CLASS_NAMES, counts, strict=True))


def split_summary(splits: dict[str, dict[str, torch.Tensor]]) -> dict[str, dict]:
    """Counts per split and per class, for metrics/prepare.json."""
    return {name: {"samples": len(split["y"]), "per_class": class_counts(split["y"])}
            for name, split in splits.items()}
