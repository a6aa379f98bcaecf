"""The weight average: its warm-up, what it averages, and training that validates it."""

import pytest
import torch
from torch import nn

from fmnist.train.average import EMA


def test_the_average_follows_its_formula_with_warm_up():
    model = nn.BatchNorm1d(1)
    ema = EMA(model, decay=0.9)
    weight, mean = 1.0, 0.0  # BatchNorm's initial weight and running mean
    for step in range(1, 6):
        with torch.no_grad():
            model.weight.fill_(float(step))
            model.running_mean.fill_(float(-step))
        ema.update()
        decay = min(0.9, (1 + step) / (10 + step))
        weight = decay * weight + (1 - decay) * step
        mean = decay * mean + (1 - decay) * -step  # buffers are averaged too
        assert torch.allclose(ema.model.weight, torch.tensor([weight]))
        assert torch.allclose(ema.model.running_mean, torch.tensor([mean]))
    assert not ema.model.weight.requires_grad and not ema.model.training


def test_bad_decay():
    with pytest.raises(ValueError, match="decay"):
        EMA(nn.Linear(1, 1), decay=1.0)


def test_an_average_restored_from_its_state_continues_as_the_original():
    model = nn.Linear(3, 2)
    first, second = EMA(model, decay=0.9), EMA(model, decay=0.9)
    for _ in range(3):
        with torch.no_grad():
            model.weight.add_(1.0)
        first.update()
    second.load_state_dict(first.state_dict())
    assert second.steps == 3
    with torch.no_grad():
        model.weight.mul_(-2.0)
    first.update()
    second.update()  # the same warm-up step: decay of step 4, not of step 1
    assert torch.equal(first.model.weight, second.model.weight)
    assert torch.equal(second.model.bias, model.bias)  # the bias never moved: nor did its average
