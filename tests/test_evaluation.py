"""Confusion matrix, precision/recall by hand, the stats figure and input validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fmnist.evaluation import (
    classification_stats,
    confusion_matrix,
    confusion_records,
    logits_to_onehot,
    plot_stats,
)
from fmnist.idx import CLASS_NAMES

NAMES = ("a", "b", "c")
# (actual, predicted) pairs; class c is never predicted.
PAIRS = [(0, 0)] * 3 + [(0, 1)] + [(1, 1)] * 2 + [(1, 0)] * 2 + [(2, 0), (2, 1)]


def onehot(indices: list[int], k: int = 3) -> np.ndarray:
    return np.eye(k, dtype=np.int64)[indices]


def hand_made() -> tuple[np.ndarray, np.ndarray]:
    """(predictions, labels) one-hot [10, 3] for PAIRS."""
    actual, predicted = zip(*PAIRS, strict=True)
    return onehot(list(predicted)), onehot(list(actual))


def test_confusion_matrix_rows_are_actual_columns_predicted() -> None:
    actual, predicted = (np.array(v) for v in zip(*PAIRS, strict=True))
    expected = np.array([[3, 1, 0],
                         [2, 2, 0],
                         [1, 1, 0]])
    assert np.array_equal(confusion_matrix(predicted, actual, 3), expected)


def test_stats_match_a_hand_computation() -> None:
    # Recall per row: a 3/4, b 2/4, c 0/2. Precision per column: a 3/6, b 2/4, c never predicted.
    stats = classification_stats(*hand_made(), NAMES)
    assert stats["accuracy"] == 0.5
    assert stats["per_class"] == {
        "a": {"precision": 0.5, "recall": 0.75},
        "b": {"precision": 0.5, "recall": 0.5},
        "c": {"precision": 0.0, "recall": 0.0},
    }
    assert stats["macro_precision"] == round((0.5 + 0.5 + 0.0) / 3, 6)
    assert stats["macro_recall"] == round((0.75 + 0.5 + 0.0) / 3, 6)


def test_plot_stats_writes_the_figure_and_returns_the_stats(tmp_path: Path) -> None:
    path = tmp_path / "out" / "stats.png"
    stats = plot_stats(*hand_made(), path=path, class_names=NAMES)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stats == classification_stats(*hand_made(), NAMES)
    assert [p.name for p in path.parent.iterdir()] == ["stats.png"]  # no temporary left behind
    json.dumps(stats)  # plain floats, ready for metrics/test.json


def test_plot_stats_with_the_ten_fashion_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = onehot(list(rng.integers(0, 10, 200)), 10)
    predictions = onehot(list(rng.integers(0, 10, 200)), 10)
    stats = plot_stats(predictions, labels, path=tmp_path / "stats.png")
    assert list(stats["per_class"]) == list(CLASS_NAMES)
    assert all(len(str(v).split(".")[-1]) <= 6 for v in (stats["accuracy"],
                                                         stats["macro_precision"]))


@pytest.mark.parametrize(
    ("predictions", "labels", "message"),
    [
        (onehot([0, 1]).ravel(), onehot([0, 1]), "must be 2-D"),
        (onehot([0, 1]), onehot([0, 1, 2]), "differ in shape"),
        (onehot([0, 1], 4), onehot([0, 1], 4), "4 columns but there are 3 class names"),
        (np.array([[1, 1, 0], [0, 1, 0]]), onehot([0, 1]), "predictions must be one-hot rows, "
                                                           "row 0 sums to 2"),
        (onehot([0, 1]), np.array([[1, 0, 0], [0, 0, 0]]), "labels must be one-hot rows, "
                                                           "row 1 sums to 0"),
        (np.array([[1.0, 0, 0], [0.5, 0.5, 0]]), onehot([0, 1]), "row 1 has values other"),
        (np.array([[np.nan, 1, 0]]), onehot([1]), "row 0 has values other"),
        (torch.eye(3), onehot([0, 1, 2]), "must be a numpy array, got Tensor"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "no samples"),
    ],
)
def test_plot_stats_rejects_bad_inputs(
    tmp_path: Path, predictions: object, labels: object, message: str
) -> None:
    path = tmp_path / "stats.png"
    with pytest.raises(ValueError, match=f"^plot_stats: .*{message}"):
        plot_stats(predictions, labels, path=path, class_names=NAMES)
    assert not path.exists()


def test_other_k_gets_numbered_class_names(tmp_path: Path) -> None:
    stats = plot_stats(*hand_made(), path=tmp_path / "stats.png")
    assert set(stats["per_class"]) == {"0", "1", "2"}
    assert (tmp_path / "stats.png").is_file()


def test_a_class_never_predicted_gets_precision_zero_not_nan() -> None:
    labels = onehot([0, 1, 2, 2])
    predictions = onehot([0, 1, 1, 1])
    stats = classification_stats(predictions, labels, NAMES)
    assert stats["per_class"]["c"]["precision"] == 0.0
    assert stats["per_class"]["b"]["precision"] == round(1 / 3, 6)
    assert stats["macro_precision"] == round((1 + 1 / 3 + 0) / 3, 6)


def test_logits_to_onehot_from_torch_and_numpy() -> None:
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 3.0, 0.0]])
    expected = np.array([[0, 1, 0], [1, 0, 0]])  # ties go to the first class
    assert np.array_equal(logits_to_onehot(logits), expected)
    assert np.array_equal(logits_to_onehot(logits.numpy()), expected)
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        logits_to_onehot(np.zeros(3))


def test_confusion_records_name_each_sample() -> None:
    records = confusion_records(np.array([2, 0]), np.array([1, 1]), NAMES)
    assert records == [{"actual": "b", "predicted": "c"}, {"actual": "b", "predicted": "a"}]


@pytest.mark.parametrize(
    ("predicted", "actual", "message"),
    [
        (np.array([0, 3]), np.array([0, 1]), "predicted holds classes outside 0..2"),
        (np.array([0, 1]), np.array([-1, 1]), "actual holds classes outside 0..2"),
        (np.array([0.0, 1.0]), np.array([0, 1]), "integer class indices"),
        (np.array([0, 1]), np.array([0]), "2 predicted classes but 1 actual"),
        (np.array([[0, 1]]), np.array([0, 1]), "1-D class indices"),
    ],
)
def test_class_indices_are_validated(predicted: np.ndarray, actual: np.ndarray,
                                     message: str) -> None:
    with pytest.raises(ValueError, match=f"^confusion_matrix: .*{message}"):
        confusion_matrix(predicted, actual, 3)
    with pytest.raises(ValueError, match=f"^confusion_records: .*{message}"):
        confusion_records(predicted, actual, NAMES)
