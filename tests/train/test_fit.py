"""fit / evaluate / predict on tiny synthetic data: losses, best epoch, determinism, divergence."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fmnist.data.dataset import Dataset
from fmnist.errors import TrainingError
from fmnist.nn.assignment import build_network
from fmnist.train.fit import (
    DIVERGENCE_FACTOR,
    Training,
    eval_mode,
    evaluate,
    fit,
    predict,
    run,
)
from fmnist.train.history import EpochResult


def linear_data(n: int, batch_size: int, seed: int = 0, classes: int = 3) -> Dataset:
    """Points [n, 4] whose one-hot class [n, classes] is a linear function of the point."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    w = torch.randn(4, classes, generator=torch.Generator().manual_seed(99))
    y = F.one_hot((x @ w).argmax(dim=1), classes).float()
    return Dataset(x, y, batch_size)


def image_data(n: int, batch_size: int, seed: int = 0) -> Dataset:
    """Random images [n, 1, 28, 28] with cycling one-hot labels [n, 10]."""
    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    y = F.one_hot(torch.arange(n) % 10, 10).float()
    return Dataset(x, y, batch_size)


def weights(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def loop(model: nn.Module, epochs: int, train: Dataset, val: Dataset, *, lr: float = 0.01,
         **options: object) -> tuple[nn.Module, list[float], list[float]]:
    """fit's SGD through the shared loop with the loop's own options (on_epoch, keep, ...)."""
    training = Training(model, torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9))
    run(training, epochs, train, val, progress=False, **options)
    return training.result(model.training)


def test_assignment_network_one_loss_per_epoch_and_best_is_min() -> None:
    model = build_network("torch")
    best, train_losses, val_losses = fit(
        model, 3, image_data(64, 16), image_data(32, 16, seed=1), lr=0.05,
        generator=torch.Generator().manual_seed(0))
    assert len(train_losses) == len(val_losses) == 3
    assert best is not model
    loss, _ = evaluate(best, image_data(32, 16, seed=1))
    assert loss == pytest.approx(min(val_losses), rel=1e-6)


def test_best_model_is_the_best_epoch_not_the_last() -> None:
    # Training pushes every point to class 0 while validation says class 1, so validation
    # loss rises every epoch and the first epoch is the best.
    x = torch.randn(40, 4, generator=torch.Generator().manual_seed(0))
    train = Dataset(x, F.one_hot(torch.zeros(40, dtype=torch.long), 3).float(), 8)
    val = Dataset(x, F.one_hot(torch.ones(40, dtype=torch.long), 3).float(), 8)
    model = nn.Linear(4, 3)
    seen: list[list[torch.Tensor]] = []
    best, _, val_losses = loop(model, 4, train, val, lr=0.1,
                               on_epoch=lambda r: seen.append(weights(model)))
    assert all(a < b for a, b in zip(val_losses, val_losses[1:], strict=False))
    assert evaluate(best, val)[0] == pytest.approx(val_losses[0], rel=1e-6)
    assert same(weights(best), seen[0])
    assert not same(weights(best), weights(model))


def test_ties_keep_the_earliest_epoch() -> None:
    # Zero validation inputs through a bias-free layer give logits 0: the same loss every epoch.
    train = linear_data(24, 6)
    val = Dataset(torch.zeros(6, 4), F.one_hot(torch.arange(6) % 3, 3).float(), 6)
    model = nn.Linear(4, 3, bias=False)
    seen: list[list[torch.Tensor]] = []
    best, _, val_losses = loop(model, 3, train, val, lr=0.1,
                               on_epoch=lambda r: seen.append(weights(model)))
    assert len(set(val_losses)) == 1
    assert same(weights(best), seen[0])
    assert not same(seen[0], seen[-1])


def test_losses_are_means_over_samples_with_an_uneven_last_batch() -> None:
    # lr = 0 freezes the weights, so both epoch losses must equal one full-batch loss.
    data = linear_data(23, 5)  # batches of 5, 5, 5, 5, 3
    model = nn.Linear(4, 3)
    with torch.no_grad():
        expected = F.cross_entropy(model(data.samples), data.labels).item()
        batch_means = [F.cross_entropy(model(x), y).item() for x, y in data]
    assert sum(batch_means) / len(batch_means) != pytest.approx(expected, rel=1e-4)

    _, train_losses, val_losses = fit(model, 2, data, data, lr=0.0, momentum=0.0)
    assert train_losses == pytest.approx([expected] * 2, rel=1e-5)
    assert val_losses == pytest.approx([expected] * 2, rel=1e-5)
    assert evaluate(model, data)[0] == pytest.approx(expected, rel=1e-5)


