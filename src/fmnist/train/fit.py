"""`fit`: SGD with per-epoch validation, best-epoch selection and a divergence check; evaluation."""

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from fmnist.data.dataset import Dataset, count
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


@dataclass
class Training:
    """A run between epochs: what trains a batch, the data order, the results, the kept weights."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator | None = None
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None  # stepped once per batch
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None
    label_smoothing: float = 0.0
    average: EMA | None = None
    history: list[EpochResult] = field(default_factory=list)
    best: dict[str, torch.Tensor] | None = None
    first_loss: float | None = None

    @property
    def epoch(self) -> int:
        """Epochs done."""
        return len(self.history)

    @property
    def validated(self) -> nn.Module:
        """The network that is validated and kept: the weight average, if there is one."""
        return self.model if self.average is None else self.average.model

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Train on batch (x, y); return its mean loss, still on the device."""
        if self.augment is not None:
            x = self.augment(x)
        loss = F.cross_entropy(self.model(x), y, label_smoothing=self.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.average is not None:
            self.average.update()
        return loss.detach()

    def state_dict(self) -> dict[str, Any]:
        """All that decides the rest of the run, as values a weights_only torch.load reads back."""
        parts = {name: part.state_dict() for name, part in self._parts().items()}
        return {**parts, "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "generator": None if self.generator is None else self.generator.get_state(),
                "history": [asdict(r) for r in self.history], "best": self.best,
                "first_loss": self.first_loss}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from what `state_dict` returned."""
        for name, part in self._parts().items():
            part.load_state_dict(state[name])
        torch.set_rng_state(state["rng"])
        if state["cuda_rng"]:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        if self.generator is not None:
            self.generator.set_state(state["generator"])
        self.history = [EpochResult(**r) for r in state["history"]]
        self.best, self.first_loss = state["best"], state["first_loss"]

    def result(self, was_training: bool = True) -> tuple[nn.Module, list[float], list[float]]:
        """A copy of the validated network holding the kept weights, and the per-epoch losses."""
        kept = copy.deepcopy(self.validated).train(was_training).requires_grad_(True)
        kept.load_state_dict(self.best)
        return kept, [r.train_loss for r in self.history], [r.val_loss for r in self.history]

    def _parts(self) -> dict[str, Any]:
        """The parts with a state of their own."""
        parts = {"model": self.model, "optimizer": self.optimizer, "scheduler": self.scheduler,
                 "average": self.average}
        return {name: part for name, part in parts.items() if part is not None}


class Checkpoint(Protocol):
    """Where a training's state goes after each epoch and comes back from (the stage's files)."""

    def restore(self, training: Training) -> None:
        """Load the latest saved state into `training`, if there is one."""

    def store(self, training: Training) -> None:
        """Keep `training`'s state after an epoch."""


def fit(model: M, number_of_epochs: int, training_set: Dataset, validation_set: Dataset, *,
        lr: float = 0.01, momentum: float = 0.9, generator: torch.Generator | None = None,
        checkpoint: Checkpoint | None = None) -> tuple[M, list[float], list[float]]:
    """Train `model` in place with SGD; return a copy with its best epoch's weights, and the
    per-epoch losses. `generator` draws the data order; `checkpoint` resumes and keeps the run."""
    training = Training(model, torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum),
                        generator)
    if checkpoint is not None:
        checkpoint.restore(training)
    run(training, number_of_epochs, training_set, validation_set, checkpoint=checkpoint)
    return training.result(model.training)  # type: ignore[return-value]


