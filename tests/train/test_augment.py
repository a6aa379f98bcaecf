"""Augmentation: a seeded mirror and shift that moves pixels, and seeded random erasing."""

import pytest
import torch

from fmnist.train.augment import FlipShift, RandomErasing


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


def test_random_erasing_replaces_one_rectangle_per_image_with_noise():
    x = torch.zeros(64, 1, 28, 28)
    out = RandomErasing(p=1.0, area=(0.1, 0.2), generator=torch.Generator().manual_seed(0))(x)
    for image in out[:, 0]:
        rows, cols = torch.nonzero(image, as_tuple=True)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert len(rows) == box  # one filled rectangle (noise is never exactly 0)
        assert 0.1 * 784 * 0.5 <= len(rows) <= 0.2 * 784 * 1.5  # rounding of the sides
    again = RandomErasing(p=1.0, area=(0.1, 0.2), generator=torch.Generator().manual_seed(0))(x)
    assert torch.equal(out, again)


def test_random_erasing_probability_and_bad_arguments():
    x = torch.rand(400, 1, 28, 28)
    out = RandomErasing(p=0.5, generator=torch.Generator().manual_seed(1))(x)
    changed = (out != x).flatten(1).any(dim=1).float().mean()
    assert 0.4 < changed < 0.6
    assert RandomErasing(p=0.0)(x) is x
    with pytest.raises(ValueError, match="RandomErasing"):
        RandomErasing(p=1.5)

