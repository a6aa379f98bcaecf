"""Our Conv2d, MaxPool2d and ReLU against torch.nn's on both paths (values, gradients, memory
formats, ties, the ATen operators they run, errors), and the default path against the code behind
the committed metrics."""

import importlib.util
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from fmnist.nn import fast, ops
from fmnist.nn.assignment import _store_channels_last, build_network, copy_weights
from fmnist.runtime import exact_float32

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
LAYOUTS = ("contiguous", "channels_last", "non_contiguous", "channels_last_non_contiguous")
PATHS = ("plain", "fast")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def arrange(x: torch.Tensor, layout: str) -> torch.Tensor:
    """The same values as `x` (N, C, H, W) or (C, H, W) in another memory layout."""
    if x.dim() == 3:
        return arrange(x.unsqueeze(0), layout).squeeze(0)
    fmt = torch.channels_last if layout.startswith("channels_last") else torch.contiguous_format
    x = x.contiguous(memory_format=fmt)
    if layout.endswith("non_contiguous"):
        # Every other column of a twice-as-wide buffer in that format: a strided view, not a copy.
        wide = torch.empty(*x.shape[:-1], 2 * x.shape[-1], dtype=x.dtype, device=x.device,
                           memory_format=fmt)
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


def assert_same_layout(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    """Same memory format as torch's output: strides equal wherever a dim has more than one
    element (torch's own layout rule), hence `.view(N, -1)` works on both or neither."""
    assert [s for s, n in zip(ours.stride(), ours.shape, strict=True) if n > 1] == \
        [s for s, n in zip(theirs.stride(), theirs.shape, strict=True) if n > 1]


def pairs(low: int, high: int) -> st.SearchStrategy:
    """An int or a pair of ints in [low, high], as kernel_size and stride accept."""
    one = st.integers(low, high)
    return st.one_of(one, st.tuples(one, one))


def as_pair(v: int | tuple[int, int]) -> tuple[int, int]:
    """`v` as a pair."""
    return (v, v) if isinstance(v, int) else v


@st.composite
def conv_cases(draw: st.DrawFn) -> dict:
    """Batch, channels, kernel, stride, input size (down to the kernel's), layouts, batched-ness."""
    kernel, stride = draw(pairs(1, 4)), draw(pairs(1, 3))
    kh, kw = as_pair(kernel)
    return {"n": draw(st.integers(1, 3)), "c_in": draw(st.integers(1, 4)),
            "c_out": draw(st.integers(1, 5)), "kernel": kernel, "stride": stride,
            "h": kh + draw(st.integers(0, 6)), "w": kw + draw(st.integers(0, 6)),
            "layout": draw(st.sampled_from(LAYOUTS)), "unbatched": draw(st.booleans()),
            "weight_channels_last": draw(st.booleans())}


def conv_pair(case: dict, dtype: torch.dtype, path: str) -> tuple[nn.Module, nn.Module]:
    """A torch Conv2d and ours (running `path`) with its weights, both laid out as the case says."""
    theirs = nn.Conv2d(case["c_in"], case["c_out"], case["kernel"], case["stride"]).to(dtype)
    ours = ops.Conv2d(case["c_in"], case["c_out"], case["kernel"], case["stride"],
                      path=path).to(dtype)
    if case["weight_channels_last"]:
        _store_channels_last(nn.Sequential(ours))  # as build_network("custom") stores them
    copy_weights(theirs, ours)
    theirs.weight = nn.Parameter(ours.weight.detach().clone())  # same values and strides
    return theirs, ours


def case_input(case: dict, channels: int, dtype: torch.dtype, ties: bool = False) -> torch.Tensor:
    """The case's input: random, or small integers (many exact ties) when `ties`."""
    shape = (channels, case["h"], case["w"]) if case["unbatched"] else \
        (case["n"], channels, case["h"], case["w"])
    x = torch.randint(-2, 3, shape).to(dtype) if ties else torch.randn(shape, dtype=dtype)
    return arrange(x, case["layout"])


# --------------------------------------------------------------------------- against torch


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@SETTINGS
@given(case=conv_cases(), chunk=st.sampled_from([1, 100, fast.CHUNK_ELEMENTS]))
def test_conv2d_matches_torch(case, dtype, chunk, path):
    theirs, ours = conv_pair(case, dtype, path)
    x = case_input(case, case["c_in"], dtype)
    grad = torch.randn(theirs(x).shape, dtype=dtype)
    with mock.patch.object(fast, "CHUNK_ELEMENTS", chunk):  # 1: a sample a chunk
        got = run(ours, x, grad)
    want = run(theirs, x, grad)
    assert_matches(got, want, dtype)
    assert_same_layout(got[0], want[0])


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@SETTINGS
@given(case=conv_cases(), default_stride=st.booleans(), ties=st.booleans(),
       min_row=st.sampled_from([1, fast.NCHW_MIN_ROW]))
def test_maxpool2d_matches_torch(case, dtype, default_stride, ties, path, min_row):
    stride = None if default_stride else case["stride"]
    theirs = nn.MaxPool2d(case["kernel"], stride)
    ours = ops.MaxPool2d(case["kernel"], stride, path=path)
    x = case_input(case, case["c_in"], dtype, ties)
    grad = torch.randn(theirs(x).shape, dtype=dtype)
    with mock.patch.object(fast, "NCHW_MIN_ROW", min_row):  # 1: NCHW pooled as it is
        got = run(ours, x, grad)
    want = run(theirs, x, grad)
    assert_matches(got, want, dtype)
    assert_same_layout(got[0], want[0])


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@SETTINGS
@given(case=conv_cases())
def test_relu_matches_torch(case, dtype, path):
    x = case_input(case, case["c_in"], dtype, ties=True)  # exact zeros: gradient there is 0
    grad = torch.randn(x.shape, dtype=dtype)
    ours = run(ops.ReLU(path=path), x, grad)
    theirs = run(nn.ReLU(), x, grad)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)
    assert ours[0].stride() == theirs[0].stride()


