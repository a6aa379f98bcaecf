"""The search as its workers run it: Optuna's loop until the study holds `budget` finished trials.
Workers propose with seeds of their own and a constant liar (not the same point twice); trials
running elsewhere when the budget is met finish too: at most workers - 1 trials over budget."""

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

import optuna
import torch
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

from fmnist.data.dataset import Dataset
from fmnist.data.splits import subsample
from fmnist.errors import TrainingError
from fmnist.nn.tuned import TunedConfig
from fmnist.train.history import EpochResult, best_epoch
from fmnist.train.recipe import TrainConfig, train_tuned
from fmnist.tune.space import BASELINE, SPACE_VERSION, suggest

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
Objective = Callable[[optuna.Trial], float]


def study_name(base: str, identity: Mapping[str, Any]) -> str:
    """`base` and a hash of the space's version and `identity` (data, seed..., not the number of
    trials): raising the budget extends a study, changing what a trial means starts a new one."""
    text = json.dumps({"space": SPACE_VERSION, **identity}, sort_keys=True)
    return f"{base}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def worker_seed(seed: int, worker: int) -> int:
    """The sampler seed of worker `worker`: distinct per worker, fixed by the study seed."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{worker}".encode()).digest()[:4], "big")


def open_study(storage: optuna.storages.BaseStorage, name: str, seed: int, worker: int
               ) -> optuna.Study:
    """Create or resume study `name`; worker 0, the tune stage, enqueues the baseline once."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name, storage=storage, direction="minimize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=worker_seed(seed, worker), n_startup_trials=5,
                                           constant_liar=True),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3))  # on val loss
    if worker == 0:  # one process only: simultaneous enqueues could both add it
        study.enqueue_trial(BASELINE, skip_if_exists=True)
    return study


def states(study: optuna.Study) -> Counter[TrialState]:
    """How many trials of the study are in each state."""
    return Counter(t.state for t in study.get_trials(deepcopy=False))


def work(study: optuna.Study, objective: Objective, budget: int, worker: int,
         on_trial: Callable[[FrozenTrial], None] = lambda trial: None) -> int:
    """Run trials until the study holds `budget` finished ones; return how many ran here (Optuna
    fails dead workers' trials first, retried first; a Ctrl-C or a bug fails the trial, raises)."""
    ran = []

    def tagged(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", worker)
        return objective(trial)

    def done(_: optuna.Study, trial: FrozenTrial) -> None:
        ran.append(trial.number)
        on_trial(trial)

    left = budget - sum(states(study)[s] for s in FINISHED)  # optimize would run one anyway
    study.optimize(tagged, n_trials=max(0, left),
                   callbacks=[MaxTrialsCallback(budget, states=FINISHED), done])
    return len(ran)


def make_objective(training: dict[str, torch.Tensor], validation: Dataset, epochs: int,
                   samples: int, *, seed: int, shift: int, bf16: bool, device: torch.device
                   ) -> Objective:
    """Train one trial `epochs` on a seeded subset of `samples` (0: all); report each epoch's
    validation loss so the pruner can stop it; a diverging configuration is pruned, not fatal."""
    x, y = subsample(training["x"], training["y"], samples, torch.Generator().manual_seed(seed))

    def objective(trial: optuna.Trial) -> float:
        arch, train = suggest(trial)

        def report(result: EpochResult) -> None:
            trial.set_user_attr("val_accuracy", result.val_accuracy)
            trial.report(result.val_loss, result.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"epoch {result.epoch}: val loss {result.val_loss:.4f}")

        try:
            _, _, losses = train_tuned(arch, train, epochs, x, y, validation,
                                       seed=seed + trial.number, shift=shift, bf16=bf16,
                                       device=device, on_epoch=report, progress=False)
        except TrainingError as err:
            raise optuna.TrialPruned(str(err)) from err
        return min(losses)

    return objective


def describe(trial: FrozenTrial) -> str:
    """One line per finished trial, its floats rounded for reading."""
    value = "" if trial.value is None else f", val loss {trial.value:.4f}"
    params = {k: round(v, 4) if isinstance(v, float) else v for k, v in trial.params.items()}
    return (f"trial {trial.number} (worker {trial.user_attrs.get('worker', '?')}): "
            f"{trial.state.name.lower()}{value}, {params}")


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The complete trial of lowest validation loss; TrainingError if none completed."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        count = states(study)
        raise TrainingError(f"no trial of the search completed ({count[TrialState.PRUNED]} "
                            f"pruned, {count[TrialState.FAIL]} failed): nothing to retrain; "
                            "raise the trial budget or the epochs per trial")
    return min(complete, key=lambda t: (t.value, t.number))


def trial_history(study: optuna.Study) -> list[tuple[int, float, bool]]:
    """(number, value, pruned) per finished trial: pruned ones at their best report."""
    points = []
    for trial in study.get_trials(deepcopy=False, states=FINISHED):
        steps = trial.intermediate_values
        value = trial.value if trial.value is not None else min(steps.values(), default=None)
        if value is not None:
            points.append((trial.number, value, trial.state == TrialState.PRUNED))
    return points


def summary(study: optuna.Study, best: FrozenTrial, arch: TunedConfig, train: TrainConfig,
            results: list[EpochResult], final_data: str = "train") -> dict[str, Any]:
    """The winner's hyperparameters, its final results and the trials' fate, per worker too
    (final_data "train+val" trained on the validation data: only the search's is held out)."""
    count = states(study)
    final = best_epoch(results) if final_data == "train" else results[-1]
    workers = Counter(str(t.user_attrs.get("worker")) for t in study.get_trials(
        deepcopy=False, states=FINISHED))
    complete, pruned = count[TrialState.COMPLETE], count[TrialState.PRUNED]
    return {"study": study.study_name, "best_trial": best.number,
            "best_is_baseline": best.params == BASELINE,
            "best_params": {**asdict(arch), **asdict(train)},
            "search_best_val_loss": round(best.value, 6),
            "search_val_accuracy": round(best.user_attrs.get("val_accuracy", float("nan")), 6),
            "final_data": final_data, "val_held_out": final_data == "train",
            "best_val_loss": round(final.val_loss, 6),
            "best_val_accuracy": round(final.val_accuracy, 6), "best_epoch": final.epoch,
            "final_epochs": len(results), "trials_run": complete + pruned,
            "trials_complete": complete, "trials_pruned": pruned,
            "trials_failed": count[TrialState.FAIL],
            "trials_per_worker": dict(sorted(workers.items()))}
