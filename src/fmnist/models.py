"""The assignment network, built from our ops or from torch.nn, with identical shapes.

Shape arithmetic (no padding; conv stride 1; pooling kernel 3, stride 2):
    input            [B,  1, 28, 28]
    Conv2d(1, 32, 3)  -> 28 - 3 + 1           = 26   [B, 32, 26, 26]
    MaxPool2d(3, 2)   -> floor((26 - 3)/2) + 1 = 12   [B, 32, 12, 12]
    Conv2d(32, 64, 3) -> 12 - 3 + 1           = 10   [B, 64, 10, 10]
    MaxPool2d(3, 2)   -> floor((10 - 3)/2) + 1 = 4    [B, 64,  4,  4]
    Conv2d(64, 10, 4) -> 4 - 4 + 1            = 1    [B, 10,  1,  1]
    Flatten           ->                             [B, 10]
Pooling with the default stride 3 would give 8 then 2, too small for the required [B, 64, 4, 4].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

IMPLEMENTATIONS = ("custom", "torch")


@dataclass(frozen=True)
class NetConfig:
    """Hyperparameters of the assignment network."""

    channels: tuple[int, int] = (32, 64)
    conv_kernel: int = 3
    pool_kernel: int = 3
    pool_stride: int = 2
    head_kernel: int = 4
    num_classes: int = 10


def _layers(impl: str) -> tuple[type[nn.Module], type[nn.Module], type[nn.Module]]:
    if impl == "custom":
        from fmnist import ops

        return ops.Conv2d, ops.MaxPool2d, ops.ReLU
    if impl == "torch":
        return nn.Conv2d, nn.MaxPool2d, nn.ReLU
    raise ValueError(f"impl must be one of {IMPLEMENTATIONS}, got {impl!r}")


def build_network(impl: str, config: NetConfig = NetConfig()) -> nn.Sequential:
    """The assignment network from `impl` layers ('custom' or 'torch'): [B,1,28,28] -> [B,10]."""
    conv, pool, relu = _layers(impl)
    c1, c2 = config.channels
    return nn.Sequential(
        conv(1, c1, config.conv_kernel),
        pool(config.pool_kernel, config.pool_stride),
        relu(),
        conv(c1, c2, config.conv_kernel),
        pool(config.pool_kernel, config.pool_stride),
        relu(),
        conv(c2, config.num_classes, config.head_kernel),
        nn.Flatten(),
    )


def copy_weights(source: nn.Module, target: nn.Module) -> None:
    """Copy every parameter of `source` into `target` (same architecture, any implementation)."""
    src, dst = list(source.parameters()), list(target.parameters())
    if [p.shape for p in src] != [p.shape for p in dst]:
        raise ValueError("copy_weights: the two networks' parameter shapes differ")
    with torch.no_grad():
        for s, d in zip(src, dst, strict=True):
            d.copy_(s)


def initial_network(impl: str, seed: int, same_init: bool = True) -> nn.Sequential:
    """The `impl` network as seeded; with `same_init`, the custom one gets the torch one's weights.

    Both are built from the same seed, so `same_init` isolates the implementation: the two
    networks then differ only in how their layers compute, not where they start.
    """
    torch.manual_seed(seed)
    reference = build_network("torch")
    if impl == "torch":
        return reference
    torch.manual_seed(seed if same_init else seed + 1)  # without same_init, a start of its own
    network = build_network(impl)
    if same_init:
        copy_weights(reference, network)
    return network


def load_network(path: str | Path) -> nn.Sequential:
    """Rebuild an assignment network saved by the train stage (`{"impl", "state_dict"}`)."""
    saved = torch.load(path, weights_only=True)
    network = build_network(saved["impl"])
    network.load_state_dict(saved["state_dict"])
    return network