@pytest.mark.parametrize("path", PATHS)
def test_relu_handles_nan_and_infinities_as_torch(path):
    x = torch.tensor([-0.0, 0.0, float("nan"), float("-inf"), float("inf"), -1.0, 2.0])
    grad = torch.arange(1.0, 8.0)
    ours = run(ops.ReLU(path=path), x, grad)
    theirs = run(nn.ReLU(), x, grad)
    assert ours[0].isnan().tolist() == theirs[0].isnan().tolist() == [0, 0, 1, 0, 0, 0, 0]
    assert torch.equal(ours[0].nan_to_num(), theirs[0].nan_to_num())
    assert ours[1].tolist() == theirs[1].tolist() == [0, 0, 3, 0, 5, 0, 7]  # NaN passes grad


def test_plain_relu_keeps_negative_zero_as_torch():
    # (The fast path's maximum gives -0.0 in SIMD lanes but +0.0 in scalar tail lanes.)
    x = torch.tensor([-0.0, 0.0, -1.0] * 7)
    assert ops.ReLU(path="plain")(x).signbit().tolist() == torch.relu(x).signbit().tolist() == \
        [True, False, False] * 7


@pytest.mark.parametrize("path", PATHS)
def test_outputs_flatten_like_torchs(path):
    x = torch.rand(4, 3, 9, 9)  # contiguous NCHW, as torch.nn.Conv2d's output is for it
    assert ops.Conv2d(3, 5, 3, path=path)(x).view(4, -1).shape == (4, 5 * 7 * 7)
    assert ops.MaxPool2d(3, 2, path=path)(x).view(4, -1).shape == (4, 3 * 4 * 4)
    channels_last = ops.Conv2d(3, 5, 3, path=path)(x.contiguous(memory_format=torch.channels_last))
    assert channels_last.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_maxpool_ties_after_relu_send_gradient_to_first_maximum(path, dtype):
    x = torch.relu(torch.randn(4, 8, 26, 26, dtype=dtype))  # about half the values tied at zero
    x[0, 0] = 0.0  # whole windows of ties
    grad = torch.rand(4, 8, 12, 12, dtype=dtype) + 0.5
    ours = run(ops.MaxPool2d(3, 2, path=path), x, grad)
    theirs = run(nn.MaxPool2d(3, 2), x, grad)
    torch.testing.assert_close(ours[1], theirs[1], atol=0.0, rtol=0.0)
    # An all-zero map: each window's gradient lands on its top-left element (first in raster order).
    expected = torch.zeros(26, 26, dtype=dtype)
    expected[0:23:2, 0:23:2] = grad[0, 0]
    assert torch.equal(ours[1][0, 0], expected)