def test_fit_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> tuple[list[float], list[float], list[torch.Tensor]]:
        torch.manual_seed(3)
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        best, t, v = fit(model, 3, linear_data(50, 8), linear_data(20, 8, seed=1), lr=0.05,
                         generator=torch.Generator().manual_seed(seed))
        return t, v, weights(best)

    first, again, other = run(7), run(7), run(8)
    assert first[0] == again[0] and first[1] == again[1]
    assert same(first[2], again[2])
    assert first[0] != other[0]  # the generator really drives the shuffling


def test_nan_loss_raises_training_error() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        model[2].bias.fill_(float("inf"))  # inf - inf: the very first loss is NaN
    with pytest.raises(TrainingError, match=r"epoch 1: training loss became nan at lr=0\.5: "
                                            r"training diverged; lower the learning rate"):
        fit(model, 3, linear_data(40, 8), linear_data(40, 8), lr=0.5)


def test_a_loss_growing_far_past_its_start_is_divergence_even_when_finite() -> None:
    # lr = 50 on a linear model: the loss climbs to ~1e3 while staying finite (no NaN).
    calls: list[EpochResult] = []
    torch.manual_seed(0)
    with pytest.raises(TrainingError) as err:
        loop(nn.Linear(4, 3), 5, linear_data(400, 8), linear_data(40, 8), lr=50.0,
             on_epoch=calls.append)
    message = str(err.value)
    assert f"grew past {DIVERGENCE_FACTOR:g}x its starting value" in message
    assert "at lr=50" in message and "epoch 1" in message and "nan" not in message
    assert calls == []  # stopped inside the first epoch, before any result was reported


def test_a_healthy_run_is_not_called_divergent() -> None:
    _, train_losses, _ = fit(nn.Linear(4, 3), 4, linear_data(200, 8), linear_data(40, 8),
                             lr=0.5)
    assert train_losses[-1] < train_losses[0]


def test_nan_sample_raises_training_error_and_calls_no_callback() -> None:
    data = linear_data(30, 4)
    data.samples[29, 0] = float("nan")  # the short last batch
    calls: list[EpochResult] = []
    with pytest.raises(TrainingError, match=r"epoch 1: .*nan at lr=0\.01: training diverged"):
        loop(nn.Linear(4, 3), 2, data, linear_data(10, 4), on_epoch=calls.append)
    assert calls == []


def test_on_epoch_called_once_per_epoch_with_the_epoch_results() -> None:
    calls: list[EpochResult] = []
    _, train_losses, val_losses = loop(nn.Linear(4, 3), 3, linear_data(30, 8),
                                       linear_data(12, 5), lr=0.02, on_epoch=calls.append)
    assert [r.epoch for r in calls] == [1, 2, 3]
    assert [r.train_loss for r in calls] == train_losses
    assert [r.val_loss for r in calls] == val_losses
    assert all(0.0 <= r.val_accuracy <= 1.0 and r.seconds >= 0 and r.lr == 0.02 for r in calls)


def test_an_exception_from_on_epoch_propagates() -> None:
    class Pruned(Exception):
        pass

    calls: list[int] = []

    def prune_at_two(result: EpochResult) -> None:
        calls.append(result.epoch)
        if result.epoch == 2:
            raise Pruned

    with pytest.raises(Pruned):
        loop(nn.Linear(4, 3), 5, linear_data(16, 4), linear_data(8, 4), on_epoch=prune_at_two)
    assert calls == [1, 2]


def test_fit_restores_mode_and_leaves_the_callers_data_order() -> None:
    model = nn.Linear(4, 3).eval()
    train = linear_data(20, 4)
    order = train.order.clone()
    best, _, _ = fit(model, 2, train, linear_data(8, 4),
                     generator=torch.Generator().manual_seed(0))
    assert not model.training and not best.training
    assert torch.equal(train.order, order)


def test_evaluate_and_predict_use_eval_mode_restore_it_and_keep_batch_order() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5)).train()
    data = linear_data(13, 4)
    data.shuffle(torch.Generator().manual_seed(1))
    logits = predict(model, data)
    assert model.training
    with torch.no_grad():
        expected = model[0](torch.cat([x for x, _ in data]))  # eval mode: dropout is identity
    assert logits.shape == (13, 3)
    assert torch.allclose(logits, expected)

    loss, accuracy = evaluate(model, data)
    labels = torch.cat([y for _, y in data])
    assert model.training
    assert loss == pytest.approx(F.cross_entropy(expected, labels).item(), rel=1e-5)
    assert accuracy == (expected.argmax(1) == labels.argmax(1)).sum().item() / 13


