"""An exponential moving average of a model's weights, evaluated in place of the raw ones: SGD's
weights jitter around a minimum late in training, their average sits nearer its centre."""

import copy

import torch
from torch import nn


class EMA(nn.Module):
    """`model` (batch-norm statistics too) averaged after every optimizer step: avg <- d * avg +
    (1 - d) * weights; a module, so that its `state_dict` holds the average and step count t."""

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA: decay must be in (0, 1), got {decay}")
        super().__init__()
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self._pairs = list(zip(_floats(self.model), _floats(model), strict=True))

    @torch.no_grad()
    def update(self) -> None:
        """Move the average one step towards the current weights."""
        self.steps += 1
        t = int(self.steps)
        decay = min(self.decay, (1 + t) / (10 + t))  # warm-up: the first steps fade quickly
        for average, current in self._pairs:
            average.lerp_(current, 1 - decay)


def _floats(model: nn.Module) -> list[torch.Tensor]:
    """The model's floating-point parameters and buffers, in a fixed order."""
    return [t for t in (*model.parameters(), *model.buffers()) if t.dtype.is_floating_point]
