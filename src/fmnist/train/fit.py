"""`fit`: SGD with per-epoch validation, best-epoch selection and a divergence check; evaluation."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from fmnist.data.dataset import Dataset
from fmnist.errors import TrainingError
from fmnist.train.average import EMA
from fmnist.train.history import EpochResult
from fmnist.train.progress import Progress

# One host sync per this many batches: it refreshes the progress bar and checks for divergence.
SYNC_EVERY = 20
# A running training loss this many times the first batch's has diverged: cross-entropy starts
# near ln(10) = 2.3 and a learning rate far too high drives it to 1e8 while accuracy sits at
# chance; healthy runs stay well below their starting loss.
DIVERGENCE_FACTOR = 10.0

M = TypeVar("M", bound=nn.Module)


class _DivergenceCheck:
    """Raises TrainingError once a loss is NaN, infinite or DIVERGENCE_FACTOR x the first one."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.start: float | None = None

    def first(self, loss: float) -> None:
        """Record the first batch's loss, the yardstick of later ones."""
        self.start = loss
        self(loss, "training", 1)

    def __call__(self, loss: float, which: str, epoch: int) -> None:
        """Check one running loss of `which` ('training' or 'validation') at `epoch`."""
        lr = _current_lr(self.optimizer)
        if not math.isfinite(loss):
            raise TrainingError(f"epoch {epoch}: {which} loss became {loss} at lr={lr:g}: "
                                "training diverged; lower the learning rate")
        if which == "training" and self.start and loss > DIVERGENCE_FACTOR * self.start:
            raise TrainingError(
                f"epoch {epoch}: training loss {loss:.3g} grew past {DIVERGENCE_FACTOR:g}x its "
                f"starting value {self.start:.3g} at lr={lr:g}: training diverged; lower the "
                "learning rate")


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
    label_smoothing: float = 0.0,
    average: EMA | None = None,
    keep: str = "best",
    validate_every: int = 1,
) -> tuple[M, list[float], list[float]]:
    """Train `model` in place; return a copy with the lowest-validation-loss epoch's weights.

    Losses are cross-entropy means over samples, one per epoch. `optimizer` replaces the default
    SGD(lr, momentum, weight_decay), whose three arguments are then ignored; `scheduler` is stepped
    once per batch. `device=None` keeps the model where it is. `label_smoothing` softens the
    training targets (validation losses stay plain cross-entropy). With `average`, an EMA of
    `model` updated after each step, the average is what gets validated and returned.
    `keep="last"` returns the last epoch's weights instead of the best one's (for a schedule
    that anneals to zero, where the end is the point, or when validation data was trained on).
    `validate_every=k` validates only every k-th epoch and the last one; the others report NaN
    validation figures and cannot be kept (k = the number of epochs: validate once, at the end,
    as when the validation data is trained on and its figures say nothing along the way).
    Exceptions from `on_epoch` (e.g. optuna.TrialPruned) propagate. Raises TrainingError when a
    loss becomes NaN or infinite, or the running training loss grows past DIVERGENCE_FACTOR
    times the first batch's.
    """
    _check_count("number_of_epochs", number_of_epochs)
    _check_count("validate_every", validate_every)
    if keep not in ("best", "last"):
        raise ValueError(f"fit: keep must be 'best' or 'last', got {keep!r}")
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
    diverged = _DivergenceCheck(optimizer)
    training_losses: list[float] = []
    validation_losses: list[float] = []
    validated = model if average is None else average.model
    best_loss, best_state = math.inf, _snapshot(validated)
    bars = Progress(number_of_epochs, len(train_data), enabled=progress)
    try:
        for epoch in range(1, number_of_epochs + 1):
            start = time.perf_counter()
            train_data.shuffle(generator)
            with bars.epoch(epoch):
                train_loss = _train_epoch(model, train_data, _Step(
                    optimizer, scheduler, augment, label_smoothing, average), bars, epoch, diverged)
                val_loss = val_accuracy = math.nan
                figures = {"loss": f"{train_loss:.4f}"}
                if epoch % validate_every == 0 or epoch == number_of_epochs:
                    val_loss, val_accuracy = evaluate(validated, val_data, device)
                    diverged(val_loss, "validation", epoch)
                    figures.update(val_loss=f"{val_loss:.4f}", val_acc=f"{val_accuracy:.4f}")
                seconds = time.perf_counter() - start
                bars.show(**figures, s=f"{seconds:.1f}")
            training_losses.append(train_loss)
            validation_losses.append(val_loss)
            if keep == "last" and epoch == number_of_epochs:
                best_state = _snapshot(validated)
            elif keep == "best" and val_loss < best_loss:  # strict: ties keep the earliest
                best_loss, best_state = val_loss, _snapshot(validated)
            if on_epoch is not None:
                on_epoch(EpochResult(epoch, train_loss, val_loss, val_accuracy, seconds,
                                     _current_lr(optimizer)))
    finally:
        model.train(was_training)
        bars.close()

    best_model = copy.deepcopy(validated).train(was_training).requires_grad_(True)
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
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    with eval_mode(model.to(device)):
        for x, y in dataset:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(dim=1) == _class_indices(y)).sum()
    return loss_sum.item() / dataset.num_samples, correct.item() / dataset.num_samples


@torch.no_grad()
def predict(
    model: nn.Module, dataset: Dataset, device: torch.device | str | None = None
) -> torch.Tensor:
    """Logits [N, K] on the CPU, in the order of `dataset`'s current batches."""
    device = _model_device(model) if device is None else torch.device(device)
    with eval_mode(model.to(device)):
        batches = [model(x.to(device)).cpu() for x, _ in dataset]
    if not batches:
        raise ValueError("predict: dataset is empty")
    return torch.cat(batches)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """`model` in eval mode for the block, back in the mode it had afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@dataclass
class _Step:
    """One optimisation step: augment, loss, backward, update; then the schedule and average."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    augment: Callable[[torch.Tensor], torch.Tensor] | None
    label_smoothing: float
    average: EMA | None

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Train on batch (x, y); return its mean loss, still on the device."""
        if self.augment is not None:
            x = self.augment(x)
        loss = F.cross_entropy(model(x), y, label_smoothing=self.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.average is not None:
            self.average.update()
        return loss.detach()


def _train_epoch(model: nn.Module, data: Dataset, step: _Step, bars: Progress, epoch: int,
                 diverged: _DivergenceCheck) -> float:
    """One pass of SGD over `data`; returns the mean training loss over samples."""
    model.train()
    # The sum stays on the device so the hot loop never waits for it; a sum of losses is
    # non-finite exactly when one of them is, so checking it at each sync catches divergence.
    loss_sum = torch.zeros((), device=data.samples.device)
    seen = 0
    running = math.nan
    for index, (x, y) in enumerate(data):
        loss = step(model, x, y)
        loss_sum += loss * len(y)  # batch mean -> sum: a short last batch weighs less
        seen += len(y)
        bars.step()
        if diverged.start is None:
            diverged.first(loss.item())  # one extra sync per run: the yardstick
        if (index + 1) % SYNC_EVERY == 0 or index + 1 == len(data):
            running = loss_sum.item() / seen
            diverged(running, "training", epoch)
            bars.show(refresh=False, loss=f"{running:.4f}")
    return running


def _check_count(name: str, value: object) -> None:
    """ValueError unless `value` is an int >= 1 (bool, though an int, is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"fit: {name} must be an integer >= 1, got {value!r}")


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
