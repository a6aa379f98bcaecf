"""Test-set statistics: hand-checked counts and rates, validated inputs, the results files."""

import json

import numpy as np
import pytest
import torch

from fmnist.analysis.evaluation import (
    classification_stats,
    confusion_matrix,
    confusion_records,
    hardest_class,
    headline_metrics,
    logits_to_onehot,
    results_by_network,
)
from fmnist.data.classes import CLASS_NAMES
from tests.conftest import NAMES, PAIRS, hand_made, onehot


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


def test_hardest_class_and_its_confusions_in_both_directions() -> None:
    hard = hardest_class(*hand_made(), NAMES)
    assert hard["name"] == "c" and hard["recall"] == 0.0 and hard["samples"] == 2
    assert hard["mistaken_for"] == [{"class": "a", "count": 1}, {"class": "b", "count": 1}]
    assert hard["taken_for_it"] == []  # c is never predicted


def test_results_keep_class_order_and_headline_holds_only_numbers() -> None:
    rng = np.random.default_rng(0)
    labels = onehot(list(rng.integers(0, 10, 300)), 10)
    good = labels.copy()
    noisy = onehot(list(rng.integers(0, 10, 300)), 10)
    results = results_by_network({"tuned": good, "custom": noisy}, labels, full="tuned")
    assert [row["class"] for row in results["tuned"]["per_class"]] == list(CLASS_NAMES)
    assert results["tuned"]["accuracy"] == 1.0 and "per_class" not in results["custom"]
    assert "hardest_class" in results["tuned"]
    text = json.dumps(results, sort_keys=True)  # sort_keys must not reorder the class rows
    assert [row["class"] for row in json.loads(text)["tuned"]["per_class"]] == list(CLASS_NAMES)
    headline = headline_metrics(results, full="tuned")
    assert headline == {"tuned": {"test_acc": 1.0, "macro_precision": 1.0, "macro_recall": 1.0},
                        "custom": {"test_acc": results["custom"]["accuracy"]}}
