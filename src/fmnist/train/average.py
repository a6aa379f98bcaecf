"""An exponential moving average of a model's weights, evaluated in place of the raw ones.

Late in training SGD's weights jitter around a minimum; their running average sits nearer its
centre and generalises a little better, at the cost of one extra copy of the weights.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """`model` averaged after every optimizer step: avg <- d * avg + (1 - d) * weights.

    The decay warms up as min(decay, (1 + t) / (10 + t)), so the first steps, far from any
    minimum, fade quickly. Batch-norm statistics are averaged the same way.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA: decay must be in (0, 1), got {decay}")
        self.decay, self.steps = decay, 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self._sources = _floats(model)
        self._targets = _floats(self.model)

    @torch.no_grad()
    def update(self) -> None:
        """Move the average one step towards the current weights."""
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_lerp_(self._targets, self._sources, 1 - decay)


def _floats(model: nn.Module) -> list[torch.Tensor]:
    """The model's floating-point parameters and buffers, in a fixed order."""
    return [t for t in (*model.parameters(), *model.buffers()) if t.dtype.is_floating_point]