@pytest.mark.parametrize("path", PATHS)
def test_maxpool_positions_beyond_float_precision_stay_exact(path):
    # bfloat16 holds integers exactly only up to 256; a 3x26x26 sample has 2028 positions, so the
    # fast path's argmax offsets must be carried in float64 to land on the right element.
    x = torch.randn(2, 3, 26, 26).to(torch.bfloat16)
    ones = torch.ones(2, 3, 12, 12, dtype=torch.bfloat16)  # gradient = how often each input wins
    ours = run(ops.MaxPool2d(3, 2, path=path), x, ones)
    theirs = run(nn.MaxPool2d(3, 2), x, ones)
    assert torch.equal(ours[0], theirs[0])
    assert torch.equal(ours[1], theirs[1])


@pytest.mark.parametrize("path", PATHS)
def test_relu_gradient_at_zero_is_zero(path):
    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    ops.ReLU(path=path)(x).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("path", PATHS)
def test_network_layer_configs_match_torch_in_float64(path):
    torch.manual_seed(3)
    theirs, ours = build_network("torch").double(), build_network("custom", path).double()
    copy_weights(theirs, ours)
    x = torch.rand(6, 1, 28, 28, dtype=torch.float64)
    grad = torch.randn(6, 10, dtype=torch.float64)
    got = run(ours, x, grad)
    for a, b in zip(got, run(theirs, x, grad), strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0.0)


@pytest.mark.parametrize("path", PATHS)
def test_custom_network_passes_channels_last_between_layers(path):
    # Each layer's output is already in the format the next returns: no transposes between them.
    h = torch.rand(3, 1, 28, 28)
    for layer in build_network("custom", path)[:-1]:
        h = layer(h)
        assert h.is_contiguous(memory_format=torch.channels_last), layer


def drop_in(make: ModuleType, **path: str) -> nn.Sequential:
    """The assignment network as users write it: a plain nn.Sequential of `make`'s layers."""
    return nn.Sequential(make.Conv2d(1, 32, 3, 1, **path), make.MaxPool2d(3, 2, **path),
                         make.ReLU(**path), make.Conv2d(32, 64, 3, 1, **path),
                         make.MaxPool2d(3, 2, **path), make.ReLU(**path),
                         make.Conv2d(64, 10, 4, 1, **path), nn.Flatten())


@pytest.mark.parametrize("path", PATHS)
def test_drop_in_network_matches_torch_layer_by_layer(path):
    """Contiguous weights and input, as torch.nn's defaults: every layer's output has torch's
    values and layout, and the gradients match, at the shapes where the fast path pools NCHW as
    it is (26 -> 12 columns) and where it transposes first (10 -> 4)."""
    torch.manual_seed(5)
    theirs, ours = drop_in(nn).double(), drop_in(ops, path=path).double()
    copy_weights(theirs, ours)
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    h_ours, h_theirs = x, x
    for a, b in zip(ours, theirs, strict=True):
        h_ours, h_theirs = a(h_ours), b(h_theirs)
        torch.testing.assert_close(h_ours, h_theirs, atol=1e-10, rtol=0.0)
        assert_same_layout(h_ours, h_theirs)
    grad = torch.randn(4, 10, dtype=torch.float64)
    for a, b in zip(run(ours, x, grad), run(theirs, x, grad), strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0.0)


# --------------------------------------------------------------------------- fast against plain


@pytest.mark.parametrize("layer", ["conv", "pool"])
@SETTINGS
@given(case=conv_cases(), chunk=st.sampled_from([1, fast.CHUNK_ELEMENTS]),
       min_row=st.sampled_from([1, fast.NCHW_MIN_ROW]))
def test_fast_path_matches_plain_path(case, chunk, min_row, layer):
    modules = {}
    for path in PATHS:
        if layer == "conv":
            modules[path] = conv_pair(case, torch.float64, path)[1]
        else:
            modules[path] = ops.MaxPool2d(case["kernel"], case["stride"], path=path)
    copy_weights(modules["plain"], modules["fast"])
    x = case_input(case, case["c_in"], torch.float64, ties=layer == "pool")
    with torch.no_grad():
        grad = torch.randn_like(modules["plain"](x))
    results = {}
    for path in PATHS:
        with (mock.patch.object(fast, "CHUNK_ELEMENTS", chunk),
              mock.patch.object(fast, "NCHW_MIN_ROW", min_row)):
            results[path] = run(modules[path], x, grad)
    for a, b in zip(results["fast"], results["plain"], strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0.0)
    assert_same_layout(results["fast"][0], results["plain"][0])


