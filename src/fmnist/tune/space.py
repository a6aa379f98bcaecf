"""The search space of the tuned network and its training recipe, and the baseline trial."""

from dataclasses import fields
from typing import Any

import optuna

from fmnist.nn.tuned import TunedConfig
from fmnist.train.recipe import TrainConfig

SPACE_VERSION = 2  # bump when the space or the objective changes what a trial's value means

BASELINE = {"width": 16, "dropout": 0.0, "lr": 0.1, "weight_decay": 5e-4, "batch_size": 128,
            "label_smoothing": 0.1, "erase": 0.5}
"""Trial 0: the recipe that the search has to beat (ResNet-9, c = 16, see fmnist.nn.tuned)."""

STEPPED = ("dropout", "label_smoothing", "erase")  # floats drawn on a grid


def suggest(trial: optuna.Trial) -> tuple[TunedConfig, TrainConfig]:
    """Draw one configuration: width, regularisation and optimisation of the recipe (the costliest,
    width 24, takes 2.2x the baseline's compute, and lengthens the final training as much)."""
    arch = TunedConfig(width=trial.suggest_categorical("width", [16, 20, 24]),
                       dropout=trial.suggest_float("dropout", 0.0, 0.3, step=0.1))
    train = TrainConfig(
        lr=trial.suggest_float("lr", 0.04, 0.25, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-4, 1.5e-3, log=True),
        batch_size=trial.suggest_categorical("batch_size", [128, 256]),
        label_smoothing=trial.suggest_float("label_smoothing", 0.0, 0.2, step=0.05),
        erase=trial.suggest_float("erase", 0.0, 0.6, step=0.1),
    )
    return arch, train


def configs_from(params: dict[str, Any]) -> tuple[TunedConfig, TrainConfig]:
    """Rebuild the two configs from a trial's `params` dict."""
    params = {k: round(v, 6) if k in STEPPED else v for k, v in params.items()}  # 0.3000...04
    arch_keys = {f.name for f in fields(TunedConfig)} - {"tta"}
    train_keys = {f.name for f in fields(TrainConfig)}
    return (TunedConfig(**{k: v for k, v in params.items() if k in arch_keys}),
            TrainConfig(**{k: v for k, v in params.items() if k in train_keys}))
