"""Test-set statistics: confusion matrix, per-class precision/recall, the hardest class."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from fmnist.data.classes import CLASS_NAMES

DECIMALS = 6  # rounding of every float in the stats, so metrics files stay byte-stable


def logits_to_onehot(logits: torch.Tensor | np.ndarray) -> np.ndarray:
    """One-hot int64 rows [N, K] marking each row's largest logit (the first one on ties)."""
    if isinstance(logits, torch.Tensor):
        logits = logits.detach().cpu().numpy()
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[1] == 0:
        raise ValueError(f"logits_to_onehot: logits must be [N, K] with K >= 1, got {logits.shape}")
    return np.eye(logits.shape[1], dtype=np.int64)[logits.argmax(axis=1)]


def confusion_matrix(predicted: np.ndarray, actual: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts [K, K] of samples per (actual, predicted) class: rows actual, columns predicted."""
    predicted, actual = _check_indices(predicted, actual, num_classes, "confusion_matrix")
    # Flat cell index actual*K + predicted, counted, then [K*K] -> [K, K].
    counts = np.bincount(actual * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def classification_stats(predictions_onehot: np.ndarray, labels_onehot: np.ndarray,
                         class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Accuracy, macro precision/recall and per-class precision/recall, rounded to 6 decimals."""
    class_names, cm = onehot_confusion(predictions_onehot, labels_onehot, class_names,
                                       "classification_stats")
    precision, recall = precision_recall(cm)
    return {"accuracy": _round(np.trace(cm) / cm.sum()),
            "macro_precision": _round(precision.mean()), "macro_recall": _round(recall.mean()),
            "per_class": {name: {"precision": _round(p), "recall": _round(r)}
                          for name, p, r in zip(class_names, precision, recall, strict=True)}}


def confusion_records(predicted: np.ndarray, actual: np.ndarray, class_names: Sequence[str]
                      ) -> list[dict[str, str]]:
    """One `{"actual": name, "predicted": name}` row per sample, for DVC's `confusion` template."""
    predicted, actual = _check_indices(predicted, actual, len(class_names), "confusion_records")
    return [{"actual": class_names[a], "predicted": class_names[p]}
            for a, p in zip(actual.tolist(), predicted.tolist(), strict=True)]


def precision_recall(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision (over columns) and recall (over rows), 0.0 where undefined."""
    # 0.0, not NaN (JSON cannot hold it), counted in the macro averages: ignoring a class costs
    hits = np.diag(cm).astype(np.float64)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    return precision, recall


def onehot_confusion(predictions: Any, labels: Any, class_names: Sequence[str] | None,
                     caller: str) -> tuple[Sequence[str], np.ndarray]:
    """Class names and confusion matrix of one-hot numpy arrays [N, K]; ValueError if not."""
    for name, array in (("predictions", predictions), ("labels", labels)):
        if not isinstance(array, np.ndarray):
            raise ValueError(f"{caller}: {name} must be a numpy array, got {type(array).__name__}")
        if array.ndim != 2:
            raise ValueError(f"{caller}: {name} must be 2-D [N, K], got shape {array.shape}")
        onehot = ((array == 0) | (array == 1)).all(axis=1) & (array.sum(axis=1) == 1)
        if not onehot.all():
            row = int(np.argmin(onehot))  # the first row that is not exactly one 1 among 0s
            raise ValueError(f"{caller}: {name} must be one-hot rows, row {row} is "
                             f"{array[row].tolist()}")
    if predictions.shape != labels.shape:
        raise ValueError(f"{caller}: predictions {predictions.shape} and labels {labels.shape} "
                         "differ in shape")
    n, k = labels.shape
    if class_names is None:  # Fashion-MNIST's for 10 columns, "0".."K-1" for K others
        class_names = CLASS_NAMES if k == len(CLASS_NAMES) else tuple(str(i) for i in range(k))
    if k != len(class_names):
        raise ValueError(f"{caller}: arrays have {k} columns but there are "
                         f"{len(class_names)} class names")
    if n == 0:
        raise ValueError(f"{caller}: no samples")
    return class_names, confusion_matrix(predictions.argmax(axis=1), labels.argmax(axis=1), k)


def _check_indices(predicted: Any, actual: Any, num_classes: int, caller: str
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Both as 1-D int64 arrays of equal length, each class in [0, num_classes)."""
    checked = []
    for name, indices in (("predicted", predicted), ("actual", actual)):
        array = np.asarray(indices)
        if array.ndim != 1:
            raise ValueError(f"{caller}: {name} must be 1-D class indices, got shape {array.shape}")
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{caller}: {name} must be integer class indices, got {array.dtype}")
        if array.size and (array.min() < 0 or array.max() >= num_classes):
            raise ValueError(f"{caller}: {name} holds classes outside 0..{num_classes - 1}")
        checked.append(array.astype(np.int64))
    if len(checked[0]) != len(checked[1]):
        raise ValueError(f"{caller}: {len(checked[0])} predicted classes "
                         f"but {len(checked[1])} actual classes")
    return checked[0], checked[1]


def _round(value: float) -> float:
    """A plain float rounded to DECIMALS."""
    return round(float(value), DECIMALS)


def hardest_class(predictions: np.ndarray, labels: np.ndarray,
                  class_names: Sequence[str] | None = None, top: int = 3) -> dict[str, Any]:
    """The class of lowest recall and the classes its samples are most often mistaken for."""
    class_names, cm = onehot_confusion(predictions, labels, class_names, "hardest_class")
    _, recall = precision_recall(cm)
    k = int(recall.argmin())
    row = cm[k].copy()
    row[k] = 0  # only the mistakes
    order = [j for j in np.argsort(-row, kind="stable")[:top] if row[j] > 0]
    # the other direction: samples of other classes predicted as k
    taken = [j for j in np.argsort(-cm[:, k], kind="stable") if j != k and cm[j, k] > 0][:top]
    return {"name": class_names[k], "recall": _round(recall[k]), "samples": int(cm[k].sum()),
            "mistaken_for": [{"class": class_names[j], "count": int(row[j])} for j in order],
            "taken_for_it": [{"class": class_names[j], "count": int(cm[j, k])} for j in taken]}


def results_by_network(predictions: dict[str, np.ndarray], labels: np.ndarray, full: str
                 ) -> dict[str, Any]:
    """Every network's test statistics from one-hot predictions; network `full`'s in detail."""
    results: dict[str, Any] = {}
    for name, predicted in predictions.items():
        stats = classification_stats(predicted, labels)
        per_class = stats.pop("per_class")  # kept as a list: JSON keeps list order, not dicts'
        if name == full:
            stats["per_class"] = [{"class": cls, **values} for cls, values in per_class.items()]
            stats["hardest_class"] = hardest_class(predicted, labels)
        results[name] = stats
    return results


def headline_metrics(results: dict[str, Any], full: str) -> dict[str, dict[str, float]]:
    """Each network's test accuracy and network `full`'s macro averages, for `dvc exp show`."""
    headline = {name: {"test_acc": stats["accuracy"]} for name, stats in results.items()}
    headline[full].update(macro_precision=results[full]["macro_precision"],
                          macro_recall=results[full]["macro_recall"])
    return headline
