"""SGD training with per-epoch validation, best-epoch selection and a divergence check."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from fmnist.dataset import Dataset
from fmnist.errors import TrainingError

# One host sync per this many batches: it refreshes the progress bar and checks for divergence.
SYNC_EVERY = 20

M = TypeVar("M", bound=nn.Module)


@dataclass(frozen=True)
class EpochResult:
    """What one epoch produced; `epoch` counts from 1, `lr` is the optimizer's lr at its end."""

    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    seconds: float
    lr: float


def fit(
    model: M,
    number_of_epochs: int,
    training_set: Dataset,
    validation_set: Dataset,
    *,
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    on_epoch: Callable[[EpochResult], None] | None = None,
    progress: bool = True,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[M, list[float], list[float]]:
    """Train `model` in place; return a copy with the lowest-validation-loss epoch's weights.

    Losses are cross-entropy means over samples, one per epoch. `optimizer` replaces the default
    SGD(lr, momentum, weight_decay), whose three arguments are then ignored; `scheduler` is stepped
    once per batch. `device=None` keeps the model where it is. Exceptions from `on_epoch` (e.g.
    optuna.TrialPruned) propagate. Raises TrainingError when a loss becomes NaN or infinite.
    """
    if isinstance(number_of_epochs, bool) or not isinstance(number_of_epochs, int):
        raise ValueError(f"fit: number_of_epochs must be an integer, got {number_of_epochs!r}")
    if number_of_epochs < 1:
        raise ValueError(f"fit: number_of_epochs must be >= 1, got {number_of_epochs}")
    for name, data in (("training_set", training_set), ("validation_set", validation_set)):
        if data.num_samples == 0:
            raise ValueError(f"fit: {name} is empty")

    device = _model_device(model) if device is None else torch.device(device)
    model.to(device)
    # Copy the data to the device once; the moved datasets also keep the callers' order untouched.
    train_data, val_data = training_set.to(device), validation_set.to(device)
    if optimizer is None:
        optimizer = torch.optim.SGD(
            model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)

    was_training = model.training
    training_losses: list[float] = []
    validation_losses: list[float] = []
    best_loss, best_state = math.inf, _snapshot(model)
    try:
        for epoch in range(1, number_of_epochs + 1):
            start = time.perf_counter()
            train_data.shuffle(generator)
            desc = f"epoch {epoch}/{number_of_epochs}"
            with tqdm(total=len(train_data), desc=desc, unit="batch", disable=not progress) as bar:
                train_loss = _train_epoch(
                    model, train_data, optimizer, scheduler, augment, bar, epoch)
                val_loss, val_accuracy = evaluate(model, val_data, device)
                _check_finite(val_loss, "validation", epoch, optimizer)
                seconds = time.perf_counter() - start
                bar.set_postfix(loss=f"{train_loss:.4f}", val_loss=f"{val_loss:.4f}",
                                val_acc=f"{val_accuracy:.4f}", s=f"{seconds:.1f}")
            training_losses.append(train_loss)
            validation_losses.append(val_loss)
            if val_loss < best_loss:  # strict: ties keep the earliest epoch
                best_loss, best_state = val_loss, _snapshot(model)
            if on_epoch is not None:
                on_epoch(EpochResult(epoch, train_loss, val_loss, val_accuracy, seconds,
                                     _current_lr(optimizer)))
    finally:
        model.train(was_training)

    best_model = copy.deepcopy(model)
    best_model.load_state_dict(best_state)
    return best_model, training_losses, validation_losses


@torch.no_grad()
def evaluate(
    model: nn.Module, dataset: Dataset, device: torch.device | str | None = None
) -> tuple[float, float]:
    """Mean cross-entropy over samples and accuracy of `model` on `dataset` (moved to `device`)."""
    device = _model_device(model) if device is None else torch.device(device)
    if dataset.num_samples == 0:
        raise ValueError("evaluate: dataset is empty")
    model.to(device)
    was_training = model.training
    model.eval()
    try:
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        for x, y in dataset:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(dim=1) == _class_indices(y)).sum()
    finally:
        model.train(was_training)
    return loss_sum.item() / dataset.num_samples, correct.item() / dataset.num_samples


@torch.no_grad()
def predict(
    model: nn.Module, dataset: Dataset, device: torch.device | str | None = None
) -> torch.Tensor:
    """Logits [N, K] on the CPU, in the order of `dataset`'s current batches."""
    device = _model_device(model) if device is None else torch.device(device)
    model.to(device)
    was_training = model.training
    model.eval()
    try:
        batches = [model(x.to(device)).cpu() for x, _ in dataset]
    finally:
        model.train(was_training)
    if not batches:
        raise ValueError("predict: dataset is empty")
    return torch.cat(batches)


def _train_epoch(
    model: nn.Module,
    data: Dataset,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None,
    bar: tqdm,
    epoch: int,
) -> float:
    """One pass of SGD over `data`; returns the mean training loss over samples."""
    model.train()
    device = data.samples.device
    # The sum stays on the device so the hot loop never waits for it; a sum of losses is
    # non-finite exactly when one of them is, so checking it at each sync catches divergence.
    loss_sum = torch.zeros((), device=device)
    seen = 0
    running = math.nan
    for index, (x, y) in enumerate(data):
        if augment is not None:
            x = augment(x)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += loss.detach() * len(y)  # batch mean -> sum: a short last batch weighs less
        seen += len(y)
        bar.update()
        if (index + 1) % SYNC_EVERY == 0 or index + 1 == len(data):
            running = loss_sum.item() / seen
            _check_finite(running, "training", epoch, optimizer)
            bar.set_postfix(loss=f"{running:.4f}", refresh=False)
    return running


def _check_finite(loss: float, which: str, epoch: int, optimizer: torch.optim.Optimizer) -> None:
    """Raise TrainingError if `loss` is NaN or infinite."""
    if not math.isfinite(loss):
        lr = _current_lr(optimizer)
        raise TrainingError(
            f"epoch {epoch}: {which} loss became {loss} at lr={lr:g} — lower the learning rate")


def _class_indices(labels: torch.Tensor) -> torch.Tensor:
    """Class index per sample from one-hot rows [B, K] (or pass through indices [B])."""
    return labels if labels.ndim == 1 else labels.argmax(dim=1)


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the weights and buffers, unaffected by later optimizer steps."""
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def _current_lr(optimizer: torch.optim.Optimizer) -> float:
    """Learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])


def _model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter, CPU for a parameterless model."""
    first = next(model.parameters(), None)
    return torch.device("cpu") if first is None else first.device
