"""Compare the two implementations' training runs: per-epoch loss gaps, speed, a loss figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from fmnist.tracking import read_curve  # noqa: E402

CURVES = ("train_loss", "val_loss")


def load_histories(live_dirs: dict[str, Path]) -> dict[str, dict[str, list[float]]]:
    """{impl: {"train_loss": [...], "val_loss": [...], "val_accuracy": [...]}} from dvclive logs."""
    return {impl: {name: read_curve(folder, name) for name in (*CURVES, "val_accuracy")}
            for impl, folder in live_dirs.items()}


def compare_runs(histories: dict[str, dict[str, list[float]]],
                 seconds: dict[str, float]) -> dict:
    """Per-epoch custom - torch differences of each curve, their max, and the time ratio."""
    custom, reference = histories["custom"], histories["torch"]
    out: dict = {}
    for name in (*CURVES, "val_accuracy"):
        diffs = [round(a - b, 6) for a, b in zip(custom[name], reference[name], strict=True)]
        out[name] = {"per_epoch_diff": diffs, "max_abs_diff": max(abs(d) for d in diffs)}
    out["seconds_per_epoch"] = seconds
    out["time_ratio_custom_over_torch"] = round(seconds["custom"] / seconds["torch"], 3)
    return out


def losses_figure(histories: dict[str, dict[str, list[float]]]) -> Figure:
    """Training and validation loss per epoch of every implementation on one axis."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"train_loss": "-", "val_loss": "--"}
    for impl, curves in histories.items():
        for name in CURVES:
            epochs = range(1, len(curves[name]) + 1)
            ax.plot(epochs, curves[name], styles[name], marker="o", markersize=3,
                    label=f"{impl} {name.replace('_loss', '')}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss (mean over samples)")
    ax.set_title("Assignment network: our ops vs torch.nn")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
