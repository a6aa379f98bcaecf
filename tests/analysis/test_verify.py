"""verify_ops on real-shaped batches: forward against torch, gradients against float64."""

import sys

import pytest
import torch

from fmnist.analysis import verify
from fmnist.data.dataset import Dataset
from fmnist.errors import VerificationError


def small_dataset() -> Dataset:
    images = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return Dataset(images, torch.eye(10)[:8], batch_size=4)


@pytest.fixture(scope="module")
def metrics() -> dict:
    return verify.verify_against_torch(small_dataset(), batches=2, seed=0)


def our_functions(kind: str) -> list[type]:
    """Our autograd Functions for layer `kind`, wherever fmnist.nn defines them."""
    return sorted({obj for name, module in list(sys.modules.items()) if name.startswith("fmnist.nn")
                   for obj in vars(module).values() if isinstance(obj, type)
                   and issubclass(obj, torch.autograd.Function) and kind in obj.__name__},
                  key=lambda f: f.__qualname__)


def skew_backward(monkeypatch: pytest.MonkeyPatch, kind: str, index: int, factor: float) -> None:
    """Multiply gradient number `index` of our `kind` layer's backward by `factor`."""
    functions = our_functions(kind)
    assert functions, f"no autograd Function for {kind} in fmnist.nn"
    for function in functions:
        original = function.backward

        def skewed(ctx, *grads, original=original):
            out = original(ctx, *grads)
            if isinstance(out, torch.Tensor):  # a one-input Function returns its gradient bare
                return out * factor
            return tuple(g * factor if i == index and g is not None else g
                         for i, g in enumerate(out))
        monkeypatch.setattr(function, "backward", staticmethod(skewed))


def test_checks_on_real_shaped_batches_pass_and_cover_every_layer(metrics):
    assert metrics["passed"] and metrics["failures"] == [] and metrics["batches"] == 2
    layers = {entry["layer"]: entry for entry in metrics["layers"]}
    assert list(layers) == ["conv1", "pool1_after_relu", "pool1", "relu1", "conv2", "pool2",
                            "relu2", "conv3", "network"]  # in network order
    conv2 = layers["conv2"]
    assert conv2["input_shape"] == ["N", 32, 12, 12]
    assert {"grad_input", "grad_weight", "grad_bias"} <= conv2.keys()
    assert {"grad_conv1_weight", "grad_conv3_bias"} <= layers["network"].keys()
    for entry in metrics["layers"]:  # float32 rounding, on both sides: far below the floor
        assert all(0 <= e["custom"] < 1e-5 and 0 <= e["torch"] < 1e-5
                   for k, e in entry.items() if k.startswith("grad"))
    assert layers["relu1"]["grad_input"] == {"custom": 0.0, "torch": 0.0}  # exact on both sides


def test_same_batches_same_seed_same_report(metrics):
    """verify_ops writes the same results/verify_ops.json run after run: no timing, no noise."""
    assert verify.verify_against_torch(small_dataset(), batches=2, seed=0) == metrics


@pytest.mark.parametrize(("kind", "index", "gradient", "layer"), [
    ("Conv", 1, "grad_weight", "conv1 (Conv2d)"),
    ("Conv", 2, "grad_bias", "conv1 (Conv2d)"),
    ("Conv", 0, "grad_input", "conv1 (Conv2d)"),
    ("MaxPool", 0, "grad_input", "pool1_after_relu (MaxPool2d)"),
    ("ReLU", 0, "grad_input", "relu1 (ReLU)"),
])
def test_a_backward_off_by_two_percent_fails_with_one_line(monkeypatch, kind, index, gradient,
                                                           layer):
    skew_backward(monkeypatch, kind, index, 1.02)
    details = verify.verify_against_torch(small_dataset(), batches=1, seed=0)
    assert not details["passed"]
    with pytest.raises(VerificationError) as caught:
        verify.check(details)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"verify_ops: {layer} {gradient} off by 2.0e-02 relative (bound "
                              "1.0e-04"), message


def test_a_forward_off_by_more_than_the_tolerance_fails(monkeypatch):
    forward = verify.ops.ReLU.forward
    monkeypatch.setattr(verify.ops.ReLU, "forward", lambda self, x: forward(self, x) + 2e-5)
    details = verify.verify_against_torch(small_dataset(), batches=1, seed=0)
    with pytest.raises(VerificationError, match=r"^verify_ops: relu1 \(ReLU\) forward differs "
                                                r"from torch by 2\.0e-05 \(bound 1e-05\)"):
        verify.check(details)


def test_the_gate_reads_unrounded_values():
    entry = {"config": "Conv2d(1, 1)", "forward": 1.0004e-5,  # 1e-05 at 3 digits: still fails
             "grad_weight": {"custom": 1.0004e-4, "torch": 1e-6}}  # the floor, 1e-4, plus a hair
    assert {line.split(" by")[0] for line in verify.failures("conv9", entry)} == {
        "conv9 (Conv2d) grad_weight off", "conv9 (Conv2d) forward differs from torch"}


def test_the_bound_is_the_floor_or_a_multiple_of_torch_error():
    ok = {"forward": 0.0, "grad_input": {"custom": 9e-5, "torch": 0.0}}
    assert verify.failures("pool1", ok) == []
    ok["grad_input"] = {"custom": 9e-4, "torch": 1e-4}  # torch itself this far off: 10x is fine
    assert verify.failures("pool1", ok) == []
    network = {"forward": 0.0, "grad_conv1_weight": {"custom": 5e-3, "torch": 1e-7}}
    assert verify.failures("network", network) == []  # a pooling maximum moved: within 1e-2
    network["grad_conv1_weight"]["custom"] = 2e-2
    assert verify.failures("network", network)[0].startswith("network grad_conv1_weight off")
    ok["grad_input"] = {"custom": float("nan"), "torch": 0.0}
    assert "pool1 grad_input off by nan" in verify.failures("pool1", ok)[0]


def test_headline_shows_small_differences_faithfully_at_five_decimals():
    value = verify.headline({"max_forward_diff": 6.0e-07})["max_forward_diff_x1e7"]
    assert round(value, 5) == 6.0  # DVC rounds to 5 decimals: 6.0e-07 itself would print 0.0


def test_the_backend_named_follows_the_device():
    assert verify.conv_backend("cpu") != verify.conv_backend("cuda")
    assert "cuDNN" in verify.conv_backend("cuda") or "CUDA" in verify.conv_backend("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_checks_hold_on_cuda_in_true_float32():
    dataset = Dataset(torch.rand(64, 1, 28, 28), torch.eye(10).repeat(7, 1)[:64], batch_size=32)
    metrics = verify.verify_against_torch(dataset, batches=2, seed=0, device="cuda")
    assert metrics["device"] == "cuda" and metrics["passed"], metrics["failures"]
    assert metrics["max_forward_diff"] < verify.FORWARD_TOLERANCE


def test_a_backward_returning_nan_fails_however_many_batches(monkeypatch):
    skew_backward(monkeypatch, "Conv", 1, float("nan"))
    details = verify.verify_against_torch(small_dataset(), batches=2, seed=0)
    with pytest.raises(VerificationError, match=r"^verify_ops: conv1 \(Conv2d\) grad_weight off "
                                                r"by nan relative"):
        verify.check(details)
