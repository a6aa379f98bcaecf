"""A run's history: the best epoch, the summary the stages save, and the timings they do not."""

import math

import pytest

from fmnist.train.history import EpochResult, best_epoch, summarize, timings


def test_best_epoch_summary_and_timings() -> None:
    results = [EpochResult(1, 1.0, 0.5, 0.80, 2.0, 0.1), EpochResult(2, 0.9, 0.4, 0.85, 4.0, 0.1),
               EpochResult(3, 0.8, 0.4, 0.86, 3.0, 0.1)]
    assert best_epoch(results).epoch == 2  # ties keep the earliest
    assert summarize(results) == {"best_epoch": 2, "best_val_loss": 0.4, "val_accuracy": 0.85,
                                  "final_val_accuracy": 0.86, "epochs": 3}
    assert timings(results) == {"seconds_per_epoch": [2.0, 4.0, 3.0],
                                "median_seconds_per_epoch": 3.0}
    with pytest.raises(ValueError, match="no validated epochs"):
        best_epoch([])


def test_epochs_fit_did_not_validate_are_never_the_best() -> None:
    nan = math.nan
    results = [EpochResult(1, 1.0, nan, nan, 2.0, 0.1), EpochResult(2, 0.9, 0.4, 0.85, 4.0, 0.1),
               EpochResult(3, 0.8, nan, nan, 3.0, 0.1), EpochResult(4, 0.7, 0.5, 0.84, 3.0, 0.1)]
    assert best_epoch(results).epoch == 2
    with pytest.raises(ValueError, match="no validated epochs"):
        best_epoch(results[:1])
