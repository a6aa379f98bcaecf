"""The tuned network's recipe: seeded, decays only weights, keeps the averaged weights; the
final training's data."""

import pytest
import torch

from fmnist.data.dataset import Dataset
from fmnist.nn.tuned import TunedConfig, TunedNet
from fmnist.train.fit import evaluate
from fmnist.train.history import EpochResult
from fmnist.train.recipe import TrainConfig, _parameter_groups, final_data, train_final, train_tuned

CPU = torch.device("cpu")


def data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(n))
    return x, torch.nn.functional.one_hot(torch.arange(n) % 10, 10).float()


def run(seed: int) -> tuple[TunedNet, list[float]]:
    model, _, val_losses = train_tuned(TunedConfig(width=4), TrainConfig(batch_size=16), 2,
                                       *data(64), Dataset(*data(32), 16), seed=seed, shift=1,
                                       bf16=False, device=CPU, progress=False)
    return model, val_losses


def test_a_seed_fixes_the_run_and_the_result_is_an_averaged_network():
    (first, losses), (again, same) = run(3), run(3)
    assert losses == same and all(torch.equal(a, b) for a, b in zip(
        first.state_dict().values(), again.state_dict().values(), strict=True))
    assert run(4)[1] != losses
    assert isinstance(first, TunedNet) and first.config.width == 4


def test_weight_decay_spares_batch_norm_and_biases():
    decayed, plain = _parameter_groups(TunedNet(TunedConfig(width=4)), 5e-4)
    assert decayed["weight_decay"] == 5e-4 and plain["weight_decay"] == 0.0
    assert all(p.ndim == 4 or p.ndim == 2 for p in decayed["params"])
    assert all(p.ndim == 1 for p in plain["params"]) and plain["params"]


def test_final_data_refits_on_both_splits_and_keeps_the_last_epoch():
    (tx, ty), (vx, vy) = data(30), data(12)
    train, val = {"x": tx, "y": ty}, {"x": vx, "y": vy}
    x, y, keep = final_data(train, val, "train+val")
    assert keep == "last" and torch.equal(x, torch.cat([tx, vx])) and torch.equal(y[30:], vy)
    x, y, keep = final_data(train, val, "train")
    assert keep == "best" and x is tx and y is ty
    with pytest.raises(ValueError, match="final_data: expected one of"):
        final_data(train, val, "val")


def test_keep_is_passed_to_fit_the_kept_epoch_is_the_one_validated():
    val = Dataset(*data(32), 16)
    for keep, pick in (("last", lambda losses: losses[-1]), ("best", min)):
        model, _, losses = train_tuned(TunedConfig(width=4), TrainConfig(batch_size=16),
                                       3, *data(64), val, seed=1, shift=1, bf16=False,
                                       device=CPU, progress=False, keep=keep)
        assert evaluate(model, val, CPU)[0] == pytest.approx(pick(losses), rel=1e-6)


def test_the_final_training_validates_only_at_the_end_when_it_trains_on_the_validation_split():
    (tx, ty), (vx, vy) = data(48), data(16)
    splits = ({"x": tx, "y": ty}, {"x": vx, "y": vy})

    def final(which: str) -> tuple[TunedNet, list[bool]]:
        results: list[EpochResult] = []
        model = train_final(TunedConfig(width=4), TrainConfig(batch_size=16), 3, splits, which,
                            tta="shift", seed=5, shift=1, bf16=False, device=CPU,
                            on_epoch=results.append, progress=False)
        return model, [r.val_loss == r.val_loss for r in results]  # False: NaN, not validated

    (refit, validated), (again, _) = final("train+val"), final("train+val")
    assert validated == [False, False, True] and final("train")[1] == [True, True, True]
    assert refit.config.tta == "shift"
    assert all(torch.equal(a, b) for a, b in zip(refit.state_dict().values(),
                                                  again.state_dict().values(), strict=True))
