"""The assignment's `plot_stats` figure: confusion matrix, and recall and precision per class."""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from fmnist.analysis.evaluation import classification_stats, onehot_confusion


def plot_stats(predictions: np.ndarray, labels: np.ndarray,
               class_names: Sequence[str] | None = None) -> Figure:
    """The stats.png figure of one-hot numpy predictions and labels [N, K]; see onehot_confusion."""
    class_names, cm = onehot_confusion(predictions, labels, class_names, "plot_stats")
    stats = classification_stats(predictions, labels, class_names)
    fig = Figure(figsize=(17, 7.5), layout="constrained")
    ax_cm, ax_bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.15]})
    _draw_confusion(ax_cm, cm, class_names, stats["accuracy"])
    _draw_precision_recall(ax_bars, stats, class_names)
    return fig


def _draw_confusion(ax: Any, cm: np.ndarray, class_names: Sequence[str], accuracy: float) -> None:
    """Heatmap of counts with the count written in each cell."""
    ax.imshow(cm, cmap="Blues")
    threshold = cm.max() / 2
    for (row, col), count in np.ndenumerate(cm):
        ax.text(col, row, str(count), ha="center", va="center", fontsize=8,
                color="white" if count > threshold else "black")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, labels=class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, labels=class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"Confusion matrix (accuracy {accuracy:.4f}, n = {cm.sum()})")


def _draw_precision_recall(ax: Any, stats: dict[str, Any], class_names: Sequence[str]) -> None:
    """Grouped bars of per-class recall and precision, the macro averages as two distinct lines
    (often within 1e-4 of each other: they differ in style and give their values in the legend)."""
    recall = [stats["per_class"][name]["recall"] for name in class_names]
    precision = [stats["per_class"][name]["precision"] for name in class_names]
    x = np.arange(len(class_names))
    width = 0.4
    ax.bar(x - width / 2, recall, width, label="recall", color="tab:blue")
    ax.bar(x + width / 2, precision, width, label="precision", color="tab:orange")
    ax.axhline(stats["macro_recall"], color="navy", linestyle="--", linewidth=2,
               label=f"macro recall {stats['macro_recall']:.4f}")
    ax.axhline(stats["macro_precision"], color="darkred", linestyle=":", linewidth=2.5,
               label=f"macro precision {stats['macro_precision']:.4f}")
    low = min(recall + precision)
    # not from 0: a 0.05 step below the lowest bar keeps differences of 0.8 to 1.0 visible
    bottom = max(0.0, math.floor((low - 0.05) * 20) / 20)
    ax.set_ylim(bottom, 1.0 + (1.0 - bottom) * 0.18)  # headroom for the legend
    ax.set_xticks(x, labels=class_names, rotation=45, ha="right")
    ax.set_ylabel(f"score (axis from {bottom:.2f})")
    ax.set_title("Recall and precision per class")
    ax.legend(loc="upper center", ncol=2, fontsize=9)
