"""Device choice and seeding, shared by every stage that runs a model."""

from __future__ import annotations

import random

import numpy as np
import torch

from fmnist.errors import ParamError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """Map the `device` parameter ('auto', 'cpu', 'cuda', 'cuda:N') to a torch.device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu" or name.startswith("cuda"):
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ParamError(f"params.yaml: device '{name}' requested but CUDA is not available")
        return torch.device(name)
    raise ParamError(f"params.yaml: device must be one of {DEVICES} (or 'cuda:N'), got {name!r}")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
