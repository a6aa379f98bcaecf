"""From-scratch Conv2d, MaxPool2d and ReLU: each layer's algorithm, with a hand-written backward.

No torch convolution, pooling or relu kernel runs (tests/nn/test_ops.py records the ATen
operators to check). The layers take `[N, C, H, W]` or unbatched `[C, H, W]` input of any
strides, on any device, in any floating dtype, and return what torch.nn's layers return: the same
values, shapes and memory format. The plain algorithms here work in channels_last (NHWC) row
order; `fmnist.nn.fast` holds CPU-tuned versions, which each layer's `path` argument picks."""

import math

import torch
from torch import nn
from torch.autograd.function import FunctionCtx, once_differentiable

from fmnist.nn import fast

Pair = tuple[int, int]
# What a layer's `path` runs: "plain" (this module), "fast" (fmnist.nn.fast) or "auto": fast on
# CPU (the committed results, bit for bit), plain elsewhere (fewer operators: GPUs wait on hosts).
PATHS = ("auto", "plain", "fast")


class OpValueError(ValueError, RuntimeError):
    """A bad argument or input shape: a ValueError, and a RuntimeError as torch.nn raises."""


class OpTypeError(TypeError, RuntimeError):
    """A bad input type or dtype: a TypeError, and a RuntimeError as torch.nn raises."""


