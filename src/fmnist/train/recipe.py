"""The tuned network's training recipe: one-cycle Nesterov SGD with flip-and-shift augmentation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from fmnist.data.dataset import Dataset
from fmnist.nn.tuned import TunedConfig, TunedNet
from fmnist.train.augment import FlipShift
from fmnist.train.fit import fit
from fmnist.train.history import EpochResult

MIN_SCHEDULE = 16


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation hyperparameters: SGD (Nesterov) with a one-cycle learning-rate schedule."""

    lr: float = 0.1             # the peak of the one-cycle schedule
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128


def train_tuned(arch: TunedConfig, train: TrainConfig, epochs: int, samples: torch.Tensor,
                labels: torch.Tensor, validation: Dataset, *, seed: int, shift: int, bf16: bool,
                device: torch.device, on_epoch: Callable[[EpochResult], None] | None = None,
                progress: bool = True) -> tuple[TunedNet, list[float], list[float]]:
    """Train a TunedNet with one-cycle Nesterov SGD and augmentation; best-on-validation weights."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = TunedNet(arch, bf16).to(device)
    training = Dataset(samples, labels, train.batch_size)
    optimizer = torch.optim.SGD(model.parameters(), lr=train.lr, momentum=train.momentum,
                                weight_decay=train.weight_decay, nesterov=True)
    # OneCycleLR divides by its phase lengths: a run of very few steps (tiny test configurations)
    # gets a schedule of MIN_SCHEDULE steps and simply stops early in it.
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=train.lr, total_steps=max(epochs * len(training), MIN_SCHEDULE),
        pct_start=0.25)
    return fit(model, epochs, training, validation, optimizer=optimizer, scheduler=scheduler,
               generator=generator, device=device, on_epoch=on_epoch, progress=progress,
               augment=FlipShift(shift, generator))
