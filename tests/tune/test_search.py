"""The search: a seeded, deterministic study with the baseline first; bookkeeping of its trials."""

import optuna
import torch

from fmnist.data.dataset import Dataset
from fmnist.nn.tuned import TunedConfig
from fmnist.train.fit import EpochResult
from fmnist.train.recipe import TrainConfig, train_tuned
from fmnist.tune.search import TrialBudget, open_study, run_search, summary
from fmnist.tune.space import BASELINE, configs_from

CPU = torch.device("cpu")
def tiny_data(n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, 1, 28, 28)
    y = torch.nn.functional.one_hot(torch.arange(n) % 10, 10).float()
    return x, y


def test_search_then_retrain_is_deterministic(tmp_path):
    x, y = tiny_data()
    validation = Dataset(*tiny_data(40), 20)
    values = []
    for run in range(2):
        study = open_study(f"sqlite:///{tmp_path}/s{run}.db", "t", seed=5, fresh=True)
        run_search(study, {"x": x, "y": y}, validation, 3, TrialBudget(2, 64), seed=5, shift=1,
                   bf16=False, device=CPU)
        values.append([t.value for t in study.trials])
        assert len(study.trials) == 3
    assert values[0] == values[1]
    assert study.trials[0].params == BASELINE, "trial 0 is the enqueued baseline"
    arch, train = configs_from(study.best_params)
    model, _, losses = train_tuned(arch, train, 1, x, y, validation, seed=5, shift=1, bf16=False,
                                   device=CPU, progress=False)
    assert len(losses) == 1 and isinstance(model(x[:2]), torch.Tensor)


def test_fresh_study_replaces_the_old_one(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    open_study(url, "t", 0, fresh=True).optimize(lambda t: t.suggest_float("a", 0, 1), n_trials=2)
    assert len(open_study(url, "t", 0, fresh=False).trials) == 2  # joining keeps them
    fresh = open_study(url, "t", 0, fresh=True).trials
    assert [t.state for t in fresh] == [optuna.trial.TrialState.WAITING]  # only the baseline


def test_summary_counts_trials():
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("a", 0, 1), n_trials=3)
    results = [EpochResult(1, 1.0, 0.5, 0.8, 1.0, 0.1), EpochResult(2, 0.9, 0.4, 0.85, 1.0, 0.1)]
    out = summary(study, TunedConfig(), TrainConfig(), results)
    assert out["trials_run"] == 3 and out["trials_complete"] == 3 and out["trials_pruned"] == 0
    assert out["best_epoch"] == 2 and out["best_val_accuracy"] == 0.85


def test_a_diverging_trial_is_pruned_not_fatal(tmp_path):
    x, y = tiny_data()
    validation = Dataset(*tiny_data(40), 20)
    study = open_study(f"sqlite:///{tmp_path}/s.db", "t", seed=5, fresh=False)
    study.enqueue_trial({**BASELINE, "batch_norm": False, "lr": 1e12})  # out of range: diverges
    run_search(study, {"x": x, "y": y}, validation, 2, TrialBudget(2, 64), seed=5, shift=0,
               bf16=False, device=CPU)
    assert study.trials[0].state == optuna.trial.TrialState.PRUNED
    assert len(study.trials) == 2
