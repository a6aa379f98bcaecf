"""Comparing the two training runs, and the report's prose following the numbers."""

import pytest

from fmnist.compare import compare_runs
from fmnist.report import _differences, _hardest, _plural
from fmnist.tracking import LiveLogger, read_curve, summarize
from fmnist.training import EpochResult


def history(shift: float) -> dict[str, list[float]]:
    return {"train_loss": [1.0 + shift, 0.5], "val_loss": [0.9, 0.6 + shift],
            "val_accuracy": [0.7, 0.8]}


def test_compare_runs_differences_and_ratio():
    out = compare_runs({"custom": history(0.01), "torch": history(0.0)},
                       {"custom": 3.0, "torch": 4.0})
    assert out["train_loss"]["per_epoch_diff"] == [0.01, 0.0]
    assert out["val_loss"]["max_abs_diff"] == pytest.approx(0.01)
    assert out["val_accuracy"]["max_abs_diff"] == 0.0
    assert out["time_ratio_custom_over_torch"] == 0.75


def test_compare_runs_needs_equal_lengths():
    short = {k: v[:1] for k, v in history(0).items()}
    with pytest.raises(ValueError):
        compare_runs({"custom": short, "torch": history(0)}, {"custom": 1, "torch": 1})


def test_live_logger_round_trip(tmp_path):
    logger = LiveLogger(tmp_path / "live")
    results = [EpochResult(1, 0.9, 0.8, 0.7, 2.0, 0.01), EpochResult(2, 0.5, 0.85, 0.75, 3.0, 0.01)]
    for r in results:
        logger(r)
    logger.close()
    assert read_curve(tmp_path / "live", "val_loss") == [0.8, 0.85]
    tsv = (tmp_path / "live" / "plots" / "metrics" / "train_loss.tsv").read_text()
    assert "timestamp" not in tsv, "committed per-epoch logs must be deterministic"
    summary = summarize(results)
    assert summary["best_epoch"] == 1 and summary["val_accuracy"] == 0.7
    assert summary["seconds_per_epoch"] == 2.5


def test_report_prose_follows_the_numbers():
    same = compare_runs({"custom": history(0), "torch": history(0)}, {"custom": 1, "torch": 2})
    assert "stayed below the logged precision" in _differences(same)
    apart = compare_runs({"custom": history(0.02), "torch": history(0)},
                         {"custom": 1, "torch": 2})
    assert "not bit for bit" in _differences(apart) and "0.02" in _differences(apart)

    shirt = {"name": "Shirt", "recall": 0.75, "samples": 1000,
             "mistaken_for": [{"class": "T-shirt/top", "count": 90}, {"class": "Pullover",
                                                                      "count": 60}],
             "taken_for_it": []}
    text = _hardest(shirt)
    assert "T-shirt/top (90), Pullover (60)" in text and "no other class" in text
    assert "upper-body garments" in text
    bag = {**shirt, "name": "Bag", "mistaken_for": [{"class": "Sandal", "count": 3}]}
    assert "upper-body" not in _hardest(bag)
    assert _plural(1, "epoch") == "1 epoch" and _plural(3, "epoch") == "3 epochs"
