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

from functools import partial
from typing import Any

import torch
from torch import nn

from fmnist.errors import DataError
from fmnist.nn import ops

IMPLEMENTATIONS = ("custom", "torch")


def build_network(impl: str, path: str = "auto") -> nn.Sequential:
    """Assignment network of `impl` layers, [B,1,28,28] -> [B,10]; ours run `path` (ops.PATHS)."""
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"impl must be one of {IMPLEMENTATIONS}, got {impl!r}")
    custom = impl == "custom"
    layers = (ops.Conv2d, ops.MaxPool2d, ops.ReLU) if custom else (nn.Conv2d, nn.MaxPool2d, nn.ReLU)
    conv, pool, relu = (partial(layer, path=path) if custom else layer for layer in layers)
    network = nn.Sequential(
        conv(1, 32, 3), pool(3, 2), relu(),
        conv(32, 64, 3), pool(3, 2), relu(),
        conv(64, 10, 4),
        nn.Flatten(),
    )
    if custom:
        _store_channels_last(network)
    return network


def _store_channels_last(network: nn.Sequential) -> None:
    """Lay out every Conv2d weight channels_last, (O, kh, kw, C) in memory: our layers compute
    in that order and return channels_last, so no layer transposes what the previous one gave."""
    for layer in network:
        if isinstance(layer, ops.Conv2d):
            weight = layer.weight.detach().permute(0, 2, 3, 1)  # (O, kh, kw, C)
            # clone, not .contiguous(): a one-channel weight counts as contiguous either way
            dense = weight.clone(memory_format=torch.contiguous_format)
            layer.weight = nn.Parameter(dense.permute(0, 3, 1, 2))  # (O, C, kh, kw)


def copy_weights(source: nn.Module, target: nn.Module) -> None:
    """Copy every parameter of `source` into `target` (same architecture, any implementation)."""
    src, dst = list(source.parameters()), list(target.parameters())
    if [p.shape for p in src] != [p.shape for p in dst]:
        raise ValueError("copy_weights: the two networks' parameter shapes differ")
    with torch.no_grad():
        for s, d in zip(src, dst, strict=True):
            d.copy_(s)


def initial_network(impl: str, seed: int, same_init: bool = True) -> nn.Sequential:
    """The `impl` network as seeded; with `same_init`, the custom one gets the torch one's weights,
    so that the two differ only in how their layers compute, not where they start."""
    torch.manual_seed(seed)
    reference = build_network("torch")
    if impl == "torch":
        return reference
    torch.manual_seed(seed if same_init else seed + 1)  # without same_init, a start of its own
    network = build_network(impl)
    if same_init:
        copy_weights(reference, network)
    return network


def network_state(network: nn.Sequential, impl: str) -> dict[str, Any]:
    """What the train stage saves: the implementation and the weights, on the CPU."""
    return {"impl": impl, "state_dict": cpu_state(network)}


def cpu_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """The weights as contiguous CPU copies: saved bytes ignore layouts chosen for speed."""
    return {k: v.detach().cpu().clone(memory_format=torch.contiguous_format)
            for k, v in network.state_dict().items()}


def restore_network(saved: Any, name: str) -> nn.Sequential:
    """The network that `network_state` described; DataError naming `name` if it does not fit."""
    if not isinstance(saved, dict) or saved.get("impl") not in IMPLEMENTATIONS:
        raise DataError(f"{name}: not an assignment network (expected {{'impl': one of "
                        f"{IMPLEMENTATIONS}, 'state_dict': ...}})")
    network = build_network(saved["impl"])
    try:
        network.load_state_dict(saved["state_dict"])
    except (KeyError, RuntimeError, TypeError) as err:
        raise DataError(f"{name}: weights do not fit the assignment network "
                        f"({first_line(err)})") from err
    return network


def first_line(err: Exception) -> str:
    """The first line of `err`'s message, or its type's name if the message is empty."""
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
