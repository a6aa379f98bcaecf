"""The commutativity experiment: pooling and ReLU commute exactly, a convolution does not."""

import torch

from fmnist.analysis import commutativity


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


def test_numbers_measure_the_difference_they_are_given():
    # a hand-made result whose orders differ at one position of four, by 0.5
    same = torch.zeros(1, 2, 2)
    other = same.clone()
    other[0, 1, 0] = -0.5
    result = {"input": torch.zeros(1, 4, 4),
              "pool": {"op_then_relu": same, "relu_then_op": other, "layer": "P"},
              "conv": {"op_then_relu": same, "relu_then_op": same, "layer": "C"}}
    numbers = commutativity.commutativity_numbers(result)
    assert numbers["pool"] == {"layer": "P", "output_shape": [1, 2, 2], "max_abs_diff": 0.5,
                               "mean_abs_diff": 0.125, "fraction_differing": 0.25}
    assert numbers["conv"]["max_abs_diff"] == 0.0 and numbers["conv"]["fraction_differing"] == 0
