"""Our ops checked against PyTorch's on real batches: every layer and the whole network."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from fmnist.data.dataset import Dataset
from fmnist.errors import VerificationError
from fmnist.nn import ops
from fmnist.nn.assignment import build_network, copy_weights
from fmnist.runtime import exact_float32

FORWARD_TOLERANCE = 1e-5  # the assignment's bar on max |custom - torch| of a forward pass

def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| as a Python float (0.0 for empty tensors)."""
    return float((a.detach() - b.detach()).abs().max()) if a.numel() else 0.0  # f32 - f64 -> f64


def signif(value: float) -> float:
    """Three significant digits: metrics that differ only in rounding noise stay unchanged."""
    return float(f"{value:.3g}")


def _outputs_and_grads(layer: nn.Module, x: torch.Tensor, grad_out: torch.Tensor
                       ) -> dict[str, torch.Tensor]:
    """The layer's output and the gradients of <output, grad_out> w.r.t. input and parameters."""
    x = x.detach().clone().requires_grad_(True)
    named = list(layer.named_parameters())
    out = layer(x)
    grads = torch.autograd.grad(out, [x, *(p for _, p in named)], grad_out.to(out.dtype))
    return {"forward": out, "grad_input": grads[0],
            **{f"grad_{name}": g for (name, _), g in zip(named, grads[1:], strict=True)}}


def compare_layer(reference: nn.Module, custom: nn.Module, x: torch.Tensor,
                  generator: torch.Generator) -> dict[str, float]:
    """max |custom - torch| of the output and every gradient, plus each one's float64 error."""
    with torch.no_grad():
        shape = reference(x).shape
    probe = torch.randn(shape, generator=generator).to(x.device)  # exact in float64 too
    ours = _outputs_and_grads(custom, x, probe)
    theirs = _outputs_and_grads(reference, x, probe)
    exact = _outputs_and_grads(copy.deepcopy(reference).double(), x.double(), probe)
    diffs = {key: max_abs_diff(ours[key], theirs[key]) for key in theirs}
    diffs["float64_error_custom"] = max(max_abs_diff(ours[k], exact[k]) for k in exact)
    diffs["float64_error_torch"] = max(max_abs_diff(theirs[k], exact[k]) for k in exact)
    return diffs


def _layer_names(network: nn.Sequential) -> list[str]:
    """conv1, pool1, relu1, conv2, ... for the network's Conv2d/MaxPool2d/ReLU layers."""
    counts: dict[str, int] = {}
    names = []
    for layer in network:
        kind = {"Conv2d": "conv", "MaxPool2d": "pool", "ReLU": "relu"}.get(type(layer).__name__)
        if kind is None:
            names.append("")
            continue
        counts[kind] = counts.get(kind, 0) + 1
        names.append(f"{kind}{counts[kind]}")
    return names


def twins(seed: int, device: torch.device) -> tuple[nn.Sequential, nn.Sequential]:
    """The torch and the custom assignment network, same weights, on `device`."""
    torch.manual_seed(seed)
    reference = build_network("torch")
    custom = build_network("custom")
    copy_weights(reference, custom)
    return reference.to(device), custom.to(device)


def layer_cases(x: torch.Tensor, seed: int) -> list[tuple[str, nn.Module, nn.Module, torch.Tensor]]:
    """(name, torch layer, our layer, its real input) for every layer of the assignment network.

    Adds `pool1_after_relu`: the first pooling applied after ReLU instead of before, whose input
    is full of tied zeros -- the case where the gradient's tie rule matters.
    """
    reference, custom = twins(seed, x.device)
    cases = []
    h = x
    with torch.no_grad():
        for name, theirs, ours in zip(_layer_names(reference), reference, custom, strict=True):
            if name:
                cases.append((name, theirs, ours, h))
            if name == "conv1":
                pool = reference[1]
                cases.append(("pool1_after_relu", pool,
                              ops.MaxPool2d(pool.kernel_size, pool.stride), theirs(h).clamp_min(0)))
            h = theirs(h)
    return cases


def compare_network(x: torch.Tensor, y: torch.Tensor, seed: int) -> dict[str, float]:
    """Both assignment networks from the same weights: logits, loss and parameter gradients."""
    reference, custom = twins(seed, x.device)
    results = {}
    for impl, network in (("torch", reference), ("custom", custom)):
        logits = network(x)
        loss = nn.functional.cross_entropy(logits, y)
        results[impl] = (logits, loss, torch.autograd.grad(loss, list(network.parameters())))
    (t_logits, t_loss, t_grads), (c_logits, c_loss, c_grads) = results["torch"], results["custom"]
    grads = max(max_abs_diff(c, t) for c, t in zip(c_grads, t_grads, strict=True))
    return {"forward": max_abs_diff(c_logits, t_logits), "loss": max_abs_diff(c_loss, t_loss),
            "grad_parameters": grads}


def _merge_max(total: dict[str, dict[str, Any]], name: str, values: dict[str, float]) -> None:
    """Keep the largest value per key of `values` across batches in `total[name]`."""
    entry = total.setdefault(name, {})
    for key, value in values.items():
        entry[key] = max(entry.get(key, 0.0), value)


def verify_against_torch(dataset: Dataset, batches: int, seed: int,
                         device: torch.device | str = "cpu") -> dict[str, Any]:
    """Compare our layers and network with PyTorch's on the first `batches` batches of `dataset`.

    Both sides compute in true float32 on `device` (no TF32 on a GPU: it would make torch's
    side the inexact one, off by ~1e-3).
    """
    count = min(batches, len(dataset))
    if count < 1:
        raise VerificationError(f"verify_ops: need at least one batch, got {len(dataset)} "
                                f"batches in the dataset and batches={batches}")
    generator = torch.Generator().manual_seed(seed)
    layers: dict[str, dict[str, Any]] = {}
    with exact_float32():
        for index in range(count):
            x, y = (t.to(device) for t in dataset[index])
            for name, reference, custom, h in layer_cases(x, seed):
                _merge_max(layers, name, compare_layer(reference, custom, h, generator))
                layers[name].update(config=repr(custom), input_shape=["N", *h.shape[1:]])
            _merge_max(layers, "network", compare_network(x, y, seed))
    for entry in layers.values():
        entry.update({k: signif(v) for k, v in entry.items() if isinstance(v, float)})
    worst = max(entry["forward"] for entry in layers.values())
    return {"device": str(device), "tolerance": FORWARD_TOLERANCE, "batches": count,
            "batch_size": dataset.batch_size,
            "max_forward_diff": worst, "passed": worst < FORWARD_TOLERANCE,
            "layers": [{"layer": name, **entry} for name, entry in layers.items()]}  # in order


def check_forward(metrics: dict[str, Any]) -> None:
    """Raise VerificationError naming every layer whose forward difference reaches the tolerance."""
    bad = [f"{entry['layer']} ({entry['forward']:.3g})" for entry in metrics["layers"]
           if entry["forward"] >= metrics["tolerance"]]
    if bad:
        raise VerificationError(f"custom ops differ from PyTorch by >= {metrics['tolerance']:g} in "
                                f"the forward pass: {', '.join(bad)}")


def headline(details: dict[str, Any]) -> dict[str, float]:
    """The number people compare between runs: the worst forward difference, in units of 1e-7.

    Scaled so that DVC's 5-decimal display shows it faithfully (6.0e-07 would print as 0.0).
    """
    return {"max_forward_diff_x1e7": round(details["max_forward_diff"] * 1e7, 3)}
