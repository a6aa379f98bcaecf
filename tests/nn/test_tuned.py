"""The tuned network: shapes for every configuration, test-time mirroring, saved state."""

import pytest
import torch

from fmnist.errors import DataError
from fmnist.nn.tuned import TunedConfig, TunedNet, restore_tuned, tuned_state


@pytest.mark.parametrize("blocks", [1, 2, 3])
@pytest.mark.parametrize("kernel_size", [3, 5])
def test_tuned_shapes(blocks, kernel_size):
    net = TunedNet(TunedConfig(blocks=blocks, channels=8, kernel_size=kernel_size))
    assert net(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_tta_averages_mirror_images():
    net = TunedNet(TunedConfig(channels=8, batch_norm=False, dropout=0.0)).eval()
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(net(x), net(x.flip(-1)), atol=1e-6)  # symmetric by construction
    plain = TunedNet(TunedConfig(channels=8, tta=False)).eval()
    assert not torch.allclose(plain(x), plain(x.flip(-1)))


def test_bad_configs():
    with pytest.raises(ValueError, match="blocks"):
        TunedConfig(blocks=4)
    with pytest.raises(ValueError, match="kernel_size"):
        TunedConfig(kernel_size=4)


def test_state_round_trip():
    net = TunedNet(TunedConfig(channels=8)).eval()
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(restore_tuned(tuned_state(net), "t.pt").eval()(x), net(x))


@pytest.mark.parametrize("saved", [{}, {"config": {"blocks": 9}, "bf16": False, "state_dict": {}},
                                   {"config": {}, "bf16": False, "state_dict": {"x": 1}}, [1]])
def test_restore_rejects_foreign_content(saved):
    with pytest.raises(DataError, match="^t.pt: not a tuned network"):
        restore_tuned(saved, "t.pt")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bf16_path_on_cuda():
    net = TunedNet(TunedConfig(channels=8), bf16=True).cuda()
    x = torch.rand(16, 1, 28, 28, device="cuda")
    logits = net(x)
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
