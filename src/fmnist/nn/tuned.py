"""The tuned network of the bonus: a small residual network, built from torch.nn (the bonus
allows PyTorch's functions), trained in bfloat16 where the hardware has it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from fmnist.errors import DataError
from fmnist.nn.assignment import cpu_state, first_line


@dataclass(frozen=True)
class TunedConfig:
    """Architecture hyperparameters of the tuned network."""

    width: int = 16             # c: the four convolution stages have c, 2c, 4c, 8c channels
    dropout: float = 0.0        # before the classifier
    tta: str = "flip"           # test-time views averaged in eval mode: one of TTA

    def __post_init__(self) -> None:
        if self.width < 1 or not 0.0 <= self.dropout < 1.0 or self.tta not in ("none", *TTA):
            raise ValueError(f"TunedConfig: need width >= 1, 0 <= dropout < 1 and tta in "
                             f"{('none', *TTA)}, got width={self.width}, dropout={self.dropout}, "
                             f"tta={self.tta!r}")


# (dy, dx) shifts of each test-time view set, each view also mirrored left-right ("none": x alone)
TTA = {"flip": [(0, 0)], "shift": [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]}


def _shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x moved by (dy, dx) pixels, zero (background) coming in at the edges."""
    if dy == dx == 0:
        return x
    h, w = x.shape[-2:]
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))  # (N, C, H+2, W+2)
    return padded[..., 1 - dy:1 - dy + h, 1 - dx:1 - dx + w]


def _conv_bn(cin: int, cout: int) -> nn.Sequential:
    """3x3 convolution (same size), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class _Residual(nn.Module):
    """x + two conv-BN-ReLU layers of x: the block learns a correction to what it is given."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x + body(x), same shape."""
        return x + self.body(x)


class TunedNet(nn.Module):
    """A ResNet-9 (after D. Page's fast CIFAR-10 network) sized for 28x28 grey images.

        prep     conv-BN-ReLU 1 -> c                 [N,  c, 28, 28]
        layer 1  conv-BN-ReLU c -> 2c, max-pool 2,   [N, 2c, 14, 14]
                 + residual block
        layer 2  conv-BN-ReLU 2c -> 4c, max-pool 2   [N, 4c,  7,  7]
        layer 3  conv-BN-ReLU 4c -> 8c, max-pool 2,  [N, 8c,  3,  3]
                 + residual block
        head     global max-pool, dropout, linear    [N, 10]
    """

    def __init__(self, config: TunedConfig, bf16: bool = False) -> None:
        super().__init__()
        self.config, self.bf16 = config, bf16
        c = config.width
        self.features = nn.Sequential(
            _conv_bn(1, c),
            _conv_bn(c, 2 * c), nn.MaxPool2d(2), _Residual(2 * c),
            _conv_bn(2 * c, 4 * c), nn.MaxPool2d(2),
            _conv_bn(4 * c, 8 * c), nn.MaxPool2d(2), _Residual(8 * c),
        )
        self.classifier = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                                        nn.Dropout(config.dropout), nn.Linear(8 * c, 10))
        # oneDNN's bf16 convolutions want NHWC; channels_last keeps them from converting each call
        self.to(memory_format=torch.channels_last)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.classifier(self.features(x)).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, 10]; in eval mode, the mean over the test-time views of `config.tta`."""
        if self.training or self.config.tta == "none":
            return self._logits(x)
        views = [_shifted(v, dy, dx) for v in (x, x.flip(-1)) for dy, dx in TTA[self.config.tta]]
        return sum(self._logits(v) for v in views) / len(views)

    def with_tta(self, tta: str) -> TunedNet:
        """This network, evaluated with the test-time views `tta` from now on."""
        self.config = TunedConfig(**{**asdict(self.config), "tta": tta})
        return self


def tuned_state(model: TunedNet) -> dict[str, Any]:
    """What the tune stage saves: the config (to rebuild), the precision and the weights."""
    return {"config": asdict(model.config), "bf16": model.bf16, "state_dict": cpu_state(model)}


def restore_tuned(saved: Any, name: str) -> TunedNet:
    """The TunedNet that `tuned_state` described; DataError naming `name` if it does not fit."""
    try:
        model = TunedNet(TunedConfig(**saved["config"]), bool(saved["bf16"]))
        model.load_state_dict(saved["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise DataError(f"{name}: not a tuned network saved by the tune stage "
                        f"({first_line(err)})") from err
    return model
