"""Per-epoch logging with dvclive, and reading those logs back for comparison."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from fmnist.errors import DataError
from fmnist.training import EpochResult

LOGGED = ("train_loss", "val_loss", "val_accuracy", "seconds")


class LiveLogger:
    """An `on_epoch` callback writing one dvclive step per epoch (step = epoch number)."""

    def __init__(self, live_dir: str | Path) -> None:
        from dvclive import Live

        # dvcyaml=False: dvc.yaml declares the plots by hand; no experiment of its own either
        self.live = Live(dir=str(live_dir), dvcyaml=False, save_dvc_exp=False)
        self.results: list[EpochResult] = []

    def __call__(self, result: EpochResult) -> None:
        """Log one epoch's losses, accuracy and seconds."""
        self.results.append(result)
        self.live.step = result.epoch
        for name in LOGGED:
            # seconds vary run to run; keep them out of the committed per-epoch plots
            self.live.log_metric(name, round(getattr(result, name), 6), plot=name != "seconds")
        self.live.next_step()

    def close(self) -> None:
        """Flush dvclive's files."""
        self.live.end()


def summarize(results: list[EpochResult]) -> dict[str, float | int]:
    """Best epoch (lowest validation loss), its loss and accuracy, and median seconds per epoch."""
    best = min(results, key=lambda r: (r.val_loss, r.epoch))
    return {
        "best_epoch": best.epoch,
        "best_val_loss": round(best.val_loss, 6),
        "val_accuracy": round(best.val_accuracy, 6),
        "final_val_accuracy": round(results[-1].val_accuracy, 6),
        "epochs": len(results),
        "seconds_per_epoch": round(statistics.median(r.seconds for r in results), 3),
    }


def read_curve(live_dir: str | Path, name: str) -> list[float]:
    """The per-epoch values of metric `name` that LiveLogger wrote under `live_dir`."""
    path = Path(live_dir) / "plots" / "metrics" / f"{name}.tsv"
    if not path.is_file():
        raise DataError(f"{path}: training log not found (run the train stage first)")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [float(row[name]) for row in sorted(rows, key=lambda row: int(row["step"]))]
