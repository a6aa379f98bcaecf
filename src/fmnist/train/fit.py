"""`fit`: SGD with per-epoch validation, best-epoch selection and a divergence check; evaluation."""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from fmnist.data.dataset import Dataset
from fmnist.errors import TrainingError

# One host sync per this many batches: it refreshes the progress bar and checks for divergence.
SYNC_EVERY = 20
# A running training loss this many times the first batch's has diverged: cross-entropy starts
# near ln(10) = 2.3 and a learning rate far too high drives it to 1e8 while accuracy sits at
# chance; healthy runs stay well below their starting loss.
DIVERGENCE_FACTOR = 10.0

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


def best_epoch(results: list[EpochResult]) -> EpochResult:
    """The epoch of lowest validation loss (the earliest one on ties)."""
    if not results:
        raise ValueError("best_epoch: no epochs")
    return min(results, key=lambda r: (r.val_loss, r.epoch))


def summarize(results: list[EpochResult]) -> dict[str, float | int]:
    """The best epoch (lowest validation loss) with its loss and accuracy, and the last one's."""
    best = best_epoch(results)
    return {
        "best_epoch": best.epoch,
        "best_val_loss": round(best.val_loss, 6),
        "val_accuracy": round(best.val_accuracy, 6),
        "final_val_accuracy": round(results[-1].val_accuracy, 6),
        "epochs": len(results),
    }


def timings(results: list[EpochResult]) -> dict[str, float | list[float]]:
    """Seconds per epoch and their median: for people, never for committed files (they vary)."""
    seconds = [round(r.seconds, 3) for r in results]
    return {"seconds_per_epoch": seconds, "median_seconds_per_epoch": statistics.median(seconds)}


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
) -> tuple[M, list[float], list[float]]:
    """Train `model` in place; return a copy with the lowest-validation-loss epoch's weights.

    Losses are cross-entropy means over samples, one per epoch. `optimizer` replaces the default
    SGD(lr, momentum, weight_decay), whose three arguments are then ignored; `scheduler` is stepped
    once per batch. `device=None` keeps the model where it is. Exceptions from `on_epoch` (e.g.
    optuna.TrialPruned) propagate. Raises TrainingError when a loss becomes NaN or infinite, or
    the running training loss grows past DIVERGENCE_FACTOR times the first batch's.
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
    diverged = _DivergenceCheck(optimizer)
    training_losses: list[float] = []
    validation_losses: list[float] = []
    best_loss, best_state = math.inf, _snapshot(model)
    try:
        bars = _Progress(number_of_epochs, len(train_data), enabled=progress)
        for epoch in range(1, number_of_epochs + 1):
            start = time.perf_counter()
            train_data.shuffle(generator)
            with bars.epoch(epoch):
                train_loss = _train_epoch(
                    model, train_data, optimizer, scheduler, augment, bars, epoch, diverged)
                val_loss, val_accuracy = evaluate(model, val_data, device)
                diverged(val_loss, "validation", epoch)
                seconds = time.perf_counter() - start
                bars.show(loss=f"{train_loss:.4f}", val_loss=f"{val_loss:.4f}",
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
        bars.close()

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


class _Progress:
    """A bar per epoch and, for runs of several epochs, one over the whole run with its end."""

    def __init__(self, epochs: int, batches: int, enabled: bool) -> None:
        self.epochs, self.batches, self.enabled = epochs, batches, enabled
        self.overall = tqdm(total=epochs * batches, desc="training", unit="batch", position=0,
                            disable=not enabled or epochs == 1, dynamic_ncols=True)
        self.bar: tqdm | None = None

    @contextmanager
    def epoch(self, epoch: int) -> Iterator[_Progress]:
        """Show epoch `epoch`'s bar for the block (below the overall one, if any)."""
        nested = not self.overall.disable
        with tqdm(total=self.batches, desc=f"epoch {epoch}/{self.epochs}", unit="batch",
                  disable=not self.enabled, position=int(nested), leave=not nested,
                  dynamic_ncols=True) as self.bar:
            yield self

    def step(self) -> None:
        """One batch done."""
        self.bar.update()
        self.overall.update()
        rate = self.overall.format_dict.get("rate")
        if rate:  # when the whole run should end, at the rate so far
            left = (self.overall.total - self.overall.n) / rate
            end = time.strftime("%H:%M", time.localtime(time.time() + left))
            self.overall.set_postfix_str(f"ends ~{end}", refresh=False)

    def show(self, refresh: bool = True, **figures: str) -> None:
        """Figures beside the epoch's bar."""
        self.bar.set_postfix(refresh=refresh, **figures)

    def close(self) -> None:
        self.overall.close()


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """`model` in eval mode for the block, back in the mode it had afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _train_epoch(
    model: nn.Module,
    data: Dataset,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None,
    bars: _Progress,
    epoch: int,
    diverged: _DivergenceCheck,
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
        bars.step()
        if diverged.start is None:
            diverged.first(loss.item())  # one extra sync per run: the yardstick
        if (index + 1) % SYNC_EVERY == 0 or index + 1 == len(data):
            running = loss_sum.item() / seen
            diverged(running, "training", epoch)
            bars.show(refresh=False, loss=f"{running:.4f}")
    return running


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