def run(training: Training, number_of_epochs: int, training_set: Dataset,
        validation_set: Dataset, *, keep: str = "best", validate_every: int = 1,
        on_epoch: Callable[[EpochResult], None] | None = None, progress: bool = True,
        checkpoint: Checkpoint | None = None) -> None:
    """Run `training` to `number_of_epochs`, keeping the "best" or "last" weights; `on_epoch`'s
    exceptions (optuna.TrialPruned) propagate. TrainingError when a loss diverges."""
    count(number_of_epochs, "fit: number_of_epochs")
    count(validate_every, "fit: validate_every")
    if keep not in ("best", "last"):
        raise ValueError(f"fit: keep must be 'best' or 'last', got {keep!r}")
    for name, data in (("training_set", training_set), ("validation_set", validation_set)):
        if data.num_samples == 0:
            raise ValueError(f"fit: {name} is empty")
    model, validated = training.model, training.validated
    device = _device(model)
    # Copy the data to the device once; the moved datasets also keep the callers' order untouched.
    train_data, val_data = training_set.to(device), validation_set.to(device)
    was_training = model.training
    # keep="last" is the refit that trains on its validation data: its val figures mean nothing
    bars = Progress(number_of_epochs, len(train_data), enabled=progress, validation=keep == "best")
    try:
        for epoch in range(training.epoch + 1, number_of_epochs + 1):
            start = time.perf_counter()
            train_data.shuffle(training.generator)
            with bars.epoch(epoch):
                train_loss = _train_epoch(training, train_data, bars, epoch)
                val_loss = val_accuracy = math.nan
                figures = {"loss": f"{train_loss:.4f}"}
                if epoch % validate_every == 0 or epoch == number_of_epochs:
                    val_loss, val_accuracy = evaluate(validated, val_data, device)
                    _check_loss(training, val_loss, "validation", epoch)
                    figures.update(val_loss=f"{val_loss:.4f}", val_acc=f"{val_accuracy:.4f}")
                seconds = time.perf_counter() - start
                bars.show(**figures, s=f"{seconds:.1f}")
            kept = min([math.inf, *(r.val_loss for r in training.history if r.val_loss < math.inf)])
            # strict <: ties keep the earliest; NaN (not validated) < x is False
            if epoch == number_of_epochs if keep == "last" else val_loss < kept:
                training.best = {k: v.detach().clone() for k, v in validated.state_dict().items()}
            training.history.append(EpochResult(epoch, train_loss, val_loss, val_accuracy,
                                                seconds, _current_lr(training.optimizer)))
            if on_epoch is not None:
                on_epoch(training.history[-1])
            if checkpoint is not None:
                checkpoint.store(training)
    finally:
        model.train(was_training)
        bars.close()


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, device: torch.device | str | None = None
             ) -> tuple[float, float]:
    """Mean cross-entropy over samples and accuracy of `model` on `dataset` (moved to `device`)."""
    device = _device(model, device)
    if dataset.num_samples == 0:
        raise ValueError("evaluate: dataset is empty")
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    with eval_mode(model.to(device)):
        for x, y in dataset:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            labels = y if y.ndim == 1 else y.argmax(dim=1)  # class indices [B] or one-hot [B, K]
            correct += (logits.argmax(dim=1) == labels).sum()
    return loss_sum.item() / dataset.num_samples, correct.item() / dataset.num_samples


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, device: torch.device | str | None = None
            ) -> torch.Tensor:
    """Logits [N, K] on the CPU, in the order of `dataset`'s current batches."""
    device = _device(model, device)
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


def _train_epoch(training: Training, data: Dataset, bars: Progress, epoch: int) -> float:
    """One pass of steps over `data`; returns the mean training loss over samples."""
    training.model.train()
    # The sum stays on the device so the hot loop never waits for it; a sum of losses is
    # non-finite exactly when one of them is, so checking it at each sync catches divergence.
    loss_sum = torch.zeros((), device=data.samples.device)
    seen = 0
    running = math.nan
    for index, (x, y) in enumerate(data):
        loss = training.step(x, y)
        loss_sum += loss * len(y)  # batch mean -> sum: a short last batch weighs less
        seen += len(y)
        bars.step()
        if training.first_loss is None:
            training.first_loss = loss.item()  # one extra sync per run: the yardstick
            _check_loss(training, training.first_loss, "training", epoch)
        if (index + 1) % SYNC_EVERY == 0 or index + 1 == len(data):
            running = loss_sum.item() / seen
            _check_loss(training, running, "training", epoch)
            bars.show(refresh=False, loss=f"{running:.4f}")
    return running


def _check_loss(training: Training, loss: float, which: str, epoch: int) -> None:
    """TrainingError once a loss is NaN, infinite or DIVERGENCE_FACTOR x the first one."""
    lr = _current_lr(training.optimizer)
    if not math.isfinite(loss):
        raise TrainingError(f"epoch {epoch}: {which} loss became {loss} at lr={lr:g}: "
                            "training diverged; lower the learning rate")
    start = training.first_loss
    if which == "training" and start and loss > DIVERGENCE_FACTOR * start:
        raise TrainingError(f"epoch {epoch}: training loss {loss:.3g} grew past "
                            f"{DIVERGENCE_FACTOR:g}x its starting value {start:.3g} at lr={lr:g}: "
                            "training diverged; lower the learning rate")


def _current_lr(optimizer: torch.optim.Optimizer) -> float:
    """Learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])


def _device(model: nn.Module, device: torch.device | str | None = None) -> torch.device:
    """`device`, else that of the model's first parameter (CPU for a parameterless model)."""
    if device is not None:
        return torch.device(device)
    return next(model.parameters(), torch.empty(0, device="cpu")).device
