"""What a training run leaves: one result per epoch, the best of them, and their timings."""

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class EpochResult:
    """What one epoch produced; `epoch` counts from 1, `lr` is the optimizer's lr at its end."""

    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    seconds: float
    lr: float


def best_epoch(results: list[EpochResult]) -> EpochResult:
    """The validated epoch of lowest validation loss (the earliest one on ties)."""
    validated = [r for r in results if not math.isnan(r.val_loss)]  # NaN: not validated
    if not validated:
        raise ValueError("best_epoch: no validated epochs")
    return min(validated, key=lambda r: (r.val_loss, r.epoch))


def summarize(results: list[EpochResult]) -> dict[str, float | int]:
    """The best epoch (lowest validation loss) with its loss and accuracy, and the last one's."""
    best = best_epoch(results)
    return {"best_epoch": best.epoch, "best_val_loss": round(best.val_loss, 6),
            "val_accuracy": round(best.val_accuracy, 6),
            "final_val_accuracy": round(results[-1].val_accuracy, 6), "epochs": len(results)}


def timings(results: list[EpochResult]) -> dict[str, float | list[float]]:
    """Seconds per epoch and their median: for people, never for committed files (they vary)."""
    seconds = [round(r.seconds, 3) for r in results]
    return {"seconds_per_epoch": seconds, "median_seconds_per_epoch": statistics.median(seconds)}
