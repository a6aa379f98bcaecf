"""Our ops checked against PyTorch's on real batches: every layer and the whole network, forward
and backward, with both implementations' gradients measured against a float64 computation."""

import copy
import math
from typing import Any

import torch
from torch import nn

from fmnist.data.dataset import Dataset
from fmnist.errors import VerificationError
from fmnist.nn import ops
from fmnist.nn.assignment import build_network, copy_weights
from fmnist.runtime import exact_float32

FORWARD_TOLERANCE = 1e-5  # the assignment's bar on max |custom - torch| of a forward pass
# Our gradient's error against float64 (relative to its largest entry) may be GRAD_FACTOR x
# torch's own on the same case (another summation order), or the floor: 100x below a 1% slip per
# layer; 1e-2 for the network, where float32 can move a pooling maximum (torch's own: 3e-3 off).
GRAD_FACTOR = 10
GRAD_FLOOR = {"layer": 1e-4, "network": 1e-2}
GRAD_RULE = (f"relative error against float64 at most max({GRAD_FACTOR} x torch's own, floor); "
             f"floor {GRAD_FLOOR['layer']:g} per layer, {GRAD_FLOOR['network']:g} for the network")


def conv_backend(device: torch.device | str) -> str:
    """The library behind torch.nn.Conv2d on `device` in this build, for the report's prose."""
    cuda = torch.device(device).type == "cuda"
    library = torch.backends.cudnn if cuda else torch.backends.mkldnn
    if library.is_available() and library.enabled:
        return f"{'cuDNN' if cuda else 'oneDNN'}'s convolution kernels"
    return f"ATen's native {'CUDA' if cuda else 'CPU'} convolution"


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| as a Python float (0.0 for empty tensors)."""
    return float((a.detach() - b.detach()).abs().max()) if a.numel() else 0.0  # f32 - f64 -> f64


def relative_error(value: torch.Tensor, exact: torch.Tensor) -> float:
    """max |value - exact| / max |exact|: the error in units of the tensor's scale."""
    scale = float(exact.abs().max()) if exact.numel() else 0.0
    return max_abs_diff(value, exact) / (scale or 1.0)


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


def _errors(ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor],
            exact: dict[str, torch.Tensor]) -> dict[str, Any]:
    """max |custom - torch| of the forward; each gradient's relative error on both sides."""
    return {"forward": max_abs_diff(ours["forward"], theirs["forward"]),
            **{key: {"custom": relative_error(ours[key], exact[key]),
                     "torch": relative_error(theirs[key], exact[key])}
               for key in exact if key.startswith("grad")}}


def compare_layer(reference: nn.Module, custom: nn.Module, x: torch.Tensor,
                  generator: torch.Generator) -> dict[str, Any]:
    """One layer three ways (ours, torch's, torch's in float64) on input `x`."""
    with torch.no_grad():
        probe = torch.randn(reference(x).shape, generator=generator).to(x.device)  # exact in f64
    exact = _outputs_and_grads(copy.deepcopy(reference).double(), x.double(), probe)
    return _errors(_outputs_and_grads(custom, x, probe), _outputs_and_grads(reference, x, probe),
                   exact)


def _layer_names(network: nn.Sequential) -> list[str]:
    """conv1, pool1, relu1, conv2, ... for the network's Conv2d/MaxPool2d/ReLU layers, else ''."""
    kinds = [{"Conv2d": "conv", "MaxPool2d": "pool", "ReLU": "relu"}.get(type(layer).__name__, "")
             for layer in network]
    return [f"{kind}{kinds[:i + 1].count(kind)}" if kind else "" for i, kind in enumerate(kinds)]


def twins(seed: int, device: torch.device) -> tuple[nn.Sequential, nn.Sequential]:
    """The torch and the custom assignment network, same weights, on `device`."""
    torch.manual_seed(seed)
    reference = build_network("torch")
    custom = build_network("custom")
    copy_weights(reference, custom)
    return reference.to(device), custom.to(device)


def layer_cases(x: torch.Tensor, seed: int) -> list[tuple[str, nn.Module, nn.Module, torch.Tensor]]:
    """(name, torch layer, our layer, its real input) for every layer of the assignment network."""
    reference, custom = twins(seed, x.device)
    cases, h = [], x
    with torch.no_grad():
        for name, theirs, ours in zip(_layer_names(reference), reference, custom, strict=True):
            if name:
                cases.append((name, theirs, ours, h))
            if name == "conv1":  # pool1_after_relu: an input full of tied zeros, for the tie rule
                pool = reference[1]
                cases.append(("pool1_after_relu", pool,
                              ops.MaxPool2d(pool.kernel_size, pool.stride), theirs(h).clamp_min(0)))
            h = theirs(h)
    return cases


