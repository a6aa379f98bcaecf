"""Device, precision and seeds: the run-time choices every training shares."""

import os
import random
import re

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda", "cuda:N")
PRECISIONS = ("auto", "bf16", "fp32")


def resolve_device(name: str = "auto") -> torch.device:
    """Map 'auto', 'cpu', 'cuda' or 'cuda:N' to a torch.device; ValueError if it is not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device(name)
    if re.fullmatch(r"cuda(:\d+)?", name):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available here")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} requested but there are only "
                             f"{torch.cuda.device_count()} CUDA devices")
        return torch.device(name)
    raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")


def choose_bf16(precision: str, device: torch.device) -> tuple[bool, str]:
    """Whether to train in bfloat16 autocast, and why: 'auto' picks it where the hardware has it."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision == "bf16", f"{precision}, as requested"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return True, "bf16: auto, and this GPU has bfloat16 kernels"
        return False, "fp32: auto, and this GPU lacks bfloat16 kernels"
    capabilities = torch.cpu.get_capabilities()  # native bfloat16: AMX or AVX-512 BF16
    if torch.backends.mkldnn.is_available() and (capabilities.get("amx_bf16", False)
                                                 or capabilities.get("avx512_bf16", False)):
        return True, "bf16: auto, and this CPU has bfloat16 instructions (AMX or AVX-512 BF16)"
    return False, "fp32: auto, and this CPU has no bfloat16 instructions (float32 fallback)"


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class exact_float32:  # lowercase: a context manager used like torch.no_grad
    """`with exact_float32():` full float32 (no TF32) in CUDA matmuls and cuDNN convolutions,
    then the previous settings (torch's fp32_precision flags: the legacy allow_tf32 would raise)."""

    _SETTINGS = (torch.backends.cuda.matmul, torch.backends.cudnn.conv)

    def __enter__(self) -> None:
        self._previous = [setting.fp32_precision for setting in self._SETTINGS]
        for setting in self._SETTINGS:
            setting.fp32_precision = "ieee"

    def __exit__(self, *exc_info: object) -> None:
        for setting, previous in zip(self._SETTINGS, self._previous, strict=True):
            setting.fp32_precision = previous


def use_determinism(deterministic: bool, device: torch.device) -> str:
    """On CUDA, deterministic kernels where torch has them (or the fastest); returns which."""
    if device.type != "cuda":  # CPU runs are deterministic already
        return "cpu: deterministic"
    if deterministic:
        # cuBLAS reads this when it starts: reproducible GEMMs need a fixed workspace
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    return "cuda: deterministic" if deterministic else "cuda: fastest kernels (not reproducible)"
