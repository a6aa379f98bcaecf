"""Raw IDX arrays to normalized one-hot tensors in seeded train/val/test splits; their checks."""

from typing import Any, TypeVar

import numpy as np
import torch

from fmnist.data.classes import CLASS_NAMES, IMAGE_SIZE, NUM_CLASSES
from fmnist.errors import DataError

ArrayLike = TypeVar("ArrayLike", np.ndarray, torch.Tensor)
Split = dict[str, torch.Tensor]  # {"x": float32 [N, 1, 28, 28] in [0, 1], "y": one-hot [N, 10]}


def to_tensors(images: np.ndarray, labels: np.ndarray) -> Split:
    """uint8 [N, 784] and [N] -> {"x": float32 [N, 1, 28, 28] in [0, 1], "y": one-hot [N, 10]}."""
    x = torch.from_numpy(images.astype(np.float32) / 255.0).reshape(-1, 1, *IMAGE_SIZE)
    # x: (N, 1, H, W)
    y = torch.nn.functional.one_hot(torch.from_numpy(labels.astype(np.int64)), NUM_CLASSES)
    return {"x": x, "y": y.float()}


def split_sizes(n: int, val_fraction: float) -> tuple[int, int]:
    """(train, val) sample counts of `n` samples; ValueError if either would be empty."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n_val = round(n * val_fraction)
    if n_val == 0 or n_val == n:
        raise ValueError(f"val_fraction {val_fraction} of {n} samples leaves an empty "
                         f"{'validation' if n_val == 0 else 'training'} split")
    return n - n_val, n_val


def subsample(images: ArrayLike, labels: ArrayLike, limit: int, generator: torch.Generator,
              ) -> tuple[ArrayLike, ArrayLike]:
    """A seeded random subset of `limit` samples, numpy arrays or tensors (all when limit is 0)."""
    if limit == 0 or limit >= len(labels):
        return images, labels
    rows = torch.randperm(len(labels), generator=generator)[:limit].sort().values.numpy()
    return images[rows], labels[rows]


def make_splits(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                val_fraction: float, generator: torch.Generator, limit: int = 0,
                ) -> dict[str, Split]:
    """{"train", "val", "test"} tensors from the raw (images, labels) of both files; `limit`
    subsamples the training file only, so test metrics always cover the whole test set."""
    images, labels = subsample(*train, limit, generator)
    _, n_val = split_sizes(len(labels), val_fraction)
    order = torch.randperm(len(labels), generator=generator)  # the first n_val for validation
    train_rows, val_rows = order[n_val:].sort().values, order[:n_val].sort().values
    full = to_tensors(images, labels)
    return {"train": {k: v[train_rows] for k, v in full.items()},
            "val": {k: v[val_rows] for k, v in full.items()}, "test": to_tensors(*test)}


def class_counts(onehot: torch.Tensor) -> dict[str, int]:
    """Samples per class name, in class order."""
    return dict(zip(CLASS_NAMES, onehot.sum(dim=0).long().tolist(), strict=True))


def split_summary(splits: dict[str, Split]) -> dict[str, dict[str, Any]]:
    """Counts per split and per class."""
    return {name: {"samples": len(split["y"]), "per_class": class_counts(split["y"])}
            for name, split in splits.items()}


def check_split(split: Any, name: str) -> Split:
    """`split` if it is a prepared split (see `Split`), else DataError naming `name` and why."""
    if not isinstance(split, dict) or not {"x", "y"} <= split.keys():
        raise DataError(f"{name}: expected a dict with tensors 'x' and 'y', got "
                        f"{_describe(split)}")
    x, y = split["x"], split["y"]
    _check_tensor(x, (1, *IMAGE_SIZE), "images 'x'", name)
    _check_tensor(y, (NUM_CLASSES,), "labels 'y'", name)
    if len(x) != len(y):
        raise DataError(f"{name}: {len(x)} images but {len(y)} labels")
    if not bool(torch.isfinite(x).all()):
        raise DataError(f"{name}: images 'x' hold NaN or infinite values")
    if float(x.min()) < 0.0 or float(x.max()) > 1.0:
        raise DataError(f"{name}: images 'x' must lie in [0, 1], found values in "
                        f"[{float(x.min()):g}, {float(x.max()):g}]")
    if not bool(((y == 0) | (y == 1)).all() and (y.sum(dim=1) == 1).all()):
        raise DataError(f"{name}: labels 'y' must be one-hot rows (one 1, nine 0s)")
    return split


def _check_tensor(t: Any, sample_shape: tuple[int, ...], what: str, name: str) -> None:
    """DataError unless `t` is a float32 tensor [N, *sample_shape] with N >= 1."""
    want = f"float32 [N, {', '.join(map(str, sample_shape))}] with N >= 1"
    if not isinstance(t, torch.Tensor):
        raise DataError(f"{name}: {what} must be a tensor {want}, got {_describe(t)}")
    if t.dtype != torch.float32 or tuple(t.shape[1:]) != sample_shape or len(t) == 0:
        raise DataError(f"{name}: {what} must be {want}, got {t.dtype} {list(t.shape)}")


def _describe(value: Any) -> str:
    """A short description of an unexpected value: its type, and keys for a dict."""
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    return type(value).__name__
