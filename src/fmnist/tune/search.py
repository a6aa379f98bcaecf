"""The Optuna study (seeded TPE, median pruning): short trials on a subset, and its summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import optuna
import torch

from fmnist.data.dataset import Dataset
from fmnist.data.splits import subsample
from fmnist.errors import TrainingError
from fmnist.nn.tuned import TunedConfig
from fmnist.train.fit import EpochResult, best_epoch
from fmnist.train.recipe import TrainConfig, train_tuned
from fmnist.tune.space import BASELINE, suggest


@dataclass(frozen=True)
class TrialBudget:
    """What one trial may spend: epochs, training samples (a seeded subset; 0 = all)."""

    epochs: int
    samples: int


def objective(trial: optuna.Trial, x: torch.Tensor, y: torch.Tensor, validation: Dataset,
              epochs: int, *, seed: int, shift: int, bf16: bool, device: torch.device) -> float:
    """Train one trial briefly; report each epoch's validation loss so the pruner can stop it."""
    arch, train = suggest(trial)

    def report(result: EpochResult) -> None:
        trial.set_user_attr("val_accuracy", result.val_accuracy)
        trial.report(result.val_loss, result.epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"epoch {result.epoch}: val loss {result.val_loss:.4f}")

    try:
        _, _, losses = train_tuned(arch, train, epochs, x, y, validation, seed=seed + trial.number,
                                   shift=shift, bf16=bf16, device=device, on_epoch=report,
                                   progress=False)
    except TrainingError as err:  # a diverging configuration is a bad trial, not a failed search
        raise optuna.TrialPruned(str(err)) from err
    return min(losses)


def open_study(storage: str, name: str, seed: int, fresh: bool) -> optuna.Study:
    """Create (or, unless `fresh`, join) the study at `storage`: seeded TPE, median pruner."""
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
               trials: int, budget: TrialBudget, *, seed: int, shift: int, bf16: bool,
               device: torch.device) -> optuna.Study:
    """Run `trials` trials of `budget` on a seeded subset of the training split."""
    x, y = subsample(training["x"], training["y"], budget.samples,
                     torch.Generator().manual_seed(seed))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(lambda t: objective(t, x, y, validation, budget.epochs, seed=seed, shift=shift,
                                       bf16=bf16, device=device),
                   n_trials=trials, callbacks=[_print_trial])
    return study


def _print_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """One line per finished trial, its floats rounded for reading."""
    value = "pruned" if trial.value is None else f"val loss {trial.value:.4f}"
    params = {k: round(v, 4) if isinstance(v, float) else v for k, v in trial.params.items()}
    print(f"trial {trial.number}: {trial.state.name.lower()}, {value}, {params}", flush=True)


def trial_history(study: optuna.Study) -> list[tuple[int, float, bool]]:
    """(number, value, pruned) per trial with a value: pruned ones at their best report."""
    points = []
    for trial in study.trials:
        steps = trial.intermediate_values
        value = trial.value if trial.value is not None else (
            min(steps.values()) if steps else None)
        if value is not None:
            points.append((trial.number, value, trial.state == optuna.trial.TrialState.PRUNED))
    return points


def summary(study: optuna.Study, arch: TunedConfig, train: TrainConfig,
            results: list[EpochResult]) -> dict[str, Any]:
    """The winner's hyperparameters, its final results and the trials' fate."""
    states = [t.state for t in study.trials]
    best = best_epoch(results)
    return {
        "best_trial": study.best_trial.number,
        "best_is_baseline": study.best_trial.params == BASELINE,
        "best_params": {**asdict(arch), **asdict(train)},
        "search_best_val_loss": round(study.best_value, 6),
        "best_val_loss": round(best.val_loss, 6),
        "best_val_accuracy": round(best.val_accuracy, 6),
        "best_epoch": best.epoch,
        "final_epochs": len(results),
        "trials_run": len(states),
        "trials_complete": states.count(optuna.trial.TrialState.COMPLETE),
        "trials_pruned": states.count(optuna.trial.TrialState.PRUNED),
    }
