"""Augmentation: a seeded mirror and shift that moves pixels and never invents values."""

import torch

from fmnist.train.augment import FlipShift


def test_flipshift_is_a_seeded_mirror_and_shift():
    x = torch.rand(64, 1, 28, 28)
    a = FlipShift(2, torch.Generator().manual_seed(1))(x)
    b = FlipShift(2, torch.Generator().manual_seed(1))(x)
    assert torch.equal(a, b) and a.shape == x.shape
    assert not torch.equal(a, x)
    # a pure shift/mirror moves pixels; it never invents values
    assert set(a.unique().tolist()) <= set(x.unique().tolist()) | {0.0}
    assert torch.equal(FlipShift(0, torch.Generator().manual_seed(0))(x[:1]).sort().values,
                       x[:1].sort().values)
