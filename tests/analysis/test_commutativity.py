"""The commutativity experiment: pooling and ReLU commute exactly, a convolution does not."""

import torch

from fmnist.analysis import commutativity
from fmnist.report.prose import COMMUTATIVITY_EXPLANATION


def test_pooling_and_relu_commute_exactly_convolution_does_not():
    numbers = commutativity.commutativity_numbers(commutativity.commutativity_experiment(seed=42))
    assert numbers["input_shape"] == [1, 100, 100]
    assert numbers["pool"]["max_abs_diff"] == 0.0
    assert numbers["pool"]["output_shape"] == [1, 49, 49]
    assert numbers["conv"]["max_abs_diff"] > 0.0
    assert numbers["conv"]["fraction_differing"] > 0.5


def test_experiment_is_seeded():
    a, b = commutativity.commutativity_experiment(7), commutativity.commutativity_experiment(7)
    assert torch.equal(a["input"], b["input"])
    assert torch.equal(a["conv"]["relu_then_op"], b["conv"]["relu_then_op"])
    x = a["input"]
    assert x.min() >= -1 and x.max() <= 1 and x.min() < -0.9 and x.max() > 0.9


def test_explanation_covers_both_cases():
    text = COMMUTATIVITY_EXPLANATION
    assert "monotone" in text and "pool first" in text and "sums" in text
