"""Two implementations' training runs compared epoch by epoch."""

from typing import Any

CURVES = ("train_loss", "val_loss", "val_accuracy")
History = dict[str, list[float]]  # {"train_loss": [...], "val_loss": [...], "val_accuracy": [...]}


def compare_runs(custom: History, reference: History) -> dict[str, Any]:
    """Per-epoch custom - reference differences of each curve, and the largest of each."""
    out: dict[str, Any] = {}
    for name in CURVES:
        diffs = [round(a - b, 6) for a, b in zip(custom[name], reference[name], strict=True)]
        out[name] = {"per_epoch_diff": diffs, "max_abs_diff": max(abs(d) for d in diffs)}
    return out
