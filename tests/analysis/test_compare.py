"""Comparing the two training runs epoch by epoch."""

import pytest

from fmnist.analysis.compare import compare_runs


def history(shift: float) -> dict[str, list[float]]:
    return {"train_loss": [1.0 + shift, 0.5], "val_loss": [0.9, 0.6 + shift],
            "val_accuracy": [0.7, 0.8]}


def test_compare_runs_differences():
    out = compare_runs(history(0.01), history(0.0))
    assert out["train_loss"]["per_epoch_diff"] == [0.01, 0.0]
    assert out["val_loss"]["max_abs_diff"] == pytest.approx(0.01)
    assert out["val_accuracy"] == {"per_epoch_diff": [0.0, 0.0], "max_abs_diff": 0.0}
    assert set(out) == {"train_loss", "val_loss", "val_accuracy"}


def test_differences_are_custom_minus_torch_and_the_largest_is_by_size():
    out = compare_runs(history(-0.02), history(0.0))
    assert out["train_loss"]["per_epoch_diff"] == [-0.02, 0.0]  # custom below torch: negative
    assert out["train_loss"]["max_abs_diff"] == 0.02  # by size, not the largest signed value
    noise = compare_runs(history(3e-9), history(0.0))  # float noise below the logged precision
    assert noise["train_loss"] == {"per_epoch_diff": [0.0, 0.0], "max_abs_diff": 0.0}


def test_compare_runs_needs_equal_lengths():
    short = {k: v[:1] for k, v in history(0).items()}
    with pytest.raises(ValueError):
        compare_runs(short, history(0))
