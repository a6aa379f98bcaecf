"""Time our Conv2d/MaxPool2d/ReLU against torch.nn's at the assignment network's shapes.

For each batch size: every layer of the network alone (forward, and forward+backward) on the
same inputs for both implementations, then one full SGD training step of the network built
each way. Samples alternate between the two implementations so that drift on a shared machine
hits both alike; each figure is the median over repeats of the per-call time.

    python benchmarks/bench_ops.py --out benchmarks/results/ops.json
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from fmnist import ops
from fmnist.io import write_json
from fmnist.models import build_network, copy_weights

# (name, torch layer, our layer, input shape without the batch, whether the input needs a grad)
Factory = Callable[[], nn.Module]
LAYERS: list[tuple[str, Factory, Factory, tuple[int, ...], bool]] = [
    ("conv1", lambda: nn.Conv2d(1, 32, 3), lambda: ops.Conv2d(1, 32, 3), (1, 28, 28), False),
    ("pool1", lambda: nn.MaxPool2d(3, 2), lambda: ops.MaxPool2d(3, 2), (32, 26, 26), True),
    ("relu1", nn.ReLU, ops.ReLU, (32, 12, 12), True),
    ("conv2", lambda: nn.Conv2d(32, 64, 3), lambda: ops.Conv2d(32, 64, 3), (32, 12, 12), True),
    ("pool2", lambda: nn.MaxPool2d(3, 2), lambda: ops.MaxPool2d(3, 2), (64, 10, 10), True),
    ("relu2", nn.ReLU, ops.ReLU, (64, 4, 4), True),
    ("conv3", lambda: nn.Conv2d(64, 10, 4), lambda: ops.Conv2d(64, 10, 4), (64, 4, 4), True),
]


def calls_per_sample(fn: Callable[[], object], min_time: float) -> int:
    """How many calls make one timing sample last at least `min_time` seconds."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    return max(1, round(min_time / once))


def time_pair(custom: Callable[[], object], reference: Callable[[], object], repeats: int,
              warmup: int, min_time: float) -> dict[str, float]:
    """Median ms per call of both, sampled alternately; and their ratio custom / torch."""
    for _ in range(warmup):
        custom()
        reference()
    numbers = [calls_per_sample(f, min_time) for f in (custom, reference)]
    samples: list[list[float]] = [[], []]
    for r in range(repeats):
        order = (0, 1) if r % 2 == 0 else (1, 0)  # alternate who goes first
        for i in order:
            fn, number = (custom, reference)[i], numbers[i]
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[i].append((time.perf_counter() - start) / number * 1e3)
    custom_ms, torch_ms = (statistics.median(s) for s in samples)
    return {"custom_ms": round(custom_ms, 4), "torch_ms": round(torch_ms, 4),
            "ratio": round(custom_ms / torch_ms, 3)}