@pytest.mark.parametrize(("path", "fast_calls"), [("auto", 1), ("fast", 1), ("plain", 0)])
def test_path_picks_the_implementation(path, fast_calls):
    spy = mock.patch.object(fast.MaxPool2dFunction, "apply", wraps=fast.MaxPool2dFunction.apply)
    with spy as apply:
        ops.MaxPool2d(2, path=path)(torch.rand(2, 1, 5, 5))
    assert apply.call_count == fast_calls  # "auto" runs the fast path on CPU


@pytest.mark.parametrize("make", [lambda p: ops.Conv2d(1, 2, 3, path=p),
                                  lambda p: ops.MaxPool2d(2, path=p), lambda p: ops.ReLU(path=p)])
def test_unknown_path_is_an_error(make):
    with pytest.raises(ValueError, match="path must be one of"):
        make("quick")


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


# --------------------------------------------------------------------------- the operators run


class OperatorLog(TorchDispatchMode):
    """Records the name of every ATen operator dispatched while active ('aten.mm.default')."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func: torch._ops.OpOverload, types: tuple, args: tuple = (),
                           kwargs: dict | None = None) -> object:
        self.names.add(str(func))
        return func(*args, **(kwargs or {}))


# aten.convolution, _convolution, mkldnn_convolution, convolution_backward, max_pool2d*,
# max_pool2d_with_indices_backward, relu, relu_, threshold, threshold_backward, clamp_min...
BANNED = re.compile(r"conv|max_pool|relu|threshold|clamp")


def operators(network: nn.Module) -> set[str]:
    """The ATen operators a forward and backward pass of `network` dispatches."""
    x = torch.rand(2, 1, 28, 28)
    with OperatorLog() as log:
        network(x).sum().backward()
    return log.names


@pytest.mark.parametrize(("path", "backward_op"), [("plain", "aten.index_add_.default"),
                                                   ("fast", "aten.scatter_add_.default")])
def test_no_torch_conv_pool_or_relu_operator_runs(path, backward_op):
    names = operators(build_network("custom", path))
    assert backward_op in names  # the log sees the hand-written backward passes too
    assert not {name for name in names if BANNED.search(name)}


def test_operator_log_catches_torchs_layers():
    names = operators(build_network("torch"))
    assert {"aten.convolution_backward.default", "aten.max_pool2d_with_indices.default",
            "aten.threshold_backward.default"} <= {name for name in names if BANNED.search(name)}


# --------------------------------------------------------------------------- the committed code


COMMITTED = "bcbeb67505eb311bdb33080ef65e5ea6210bc23d"  # its metrics are in the repository


def committed_ops(folder: Path) -> ModuleType:
    """src/fmnist/ops.py as of COMMITTED, imported from a copy in `folder`."""
    try:
        source = subprocess.run(["git", "show", f"{COMMITTED}:src/fmnist/ops.py"], check=True,
                                capture_output=True, text=True, cwd=Path(__file__).parent).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs the project's git history")
    (folder / "committed_ops.py").write_text(source)
    spec = importlib.util.spec_from_file_location("committed_ops", folder / "committed_ops.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sgd_steps(network: nn.Module, batches: list[torch.Tensor], labels: list[torch.Tensor]
              ) -> list[torch.Tensor]:
    """Loss, logits and parameter gradients of each of a few SGD steps, flattened to a list."""
    optimizer = torch.optim.SGD(network.parameters(), lr=0.05, momentum=0.9)
    seen = []
    for x, y in zip(batches, labels, strict=True):
        optimizer.zero_grad()
        logits = network(x)
        loss = nn.functional.cross_entropy(logits, y)
        loss.backward()
        seen += [loss.detach(), logits.detach(), *(p.grad.clone() for p in network.parameters())]
        optimizer.step()
    return seen


def test_default_path_reproduces_the_committed_results_bit_for_bit(tmp_path):
    old = committed_ops(tmp_path)
    torch.manual_seed(4)
    ours = build_network("custom")
    theirs = nn.Sequential(old.Conv2d(1, 32, 3), old.MaxPool2d(3, 2), old.ReLU(),
                           old.Conv2d(32, 64, 3), old.MaxPool2d(3, 2), old.ReLU(),
                           old.Conv2d(64, 10, 4), nn.Flatten())
    copy_weights(ours, theirs)
    batches = [torch.rand(64, 1, 28, 28) for _ in range(4)]
    labels = [torch.randint(0, 10, (64,)) for _ in range(4)]
    for a, b in zip(sgd_steps(ours, batches, labels), sgd_steps(theirs, batches, labels),
                    strict=True):
        assert torch.equal(a, b) and torch.equal(a.signbit(), b.signbit())  # every bit


# --------------------------------------------------------------------------- shapes and errors


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


@pytest.mark.parametrize("path", PATHS)
def test_kernel_equal_to_input_gives_one_pixel(path):
    assert ops.Conv2d(64, 10, 4, path=path)(torch.randn(5, 64, 4, 4)).shape == (5, 10, 1, 1)
    assert ops.MaxPool2d(4, path=path)(torch.randn(64, 4, 4)).shape == (64, 1, 1)


@pytest.mark.parametrize("path", PATHS)
def test_commutativity_input_shape_is_accepted_unbatched(path):
    x = torch.rand(1, 100, 100) * 2 - 1
    assert ops.MaxPool2d(3, 2, path=path)(x).shape == (1, 49, 49)
    assert ops.Conv2d(1, 1, 3, 2, path=path)(x).shape == (1, 49, 49)


@pytest.mark.parametrize("path", PATHS)
def test_empty_batch_gives_empty_outputs_and_zero_parameter_grads(path):
    conv = ops.Conv2d(3, 4, 2, path=path)
    x = torch.randn(0, 3, 5, 5, requires_grad=True)
    ops.ReLU(path=path)(ops.MaxPool2d(2, path=path)(conv(x))).sum().backward()
    assert x.grad.shape == (0, 3, 5, 5)
    assert torch.equal(conv.weight.grad, torch.zeros(4, 3, 2, 2))


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
    with pytest.raises(TypeError, match="expected a torch.Tensor"):
        ops.ReLU()([1.0, -1.0])


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


# --------------------------------------------------------------------------- CUDA


def test_exact_float32_turns_tf32_off_and_restores_the_settings():
    settings_ = (torch.backends.cuda.matmul, torch.backends.cudnn.conv)
    before = [s.fp32_precision for s in settings_]
    try:
        for s in settings_:
            s.fp32_precision = "tf32"
        with pytest.raises(KeyError), exact_float32():
            assert [s.fp32_precision for s in settings_] == ["ieee", "ieee"]
            raise KeyError("restored on the way out of an error too")
        assert [s.fp32_precision for s in settings_] == ["tf32", "tf32"]
    finally:
        for s, value in zip(settings_, before, strict=True):
            s.fp32_precision = value


@needs_cuda
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ops_on_cuda_match_torch(path, dtype):
    torch.manual_seed(5)
    theirs = build_network("torch").to("cuda", dtype)
    ours = build_network("custom", path).to("cuda", dtype)
    copy_weights(theirs, ours)
    x = torch.rand(8, 1, 28, 28, device="cuda", dtype=dtype)
    grad = torch.randn(8, 10, device="cuda", dtype=dtype)
    with exact_float32():  # TF32 would put either side ~1e-3 off
        got, want = run(ours, x, grad), run(theirs, x, grad)
    assert got[0].device.type == "cuda"
    tol = {"atol": 1e-4, "rtol": 1e-4} if dtype == torch.float32 else {"atol": 1e-10, "rtol": 0.0}
    assert (got[0] - want[0]).abs().max() < 1e-5
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, **tol)


@needs_cuda
@pytest.mark.parametrize("path", PATHS)
def test_layers_on_cuda_match_torch_in_values_layouts_and_ties(path):
    tied = torch.relu(torch.randn(4, 3, 13, 11, device="cuda"))
    conv_x = arrange(torch.randn(4, 3, 13, 11, device="cuda"), "channels_last_non_contiguous")
    theirs = nn.Conv2d(3, 5, (3, 2), (2, 1)).cuda()
    ours = ops.Conv2d(3, 5, (3, 2), (2, 1), path=path).cuda()
    copy_weights(theirs, ours)
    with exact_float32():
        for (mine, torchs), x in [((ops.MaxPool2d(3, 2, path=path), nn.MaxPool2d(3, 2)), tied),
                                  ((ops.ReLU(path=path), nn.ReLU()), tied),
                                  ((ours, theirs), conv_x)]:
            grad = torch.randn_like(torchs(x))
            got, want = run(mine, x, grad), run(torchs, x, grad)
            assert_matches(got, want, torch.float32)
            assert_same_layout(got[0], want[0])
