"""CPU-tuned Conv2d, MaxPool2d and ReLU: fmnist.nn.ops's algorithms, rearranged for speed.

They produced the committed metrics, and the default CPU path reproduces them bit for bit
(tests/nn/test_ops.py checks; benchmarks/bench_ops.py times them). They compute in the layout
they are given, channels_last or contiguous NCHW, and write their outputs in it, so that a network
of them passes either along without transposes. Input gradients are channels_last-strided."""

import math
import threading

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

Pair = tuple[int, int]

# im2col is built a few samples at a time, about this many elements (4 MiB in float32) at once,
# into a buffer kept from call to call: fresh multi-MB buffers are mmap'd by glibc and
# page-faulted in on every use.
CHUNK_ELEMENTS = 1 << 20
_SCRATCH = threading.local()  # per thread, so concurrent callers never share a buffer
NCHW_MIN_ROW = 8  # output columns from which MaxPool2dFunction pools NCHW without a transpose


def _scratch(slot: str, numel: int, like: torch.Tensor, dtype: torch.dtype | None = None
             ) -> torch.Tensor:
    """A 1-D buffer of `numel` elements, reused across calls on CPU (like oneDNN's scratchpad):
    only for temporaries that never leave the op, as the next call with this slot overwrites it."""
    dtype = dtype or like.dtype
    if like.device.type != "cpu" or numel > 4 * CHUNK_ELEMENTS:
        return like.new_empty(numel, dtype=dtype)  # GPU allocators cache; huge ones not kept
    buffers = _SCRATCH.__dict__.setdefault("buffers", {})
    if (slot, dtype) not in buffers or buffers[slot, dtype].numel() < numel:
        buffers[slot, dtype] = like.new_empty(numel, dtype=dtype)
    return buffers[slot, dtype][:numel]


def _scratch_nchw(slot: str, shape: torch.Size, like: torch.Tensor,
                  dtype: torch.dtype | None = None, channels_last: bool = True) -> torch.Tensor:
    """A scratch buffer viewed as an (N, C, H, W) tensor, in channels_last order or contiguous."""
    n, c, h, w = shape
    flat = _scratch(slot, n * c * h * w, like, dtype)
    return flat.view(n, h, w, c).permute(0, 3, 1, 2) if channels_last else flat.view(n, c, h, w)


def _is_nchw(x: torch.Tensor) -> bool:
    """Whether `x` is contiguous (N, C, H, W) and not also channels_last (C == 1 is both)."""
    return x.is_contiguous() and not x.is_contiguous(memory_format=torch.channels_last)


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """`x` in channels_last; single-channel tensors are left alone (both layouts coincide)."""
    if x.shape[1] == 1 or x.is_contiguous(memory_format=torch.channels_last):
        return x
    # one dense transpose, so the kh*kw strided passes that follow read runs of C floats
    return x.contiguous(memory_format=torch.channels_last)


