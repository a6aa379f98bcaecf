"""The weight average: its warm-up, what it averages, and training that validates it."""

import pytest
import torch
from torch import nn

from fmnist.data.dataset import Dataset
from fmnist.train.average import EMA
from fmnist.train.fit import evaluate, fit


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


def test_fit_validates_and_returns_the_average():
    torch.manual_seed(0)
    x = torch.randn(200, 4)
    y = torch.nn.functional.one_hot((x[:, 0] > 0).long(), 3).float()
    data = Dataset(x, y, 20)
    model = nn.Linear(4, 3)
    average = EMA(model, decay=0.9)
    best, _, val_losses = fit(model, 3, data, data, lr=0.1, average=average,
                              label_smoothing=0.1, progress=False)
    assert evaluate(best, data)[0] == pytest.approx(min(val_losses), rel=1e-6)
    assert not torch.equal(best.weight, model.weight)  # the average, not the raw weights
    assert best.weight.requires_grad  # a model to train further, as fit's other results
