"""The report: every number from the results, rounded for reading, tables in class order."""

import copy
import re

import pytest
import torch

from fmnist.analysis.verify import verify_against_torch
from fmnist.data.classes import CLASS_NAMES
from fmnist.data.dataset import Dataset
from fmnist.report.markdown import RESULTS, build_report

PER_CLASS = {name: 1000 - i for i, name in enumerate(CLASS_NAMES)}
HARD = {"name": "Shirt", "recall": 0.75, "samples": 1000,
        "mistaken_for": [{"class": "T-shirt/top", "count": 90}, {"class": "Pullover",
                                                                 "count": 60}],
        "taken_for_it": []}
TRAIN = {"impl": "custom", "device": "cpu", "best_epoch": 9, "best_val_loss": 0.306026,
         "val_accuracy": 0.891417, "final_val_accuracy": 0.887333, "epochs": 10,
         "seconds_per_epoch": 41.25}  # a timing, as a careless stage might write one
EXAMPLE = {
    "prepare": {split: {"samples": sum(PER_CLASS.values()), "per_class": dict(sorted(
        PER_CLASS.items()))} for split in ("train", "val", "test")},
    "verify_ops": {"tolerance": 1e-5, "batches": 3, "batch_size": 64, "passed": True,
                   "failures": [], "device": "cpu", "torch_backend": "oneDNN's kernels",
                   "grad_rule": "relative error at most max(10 x torch's, 1e-4)",
                   "max_forward_diff": 6.0e-7, "layers": [
                       {"layer": "conv1", "config": "Conv2d(1, 32)", "forward": 6.0e-7,
                        "grad_input": {"custom": 1.5e-7, "torch": 3.5e-7},
                        "grad_weight": {"custom": 2.9e-6, "torch": 4.8e-6}},
                       {"layer": "network", "forward": 5e-7,
                        "grad_conv1_weight": {"custom": 1.9e-6, "torch": 2.8e-3}}],
                   "commutativity": {"input_shape": [1, 100, 100],
                                     "pool": {"layer": "MaxPool2d", "max_abs_diff": 0.0},
                                     "conv": {"layer": "Conv2d", "max_abs_diff": 0.81,
                                              "mean_abs_diff": 0.153,
                                              "fraction_differing": 0.998}}},
    "train_custom": TRAIN,
    "train_torch": {**TRAIN, "impl": "torch", "best_val_loss": 0.305},
    "compare": {k: {"per_epoch_diff": [0.0002], "max_abs_diff": 0.000531}
                for k in ("train_loss", "val_loss", "val_accuracy")},
    "tune": {"best_trial": 8, "best_is_baseline": False, "trials_run": 12,
             "trials_complete": 9, "trials_pruned": 3, "search_best_val_loss": 0.3209,
             "best_val_loss": 0.17, "best_val_accuracy": 0.9503, "best_epoch": 29,
             "final_epochs": 30, "best_params": {"lr": 0.04321207567376301,
                                                 "dropout": 0.30000000000000004,
                                                 "batch_size": 128}},
    "test": {"tuned": {"accuracy": 0.9438, "macro_precision": 0.9437, "macro_recall": 0.9438,
                       "per_class": [{"class": c, "precision": 0.9, "recall": 0.9}
                                     for c in CLASS_NAMES], "hardest_class": HARD},
             "custom": {"accuracy": 0.8861}, "torch": {"accuracy": 0.887}},
}


def report(results: dict | None = None) -> str:
    return build_report(results or EXAMPLE, "../plots", "../timings")


@pytest.mark.parametrize("name", RESULTS)
def test_every_named_result_is_read(name):
    # a name in RESULTS makes the report stage require that file: none may be there for nothing
    with pytest.raises(KeyError):
        report({k: v for k, v in EXAMPLE.items() if k != name})


def test_the_ops_table_renders_what_verify_measures():
    tiny = Dataset(torch.rand(2, 1, 28, 28), torch.eye(10)[:2], batch_size=2)
    measured = verify_against_torch(tiny, batches=1, seed=0)
    measured["commutativity"] = EXAMPLE["verify_ops"]["commutativity"]
    text = report({**EXAMPLE, "verify_ops": measured})
    conv2 = next(line for line in text.splitlines() if line.startswith("| `conv2`"))
    assert conv2.count(" / ") == 3  # grad_input, grad_weight and grad_bias: ours / torch's
    assert "| `network` | loss, w.r.t. conv3 |" in text and "Verdict: passed" in text