def _pair(value: int | tuple[int, int], name: str, layer: str) -> Pair:
    """`value` as a pair of positive ints, the way PyTorch reads kernel_size and stride."""
    pair = (value, value) if isinstance(value, int) else value
    if (not isinstance(pair, tuple | list) or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)):
        raise OpValueError(f"{layer}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise OpValueError(f"{layer}: {name} must be >= 1, got {value!r}")
    return (pair[0], pair[1])


def _as_batch(x: torch.Tensor, layer: str, kernel: Pair) -> tuple[torch.Tensor, bool]:
    """`x` as `[N, C, H, W]` and whether it came unbatched; checks rank and size against kernel."""
    if not isinstance(x, torch.Tensor):
        raise OpTypeError(f"{layer}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() not in (3, 4):
        raise OpValueError(f"{layer}: expected input of rank 3 or 4, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise OpTypeError(f"{layer}: expected a floating-point input, got {x.dtype}")
    height, width = x.shape[-2:]
    if height < kernel[0] or width < kernel[1]:
        raise OpValueError(f"{layer}: input of spatial size {height}x{width} is smaller than the "
                           f"kernel {kernel[0]}x{kernel[1]} (no padding); input shape "
                           f"{tuple(x.shape)}")
    unbatched = x.dim() == 3
    return (x.unsqueeze(0) if unbatched else x), unbatched


def _check_path(path: str, layer: str) -> str:
    """`path` if it names an implementation in PATHS."""
    if path not in PATHS:
        raise OpValueError(f"{layer}: path must be one of {PATHS}, got {path!r}")
    return path


def _use_fast(x: torch.Tensor, path: str) -> bool:
    """Whether a layer with this `path` runs fmnist.nn.fast's version on `x`."""
    return path == "fast" or (path == "auto" and x.device.type == "cpu")


def _is_channels_last(t: torch.Tensor) -> bool:
    """Whether torch's layers read (N, C, H, W) `t` as channels_last (ATen's suggest_memory_format):
    strides must grow through C, W, H, N; ties from size-1 dims count as contiguous NCHW."""
    size, stride = t.shape, t.stride()
    if stride[1] == 0:
        return False
    bound = 0
    for d in (1, 3, 2, 0):  # transcribed from c10's is_channels_last_strides_2d_s4
        if size[d] == 0 or stride[d] < bound or (d == 0 and bound == stride[1]):
            return False
        bound = stride[d] * size[d]
    return True


def _like_torch(out: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """`out` in the memory format torch's layer returns: a copy only if its layout differs."""
    return out.contiguous(memory_format=torch.channels_last if channels_last
                          else torch.contiguous_format)


def _im2col(x: torch.Tensor, kernel: Pair, stride: Pair) -> torch.Tensor:
    """Every window of `x` (N, C, H, W) as a row: (N*Ho*Wo, kh*kw*C), rows (n, ho, wo), columns
    (i, j, c); row (n, ho, wo) holds x[n, c, sh*ho + i, sw*wo + j] in column (i, j, c)."""
    windows = x.unfold(2, kernel[0], stride[0]).unfold(3, kernel[1], stride[1])
    n, c, ho, wo = windows.shape[:4]  # windows: (N, C, Ho, Wo, kh, kw), a view
    return windows.permute(0, 2, 3, 4, 5, 1).reshape(n * ho * wo, kernel[0] * kernel[1] * c)


def _window_positions(size: Pair, kernel: Pair, stride: Pair, device: torch.device
                      ) -> torch.Tensor:
    """(Ho*Wo, kh*kw): the flat input position h*W + w that each window element is read from."""
    grid = torch.arange(size[0] * size[1], device=device).view(1, 1, *size)  # (1, 1, H, W)
    return _im2col(grid, kernel, stride)  # im2col of the positions themselves


def _col2im(rows: torch.Tensor, shape: torch.Size, kernel: Pair, stride: Pair) -> torch.Tensor:
    """The adjoint of `_im2col`: each entry of `rows` (N*Ho*Wo, kh*kw*C) added onto the element
    of an (N, C, H, W) input it was copied from; overlapping windows accumulate."""
    n, c, h, w = shape
    source = _window_positions((h, w), kernel, stride, rows.device).flatten()  # (Ho*Wo*kh*kw,)
    grad = rows.new_zeros(n, h * w, c)  # (N, H*W, C)
    grad.index_add_(1, source, rows.view(n, source.numel(), c))  # rows as (N, Ho*Wo*kh*kw, C)
    return grad.view(n, h, w, c).permute(0, 3, 1, 2)  # (N, C, H, W), channels_last strides


class _Conv2dFunction(torch.autograd.Function):
    """Valid cross-correlation: im2col, then one matrix product with the bias folded in."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                stride: Pair) -> torch.Tensor:
        n, _, h, w = x.shape
        out_ch, c, kh, kw = weight.shape
        ho, wo = fast.output_size((h, w), (kh, kw), stride)
        rows = _im2col(x, (kh, kw), stride)  # (N*Ho*Wo, kh*kw*C)
        w_mat = weight.permute(0, 2, 3, 1).reshape(out_ch, kh * kw * c)  # (O, kh*kw*C)
        out = torch.addmm(bias, rows, w_mat.t())  # (N*Ho*Wo, O) = rows @ W^T + b
        ctx.save_for_backward(rows, w_mat)
        ctx.geometry = (x.shape, (kh, kw), stride)
        return out.view(n, ho, wo, out_ch).permute(0, 3, 1, 2)  # (N, O, Ho, Wo), channels_last

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: torch.Tensor
                 ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None]:
        rows, w_mat = ctx.saved_tensors
        shape, kernel, stride = ctx.geometry
        out_ch, c = w_mat.shape[0], shape[1]
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g = grad_out.permute(0, 2, 3, 1).reshape(-1, out_ch)  # (N*Ho*Wo, O)
        grad_w = (g.t() @ rows).view(out_ch, *kernel, c) if need_w else None  # (O, kh, kw, C)
        return (_col2im(g @ w_mat, shape, kernel, stride) if need_x else None,  # (N, C, H, W)
                grad_w.permute(0, 3, 1, 2) if need_w else None,  # (O, C, kh, kw)
                g.sum(0) if need_b else None, None)  # (O,)


class Conv2d(nn.Module):
    """2-D cross-correlation without padding, like `torch.nn.Conv2d(..., padding=0)`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, *, path: str = "auto") -> None:
        super().__init__()
        self.path = _check_path(path, "Conv2d")  # which implementation runs: one of PATHS
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OpValueError(f"Conv2d: {name} must be an int >= 1, got {value!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = _pair(stride, "stride", "Conv2d")
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch.nn.Conv2d's initialisation, drawn in the same order from the same generator."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve `x` `[N, C, H, W]` or `[C, H, W]` -> `[N, O, Ho, Wo]` or `[O, Ho, Wo]`."""
        batch, unbatched = _as_batch(x, "Conv2d", self.kernel_size)
        if batch.shape[1] != self.in_channels:
            raise OpValueError(f"Conv2d: expected {self.in_channels} input channels, got input of "
                               f"shape {tuple(x.shape)}")
        if batch.dtype != self.weight.dtype or batch.device != self.weight.device:
            raise OpTypeError(f"Conv2d: input is {batch.dtype} on {batch.device} but the weight is "
                              f"{self.weight.dtype} on {self.weight.device}")
        channels_last = _is_channels_last(batch) or _is_channels_last(self.weight)  # as torch's
        if _use_fast(batch, self.path):  # which writes the output in that layout directly
            out = fast.Conv2dFunction.apply(batch, self.weight, self.bias, self.stride,
                                            channels_last)
        else:
            out = _Conv2dFunction.apply(batch, self.weight, self.bias, self.stride)
        out = _like_torch(out, channels_last)
        return out.squeeze(0) if unbatched else out

    def extra_repr(self) -> str:
        """The constructor arguments, as torch prints them."""
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")


class _MaxPool2dFunction(torch.autograd.Function):
    """Window maxima; backward sends each window's gradient to the input position of its first
    maximum. (A window with several NaNs: to the first, where torch picks the last.)"""

    @staticmethod
    def forward(ctx: FunctionCtx, x: torch.Tensor, kernel: Pair, stride: Pair) -> torch.Tensor:
        n, c, h, w = x.shape
        ho, wo = fast.output_size((h, w), kernel, stride)
        windows = _im2col(x, kernel, stride).view(n, ho * wo, kernel[0] * kernel[1], c)
        # windows: (N, Ho*Wo, kh*kw, C)
        out, first = windows.max(dim=2)  # (N, Ho*Wo, C) each; max picks the first of tied maxima
        ctx.save_for_backward(first)
        ctx.geometry = (x.shape, kernel, stride)
        return out.view(n, ho, wo, c).permute(0, 3, 1, 2)  # (N, C, Ho, Wo), channels_last

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (first,) = ctx.saved_tensors  # (N, Ho*Wo, C)
        (n, c, h, w), kernel, stride = ctx.geometry
        positions = _window_positions((h, w), kernel, stride, first.device)  # (Ho*Wo, kh*kw)
        source = positions.expand(n, -1, -1).gather(2, first)  # (N, Ho*Wo, C): where each max is
        g = grad_out.permute(0, 2, 3, 1).reshape(first.shape)  # (N, Ho*Wo, C)
        grad = g.new_zeros(n, h * w, c).scatter_add_(1, source, g)  # overlaps accumulate
        return grad.view(n, h, w, c).permute(0, 3, 1, 2), None, None  # (N, C, H, W)


class MaxPool2d(nn.Module):
    """2-D max pooling without padding, like `torch.nn.MaxPool2d`; stride defaults to the kernel."""

    def __init__(self, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] | None = None, *, path: str = "auto") -> None:
        super().__init__()
        self.path = _check_path(path, "MaxPool2d")  # which implementation runs: one of PATHS
        # as given, like torch.nn.MaxPool2d (MaxPool2d(2).stride == 2); the pairs stay private
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self._kernel = _pair(kernel_size, "kernel_size", "MaxPool2d")
        self._stride = _pair(self.stride, "stride", "MaxPool2d")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool `x` `[N, C, H, W]` or `[C, H, W]` -> `[N, C, Ho, Wo]` or `[C, Ho, Wo]`."""
        batch, unbatched = _as_batch(x, "MaxPool2d", self._kernel)
        function = fast.MaxPool2dFunction if _use_fast(batch, self.path) else _MaxPool2dFunction
        out = _like_torch(function.apply(batch, self._kernel, self._stride),
                          _is_channels_last(batch))
        return out.squeeze(0) if unbatched else out

    def extra_repr(self) -> str:
        """The constructor arguments, as torch prints them."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class _ReLUFunction(torch.autograd.Function):
    """max(x, 0) by comparison; gradient 1 where the output is positive, else 0 (also at 0)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        out = torch.where(x < 0, 0, x)  # as torch.relu: NaN < 0 is false, so NaN and -0.0 stay
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        return torch.where(out <= 0, 0, grad_out)  # torch's rule: a NaN output passes the gradient


class ReLU(nn.Module):
    """Elementwise max(x, 0), like `torch.nn.ReLU`; any shape."""

    def __init__(self, *, path: str = "auto") -> None:
        super().__init__()
        self.path = _check_path(path, "ReLU")  # which implementation runs: one of PATHS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply ReLU to every element of `x`."""
        if not isinstance(x, torch.Tensor):
            raise OpTypeError(f"ReLU: expected a torch.Tensor, got {type(x).__name__}")
        return (fast.ReLUFunction if _use_fast(x, self.path) else _ReLUFunction).apply(x)
