"""The tuned network, its augmentation and the search: shapes, determinism, budget bookkeeping."""

import optuna
import pytest
import torch

from fmnist.augment import FlipShift
from fmnist.dataset import Dataset
from fmnist.errors import ParamError
from fmnist.prepare import subsample
from fmnist.tuned import TunedConfig, build_tuned, checkpoint, load_tuned, use_bf16
from fmnist.tuning import (
    BASELINE,
    Budget,
    configs_from,
    open_study,
    run_search,
    summary,
    train_tuned,
)


@pytest.mark.parametrize("blocks", [1, 2, 3])
@pytest.mark.parametrize("kernel_size", [3, 5])
def test_tuned_shapes(blocks, kernel_size):
    net = build_tuned(TunedConfig(blocks=blocks, channels=8, kernel_size=kernel_size))
    assert net(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_tta_averages_mirror_images():
    net = build_tuned(TunedConfig(channels=8, batch_norm=False, dropout=0.0)).eval()
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(net(x), net(x.flip(-1)), atol=1e-6)  # symmetric by construction
    plain = build_tuned(TunedConfig(channels=8, tta=False)).eval()
    assert not torch.allclose(plain(x), plain(x.flip(-1)))


def test_bad_configs():
    with pytest.raises(ParamError, match="blocks"):
        TunedConfig(blocks=4)
    with pytest.raises(ParamError, match="kernel_size"):
        TunedConfig(kernel_size=4)
    with pytest.raises(ParamError, match="tune.precision"):
        use_bf16("fp16", torch.device("cpu"))
    assert use_bf16("fp32", torch.device("cpu")) is False


def test_checkpoint_round_trip(tmp_path):
    net = build_tuned(TunedConfig(channels=8)).eval()
    torch.save(checkpoint(net), tmp_path / "t.pt")
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(load_tuned(tmp_path / "t.pt").eval()(x), net(x))


def test_flipshift_is_a_seeded_mirror_and_shift():
    x = torch.rand(64, 1, 28, 28)
    a = FlipShift(2, torch.Generator().manual_seed(1))(x)
    b = FlipShift(2, torch.Generator().manual_seed(1))(x)
    assert torch.equal(a, b) and a.shape == x.shape
    assert not torch.equal(a, x)
    # a pure shift/mirror moves pixels; it never invents values
    assert set(a.unique().tolist()) <= set(x.unique().tolist()) | {0.0}
    assert torch.equal(FlipShift(0, torch.Generator().manual_seed(0))(x[:1]).sort().values,
                       x[:1].sort().values)


def tiny_data(n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, 1, 28, 28)
    y = torch.nn.functional.one_hot(torch.arange(n) % 10, 10).float()
    return x, y


def test_search_then_retrain_is_deterministic(tmp_path):
    x, y = tiny_data()
    validation = Dataset(*tiny_data(40), 20)
    budget = Budget(trials=3, trial_epochs=2, trial_samples=64, final_epochs=1, shift=1,
                    bf16=False)
    values = []
    for run in range(2):
        study = open_study(f"sqlite:///{tmp_path}/s{run}.db", "t", seed=5, fresh=True)
        run_search(study, {"x": x, "y": y}, validation, budget, 5, torch.device("cpu"))
        values.append([t.value for t in study.trials])
        assert len(study.trials) == 3
    assert values[0] == values[1]
    assert study.trials[0].params == BASELINE, "trial 0 is the enqueued baseline"
    arch, train = configs_from(study.best_params)
    model, _, losses = train_tuned(arch, train, 1, x, y, validation, seed=5, budget=budget,
                                   device=torch.device("cpu"), progress=False)
    assert len(losses) == 1 and isinstance(model(x[:2]), torch.Tensor)


def test_fresh_study_replaces_the_old_one(tmp_path):
    url = f"sqlite:///{tmp_path}/sub/s.db"
    open_study(url, "t", 0, fresh=True).optimize(lambda t: t.suggest_float("a", 0, 1), n_trials=2)
    assert len(open_study(url, "t", 0, fresh=False).trials) == 2  # joining keeps them
    fresh = open_study(url, "t", 0, fresh=True).trials
    assert [t.state for t in fresh] == [optuna.trial.TrialState.WAITING]  # only the baseline


def test_subset_is_seeded():
    x, y = tiny_data(50)
    a, b = (subsample(x, y, 10, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a[0], b[0]) and len(a[0]) == 10
    assert subsample(x, y, 0, torch.Generator().manual_seed(3))[0] is x


def test_summary_counts_trials():
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("a", 0, 1), n_trials=3)
    from fmnist.training import EpochResult
    from fmnist.tuned import TunedConfig as Arch
    from fmnist.tuning import TrainConfig
    results = [EpochResult(1, 1.0, 0.5, 0.8, 1.0, 0.1), EpochResult(2, 0.9, 0.4, 0.85, 1.0, 0.1)]
    out = summary(study, Arch(), TrainConfig(), results)
    assert out["trials_run"] == 3 and out["trials_complete"] == 3 and out["trials_pruned"] == 0
    assert out["best_epoch"] == 2 and out["best_val_accuracy"] == 0.85


def test_a_diverging_trial_is_pruned_not_fatal(tmp_path):
    x, y = tiny_data()
    validation = Dataset(*tiny_data(40), 20)
    budget = Budget(trials=2, trial_epochs=2, trial_samples=64, final_epochs=1, shift=0,
                    bf16=False)
    study = open_study(f"sqlite:///{tmp_path}/s.db", "t", seed=5, fresh=False)
    study.enqueue_trial({**BASELINE, "batch_norm": False, "lr": 1e12})  # out of range: diverges
    run_search(study, {"x": x, "y": y}, validation, budget, 5, torch.device("cpu"))
    assert study.trials[0].state == optuna.trial.TrialState.PRUNED
    assert len(study.trials) == 2