def _network_run(network: nn.Sequential, x: torch.Tensor, y: torch.Tensor
                 ) -> dict[str, torch.Tensor]:
    """Logits, and the cross-entropy loss's gradient w.r.t. every parameter, by layer name."""
    logits = network(x)
    layers = zip(_layer_names(network), network, strict=True)
    names = [f"grad_{layer}_{p}" for layer, module in layers for p, _ in module.named_parameters()]
    grads = torch.autograd.grad(nn.functional.cross_entropy(logits, y), list(network.parameters()))
    return {"forward": logits, **dict(zip(names, grads, strict=True))}


def compare_network(x: torch.Tensor, y: torch.Tensor, seed: int) -> dict[str, Any]:
    """Both assignment networks and torch's in float64: logits and the loss's gradients."""
    reference, custom = twins(seed, x.device)
    exact = _network_run(copy.deepcopy(reference).double(), x.double(), y)
    return _errors(_network_run(custom, x, y), _network_run(reference, x, y), exact)


def _merge_max(total: dict[str, Any], values: dict[str, Any]) -> None:
    """Keep the largest value per (nested) key of `values` across batches in `total`; NaN wins."""
    for key, value in values.items():
        if isinstance(value, dict):
            _merge_max(total.setdefault(key, {}), value)
        elif key not in total or math.isnan(value) or value > total[key]:
            total[key] = value


def failures(name: str, entry: dict[str, Any]) -> list[str]:
    """One line per check that `entry` (a layer's errors, merged over batches) fails."""
    kind = f"{name} ({entry['config'].split('(')[0]})" if "config" in entry else name
    found = [] if entry["forward"] < FORWARD_TOLERANCE else [  # NaN fails too
        f"{kind} forward differs from torch by {entry['forward']:.1e} "
        f"(bound {FORWARD_TOLERANCE:g})"]
    for key, err in ((k, e) for k, e in entry.items() if k.startswith("grad")):
        bound = max(GRAD_FACTOR * err["torch"], GRAD_FLOOR.get(name, GRAD_FLOOR["layer"]))
        if not err["custom"] <= bound:
            found.append(f"{kind} {key} off by {err['custom']:.1e} relative (bound {bound:.1e}; "
                         f"torch's is {err['torch']:.1e})")
    return found


def verify_against_torch(dataset: Dataset, batches: int, seed: int,
                         device: torch.device | str = "cpu") -> dict[str, Any]:
    """Compare our layers and network with PyTorch's on the first `batches` batches of `dataset`."""
    count = min(batches, len(dataset))
    if count < 1:
        raise VerificationError(f"verify_ops: need at least one batch, got {len(dataset)} "
                                f"batches in the dataset and batches={batches}")
    generator = torch.Generator().manual_seed(seed)
    layers: dict[str, dict[str, Any]] = {}
    with exact_float32():  # TF32 on a GPU would make torch's side the inexact one, off by ~1e-3
        for index in range(count):
            x, y = (t.to(device) for t in dataset[index])
            for name, reference, custom, h in layer_cases(x, seed):
                _merge_max(layers.setdefault(name, {}), compare_layer(reference, custom, h,
                                                                     generator))
                layers[name].update(config=repr(custom), input_shape=["N", *h.shape[1:]])
            _merge_max(layers.setdefault("network", {}), compare_network(x, y, seed))
    failed = [line for name, entry in layers.items() for line in failures(name, entry)]
    worst = max(entry["forward"] for entry in layers.values())
    return {"device": str(device), "torch_backend": conv_backend(device),
            "tolerance": FORWARD_TOLERANCE, "grad_rule": GRAD_RULE, "batches": count,
            "batch_size": dataset.batch_size, "max_forward_diff": signif(worst),
            "passed": not failed, "failures": failed,
            "layers": [{"layer": name, **_rounded(entry)} for name, entry in layers.items()]}


def _rounded(entry: dict[str, Any]) -> dict[str, Any]:
    """`entry` with every float to three significant digits, for the committed results."""
    return {k: signif(v) if isinstance(v, float) else _rounded(v) if isinstance(v, dict) else v
            for k, v in entry.items()}


def check(details: dict[str, Any]) -> None:
    """Raise VerificationError with the worst failed check of `details` on one line."""
    if details["failures"]:
        more = len(details["failures"]) - 1
        raise VerificationError(f"verify_ops: {details['failures'][0]}"
                                + (f" (and {more} more in the results)" if more else ""))


def headline(details: dict[str, Any]) -> dict[str, float]:
    """The worst forward difference in units of 1e-7, which DVC's 5 decimals show (not 0.0)."""
    return {"max_forward_diff_x1e7": round(details["max_forward_diff"] * 1e7, 3)}
