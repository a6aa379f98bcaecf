"""The assignment's Dataset: a sequence of batches, every sample once per pass, pairs intact."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fmnist.data.dataset import Dataset

sizes = st.integers(min_value=1, max_value=300)
batch_sizes = st.integers(min_value=1, max_value=70)
seeds = st.integers(min_value=0, max_value=2**31 - 1)


def make(n: int, batch_size: int) -> Dataset:
    """Sample i is the scalar image i (shape [1, 2, 2]); its label is one-hot of i % 10."""
    samples = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).expand(n, 1, 2, 2)
    labels = torch.nn.functional.one_hot(torch.arange(n) % 10, 10).float()
    return Dataset(samples.clone(), labels, batch_size)


def ids(dataset: Dataset) -> list[int]:
    return [int(v) for x, _ in dataset for v in x[:, 0, 0, 0]]


@settings(max_examples=60, deadline=None)
@given(sizes, batch_sizes, seeds)
def test_every_sample_once_per_pass_and_batch_sizes(n, batch_size, seed):
    dataset = make(n, batch_size)
    assert len(dataset) == math.ceil(n / batch_size)
    dataset.shuffle(torch.Generator().manual_seed(seed))
    batches = list(dataset)
    assert len(batches) == len(dataset)
    assert [len(x) for x, _ in batches[:-1]] == [batch_size] * (len(batches) - 1)
    assert len(batches[-1][0]) == n - batch_size * (len(batches) - 1)
    assert sorted(ids(dataset)) == list(range(n))


@settings(max_examples=60, deadline=None)
@given(sizes, batch_sizes, seeds)
def test_pairs_stay_intact_after_shuffle(n, batch_size, seed):
    dataset = make(n, batch_size)
    dataset.shuffle(torch.Generator().manual_seed(seed))
    for x, y in dataset:
        assert torch.equal(y.argmax(dim=1), x[:, 0, 0, 0].long() % 10)


@settings(max_examples=40, deadline=None)
@given(sizes, batch_sizes, seeds)
def test_shuffle_is_deterministic_and_getitem_repeatable(n, batch_size, seed):
    a, b = make(n, batch_size), make(n, batch_size)
    a.shuffle(torch.Generator().manual_seed(seed))
    b.shuffle(torch.Generator().manual_seed(seed))
    assert ids(a) == ids(b)
    # indexing agrees with iteration, and with itself across calls (no hidden reshuffle)
    first = [a[i][0].clone() for i in range(len(a))]
    for i, (x, _) in enumerate(a):
        assert torch.equal(x, first[i]) and torch.equal(a[i][0], first[i])


@settings(max_examples=40, deadline=None)
@given(sizes, batch_sizes)
def test_negative_indices_and_index_error(n, batch_size):
    dataset = make(n, batch_size)
    k = len(dataset)
    for i in range(1, k + 1):
        assert torch.equal(dataset[-i][0], dataset[k - i][0])
    with pytest.raises(IndexError):
        dataset[k]
    with pytest.raises(IndexError):
        dataset[-k - 1]


def test_shuffle_changes_order():
    dataset = make(100, 10)
    before = ids(dataset)
    dataset.shuffle(torch.Generator().manual_seed(1))
    assert ids(dataset) != before and sorted(ids(dataset)) == before


def test_unshuffled_order_is_natural():
    assert ids(make(25, 7)) == list(range(25))


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="3 samples, 2 labels"):
        Dataset(torch.zeros(3, 1), torch.zeros(2, 10), 2)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        Dataset(torch.zeros(3, 1), torch.zeros(3, 10), batch_size)


def test_non_integer_index():
    with pytest.raises(TypeError):
        make(10, 3)[1.0]


def test_numpy_inputs_and_numpy_batch_size():
    import numpy as np

    dataset = Dataset(np.zeros((5, 1, 2, 2), dtype=np.float32), np.eye(10)[:5], np.int64(2))
    x, y = dataset[-1]
    assert isinstance(x, torch.Tensor) and x.shape == (1, 1, 2, 2) and len(dataset) == 3
