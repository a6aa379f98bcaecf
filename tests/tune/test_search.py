"""The search: a deterministic study named by its meaning, one global trial budget shared by
workers, the baseline enqueued once, and the bookkeeping of its trials."""

import optuna
import pytest
import torch
from optuna.trial import TrialState

from fmnist.data.dataset import Dataset
from fmnist.errors import TrainingError
from fmnist.nn.tuned import TunedConfig
from fmnist.train.history import EpochResult
from fmnist.train.recipe import TrainConfig, train_tuned
from fmnist.tune.search import (
    best_trial,
    describe,
    make_objective,
    open_study,
    study_name,
    summary,
    trial_history,
    work,
    worker_seed,
)
from fmnist.tune.space import BASELINE, configs_from, suggest
from fmnist.tune.storage import open_storage

CPU = torch.device("cpu")


def tiny_data(n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(n))
    y = torch.nn.functional.one_hot(torch.arange(n) % 10, 10).float()
    return x, y


def objective(**change: object):
    x, y = tiny_data()
    options = {"seed": 5, "shift": 1, "bf16": False, "device": CPU, **change}
    return make_objective({"x": x, "y": y}, Dataset(*tiny_data(40), 20), 1, 64,
                          **options)


def cheap(trial: optuna.Trial) -> float:
    """A trivially cheap objective over the real space, where the search machinery is tested."""
    return suggest(trial)[1].lr


def study(tmp_path, name: str = "s", worker: int = 0) -> optuna.Study:
    return open_study(open_storage(f"sqlite:///{tmp_path}/{name}.db", 5), "t", 5, worker)


def test_the_study_name_follows_the_meaning_not_the_trial_count():
    a = study_name("tune", {"trial_epochs": 3, "seed": 1})
    assert a == study_name("tune", {"seed": 1, "trial_epochs": 3}) and a.startswith("tune-")
    assert a != study_name("tune", {"trial_epochs": 4, "seed": 1})


def test_workers_get_distinct_reproducible_seeds():
    seeds = {worker_seed(42, w) for w in range(20)}
    assert len(seeds) == 20 and worker_seed(42, 3) == worker_seed(42, 3)


def test_a_single_worker_is_deterministic_and_starts_with_the_baseline(tmp_path):
    runs = []
    for name in ("a", "b"):
        s = study(tmp_path, name)
        assert work(s, cheap, 7, 0) == 7  # past the 5 random startup trials, into TPE
        runs.append([(t.params, t.value) for t in s.trials])
    assert runs[0] == runs[1]
    assert runs[0][0][0] == BASELINE
    assert s.trials[0].user_attrs["worker"] == 0


def test_the_budget_counts_every_worker_and_raising_it_extends_the_study(tmp_path):
    first = study(tmp_path, worker=0)
    assert work(first, cheap, 2, 0) == 2
    joiner = study(tmp_path, worker=1)  # same study, reopened
    assert work(joiner, cheap, 2, 1) == 0  # nothing left to claim
    assert work(joiner, cheap, 3, 1) == 1  # a raised budget: one more
    assert [t.user_attrs["worker"] for t in joiner.trials] == [0, 0, 1]
    assert sum(t.params == BASELINE for t in joiner.trials) == 1  # enqueued once per study


def test_only_the_stage_enqueues_the_baseline(tmp_path):
    joiner = study(tmp_path, worker=1)
    assert joiner.trials == []  # an extra worker proposes; the stage (worker 0) adds the baseline
    stage = study(tmp_path, worker=0)
    study(tmp_path, worker=0)  # a resumed stage: still one baseline
    assert [t.params for t in stage.trials] == [{}] and stage.trials[0].state == TrialState.WAITING
    assert work(joiner, cheap, 1, 1) == 1
    assert joiner.trials[0].params == BASELINE and joiner.trials[0].user_attrs["worker"] == 1


def test_an_interrupted_trial_is_failed_not_left_running(tmp_path):
    s = study(tmp_path)

    def interrupted(trial: optuna.Trial) -> float:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        work(s, interrupted, 2, 0)
    assert [t.state for t in s.trials] == [TrialState.FAIL]  # not left RUNNING
    assert work(s, cheap, 1, 0) == 1  # a failed trial is outside the budget


def test_a_diverging_trial_is_pruned_not_fatal(tmp_path):
    s = study(tmp_path, worker=1)  # no baseline: only this trial
    s.enqueue_trial({**BASELINE, "lr": 1e12})  # out of range: diverges
    with pytest.warns(UserWarning, match="out of range"):
        assert work(s, objective(shift=0), 1, 1) == 1
    assert [t.state for t in s.trials] == [TrialState.PRUNED]


def test_best_trial_needs_a_complete_trial(tmp_path):
    s = study(tmp_path)
    s.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED, params={}, distributions={}))
    with pytest.raises(TrainingError, match="no trial of the search completed .1 pruned"):
        best_trial(s)


def test_retrain_the_winner_and_summarize(tmp_path):
    s = study(tmp_path)
    work(s, objective(), 2, 0)
    best = best_trial(s)
    arch, train = configs_from(best.params)
    x, y = tiny_data()
    model, _, losses = train_tuned(arch, train, 1, x, y, Dataset(*tiny_data(40), 20), seed=5,
                                   shift=1, bf16=False, device=CPU, progress=False)
    assert len(losses) == 1 and model(x[:2]).shape == (2, 10)
    results = [EpochResult(1, 1.0, 0.5, 0.8, 1.0, 0.1), EpochResult(2, 0.9, 0.4, 0.85, 1.0, 0.1)]
    out = summary(s, best, TunedConfig(), TrainConfig(), results)
    assert out["trials_run"] == 2 and out["trials_per_worker"] == {"0": 2}
    assert out["best_epoch"] == 2 and out["best_val_accuracy"] == 0.85
    assert len(trial_history(s)) == 2 and "trial 0 (worker 0): complete" in describe(s.trials[0])
    assert out["val_held_out"] and 0 <= out["search_val_accuracy"] <= 1
    refit = summary(s, best, TunedConfig(), TrainConfig(), results[::-1], "train+val")
    # trained on the validation split: the last epoch is the kept one, whatever its loss
    assert refit["best_epoch"] == 1 and not refit["val_held_out"]
