"""Device, precision and seeds."""

import random

import numpy as np
import pytest
import torch

from fmnist.runtime import choose_bf16, resolve_device, seed_everything


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device must be one of auto, cpu, cuda, cuda:N"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_without_cuda_says_so(name):
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device(name)


def test_choose_bf16_says_why():
    assert choose_bf16("fp32", torch.device("cpu")) == (False, "fp32, as requested")
    assert choose_bf16("bf16", torch.device("cpu"))[0] is True
    use, why = choose_bf16("auto", torch.device("cpu"))
    assert why.startswith("bf16: auto" if use else "fp32: auto") and "CPU" in why
    with pytest.raises(ValueError, match="precision must be one of auto, bf16, fp32"):
        choose_bf16("fp16", torch.device("cpu"))


def test_seed_everything_seeds_every_generator():
    def draw(generator: torch.Generator) -> tuple:
        return random.random(), np.random.rand(), torch.rand(1).item(), \
            torch.rand(1, generator=generator).item()

    assert draw(seed_everything(5)) == draw(seed_everything(5)) != draw(seed_everything(6))
