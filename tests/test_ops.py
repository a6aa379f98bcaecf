"""Our Conv2d, MaxPool2d and ReLU against torch.nn's: values, gradients, ties, layouts, errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from fmnist import ops
from fmnist.models import build_network, copy_weights

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
LAYOUTS = ("contiguous", "channels_last", "non_contiguous")


def arrange(x: torch.Tensor, layout: str) -> torch.Tensor:
    """The same values as `x` in another memory layout."""
    if layout == "channels_last" and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    if layout == "non_contiguous":
        # Every other column of a twice-as-wide buffer: a strided view, not a copy.
        wide = torch.zeros(*x.shape[:-1], 2 * x.shape[-1], dtype=x.dtype, device=x.device)
        wide[..., ::2] = x
        return wide[..., ::2]
    return x


def run(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> list[torch.Tensor]:
    """Output, input gradient and parameter gradients of `layer` for upstream gradient `grad`."""
    x = x.detach().requires_grad_(True)  # an alias: keeps the strides under test (clone may not)
    out = layer(x)
    grads = torch.autograd.grad(out, [x, *layer.parameters()], grad)
    return [out.detach(), *grads]


def assert_matches(ours: list[torch.Tensor], theirs: list[torch.Tensor],
                   dtype: torch.dtype) -> None:
    """The assignment's bars: forward < 1e-5 in float32; gradients within assert_close's
    float32 defaults, or within 1e-10 in float64."""
    assert ours[0].shape == theirs[0].shape
    tol = {} if dtype == torch.float32 else {"atol": 1e-10, "rtol": 0.0}
    if dtype == torch.float32:
        assert (ours[0] - theirs[0]).abs().max() < 1e-5
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **tol)


def pairs(low: int, high: int) -> st.SearchStrategy:
    """An int or a pair of ints in [low, high], as kernel_size and stride accept."""
    one = st.integers(low, high)
    return st.one_of(one, st.tuples(one, one))


def as_pair(v: int | tuple[int, int]) -> tuple[int, int]:
    """`v` as a pair."""
    return (v, v) if isinstance(v, int) else v


@st.composite
def conv_cases(draw: st.DrawFn) -> dict:
    """Batch, channels, kernel, stride, input size (down to the kernel's), layout, batched-ness."""
    kernel, stride = draw(pairs(1, 4)), draw(pairs(1, 3))
    kh, kw = as_pair(kernel)
    return {"n": draw(st.integers(1, 3)), "c_in": draw(st.integers(1, 4)),
            "c_out": draw(st.integers(1, 5)), "kernel": kernel, "stride": stride,
            "h": kh + draw(st.integers(0, 6)), "w": kw + draw(st.integers(0, 6)),
            "layout": draw(st.sampled_from(LAYOUTS)), "unbatched": draw(st.booleans())}


def conv_pair(case: dict, dtype: torch.dtype) -> tuple[nn.Module, nn.Module]:
    """A torch Conv2d and ours with its weights."""
    theirs = nn.Conv2d(case["c_in"], case["c_out"], case["kernel"], case["stride"]).to(dtype)
    ours = ops.Conv2d(case["c_in"], case["c_out"], case["kernel"], case["stride"]).to(dtype)
    copy_weights(theirs, ours)
    return theirs, ours


def case_input(case: dict, channels: int, dtype: torch.dtype, ties: bool = False) -> torch.Tensor:
    """The case's input: random, or small integers (many exact ties) when `ties`."""
    shape = (channels, case["h"], case["w"]) if case["unbatched"] else \
        (case["n"], channels, case["h"], case["w"])
    x = torch.randint(-2, 3, shape).to(dtype) if ties else torch.randn(shape, dtype=dtype)
    return arrange(x, case["layout"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@SETTINGS
@given(case=conv_cases(), chunk=st.sampled_from([1, 100, ops.CHUNK_ELEMENTS]))
def test_conv2d_matches_torch(case, dtype, chunk):
    theirs, ours = conv_pair(case, dtype)
    x = case_input(case, case["c_in"], dtype)
    grad = torch.randn(theirs(x).shape, dtype=dtype)
    with mock.patch.object(ops, "CHUNK_ELEMENTS", chunk):  # 1: one sample per im2col chunk
        got = run(ours, x, grad)
    assert_matches(got, run(theirs, x, grad), dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@SETTINGS
@given(case=conv_cases(), default_stride=st.booleans(), ties=st.booleans())
def test_maxpool2d_matches_torch(case, dtype, default_stride, ties):
    stride = None if default_stride else case["stride"]
    theirs, ours = nn.MaxPool2d(case["kernel"], stride), ops.MaxPool2d(case["kernel"], stride)
    x = case_input(case, case["c_in"], dtype, ties)
    grad = torch.randn(theirs(x).shape, dtype=dtype)
    assert_matches(run(ours, x, grad), run(theirs, x, grad), dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@SETTINGS
@given(case=conv_cases())
def test_relu_matches_torch(case, dtype):
    x = case_input(case, case["c_in"], dtype, ties=True)  # exact zeros: gradient there is 0
    grad = torch.randn(x.shape, dtype=dtype)
    ours, theirs = run(ops.ReLU(), x, grad), run(nn.ReLU(), x, grad)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


def test_maxpool_ties_after_relu_send_gradient_to_first_maximum():
    x = torch.relu(torch.randn(4, 8, 26, 26))  # about half the values tied at zero
    x[0, 0] = 0.0  # whole windows of ties
    grad = torch.rand(4, 8, 12, 12) + 0.5
    ours, theirs = run(ops.MaxPool2d(3, 2), x, grad), run(nn.MaxPool2d(3, 2), x, grad)
    torch.testing.assert_close(ours[1], theirs[1], atol=0.0, rtol=0.0)
    # An all-zero map: each window's gradient lands on its top-left element (first in raster order).
    expected = torch.zeros(26, 26)
    expected[0:23:2, 0:23:2] = grad[0, 0]
    assert torch.equal(ours[1][0, 0], expected)


def test_maxpool_offsets_beyond_float_precision_stay_exact():
    # bfloat16 holds integers exactly only up to 256; a 3x26x26 sample has 2028 positions, so the
    # argmax offsets must be carried in float64 to land on the right element.
    x = torch.randn(2, 3, 26, 26).to(torch.bfloat16)
    ones = torch.ones(2, 3, 12, 12, dtype=torch.bfloat16)  # gradient = how often each input wins
    ours, theirs = run(ops.MaxPool2d(3, 2), x, ones), run(nn.MaxPool2d(3, 2), x, ones)
    assert torch.equal(ours[0], theirs[0])
    assert torch.equal(ours[1], theirs[1])


def test_relu_gradient_at_zero_is_zero():
    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    ops.ReLU()(x).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]


def test_network_layer_configs_match_torch_in_float64():
    torch.manual_seed(3)
    theirs, ours = build_network("torch").double(), build_network("custom").double()
    copy_weights(theirs, ours)
    x = torch.rand(6, 1, 28, 28, dtype=torch.float64)
    grad = torch.randn(6, 10, dtype=torch.float64)
    got, want = run(ours, x, grad), run(theirs, x, grad)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0.0)


def test_conv2d_initialises_like_torch_and_round_trips_weights():
    torch.manual_seed(11)
    theirs = nn.Conv2d(3, 6, (2, 3), 2)
    torch.manual_seed(11)
    ours = ops.Conv2d(3, 6, (2, 3), 2)
    assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)
    other = nn.Conv2d(3, 6, (2, 3), 2)
    copy_weights(ours, other)
    x = torch.randn(2, 3, 9, 8)
    assert (ours(x) - other(x)).abs().max() < 1e-5
    assert ours.state_dict().keys() == theirs.state_dict().keys()


def test_kernel_equal_to_input_gives_one_pixel():
    ours = ops.Conv2d(64, 10, 4)
    assert ours(torch.randn(5, 64, 4, 4)).shape == (5, 10, 1, 1)
    assert ops.MaxPool2d(4)(torch.randn(64, 4, 4)).shape == (64, 1, 1)


def test_commutativity_input_shape_is_accepted_unbatched():
    x = torch.rand(1, 100, 100) * 2 - 1
    assert ops.MaxPool2d(3, 2)(x).shape == (1, 49, 49)
    assert ops.Conv2d(1, 1, 3, 2)(x).shape == (1, 49, 49)


def test_empty_batch_gives_empty_outputs_and_zero_parameter_grads():
    conv = ops.Conv2d(3, 4, 2)
    x = torch.randn(0, 3, 5, 5, requires_grad=True)
    ops.ReLU()(ops.MaxPool2d(2)(conv(x))).sum().backward()
    assert x.grad.shape == (0, 3, 5, 5)
    assert torch.equal(conv.weight.grad, torch.zeros(4, 3, 2, 2))


def test_scratch_buffers_are_private_to_each_thread():
    torch.manual_seed(2)
    nets = [build_network("custom") for _ in range(2)]
    batches = [torch.rand(16, 1, 28, 28) for _ in range(2)]
    expected = [run(net, x, torch.ones(16, 10)) for net, x in zip(nets, batches, strict=True)]
    with ThreadPoolExecutor(2) as pool:  # both threads im2col into their own buffers at once
        futures = [pool.submit(lambda i=i: [run(nets[i], batches[i], torch.ones(16, 10))
                                            for _ in range(5)]) for i in range(2)]
        for future, want in zip(futures, expected, strict=True):
            for got in future.result():
                for a, b in zip(got, want, strict=True):
                    torch.testing.assert_close(a, b)  # a shared buffer would scramble values


def test_maxpool_stride_defaults_to_kernel_as_in_torch():
    for args in [(3,), ((2, 3),), (3, 2)]:
        ours, theirs = ops.MaxPool2d(*args), nn.MaxPool2d(*args)
        assert (ours.kernel_size, ours.stride) == (theirs.kernel_size, theirs.stride)
    x = torch.rand(1, 1, 9, 9)
    assert ops.MaxPool2d(3)(x).shape == (1, 1, 3, 3)


def test_input_errors_are_value_and_runtime_errors():
    with pytest.raises(ValueError, match="smaller than the kernel"):
        ops.Conv2d(1, 2, 5)(torch.rand(1, 1, 3, 3))
    with pytest.raises(RuntimeError, match="smaller than the kernel"):
        ops.MaxPool2d(5)(torch.rand(1, 1, 3, 3))
    with pytest.raises(RuntimeError):
        ops.Conv2d(1, 1, 2)(torch.ones(1, 1, 3, 3, dtype=torch.long))


def test_banned_torch_kernels_are_never_called(monkeypatch):
    def banned(*args, **kwargs):
        raise AssertionError("a torch conv/pool/relu kernel was called")

    for module, name in [(torch.nn.functional, "conv2d"), (torch.nn.functional, "max_pool2d"),
                         (torch.nn.functional, "max_pool2d_with_indices"),
                         (torch.nn.functional, "relu"), (torch, "relu"), (torch, "conv2d"),
                         (torch, "max_pool2d"), (torch, "relu_"), (torch.Tensor, "relu")]:
        monkeypatch.setattr(module, name, banned)
    net = build_network("custom")
    net(torch.rand(2, 1, 28, 28)).sum().backward()


@pytest.mark.parametrize(("make", "x", "message"), [
    (lambda: ops.Conv2d(1, 2, 3), torch.rand(28, 28), "rank 3 or 4"),
    (lambda: ops.Conv2d(1, 2, 3), torch.rand(1, 1, 1, 28, 28), "rank 3 or 4"),
    (lambda: ops.Conv2d(3, 2, 3), torch.rand(2, 1, 28, 28), "expected 3 input channels"),
    (lambda: ops.Conv2d(1, 2, 5), torch.rand(1, 1, 4, 28), "smaller than the kernel"),
    (lambda: ops.Conv2d(1, 2, (2, 5)), torch.rand(1, 8, 4), "smaller than the kernel"),
    (lambda: ops.MaxPool2d(3), torch.rand(10), "rank 3 or 4"),
    (lambda: ops.MaxPool2d(3, 2), torch.rand(1, 2, 2, 9), "smaller than the kernel"),
])
def test_bad_input_shapes_raise_clear_errors(make, x, message):
    with pytest.raises(ValueError, match=message):
        make()(x)


def test_wrong_dtype_raises_clear_error():
    with pytest.raises(TypeError, match="float64"):
        ops.Conv2d(1, 2, 3)(torch.rand(1, 5, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match="floating-point"):
        ops.MaxPool2d(2)(torch.ones(1, 4, 4, dtype=torch.int64))


@pytest.mark.parametrize(("make", "message"), [
    (lambda: ops.Conv2d(1, 2, 0), "kernel_size must be >= 1"),
    (lambda: ops.Conv2d(1, 2, (1, 2, 3)), "int or a pair"),
    (lambda: ops.Conv2d(1, 2, 3, stride=(1, 0)), "stride must be >= 1"),
    (lambda: ops.Conv2d(0, 2, 3), "in_channels must be an int >= 1"),
    (lambda: ops.Conv2d(1, 2.0, 3), "out_channels must be an int >= 1"),
    (lambda: ops.MaxPool2d(2.5), "int or a pair"),
    (lambda: ops.MaxPool2d(2, stride=-1), "stride must be >= 1"),
])
def test_bad_layer_arguments_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ops_on_cuda_match_torch(dtype):
    torch.manual_seed(5)
    theirs = build_network("torch").to("cuda", dtype)
    ours = build_network("custom").to("cuda", dtype)
    copy_weights(theirs, ours)
    x = torch.rand(8, 1, 28, 28, device="cuda", dtype=dtype)
    grad = torch.randn(8, 10, device="cuda", dtype=dtype)
    got = run(ours, x, grad)
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # cuDNN's TF32 is ~1e-3 off
        want = run(theirs, x, grad)
    assert got[0].device.type == "cuda"
    tol = {"atol": 1e-4, "rtol": 1e-4} if dtype == torch.float32 else {"atol": 1e-10, "rtol": 0.0}
    assert (got[0] - want[0]).abs().max() < 1e-5
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, **tol)
    tied = torch.relu(torch.randn(4, 3, 13, 11, device="cuda", dtype=dtype))
    g = torch.randn(4, 3, 6, 5, device="cuda", dtype=dtype)
    torch.testing.assert_close(run(ops.MaxPool2d(3, 2), tied, g), run(nn.MaxPool2d(3, 2), tied, g))
