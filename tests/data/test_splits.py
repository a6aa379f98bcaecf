"""Splits: normalized one-hot tensors, seeded and disjoint, and the check of a loaded split."""

import numpy as np
import pytest
import torch

from fmnist.data.classes import CLASS_NAMES
from fmnist.data.splits import (
    check_split,
    class_counts,
    make_splits,
    split_sizes,
    split_summary,
    subsample,
    to_tensors,
)
from fmnist.errors import DataError


def raw(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 784), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def good(n: int = 4) -> dict[str, torch.Tensor]:
    return to_tensors(*raw(n))


def test_to_tensors_normalizes_and_one_hot_encodes():
    images, labels = raw(5)
    split = to_tensors(images, labels)
    assert split["x"].shape == (5, 1, 28, 28) and split["x"].dtype == torch.float32
    assert torch.equal(split["x"].reshape(5, 784) * 255, torch.from_numpy(images).float())
    assert torch.equal(split["y"].argmax(1), torch.from_numpy(labels).long())


def test_make_splits_are_seeded_disjoint_and_sized():
    splits = [make_splits(raw(50), raw(20, 1), 0.2, torch.Generator().manual_seed(3))
              for _ in range(2)]
    a, b = splits
    assert all(torch.equal(a[k]["x"], b[k]["x"]) for k in a)
    assert [len(a[k]["y"]) for k in ("train", "val", "test")] == [40, 10, 20]
    rows = {tuple(r.tolist()) for k in ("train", "val") for r in a[k]["x"].reshape(-1, 784)}
    assert len(rows) == 50  # every training sample in exactly one split
    limited = make_splits(raw(50), raw(20, 1), 0.2, torch.Generator().manual_seed(3), limit=10)
    # the subset shrinks train and val only: test metrics stay comparable across experiments
    assert [len(limited[k]["y"]) for k in ("train", "val", "test")] == [8, 2, 20]


@pytest.mark.parametrize(("n", "fraction", "message"), [
    (10, 0.0, r"must be in \(0, 1\)"), (10, 1.0, r"must be in \(0, 1\)"),
    (3, 0.1, "empty validation split"), (3, 0.9, "empty training split")])
def test_split_sizes_refuse_empty_splits(n, fraction, message):
    with pytest.raises(ValueError, match=message):
        split_sizes(n, fraction)


def test_subset_is_seeded():
    x, y = torch.rand(50, 1, 28, 28), torch.arange(50)
    a, b = (subsample(x, y, 10, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a[0], b[0]) and len(a[0]) == 10
    assert subsample(x, y, 0, torch.Generator().manual_seed(3))[0] is x


def test_counts_in_class_order():
    split = good(23)
    assert list(class_counts(split["y"])) == list(CLASS_NAMES)
    assert split_summary({"train": split})["train"]["samples"] == 23


def bad(**change: object) -> object:
    split = good()
    split.update(change)
    return split


@pytest.mark.parametrize(("split", "message"), [
    ([1, 2], "expected a dict with tensors 'x' and 'y', got list"),
    ({"x": torch.zeros(1)}, r"got a dict with keys \['x'\]"),
    (bad(x=torch.zeros(4, 3, 28, 28)), r"images 'x' must be float32 \[N, 1, 28, 28\]"),
    (bad(x=torch.zeros(4, 1, 32, 32)), r"got torch.float32 \[4, 1, 32, 32\]"),
    (bad(x=torch.zeros(4, 1, 28, 28, dtype=torch.float64)), "got torch.float64"),
    (bad(x=torch.zeros(4, 1, 28, 28, dtype=torch.uint8)), "got torch.uint8"),
    (bad(x=torch.zeros(0, 1, 28, 28), y=torch.zeros(0, 10)), "with N >= 1"),
    (bad(x=torch.full((4, 1, 28, 28), float("nan"))), "NaN or infinite"),
    (bad(x=torch.full((4, 1, 28, 28), 255.0)), r"must lie in \[0, 1\]"),
    (bad(y=torch.zeros(4, 10)), "one-hot rows"),
    (bad(y=torch.zeros(4, 9)), r"labels 'y' must be float32 \[N, 10\]"),
    (bad(y=torch.zeros(3, 10)), "4 images but 3 labels"),
    (bad(x=np.zeros((4, 1, 28, 28), dtype=np.float32)), "must be a tensor"),
])
def test_check_split_names_the_file_and_the_flaw(split, message):
    with pytest.raises(DataError, match=f"^data/train.pt: .*{message}"):
        check_split(split, "data/train.pt")


def test_check_split_accepts_a_prepared_split():
    split = good()
    assert check_split(split, "x.pt") is split