def test_tables_follow_class_order_not_the_alphabet():
    text = report()
    for table_start in ("| class | train | val | test |", "| class | precision | recall |"):
        block = text[text.index(table_start):].split("\n\n")[0]
        names = [line.split(" | ")[0].lstrip("| ") for line in block.splitlines()[2:12]]
        assert names == list(CLASS_NAMES)


def test_every_float_is_rounded_for_reading():
    text = report()
    assert "0.04321" in text and "0.04321207567376301" not in text
    assert "`0.3`" in text and "0.30000000000000004" not in text
    assert not re.findall(r"\d\.\d{7,}", text)  # no float printed with 7+ decimals


def test_no_timings_in_the_report_but_a_link_to_them():
    text = report()
    assert "41.25" not in text and "41.2" not in text and "seconds_per_epoch" not in text
    assert "](../timings/)" in text and "![Loss curves](../plots/losses.png)" in text


def test_prose_follows_the_numbers():
    same = copy.deepcopy(EXAMPLE)
    same["compare"] = {k: {"per_epoch_diff": [0.0], "max_abs_diff": 0.0}
                       for k in ("train_loss", "val_loss", "val_accuracy")}
    assert "stayed below the logged precision" in report(same)
    assert "not bit for bit" in report() and "0.00053" in report()
    assert "T-shirt/top (90), Pullover (60)" in report() and "no other class" in report()
    assert "upper-body garments" in report()
    bag = copy.deepcopy(EXAMPLE)
    bag["test"]["tuned"]["hardest_class"] = {**HARD, "name": "Bag",
                                             "mistaken_for": [{"class": "Sandal", "count": 3}]}
    assert "upper-body" not in report(bag)
    assert "(the hand-picked baseline" not in report()
    baseline = copy.deepcopy(EXAMPLE)
    baseline["tune"]["best_is_baseline"] = True
    assert "(the hand-picked baseline" in report(baseline)


@pytest.mark.parametrize("epochs", [1, 30])
def test_plurals(epochs):
    one = copy.deepcopy(EXAMPLE)
    one["tune"]["final_epochs"] = epochs
    assert f"{epochs} epoch{'s' if epochs > 1 else ''} on the whole" in report(one)


def test_a_refit_on_train_and_val_claims_no_validation_figure():
    refit = {**EXAMPLE, "tune": {**EXAMPLE["tune"], "final_data": "train+val"}}
    text = report(refit)
    assert "training and validation splits together" in text
    assert "0.9503" not in text and "0.9503" in report()


def test_a_search_of_only_the_baseline_says_so():
    alone = {**EXAMPLE, "tune": {**EXAMPLE["tune"], "trials_run": 1, "trials_complete": 1,
                                 "trials_pruned": 0, "best_trial": 0, "best_is_baseline": True}}
    assert "ran only its baseline" in report(alone) and "1 trials" not in report(alone)
    assert "Optuna ran 12 trials (9 complete, 3 pruned" in report()


def test_findings_follow_the_numbers_of_the_ops_experiments():
    assert "is exactly zero" in report() and "does not compute what it should" not in report()
    broken = copy.deepcopy(EXAMPLE)
    broken["verify_ops"]["commutativity"]["pool"]["max_abs_diff"] = 0.25
    broken["verify_ops"]["commutativity"]["conv"]["max_abs_diff"] = 0.0
    text = report(broken)
    assert "exactly zero" not in text and "differ by up to 0.25: one of our layers" in text
    assert "happen to agree" in text and "happen to agree" not in report()
    failed = copy.deepcopy(EXAMPLE)
    failed["verify_ops"].update(passed=False, failures=["conv1 (Conv2d) grad_weight off by 2e-2"])
    assert "Verdict: FAILED (conv1 (Conv2d) grad_weight off by 2e-2)" in report(failed)


def test_the_backend_named_is_the_one_recorded_on_the_device_used():
    assert "oneDNN's kernels in PyTorch's" in report() and "on the cpu:" in report()
    gpu = copy.deepcopy(EXAMPLE)
    gpu["verify_ops"].update(device="cuda", torch_backend="cuDNN's kernels")
    for impl in ("train_custom", "train_torch"):
        gpu[impl] = {**gpu[impl], "device": "cuda"}
    assert "cuDNN's kernels in PyTorch's" in report(gpu) and "oneDNN" not in report(gpu)
    elsewhere = {**gpu, "train_torch": {**gpu["train_torch"], "device": "cpu"}}
    assert "cuDNN" not in report(elsewhere).split("## Training")[1]  # not the device that trained
