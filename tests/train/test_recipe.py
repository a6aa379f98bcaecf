"""The tuned network's recipe: seeded, decays only weights, keeps the averaged weights; the
final training's data."""

import io

import pytest
import torch

from fmnist.atomic import torch_bytes
from fmnist.data.dataset import Dataset
from fmnist.nn.tuned import TunedConfig, TunedNet
from fmnist.train.average import EMA
from fmnist.train.fit import Training, evaluate
from fmnist.train.fit import run as run_epochs
from fmnist.train.recipe import (
    TrainConfig,
    _parameter_groups,
    final_data,
    train_final,
    train_tuned,
)

CPU = torch.device("cpu")


def data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(n))
    return x, torch.nn.functional.one_hot(torch.arange(n) % 10, 10).float()


def run(seed: int) -> tuple[TunedNet, list[float]]:
    model, _, val_losses = train_tuned(TunedConfig(width=4), TrainConfig(batch_size=16), 2,
                                       *data(64), Dataset(*data(32), 16), seed=seed, shift=1,
                                       bf16=False, device=CPU, progress=False)
    return model, val_losses


class Recorder:
    """A checkpoint kept in memory: each epoch's state as torch.save'd bytes, loaded back."""

    def __init__(self, start: dict | None = None, stop: int = 0) -> None:
        self.states: list[dict] = []
        self.start, self.stop = start, stop

    def restore(self, training: Training) -> None:
        if self.start is not None:
            training.load_state_dict(self.start)

    def store(self, training: Training) -> None:
        state = io.BytesIO(torch_bytes(training.state_dict()))
        self.states.append(torch.load(state, weights_only=True))
        if training.epoch == self.stop:
            raise KeyboardInterrupt  # interrupted right after this checkpoint


def tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    return list(model.state_dict().values())


def test_a_seed_fixes_the_run_and_the_result_is_an_averaged_network():
    (first, losses), (again, same) = run(3), run(3)
    assert losses == same and all(torch.equal(a, b) for a, b in zip(
        tensors(first), tensors(again), strict=True))
    assert run(4)[1] != losses
    # keep="last": the result holds the weight average of the end, not the raw weights
    saved = Recorder()
    last, _, _ = train_tuned(TunedConfig(width=4), TrainConfig(batch_size=16), 2, *data(64),
                             Dataset(*data(32), 16), seed=3, shift=1, bf16=False, device=CPU,
                             progress=False, keep="last", checkpoint=saved)
    state = saved.states[-1]
    average = {k.removeprefix("model."): v for k, v in state["average"].items() if k != "steps"}
    assert all(torch.equal(a, b) for a, b in zip(tensors(last), average.values(), strict=True))
    assert not torch.equal(tensors(last)[0], next(iter(state["model"].values())))
    assert state["average"]["steps"] == 2 * 4  # updated after each of 4 batches an epoch


@pytest.mark.parametrize("stop", [1, 2])
def test_a_run_resumed_from_a_checkpoint_ends_as_the_uninterrupted_one(stop):
    def train(checkpoint: Recorder) -> tuple[TunedNet, list[float]]:
        model, _, losses = train_tuned(TunedConfig(width=4, dropout=0.3),
                                       TrainConfig(batch_size=16), 3, *data(64),
                                       Dataset(*data(32), 16), seed=2, shift=1, bf16=False,
                                       device=CPU, progress=False, checkpoint=checkpoint)
        return model, losses

    whole, losses = train(Recorder())
    interrupted = Recorder(stop=stop)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted)
    torch.manual_seed(99)  # the resumed run must not depend on the global generator's state
    resumed, resumed_losses = train(Recorder(start=interrupted.states[-1]))
    assert resumed_losses == losses
    assert torch_bytes(resumed.state_dict()) == torch_bytes(whole.state_dict())


def test_the_recipe_step_augments_training_batches_and_steps_schedule_and_average_per_batch():
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=6)
    shapes: list[tuple[int, ...]] = []

    def flip(x: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(x.shape))
        return -x

    x = torch.randn(11, 4)
    train = Dataset(x, torch.nn.functional.one_hot(torch.arange(11) % 3, 3).float(), 4)
    val = Dataset(x[:9], train.labels[:9], 4)
    training = Training(model, optimizer, None, scheduler, flip, 0.1, EMA(model, 0.9))
    run_epochs(training, 2, train, val, progress=False)
    assert shapes == [(4, 4), (4, 4), (3, 4)] * 2  # every training batch, no validation batch
    assert scheduler.last_epoch == 6 and training.average.steps == 6
    assert training.history[0].lr != training.history[-1].lr  # the epoch's end lr is recorded
    kept, _, val_losses = training.result()
    assert evaluate(kept, val)[0] == pytest.approx(min(val_losses), rel=1e-6)  # the average's
    assert not torch.equal(kept.weight, model.weight)

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
        saved = Recorder()
        model = train_final(TunedConfig(width=4), TrainConfig(batch_size=16), 3, splits, which,
                            tta="shift", seed=5, shift=1, bf16=False, device=CPU,
                            checkpoint=saved, progress=False)
        history = saved.states[-1]["history"]
        return model, [r["val_loss"] == r["val_loss"] for r in history]  # False: NaN

    (refit, validated), (again, _) = final("train+val"), final("train+val")
    assert validated == [False, False, True] and final("train")[1] == [True, True, True]
    assert refit.config.tta == "shift"
    assert all(torch.equal(a, b) for a, b in zip(refit.state_dict().values(),
                                                  again.state_dict().values(), strict=True))
