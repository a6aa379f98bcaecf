"""Time our Conv2d/MaxPool2d/ReLU against torch.nn's at the assignment network's shapes.

For each batch size: every layer of the network alone (forward, and forward+backward), each
implementation's layer on the input it gets inside its own network (NCHW for torch's, channels_last
for ours), then one full SGD training step of the network built each way, twice: as the pipeline
builds ours (build_network: conv weights stored channels_last) and drop-in (a plain nn.Sequential
of our classes with torch's default contiguous tensors, as users write it). Samples alternate
between the two implementations so that drift on a shared machine hits both alike; each figure is
the median over repeats of the per-call time.

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

from fmnist.atomic import write_json
from fmnist.nn import ops
from fmnist.nn.assignment import build_network, copy_weights
from fmnist.runtime import exact_float32, resolve_device, use_determinism

# build_network's layers in order, Flatten aside
LAYER_NAMES = ("conv1", "pool1", "relu1", "conv2", "pool2", "relu2", "conv3")


def synchronize() -> None:
    """Wait for queued GPU work, so that a sample times the work and not only its launch."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def calls_per_sample(fn: Callable[[], object], min_time: float) -> int:
    """How many calls make one timing sample last at least `min_time` seconds."""
    start = time.perf_counter()
    fn()
    synchronize()
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
            synchronize()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            synchronize()
            samples[i].append((time.perf_counter() - start) / number * 1e3)
    custom_ms, torch_ms = (statistics.median(s) for s in samples)
    return {"custom_ms": round(custom_ms, 4), "torch_ms": round(torch_ms, 4),
            "ratio": round(custom_ms / torch_ms, 3)}


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


def networks(device: torch.device, path: str) -> tuple[nn.Sequential, nn.Sequential]:
    """The assignment network built from our ops (running `path`) and from torch.nn, with the
    same weights."""
    torch.manual_seed(0)
    reference = build_network("torch").to(device)
    custom = build_network("custom", path).to(device)
    copy_weights(reference, custom)
    return custom, reference


