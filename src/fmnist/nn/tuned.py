"""The tunable network of the bonus: VGG-like conv blocks, optional batch norm and dropout.

Built from torch.nn (the bonus allows PyTorch's functions). Each block is `convs` times
[Conv2d(k, padding k//2) -> BatchNorm2d? -> ReLU], then MaxPool2d(2): 28 -> 14 -> 7 -> 3.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from fmnist.errors import DataError


@dataclass(frozen=True)
class TunedConfig:
    """Architecture hyperparameters of the tuned network."""

    blocks: int = 3
    channels: int = 32          # first block's; each further block doubles it
    convs: int = 2              # convolutions per block
    kernel_size: int = 3
    batch_norm: bool = True
    dropout: float = 0.2        # before the classifier
    tta: bool = True            # in eval mode, average the logits of x and its mirror image

    def __post_init__(self) -> None:
        if not 1 <= self.blocks <= 3:
            raise ValueError(f"TunedConfig: blocks must be 1..3 for 28x28 input, got {self.blocks}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"TunedConfig: kernel_size must be odd, got {self.kernel_size}")


class TunedNet(nn.Module):
    """Conv blocks and a linear classifier: [N, 1, 28, 28] -> logits [N, 10]."""

    def __init__(self, config: TunedConfig, bf16: bool = False) -> None:
        super().__init__()
        self.config, self.bf16 = config, bf16
        layers: list[nn.Module] = []
        width, size = 1, 28
        for block in range(config.blocks):
            out = config.channels * 2**block
            for _ in range(config.convs):
                layers += [nn.Conv2d(width, out, config.kernel_size,
                                     padding=config.kernel_size // 2, bias=not config.batch_norm)]
                layers += [nn.BatchNorm2d(out)] if config.batch_norm else []
                layers.append(nn.ReLU(inplace=True))
                width = out
            layers.append(nn.MaxPool2d(2))
            size //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(config.dropout), nn.Linear(width * size * size, 10))
        # oneDNN's bf16 convolutions want NHWC; channels_last keeps them from converting each call
        self.to(memory_format=torch.channels_last)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.classifier(self.features(x)).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, 10]; in eval mode with `tta`, the mean over x and x mirrored left-right."""
        if self.training or not self.config.tta:
            return self._logits(x)
        return (self._logits(x) + self._logits(x.flip(-1))) / 2


def tuned_state(model: TunedNet) -> dict[str, Any]:
    """What the tune stage saves: the config (to rebuild), the precision and the weights."""
    return {"config": asdict(model.config), "bf16": model.bf16,
            "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}}


def restore_tuned(saved: Any, name: str) -> TunedNet:
    """The TunedNet that `tuned_state` described; DataError naming `name` if it does not fit."""
    try:
        model = TunedNet(TunedConfig(**saved["config"]), bool(saved["bf16"]))
        model.load_state_dict(saved["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{name}: not a tuned network saved by the tune stage ({first})") from err
    return model
