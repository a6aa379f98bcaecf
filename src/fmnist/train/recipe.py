"""The tuned network's training recipe: one-cycle Nesterov SGD, flips, shifts and random erasing,
label smoothing, and an exponential moving average of the weights that is what gets kept."""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from fmnist.data.dataset import Dataset
from fmnist.nn.tuned import TunedConfig, TunedNet
from fmnist.runtime import seed_everything
from fmnist.train.augment import FlipShift, RandomErasing
from fmnist.train.average import EMA
from fmnist.train.fit import Checkpoint, Training, run
from fmnist.train.history import EpochResult

MIN_SCHEDULE = 16
FINAL_DATA = ("train", "train+val")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation hyperparameters of the recipe."""

    lr: float = 0.1               # the peak of the one-cycle schedule
    momentum: float = 0.9
    weight_decay: float = 5e-4    # on weights only, not on batch-norm parameters or biases
    batch_size: int = 128
    label_smoothing: float = 0.1
    erase: float = 0.5            # probability of random erasing per image
    ema_decay: float = 0.999


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on the convolution and linear weights; none on BN scales and biases."""
    decayed = [p for p in model.parameters() if p.ndim > 1]
    plain = [p for p in model.parameters() if p.ndim <= 1]  # decay would only fight the BN
    return [{"params": decayed, "weight_decay": weight_decay},
            {"params": plain, "weight_decay": 0.0}]


def train_tuned(arch: TunedConfig, train: TrainConfig, epochs: int, samples: torch.Tensor,
                labels: torch.Tensor, validation: Dataset, *, seed: int, shift: int, bf16: bool,
                device: torch.device, on_epoch: Callable[[EpochResult], None] | None = None,
                progress: bool = True, keep: str = "best", validate_every: int = 1,
                checkpoint: Checkpoint | None = None) -> tuple[TunedNet, list[float], list[float]]:
    """Train a TunedNet with the recipe; return the averaged weights of the best epoch by
    validation loss (or of the last one, keep="last") and the per-epoch losses."""
    generator = torch.Generator().manual_seed(seed)  # data order and augmentation
    torch.manual_seed(seed)
    model = TunedNet(arch, bf16).to(device)
    training = Dataset(samples, labels, train.batch_size)
    optimizer = torch.optim.SGD(_parameter_groups(model, train.weight_decay), lr=train.lr,
                                momentum=train.momentum, nesterov=True)
    # OneCycleLR divides by its phase lengths: a run of very few steps (tiny test configurations)
    # gets a schedule of MIN_SCHEDULE steps and simply stops early in it.
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=train.lr, total_steps=max(epochs * len(training), MIN_SCHEDULE),
        pct_start=0.25)
    flip_shift = FlipShift(shift, generator)
    erase = RandomErasing(train.erase, generator=generator)
    state = Training(model, optimizer, generator, scheduler, lambda x: erase(flip_shift(x)),
                     train.label_smoothing, EMA(model, train.ema_decay))
    if checkpoint is not None:
        checkpoint.restore(state)
    run(state, epochs, training, validation, keep=keep, validate_every=validate_every,
        on_epoch=on_epoch, progress=progress, checkpoint=checkpoint)
    return state.result()  # type: ignore[return-value]


def train_final(arch: TunedConfig, train: TrainConfig, epochs: int,
                splits: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]], which: str, *,
                tta: str, seed: int, shift: int, bf16: bool, device: torch.device,
                progress: bool = True, checkpoint: Checkpoint | None = None) -> TunedNet:
    """The chosen configuration retrained at full length on `which` splits (see final_data)."""
    x, y, keep = final_data(*splits, which)
    # Validating on data that was trained on says nothing along the way: the refit validates
    # once, at the end (for the record), and spends the ~15% of an epoch it saves on training.
    every = 1 if which == "train" else epochs
    validation = Dataset(splits[1]["x"], splits[1]["y"], 512)
    seed_everything(seed)
    model, _, _ = train_tuned(arch, train, epochs, x, y, validation, seed=seed, shift=shift,
                              bf16=bf16, device=device, progress=progress, keep=keep,
                              validate_every=every, checkpoint=checkpoint)
    # validated above with the views it was trained with (flips): tta's views cost 5x more
    return model.with_tta(tta)


def final_data(train: dict[str, torch.Tensor], val: dict[str, torch.Tensor], which: str
               ) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Samples, labels and the epoch to keep of the final training on `which`: "train+val" (25%
    more data) trains on the validation split, so it keeps the last epoch, not the best."""
    if which not in FINAL_DATA:
        raise ValueError(f"final_data: expected one of {FINAL_DATA}, got {which!r}")
    if which == "train":
        return train["x"], train["y"], "best"
    return torch.cat([train["x"], val["x"]]), torch.cat([train["y"], val["y"]]), "last"
