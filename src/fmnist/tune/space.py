"""The search space of the tuned network and its training, and the baseline trial."""

from __future__ import annotations

from typing import Any

import optuna

from fmnist.nn.tuned import TunedConfig
from fmnist.train.recipe import TrainConfig

SPACE_VERSION = 1
"""Bump when the space or the objective changes what a trial's value means: a new study."""

BASELINE = {"kernel_size": 3, "blocks": 3, "channels": 32, "convs": 2, "batch_norm": True,
            "dropout": 0.2, "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 128}
"""Trial 0: a known-good VGG-like configuration the search has to beat."""


def suggest(trial: optuna.Trial) -> tuple[TunedConfig, TrainConfig]:
    """Draw one configuration from the search space.

    Its costliest point is about 1.4x the baseline's compute: a 5x5 kernel comes with one
    convolution per block (it sees as far as two 3x3 ones), and channels stop at 32, so that
    no winner can overrun the final retraining's time budget on a 2-core CPU.
    """
    kernel_size = trial.suggest_categorical("kernel_size", [3, 5])
    arch = TunedConfig(
        blocks=trial.suggest_int("blocks", 2, 3),
        channels=trial.suggest_categorical("channels", [16, 24, 32]),
        convs=trial.suggest_int("convs", 1, 2) if kernel_size == 3 else 1,
        kernel_size=kernel_size,
        batch_norm=trial.suggest_categorical("batch_norm", [True, False]),
        dropout=trial.suggest_float("dropout", 0.0, 0.5, step=0.1),
    )
    train = TrainConfig(
        lr=trial.suggest_float("lr", 0.01, 0.4, log=True),
        momentum=trial.suggest_float("momentum", 0.8, 0.95, step=0.05),
        weight_decay=trial.suggest_float("weight_decay", 1e-5, 2e-3, log=True),
        batch_size=trial.suggest_categorical("batch_size", [64, 128, 256]),
    )
    return arch, train


def configs_from(params: dict[str, Any]) -> tuple[TunedConfig, TrainConfig]:
    """Rebuild the two configs from a trial's `params` dict."""
    arch_keys = TunedConfig.__dataclass_fields__.keys() - {"tta"}
    params = {"convs": 1, **params}  # a 5x5 kernel's trials never draw `convs`
    for key in ("dropout", "momentum"):  # stepped floats: 0.30000000000000004 -> 0.3
        params[key] = round(params[key], 6)
    train_keys = TrainConfig.__dataclass_fields__.keys()
    return (TunedConfig(**{k: v for k, v in params.items() if k in arch_keys}),
            TrainConfig(**{k: v for k, v in params.items() if k in train_keys}))
