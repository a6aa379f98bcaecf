"""What the tune stage and its extra workers share: their study and objective, from params."""

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from fmnist.data.dataset import Dataset
from fmnist.runtime import choose_bf16, resolve_device, use_determinism
from fmnist.tune.search import Objective, make_objective, open_study, study_name
from fmnist.tune.storage import JOURNAL, open_storage

from _shared import load_params, load_split, param

PARAMS = ("seed", "device", "deterministic", "data.subset", "data.val_fraction", "tune")


@dataclass
class Tuning:
    """A worker's view of the search: params, data, device and precision, study, objective."""

    params: Any
    train: dict
    val: dict
    validation: Dataset
    precision: str
    bf16: bool
    device: Any
    study: optuna.Study
    objective: Objective


def open_tuning(args: argparse.Namespace, worker: int) -> Tuning:
    """Validate the params, load the data, open (or create) the study `worker` works on."""
    p = load_params(args.params, PARAMS)
    train, val = load_split(args.train), load_split(args.val)
    device = resolve_device(p.device)
    use_determinism(p.deterministic, device)
    bf16, why = choose_bf16(p.tune.precision, device)
    for prefix in ("sqlite:///", JOURNAL):  # they make the file, not its folder
        if p.tune.storage.startswith(prefix):
            Path(p.tune.storage.removeprefix(prefix)).parent.mkdir(parents=True, exist_ok=True)
    with param("tune.storage"):
        storage = open_storage(p.tune.storage, p.tune.heartbeat)
    identity = {"trial_epochs": p.tune.trial_epochs, "trial_samples": p.tune.trial_samples,
                "shift": p.tune.shift, "precision": p.tune.precision, "seed": p.seed,
                "subset": p.data.subset, "val_fraction": p.data.val_fraction}
    study = open_study(storage, study_name(p.tune.study, identity), p.seed, worker)
    validation = Dataset(val["x"], val["y"], 512)
    objective = make_objective(train, validation, p.tune.trial_epochs, p.tune.trial_samples,
                               seed=p.seed, shift=p.tune.shift, bf16=bf16, device=device)
    return Tuning(p, train, val, validation, why, bf16, device, study, objective)
