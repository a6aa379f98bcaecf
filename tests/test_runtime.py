"""Device, precision and seeds."""

import random

import numpy as np
import pytest
import torch

from fmnist.runtime import (
    choose_bf16,
        resolve_device,
    seed_everything,
    use_determinism,
)


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
    # auto follows the CPU's own report of native bfloat16 instructions, whichever way it goes
    caps = torch.cpu.get_capabilities()
    native = bool(caps.get("amx_bf16") or caps.get("avx512_bf16"))
    use, why = choose_bf16("auto", torch.device("cpu"))
    assert use is native
    assert why == ("bf16: auto, and this CPU has bfloat16 instructions (AMX or AVX-512 BF16)"
                   if native else
                   "fp32: auto, and this CPU has no bfloat16 instructions (float32 fallback)")
    with pytest.raises(ValueError, match="precision must be one of auto, bf16, fp32"):
        choose_bf16("fp16", torch.device("cpu"))


def test_seed_everything_seeds_every_generator():
    def draw(generator: torch.Generator) -> tuple:
        return random.random(), np.random.rand(), torch.rand(1).item(), \
            torch.rand(1, generator=generator).item()

    assert draw(seed_everything(5)) == draw(seed_everything(5)) != draw(seed_everything(6))


def test_determinism_on_the_cpu_changes_nothing():
    before = torch.are_deterministic_algorithms_enabled()
    assert use_determinism(True, torch.device("cpu")) == "cpu: deterministic"
    assert torch.are_deterministic_algorithms_enabled() == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_determinism_on_cuda_gives_equal_training_runs():
    from fmnist.nn.assignment import initial_network

    assert use_determinism(True, torch.device("cuda")) == "cuda: deterministic"
    x = torch.rand(256, 1, 28, 28, device="cuda")
    y = torch.randint(0, 10, (256,), device="cuda")
    grads = []
    for _ in range(2):
        for impl in ("custom", "torch"):
            net = initial_network(impl, 0).cuda()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            grads.append([p.grad.clone() for p in net.parameters()])
    for first, second in ((grads[0], grads[2]), (grads[1], grads[3])):
        assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    use_determinism(False, torch.device("cuda"))
