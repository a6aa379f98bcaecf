"""Hyperparameter search with Optuna (seeded TPE, median pruning), then the final retraining."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import optuna
import torch

from fmnist.augment import FlipShift
from fmnist.dataset import Dataset
from fmnist.errors import TrainingError
from fmnist.prepare import subsample
from fmnist.training import EpochResult, fit
from fmnist.tuned import TunedConfig, TunedNet, build_tuned

MIN_SCHEDULE = 16


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation hyperparameters: SGD (Nesterov) with a one-cycle learning-rate schedule."""

    lr: float = 0.1             # the peak of the one-cycle schedule
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128


@dataclass(frozen=True)
class Budget:
    """How much the search may spend; no wall-clock limits, so a seed fixes the outcome."""

    trials: int
    trial_epochs: int
    trial_samples: int          # training samples per trial (a seeded subset); 0 = all
    final_epochs: int
    shift: int                  # augmentation: max shift in pixels (mirroring always on)
    bf16: bool


def suggest(trial: optuna.Trial) -> tuple[TunedConfig, TrainConfig]:
    """Draw one configuration from the search space.

    Its costliest point is about 1.4x the baseline's compute: a 5x5 kernel comes with one
    convolution per block (it sees as far as two 3x3 ones), and channels stop at 32, so that
    no winner can overrun the final retraining's time budget on a 2-core CPU.
    """
    kernel_size = trial.suggest_categorical("kernel_size", [3, 5])
    arch = TunedConfig(
        blocks=trial.suggest_int("blocks", 2, 3),
        channels=trial.suggest_categorical("channels", [16, 24, 32]),
        convs=trial.suggest_int("convs", 1, 2) if kernel_size == 3 else 1,
        kernel_size=kernel_size,
        batch_norm=trial.suggest_categorical("batch_norm", [True, False]),
        dropout=trial.suggest_float("dropout", 0.0, 0.5, step=0.1),
    )
    train = TrainConfig(
        lr=trial.suggest_float("lr", 0.01, 0.4, log=True),
        momentum=trial.suggest_float("momentum", 0.8, 0.95, step=0.05),
        weight_decay=trial.suggest_float("weight_decay", 1e-5, 2e-3, log=True),
        batch_size=trial.suggest_categorical("batch_size", [64, 128, 256]),
    )
    return arch, train


BASELINE = {"kernel_size": 3, "blocks": 3, "channels": 32, "convs": 2, "batch_norm": True,
            "dropout": 0.2, "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 128}
"""Trial 0: a known-good VGG-like configuration the search has to beat."""


def configs_from(params: dict) -> tuple[TunedConfig, TrainConfig]:
    """Rebuild the two configs from a trial's `params` dict."""
    arch_keys = TunedConfig.__dataclass_fields__.keys() - {"tta"}
    params = {"convs": 1, **params}  # a 5x5 kernel's trials never draw `convs`
    for key in ("dropout", "momentum"):  # stepped floats: 0.30000000000000004 -> 0.3
        params[key] = round(params[key], 6)
    train_keys = TrainConfig.__dataclass_fields__.keys()
    return (TunedConfig(**{k: v for k, v in params.items() if k in arch_keys}),
            TrainConfig(**{k: v for k, v in params.items() if k in train_keys}))


def train_tuned(arch: TunedConfig, train: TrainConfig, epochs: int, samples: torch.Tensor,
                labels: torch.Tensor, validation: Dataset, *, seed: int, budget: Budget,
                device: torch.device, on_epoch: Callable[[EpochResult], None] | None = None,
                progress: bool = True) -> tuple[TunedNet, list[float], list[float]]:
    """Train a TunedNet with one-cycle Nesterov SGD and augmentation; best-on-validation weights."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = build_tuned(arch, budget.bf16).to(device)
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
               augment=FlipShift(budget.shift, generator))


def objective(trial: optuna.Trial, x: torch.Tensor, y: torch.Tensor, validation: Dataset,
              budget: Budget, seed: int, device: torch.device) -> float:
    """Train one trial briefly; report each epoch's validation loss so the pruner can stop it."""
    arch, train = suggest(trial)

    def report(result: EpochResult) -> None:
        trial.set_user_attr("val_accuracy", result.val_accuracy)
        trial.report(result.val_loss, result.epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"epoch {result.epoch}: val loss {result.val_loss:.4f}")

    try:
        _, _, losses = train_tuned(arch, train, budget.trial_epochs, x, y, validation,
                                   seed=seed + trial.number, budget=budget, device=device,
                                   on_epoch=report, progress=False)
    except TrainingError as err:  # a diverging configuration is a bad trial, not a failed search
        raise optuna.TrialPruned(str(err)) from err
    return min(losses)


def open_study(storage: str, name: str, seed: int, fresh: bool) -> optuna.Study:
    """Create (or, unless `fresh`, join) the study at `storage`: seeded TPE, median pruner."""
    if storage.startswith("sqlite:///"):
        Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if fresh and name in optuna.get_all_study_names(storage):
        optuna.delete_study(study_name=name, storage=storage)
    study = optuna.create_study(
        study_name=name, storage=storage, direction="minimize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=5),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    if fresh:
        study.enqueue_trial(BASELINE)
    return study


def run_search(study: optuna.Study, training: dict[str, torch.Tensor], validation: Dataset,
               budget: Budget, seed: int, device: torch.device) -> optuna.Study:
    """Run the budgeted trials on a seeded subset of the training split."""
    x, y = subsample(training["x"], training["y"], budget.trial_samples,
                     torch.Generator().manual_seed(seed))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(lambda t: objective(t, x, y, validation, budget, seed, device),
                   n_trials=budget.trials, callbacks=[_print_trial])
    return study


def _print_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    value = "pruned" if trial.value is None else f"val loss {trial.value:.4f}"
    print(f"trial {trial.number}: {trial.state.name.lower()}, {value}, {trial.params}", flush=True)


def summary(study: optuna.Study, arch: TunedConfig, train: TrainConfig,
            results: list[EpochResult]) -> dict:
    """metrics/tune.json: the winner's hyperparameters, its final results, the trials' fate."""
    states = [t.state for t in study.trials]
    best = min(results, key=lambda r: (r.val_loss, r.epoch))
    return {
        "best_trial": study.best_trial.number,
        "best_is_baseline": study.best_trial.params == BASELINE,
        "best_params": {**asdict(arch), **asdict(train)},
        "search_best_val_loss": round(study.best_value, 6),
        "best_val_loss": round(best.val_loss, 6),
        "best_val_accuracy": round(best.val_accuracy, 6),
        "best_epoch": best.epoch,
        "final_epochs": len(results),
        "seconds_per_epoch": round(statistics.median(r.seconds for r in results), 3),
        "trials_run": len(states),
        "trials_complete": states.count(optuna.trial.TrialState.COMPLETE),
        "trials_pruned": states.count(optuna.trial.TrialState.PRUNED),
    }