def output_size(size: Pair, kernel: Pair, stride: Pair) -> Pair:
    """(Ho, Wo) of `kernel` windows `stride` apart over (H, W) `size`: PyTorch's, unpadded."""
    return ((size[0] - kernel[0]) // stride[0] + 1, (size[1] - kernel[1]) // stride[1] + 1)


def _window_slices(x: torch.Tensor, kernel: Pair, stride: Pair, out: Pair) -> list[torch.Tensor]:
    """One strided view of `x` per kernel offset (i, j), in row-major order; the view for (i, j)
    holds x[..., i + sh*ho, j + sw*wo] at [..., ho, wo]."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out
    return [x[..., i: i + sh * (ho - 1) + 1: sh, j: j + sw * (wo - 1) + 1: sw]
            for i in range(kh) for j in range(kw)]


def _sample_chunks(x: torch.Tensor, kernel: Pair, positions: int) -> list[slice]:
    """Runs of samples whose patch rows (positions x kh*kw*C values each) fill about one chunk."""
    n = x.shape[0]
    step = max(1, CHUNK_ELEMENTS // (positions * kernel[0] * kernel[1] * x.shape[1]))
    if x.device.type != "cpu":
        step = max(n, 1)  # page faults are a CPU allocator matter; GPUs prefer one big GEMM
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def _patches(x: torch.Tensor, kernel: Pair, stride: Pair, out: Pair) -> torch.Tensor:
    """im2col into scratch: (n*Ho*Wo, kh*kw*C + 1), rows ordered (n, ho, wo), columns (i, j, c),
    then a column of ones that carries the bias through the same GEMMs."""
    n, c = x.shape[:2]
    windows = x.unfold(2, kernel[0], stride[0]).unfold(3, kernel[1], stride[1])
    # windows: (n, C, Ho, Wo, kh, kw), a view
    width = kernel[0] * kernel[1] * c
    flat = _scratch("patches", n * out[0] * out[1] * (width + 1), x)
    if c == 1:
        # One channel: copy with output positions innermost (runs of Wo values, not runs of 1)
        # and hand the GEMM the transpose as a view; MKL reads it as is.
        cols_t = flat.view(width + 1, -1)  # (kh*kw + 1, n*Ho*Wo)
        cols_t[:width].view(*kernel, 1, n, *out).copy_(windows.permute(4, 5, 1, 0, 2, 3))
        # cols_t[:width] viewed as (kh, kw, 1, n, Ho, Wo) for the copy
        cols_t[width].fill_(1)
        return cols_t.t()
    cols = flat.view(-1, width + 1)  # (n*Ho*Wo, kh*kw*C + 1)
    cols[:, :width].view(n, *out, *kernel, c).copy_(windows.permute(0, 2, 3, 4, 5, 1))
    # cols[:, :width] viewed as (n, Ho, Wo, kh, kw, C) for the copy
    cols[:, width].fill_(1)
    return cols


def _fold_add(grad_x: torch.Tensor, grad_patches: torch.Tensor, kernel: Pair, stride: Pair) -> None:
    """col2im: add each window's patch gradient (n, Ho, Wo, kh*kw*C) onto grad_x (n, H, W, C)."""
    n, ho, wo = grad_patches.shape[:3]
    by_offset = grad_patches.view(n, ho, wo, kernel[0], kernel[1], -1)  # (n, Ho, Wo, kh, kw, C)
    # Windows overlap when stride < kernel, so accumulate one slice at a time, looping over
    # whichever is fewer: kernel offsets, or output positions (one for the network's head).
    if ho * wo < kernel[0] * kernel[1]:
        for a in range(ho):
            for b in range(wo):
                rows = slice(a * stride[0], a * stride[0] + kernel[0])
                cols = slice(b * stride[1], b * stride[1] + kernel[1])
                grad_x[:, rows, cols].add_(by_offset[:, a, b])  # (n, kh, kw, C)
        return
    targets = _window_slices(grad_x.permute(0, 3, 1, 2), kernel, stride, (ho, wo))
    for k, target in enumerate(targets):
        target.add_(by_offset[:, :, :, k // kernel[1], k % kernel[1]].permute(0, 3, 1, 2))


def _param_grad(grad_rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """(O, kh*kw*C + 1), weight gradients and, last, the bias gradient, from (n, Ho, Wo, O)
    output gradients and (n*Ho*Wo, kh*kw*C + 1) patches: grad_mat.T @ cols."""
    if not grad_rows.is_contiguous():  # NCHW: a sum of per-sample products, no transpose
        g = grad_rows.permute(0, 3, 1, 2).flatten(2)  # (n, O, Ho*Wo), a view
        n, out_ch, positions = g.shape
        parts = _scratch("param_parts", n * out_ch * cols.shape[1], g)
        per_sample = cols.view(n, positions, -1)  # (n, Ho*Wo, kh*kw*C + 1)
        if cols.shape[1] < out_ch:  # the narrow side as the rows of each product, as below
            products = parts.view(n, -1, out_ch)  # (n, kh*kw*C + 1, O)
            return torch.bmm(per_sample.transpose(1, 2), g.transpose(1, 2), out=products).sum(0).t()
        return torch.bmm(g, per_sample, out=parts.view(n, out_ch, -1)).sum(0)
    grad_mat = grad_rows.view(-1, grad_rows.shape[-1])  # (n*Ho*Wo, O)
    if cols.shape[1] < grad_mat.shape[1]:
        # The narrow side as the rows of the product, as for conv1 (kh*kw*C + 1 = 10 < O = 32).
        return (cols.t() @ grad_mat).t()
    return grad_mat.t() @ cols


class Conv2dFunction(torch.autograd.Function):
    """Valid cross-correlation as chunked GEMMs over im2col patches; backward: GEMMs + col2im.
    One GEMM writes the output in the layout `channels_last` asks for: no transpose follows."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                stride: Pair, channels_last: bool = True) -> torch.Tensor:
        x = _channels_last(x)
        n = x.shape[0]
        out_ch, _, kh, kw = weight.shape
        ho, wo = output_size(x.shape[2:], (kh, kw), stride)
        # Weights in patch-column order with the bias as a last row, against the patches' column
        # of ones: no separate bias pass forward, nor a sum backward; dense, not a transposed view.
        w_aug = torch.cat([weight.permute(2, 3, 1, 0).reshape(-1, out_ch), bias.view(1, -1)])
        # w_aug: (kh*kw*C + 1, O)
        channels_last = channels_last or ho * wo == 1  # one position: both layouts, one GEMM
        out = x.new_empty((n * ho * wo, out_ch) if channels_last else (n, out_ch, ho * wo))
        for samples in _sample_chunks(x, (kh, kw), ho * wo):
            cols = _patches(x[samples], (kh, kw), stride, (ho, wo))  # (n*Ho*Wo, kh*kw*C + 1)
            if channels_last:
                torch.mm(cols, w_aug, out=out[samples.start * ho * wo: samples.stop * ho * wo])
            else:  # per sample: (O, kh*kw*C + 1) @ (kh*kw*C + 1, Ho*Wo)
                per_sample = cols.view(-1, ho * wo, cols.shape[1]).transpose(1, 2)
                torch.bmm(w_aug.t().expand(per_sample.shape[0], -1, -1), per_sample,
                          out=out[samples])
        ctx.save_for_backward(x, w_aug)  # patches are rebuilt in backward rather than kept
        ctx.geometry = ((kh, kw), stride, (ho, wo))
        if channels_last:
            return out.view(n, ho, wo, out_ch).permute(0, 3, 1, 2)  # (N, O, Ho, Wo)
        return out.view(n, out_ch, ho, wo)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: torch.Tensor
                 ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None,
                            None, None]:
        x, w_aug = ctx.saved_tensors
        kernel, stride, (ho, wo) = ctx.geometry
        n, c, h, w = x.shape
        width, out_ch = w_aug.shape[0] - 1, w_aug.shape[1]
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_rows = grad_out.permute(0, 2, 3, 1)  # (N, Ho, Wo, O), a view
        grad_x = grad_out.new_zeros((n, h, w, c)) if need_x else None  # NHWC
        grad_params = grad_out.new_zeros((out_ch, width + 1))  # weight columns, then bias
        for samples in _sample_chunks(x, kernel, ho * wo):
            if need_w or need_b:
                cols = _patches(x[samples], kernel, stride, (ho, wo))  # (n*Ho*Wo, width + 1)
                grad_params += _param_grad(grad_rows[samples], cols)
            if need_x:
                g = _dense_rows(grad_rows[samples])  # (n*Ho*Wo, O)
                grad_cols = _scratch("grad_patches", g.shape[0] * width, g).view(-1, width)
                torch.mm(g, w_aug[:width].t(), out=grad_cols)  # (n*Ho*Wo, kh*kw*C)
                _fold_add(grad_x[samples], grad_cols.view(-1, ho, wo, width), kernel, stride)
        grad_w = grad_params[:, :width].view(out_ch, *kernel, c)  # (O, kh, kw, C)
        # autograd lays the weight gradient out like the weight: no copy for channels_last ones
        return (grad_x.permute(0, 3, 1, 2) if need_x else None,  # (N, C, H, W), channels_last
                grad_w.permute(0, 3, 1, 2) if need_w else None,  # (O, C, kh, kw)
                grad_params[:, width].clone() if need_b else None, None, None)


def _dense_rows(t: torch.Tensor) -> torch.Tensor:
    """(n, Ho, Wo, O) `t` as an (n*Ho*Wo, O) matrix: a view if it is dense, else a scratch copy."""
    if not t.is_contiguous():  # an NCHW gradient: one transpose, then the GEMMs run at full speed
        t = _scratch("grad_rows", t.numel(), t).view(t.shape).copy_(t)
    return t.view(-1, t.shape[-1])


class MaxPool2dFunction(torch.autograd.Function):
    """Window maxima as running maxima of strided views; backward scatters to the first argmax.
    NCHW input gives NCHW output unless its output rows are short; any other, channels_last."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: torch.Tensor, kernel: Pair, stride: Pair) -> torch.Tensor:
        out_size = output_size(x.shape[2:], kernel, stride)
        # NCHW is pooled as it is unless its output rows are short: the passes then run over
        # rows of a few floats each, and a transpose to channels_last costs less.
        nchw = _is_nchw(x) and out_size[1] >= NCHW_MIN_ROW
        x = x if nchw else _channels_last(x)
        # The max is separable: along one axis, then the other, in kh+kw-2 passes instead of
        # kh*kw-1; each pass is one long elementwise loop, not a reduction per window. In NCHW
        # rows go first, so that the bigger pass reads runs of W floats.
        (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_size
        rows, columns = ((kh, 1), (sh, 1)), ((1, kw), (1, sw))  # (kernel, stride) of each pass
        first, second = (rows, columns) if nchw else (columns, rows)
        partial_size = (ho, x.shape[3]) if nchw else (x.shape[2], wo)
        partial = _running_max(_window_slices(x, *first, partial_size),
                               _scratch_nchw("partial", (*x.shape[:2], *partial_size), x,
                                             channels_last=not nchw))
        out = torch.empty((*x.shape[:2], ho, wo), dtype=x.dtype, device=x.device,
                          memory_format=torch.contiguous_format if nchw else torch.channels_last)
        slices = _nchw_window_slices if nchw else _window_slices  # NCHW: contiguous phase copies
        _running_max(slices(partial, *second, out_size), out)
        ctx.save_for_backward(x, out)
        ctx.geometry = (kernel, stride, out_size)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        x, out = ctx.saved_tensors
        kernel, stride, _ = ctx.geometry
        n, nchw = x.shape[0], _is_nchw(x)  # as forward pooled it
        # each sample's values in one block, in x's layout, whatever C is
        grad_x = torch.zeros_like(x, memory_format=torch.preserve_format)
        target = _argmax_offsets(x, out, grad_x.stride(), kernel, stride, nchw)  # (N, C, Ho, Wo)
        # One scatter-add per sample routes each window's gradient to its maximum; overlapping
        # windows (stride < kernel) accumulate. Rows run in parallel, unlike a flat index_add_.
        # Each tensor is flattened in memory order (N, C, H, W) or (N, H, W, C), as x is laid out.
        order = (0, 1, 2, 3) if nchw else (0, 2, 3, 1)
        per_in, per_out = math.prod(x.shape[1:]), math.prod(out.shape[1:])
        rows = grad_x.permute(order).reshape(n, per_in)  # (N, C*H*W), a view of grad_x
        rows.scatter_add_(1, target.permute(order).reshape(n, per_out),  # (N, C*Ho*Wo)
                          grad_out.permute(order).reshape(n, per_out))
        return grad_x, None, None


def _running_max(views: list[torch.Tensor], out: torch.Tensor) -> torch.Tensor:
    """Elementwise maximum of same-shaped views, written into `out`."""
    if len(views) == 1:
        return out.copy_(views[0])
    torch.maximum(views[0], views[1], out=out)
    for view in views[2:]:
        torch.maximum(out, view, out=out)
    return out


def _argmax_offsets(x: torch.Tensor, out: torch.Tensor, strides: tuple[int, ...], kernel: Pair,
                    stride: Pair, nchw: bool) -> torch.Tensor:
    """Offset within its sample (under `strides`) of each window's first maximum, in row-major
    window order as PyTorch picks it; int64, shaped and laid out like `out` (NCHW if `nchw`)."""
    _, c, ho, wo = out.shape
    offsets = [i * strides[2] + j * strides[3] for i in range(kernel[0]) for j in range(kernel[1])]
    # Offsets ride in floats (lerp is the fastest select); float32 holds integers exactly only
    # below 2**24, so bigger samples switch to float64.
    exact = 2 / torch.finfo(out.dtype).eps  # 2**24 for float32
    dtype = out.dtype if math.prod(x.shape[1:]) < exact else torch.float64
    views = (_nchw_window_slices if nchw else _window_slices)(x, kernel, stride, (ho, wo))
    position = _scratch_nchw("argmax", out.shape, out, dtype, not nchw).fill_(offsets[-1])
    hit = _scratch_nchw("hit", out.shape, out, dtype, not nchw)
    # Scan backwards so the earliest equal element is the last to overwrite: first max wins ties.
    # (A window holding NaN matches nowhere and sends its gradient to its last element, where
    # PyTorch picks its last NaN; the forward value, NaN, is the same.)
    for view, offset in zip(reversed(views[:-1]), reversed(offsets[:-1]), strict=True):
        torch.eq(view, out, out=hit)
        position.lerp_(torch.full((), float(offset), dtype=dtype, device=out.device), hit)
    arange = {"dtype": dtype, "device": out.device}
    window_starts = (torch.arange(c, **arange).view(c, 1, 1) * strides[1]
                     + torch.arange(ho, **arange).view(ho, 1) * (stride[0] * strides[2])
                     + torch.arange(wo, **arange) * (stride[1] * strides[3]))  # (C, Ho, Wo)
    target = _scratch_nchw("target", out.shape, out, torch.int64, not nchw)
    return target.copy_(position.add_(window_starts))  # exact integers: the cast loses nothing


def _nchw_window_slices(x: torch.Tensor, kernel: Pair, stride: Pair, out: Pair
                        ) -> list[torch.Tensor]:
    """_window_slices of contiguous NCHW `x`, read from scratch copies of its column phases
    w % sw (those the kernel reaches): column j + sw*b is column j // sw + b of phase j % sw."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out
    phases = []  # strided column views of x become contiguous ones of a copy
    for phase in range(min(sw, kw)):
        columns = x[..., phase::sw]  # (N, C, H, ceil((W - phase) / sw))
        copy = _scratch_nchw(f"phase{phase}", columns.shape, x, channels_last=False)
        phases.append(copy.copy_(columns))
    return [phases[j % sw][..., i: i + sh * (ho - 1) + 1: sh, j // sw: j // sw + wo]
            for i in range(kh) for j in range(kw)]


class ReLUFunction(torch.autograd.Function):
    """max(0, x) as an elementwise maximum; gradient through a float mask of `out != 0`."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        # Not torch.where(x < 0, 0, x): a branch per element, mispredicted on random signs.
        # NaN stays NaN; -0.0 stays -0.0 in SIMD lanes, but becomes +0.0 in scalar tail lanes.
        out = torch.maximum(torch.zeros((), dtype=x.dtype, device=x.device), x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        # out is >= 0 or NaN, so out != 0 is torch's "not out <= 0": NaN outputs pass the
        # gradient. A float 0/1 mask needs no bool-to-float promotion in the product (an
        # infinite gradient times 0 gives NaN there, where torch gives 0).
        keep = torch.ne(out, 0, out=torch.empty_like(out))
        return keep.mul_(grad_out)
