"""The tunable network of the bonus: VGG-like conv blocks, optional batch norm and dropout.

Built from torch.nn (the bonus allows PyTorch's functions). Each block is `convs` times
[Conv2d(k, padding k//2) -> BatchNorm2d? -> ReLU], then MaxPool2d(2): 28 -> 14 -> 7 -> 3.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from fmnist.errors import ParamError

PRECISIONS = ("auto", "bf16", "fp32")


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
            raise ParamError(
                f"tuned network: blocks must be 1..3 for 28x28 input, got {self.blocks}")
        if self.kernel_size % 2 == 0:
            raise ParamError(f"tuned network: kernel_size must be odd, got {self.kernel_size}")


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


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether to train in bfloat16 autocast: 'auto' picks it where the hardware has it."""
    if precision not in PRECISIONS:
        raise ParamError(f"params.yaml: 'tune.precision' must be one of {PRECISIONS}, "
                         f"got {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available()
                and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def build_tuned(config: TunedConfig, bf16: bool = False) -> TunedNet:
    """A TunedNet for `config`."""
    return TunedNet(config, bf16)


def checkpoint(model: TunedNet) -> dict:
    """What to save: the config (to rebuild) and the weights."""
    return {"config": asdict(model.config), "bf16": model.bf16,
            "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}}


def load_tuned(path: str | Path) -> TunedNet:
    """Rebuild a TunedNet saved with `checkpoint` by the tune stage."""
    saved = torch.load(path, weights_only=True)
    model = TunedNet(TunedConfig(**saved["config"]), saved["bf16"])
    model.load_state_dict(saved["state_dict"])
    return model
