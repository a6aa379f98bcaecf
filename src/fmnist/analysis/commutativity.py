"""Does ReLU commute with max-pooling? With a convolution? The experiment and its numbers."""

from typing import Any

import torch

from fmnist.analysis.verify import signif
from fmnist.nn import ops

EXPERIMENT_SHAPE = (1, 100, 100)


def _seeded_conv(generator: torch.Generator) -> ops.Conv2d:
    """A 1->1 channel, 3x3, stride-2 Conv2d (the pooling's geometry), drawn as torch draws it."""
    conv = ops.Conv2d(1, 1, kernel_size=3, stride=2)
    bound = 1 / 3  # 1 / sqrt(fan_in): torch.nn.Conv2d's default range for both tensors
    with torch.no_grad():
        conv.weight.uniform_(-bound, bound, generator=generator)
        conv.bias.uniform_(-bound, bound, generator=generator)
    return conv


def commutativity_experiment(seed: int) -> dict[str, Any]:
    """ReLU after vs before MaxPool2d(3, 2), and after vs before a random Conv2d, on U[-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(EXPERIMENT_SHAPE, generator=generator) * 2 - 1
    relu = ops.ReLU()
    result: dict[str, Any] = {"input": x}
    with torch.no_grad():
        for name, op in (("pool", ops.MaxPool2d(kernel_size=3, stride=2)),
                         ("conv", _seeded_conv(generator))):
            result[name] = {"op_then_relu": relu(op(x)), "relu_then_op": op(relu(x)),
                            "layer": repr(op)}
    return result


def commutativity_numbers(result: dict[str, Any]) -> dict[str, Any]:
    """The experiment's metrics: max and mean |(a) - (b)| and the share of positions that differ."""
    numbers: dict[str, Any] = {"input_shape": list(result["input"].shape)}
    for name in ("pool", "conv"):
        a, b = result[name]["op_then_relu"], result[name]["relu_then_op"]
        diff = (a - b).abs()
        numbers[name] = {"layer": result[name]["layer"], "output_shape": list(a.shape),
                         "max_abs_diff": signif(float(diff.max())),
                         "mean_abs_diff": signif(float(diff.mean())),
                         "fraction_differing": signif(float((diff > 0).double().mean()))}
    return numbers
