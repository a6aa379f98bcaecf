"""The verify_ops checks on real-shaped batches."""

from __future__ import annotations

import pytest
import torch

from fmnist.analysis import verify
from fmnist.data.dataset import Dataset
from fmnist.errors import VerificationError


def test_checks_on_real_shaped_batches_pass_and_cover_every_layer():
    dataset = Dataset(torch.rand(10, 1, 28, 28), torch.eye(10), batch_size=5)
    metrics = verify.verify_against_torch(dataset, batches=2, seed=0)
    assert metrics["passed"] and metrics["batches"] == 2
    layers = {entry["layer"]: entry for entry in metrics["layers"]}
    assert list(layers) == ["conv1", "pool1_after_relu", "pool1", "relu1", "conv2", "pool2",
                            "relu2", "conv3", "network"]  # in network order
    conv2 = layers["conv2"]
    assert conv2["input_shape"] == ["N", 32, 12, 12]
    assert conv2["forward"] < verify.FORWARD_TOLERANCE
    assert {"grad_input", "grad_weight", "grad_bias"} <= conv2.keys()
    assert layers["pool1_after_relu"]["grad_input"] == 0.0
    assert verify.headline(metrics) == {
        "max_forward_diff_x1e7": round(metrics["max_forward_diff"] * 1e7, 3)}


def test_headline_shows_small_differences_faithfully_at_five_decimals():
    value = verify.headline({"max_forward_diff": 6.0e-07})["max_forward_diff_x1e7"]
    assert round(value, 5) == 6.0  # DVC rounds to 5 decimals: 6.0e-07 itself would print 0.0


def test_check_forward_names_the_failing_layer():
    metrics = {"tolerance": 1e-5, "layers": [{"layer": "conv1", "forward": 2e-5},
                                             {"layer": "pool1", "forward": 0.0}]}
    with pytest.raises(VerificationError, match=r"conv1 \(2e-05\)"):
        verify.check_forward(metrics)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_checks_hold_on_cuda_in_true_float32():
    dataset = Dataset(torch.rand(64, 1, 28, 28), torch.eye(10).repeat(7, 1)[:64], batch_size=32)
    metrics = verify.verify_against_torch(dataset, batches=2, seed=0, device="cuda")
    assert metrics["device"] == "cuda" and metrics["passed"]
    assert metrics["max_forward_diff"] < verify.FORWARD_TOLERANCE