def test_progress_bar_reports_running_and_validation_figures(capsys: pytest.CaptureFixture) -> None:
    fit(nn.Linear(4, 3), 1, linear_data(12, 4), linear_data(8, 4))
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "val_acc=" in err and "loss=" in err
    assert "training:" not in err  # one epoch: no overall bar


def test_a_longer_run_shows_one_overall_bar_with_its_end(capsys: pytest.CaptureFixture) -> None:
    fit(nn.Linear(4, 3), 3, linear_data(40, 4), linear_data(8, 4))
    err = capsys.readouterr().err
    assert "training: 100%" in err and "30/30" in err and "ends ~" in err
    assert "epoch 3/3" in err


@pytest.mark.parametrize("epochs", [0, -1, 2.0, True])
def test_bad_number_of_epochs_is_rejected(epochs: object) -> None:
    with pytest.raises(ValueError, match="number_of_epochs"):
        fit(nn.Linear(4, 3), epochs, linear_data(8, 4), linear_data(8, 4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_runs_on_cuda() -> None:
    model = build_network("torch")
    best, train_losses, val_losses = fit(model.cuda(), 1, image_data(32, 8), image_data(16, 8))
    assert next(best.parameters()).is_cuda
    assert predict(best, image_data(16, 8), "cuda").shape == (16, 10)


def test_eval_mode_restores_the_mode_even_on_error() -> None:
    model = nn.Dropout().train()
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not model.training
        raise RuntimeError
    assert model.training


def test_keep_last_returns_the_final_weights_even_when_an_earlier_epoch_was_better() -> None:
    # as in test_best_model_is_the_best_epoch_not_the_last: validation loss rises every epoch
    x = torch.randn(40, 4, generator=torch.Generator().manual_seed(0))
    train = Dataset(x, F.one_hot(torch.zeros(40, dtype=torch.long), 3).float(), 8)
    val = Dataset(x, F.one_hot(torch.ones(40, dtype=torch.long), 3).float(), 8)
    model = nn.Linear(4, 3)
    last, _, val_losses = loop(model, 3, train, val, lr=0.1, keep="last")
    assert val_losses[0] < val_losses[-1]
    assert same(weights(last), weights(model))
    with pytest.raises(ValueError, match="keep must be 'best' or 'last'"):
        loop(model, 1, train, val, keep="middle")


def test_validate_every_validates_those_epochs_and_the_last_and_keeps_only_validated_ones() -> None:
    x = torch.randn(40, 4, generator=torch.Generator().manual_seed(0))
    train = Dataset(x, F.one_hot(torch.zeros(40, dtype=torch.long), 3).float(), 8)
    val = Dataset(x, F.one_hot(torch.ones(40, dtype=torch.long), 3).float(), 8)
    model = nn.Linear(4, 3)
    results: list[EpochResult] = []
    seen: list[list[torch.Tensor]] = []
    best, train_losses, val_losses = loop(
        model, 5, train, val, lr=0.1, validate_every=2,
        on_epoch=lambda r: (results.append(r), seen.append(weights(model))))
    validated = [r.epoch for r in results if not math.isnan(r.val_loss)]
    assert validated == [2, 4, 5] and len(train_losses) == len(val_losses) == 5
    assert all(math.isnan(val_losses[i]) for i in (0, 2))
    # validation loss rises every epoch: the best is the first validated one, epoch 2
    assert same(weights(best), seen[1])
    assert evaluate(best, val)[0] == pytest.approx(val_losses[1], rel=1e-6)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="validate_every must be an integer >= 1"):
            loop(model, 1, train, val, validate_every=bad)


def test_validating_only_at_the_end_keeps_the_last_epoch() -> None:
    model = nn.Linear(4, 3)
    results: list[EpochResult] = []
    last, _, val_losses = loop(model, 3, linear_data(24, 6), linear_data(12, 6, seed=1), lr=0.1,
                               keep="last", validate_every=3, on_epoch=results.append)
    assert [math.isnan(v) for v in val_losses] == [True, True, False]
    assert same(weights(last), weights(model)) and results[-1].val_loss == val_losses[-1]
