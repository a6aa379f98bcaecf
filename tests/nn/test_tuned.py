"""The tuned network: shapes for every configuration, test-time mirroring, saved state."""

import pytest
import torch

from fmnist.errors import DataError
from fmnist.nn.tuned import TunedConfig, TunedNet, restore_tuned, tuned_state


@pytest.mark.parametrize("width", [4, 20])
def test_the_documented_shapes(width):
    net = TunedNet(TunedConfig(width=width))
    x = torch.rand(3, 1, 28, 28)
    shapes = []
    for layer in net.features:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    c = width
    assert shapes == [(c, 28, 28), (2 * c, 28, 28), (2 * c, 14, 14), (2 * c, 14, 14),
                      (4 * c, 14, 14), (4 * c, 7, 7), (8 * c, 7, 7), (8 * c, 3, 3), (8 * c, 3, 3)]
    assert net.classifier(x).shape == (3, 10)


def test_residual_blocks_add_their_input():
    net = TunedNet(TunedConfig(width=4))
    block = net.features[3]
    with torch.no_grad():
        for p in block.body.parameters():
            p.zero_()  # the body then outputs ReLU(BN(0)) = 0: the block is the identity
    x = torch.rand(2, 8, 14, 14)
    assert torch.equal(block(x), x)


def test_tta_averages_mirror_images():
    net = TunedNet(TunedConfig(width=4)).eval()
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(net(x), net(x.flip(-1)), atol=1e-6)  # symmetric by construction
    plain = TunedNet(TunedConfig(width=4, tta="none")).eval()
    assert not torch.allclose(plain(x), plain(x.flip(-1)))


def moved(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x moved down dy and right dx pixels, zeros coming in: written out by hand."""
    out, (h, w) = torch.zeros_like(x), x.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_shift_tta_averages_ten_views_and_only_in_eval_mode():
    torch.manual_seed(0)
    net = TunedNet(TunedConfig(width=4)).eval()
    x = torch.rand(3, 1, 28, 28)
    flip = net(x)
    assert net.with_tta("shift").config.tta == "shift"
    views = [moved(v, dy, dx) for v in (x, x.flip(-1))
             for dy, dx in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))]
    assert torch.allclose(net(x), sum(net._logits(v) for v in views) / 10, atol=1e-5)
    assert not torch.allclose(net(x), flip)
    assert torch.equal(net.train()(x), net._logits(x))


@pytest.mark.parametrize("config", [{"width": 0}, {"dropout": 1.0}, {"dropout": -0.1},
                                    {"tta": True}, {"tta": "rotate"}])
def test_bad_configs(config):
    with pytest.raises(ValueError, match="TunedConfig"):
        TunedConfig(**config)


def test_state_round_trip():
    net = TunedNet(TunedConfig(width=4)).eval()
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(restore_tuned(tuned_state(net), "t.pt").eval()(x), net(x))


@pytest.mark.parametrize("saved", [{}, {"config": {"width": 0}, "bf16": False, "state_dict": {}},
                                   {"config": {}, "bf16": False, "state_dict": {"x": 1}}, [1]])
def test_restore_rejects_foreign_content(saved):
    with pytest.raises(DataError, match="^t.pt: not a tuned network"):
        restore_tuned(saved, "t.pt")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bf16_path_on_cuda():
    net = TunedNet(TunedConfig(width=4), bf16=True).cuda()
    x = torch.rand(16, 1, 28, 28, device="cuda")
    logits = net(x)
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