def layer_inputs(network: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """The input each named layer of `network` gets inside it for batch `x`."""
    inputs = []
    with torch.no_grad():
        for layer in network[:len(LAYER_NAMES)]:
            inputs.append(x.requires_grad_(bool(inputs)))  # the data needs no gradient
            x = layer(x).detach()
    return inputs


def bench_layers(batch: int, device: torch.device, path: str, **timing: float
                 ) -> dict[str, dict[str, dict[str, float]]]:
    """Both implementations of every network layer, forward and forward+backward."""
    x = torch.rand(batch, 1, 28, 28, device=device)
    custom_net, torch_net = networks(device, path)
    custom_inputs, torch_inputs = layer_inputs(custom_net, x), layer_inputs(torch_net, x)
    results = {}
    for i, name in enumerate(LAYER_NAMES):
        custom, x_custom = custom_net[i], custom_inputs[i]
        reference, x_torch = torch_net[i], torch_inputs[i]
        with torch.no_grad():
            grad = torch.randn_like(reference(x_torch))
        # The same gradient values, in the layout of each implementation's own output, as the
        # upstream gradient arrives in a network.
        c_fwd, c_both = layer_calls(custom, x_custom, like_output(custom, x_custom, grad))
        t_fwd, t_both = layer_calls(reference, x_torch, like_output(reference, x_torch, grad))
        results[name] = {"forward": time_pair(c_fwd, t_fwd, **timing),
                         "forward_backward": time_pair(c_both, t_both, **timing)}
    return results


def like_output(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """`grad` laid out like `layer(x)`."""
    with torch.no_grad():
        return torch.empty_like(layer(x)).copy_(grad)


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


def drop_in(network: nn.Sequential) -> nn.Sequential:
    """`network` with every conv weight in torch's default contiguous layout, same values."""
    for layer in network:
        if isinstance(layer, ops.Conv2d):
            # clone, not .contiguous(): a one-channel channels_last weight counts as contiguous
            # and would come back as it is, so conv1 and all after it would run channels_last
            weight = layer.weight.detach().clone(memory_format=torch.contiguous_format)
            layer.weight = nn.Parameter(weight)
    return network


def bench_train_step(batch: int, device: torch.device, path: str, dropped_in: bool,
                     **timing: float) -> dict[str, float]:
    """One training step of the assignment network built from our ops vs from torch.nn."""
    custom, reference = networks(device, path)
    x = torch.rand(batch, 1, 28, 28, device=device)
    if dropped_in:
        custom = drop_in(custom)
        with torch.no_grad():  # as users write it, conv1 computes in torch.nn's layout
            assert custom[0](x).stride() == reference[0](x).stride()
    y = nn.functional.one_hot(torch.randint(0, 10, (batch,)), 10).float().to(device)
    return time_pair(train_step(custom, x, y), train_step(reference, x, y), **timing)


def print_table(results: dict[str, dict]) -> None:
    """custom ms, torch ms and their ratio per layer, mode and batch size."""
    batches = list(results)
    header = f"{'case':<24}" + "".join(
        f"{f'custom ms (B={b})':>18}{'torch ms':>10}{'ratio':>7}" for b in batches)
    print(header)
    print("-" * len(header))
    names = list(results[batches[0]]["layers"])
    rows = [(f"{name} {mode}", lambda r, n=name, m=mode: r["layers"][n][m])
            for name in names for mode in ("forward", "forward_backward")]
    rows.append(("train step (pipeline)", lambda r: r["train_step"]))
    rows.append(("train step (drop-in)", lambda r: r["train_step_drop_in"]))
    for label, pick in rows:
        cells = [pick(results[b]) for b in batches]
        print(f"{label:<24}" + "".join(
            f"{c['custom_ms']:>18.3f}{c['torch_ms']:>10.3f}{c['ratio']:>7.2f}" for c in cells))


def one_round(batch_sizes: list[int], device: torch.device, path: str, **timing: float
              ) -> dict[str, dict]:
    """Every figure once: layers and training steps, per batch size."""
    return {str(batch): {"layers": bench_layers(batch, device, path, **timing),
                         "train_step": bench_train_step(batch, device, path, False, **timing),
                         "train_step_drop_in": bench_train_step(batch, device, path, True,
                                                                **timing)}
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


def cpu_model_and_flags() -> tuple[str, list[str]]:
    """The CPU's model name and feature flags from /proc/cpuinfo (Linux), else platform's name."""
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return (info.get("model name", platform.processor() or platform.machine()),
            info.get("flags", "").split())


def setup(device: torch.device, path: str, rounds: int, timing: dict[str, float]
          ) -> dict[str, object]:
    """What the figures were measured on and how."""
    cuda = device.type == "cuda"
    model, flags = cpu_model_and_flags()
    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_model": model, "cpu_flags": " ".join(flags),
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if cuda else "cpu",
            "ops_path": path,  # our layers' `path`; "auto" runs the fast one on CPU
            "input_layout": "layers: each layer's input as its own network passes it: NCHW "
                            "contiguous for torch.nn's, channels_last for ours; train_step: as "
                            "build_network lays ours out; train_step_drop_in: all contiguous",
            "grad_layout": "each implementation's own output layout",
            "statistic": "median over rounds of the median ms per call over alternating "
                         "samples; ratio = median of the per-round custom/torch ratios",
            "float32": "true float32 (TF32 off on CUDA)", "rounds": rounds, **timing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--rounds", type=int, default=3,
                        help="full passes over all figures, minutes apart; medians are reported")
    parser.add_argument("--repeats", type=int, default=15, help="timing samples per figure")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls before sampling")
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per sample")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda:N")
    parser.add_argument("--path", choices=ops.PATHS, default="auto",
                        help="which implementation our layers run (their `path` argument)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ops.json"))
    args = parser.parse_args()

    device = resolve_device(args.device)
    timing = {"repeats": args.repeats, "warmup": args.warmup, "min_time": args.min_time}
    runs = {}
    for deterministic in (True, False) if device.type == "cuda" else (True,):
        mode = use_determinism(deterministic, device)
        # A load burst from another process on a shared machine spoils one round, not all.
        # True float32 on both sides, as in the verify stage: TF32 would time other arithmetic.
        with exact_float32():
            rounds = [one_round(args.batch_sizes, device, args.path, **timing)
                      for _ in range(args.rounds)]
        runs[mode] = {"batch_size": combine(rounds)}
        print(f"\n{mode}")
        print_table(runs[mode]["batch_size"])
    write_json(args.out, {"setup": setup(device, args.path, args.rounds, timing), "runs": runs})


if __name__ == "__main__":
    main()