def like_output(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """`grad` in the memory format of `layer(x)`."""
    with torch.no_grad():
        out = layer(x)
    channels_last = out.dim() == 4 and out.is_contiguous(memory_format=torch.channels_last)
    return grad.contiguous(memory_format=torch.channels_last if channels_last and
                           not out.is_contiguous() else torch.contiguous_format)


def layer_calls(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor
                ) -> tuple[Callable[[], object], Callable[[], object]]:
    """Forward only (no autograd), and forward + backward to the input and parameters."""
    wrt = ([x] if x.requires_grad else []) + list(layer.parameters())

    def forward() -> object:
        with torch.no_grad():
            return layer(x)

    def forward_backward() -> object:
        return torch.autograd.grad(layer(x), wrt, grad)

    return forward, forward_backward


def bench_layers(batch: int, **timing: float) -> dict[str, dict[str, dict[str, float]]]:
    """Both implementations of every network layer, forward and forward+backward."""
    results = {}
    for name, make_torch, make_custom, shape, needs_grad in LAYERS:
        torch.manual_seed(0)
        reference, custom = make_torch(), make_custom()
        copy_weights(reference, custom)
        x = torch.randn(batch, *shape).requires_grad_(needs_grad)
        with torch.no_grad():
            grad = torch.randn_like(reference(x))
        # Same gradient values, in the memory layout of each implementation's own output: in a
        # network the upstream gradient arrives in the layout the forward pass produced.
        (c_fwd, c_both), (t_fwd, t_both) = (layer_calls(m, x, like_output(m, x, grad))
                                            for m in (custom, reference))
        results[name] = {"forward": time_pair(c_fwd, t_fwd, **timing),
                         "forward_backward": time_pair(c_both, t_both, **timing)}
    return results


def train_step(network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], object]:
    """One SGD step (lr 0.01, momentum 0.9) on cross-entropy with one-hot targets."""
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9)

    def step() -> object:
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(network(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def bench_train_step(batch: int, **timing: float) -> dict[str, float]:
    """One training step of the assignment network built from our ops vs from torch.nn."""
    torch.manual_seed(0)
    reference, custom = build_network("torch"), build_network("custom")
    copy_weights(reference, custom)
    x = torch.rand(batch, 1, 28, 28)
    y = nn.functional.one_hot(torch.randint(0, 10, (batch,)), 10).float()
    return time_pair(train_step(custom, x, y), train_step(reference, x, y), **timing)


def print_table(results: dict[str, dict]) -> None:
    """custom ms, torch ms and their ratio per layer, mode and batch size."""
    batches = list(results)
    header = f"{'case':<24}" + "".join(
        f"{f'custom ms (B={b})':>18}{'torch ms':>10}{'ratio':>7}" for b in batches)
    print(header)
    print("-" * len(header))
    rows = [(f"{name} {mode}", lambda r, n=name, m=mode: r["layers"][n][m])
            for name, *_ in LAYERS for mode in ("forward", "forward_backward")]
    rows.append(("train step (SGD)", lambda r: r["train_step"]))
    for label, pick in rows:
        cells = [pick(results[b]) for b in batches]
        print(f"{label:<24}" + "".join(
            f"{c['custom_ms']:>18.3f}{c['torch_ms']:>10.3f}{c['ratio']:>7.2f}" for c in cells))


def one_round(batch_sizes: list[int], **timing: float) -> dict[str, dict]:
    """Every figure once: layers and training step, per batch size."""
    return {str(batch): {"layers": bench_layers(batch, **timing),
                         "train_step": bench_train_step(batch, **timing)}
            for batch in batch_sizes}


def combine(rounds: list[dict]) -> dict:
    """Median over rounds of each figure; the per-round ratios are kept to show the spread."""
    first = rounds[0]
    if "ratio" in first:
        times = {key: round(statistics.median(r[key] for r in rounds), 4)
                 for key in ("custom_ms", "torch_ms")}
        ratios = [r["ratio"] for r in rounds]
        return {**times, "ratio": round(statistics.median(ratios), 3), "ratio_rounds": ratios}
    return {key: combine([r[key] for r in rounds]) for key in first}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--rounds", type=int, default=3,
                        help="full passes over all figures, minutes apart; medians are reported")
    parser.add_argument("--repeats", type=int, default=15, help="timing samples per figure")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls before sampling")
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per sample")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ops.json"))
    args = parser.parse_args()

    timing = {"repeats": args.repeats, "warmup": args.warmup, "min_time": args.min_time}
    # A load burst from another process on the shared machine then spoils one round, not all.
    results = combine([one_round(args.batch_sizes, **timing) for _ in range(args.rounds)])
    print_table(results)
    write_json(args.out, {
        "setup": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                  "processor": platform.processor() or platform.machine(), "device": "cpu",
                  "input_layout": "NCHW contiguous (as the data and torch.nn's layers get it)",
                  "grad_layout": "each implementation's own output layout",
                  "statistic": "median over rounds of the median ms per call over alternating "
                               "samples; ratio = median of the per-round custom/torch ratios",
                  "rounds": args.rounds, **timing},
        "batch_size": results,
    })


if __name__ == "__main__":
    main()
