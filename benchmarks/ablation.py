"""What each ingredient of the tuned recipe buys, in validation accuracy, on a reduced budget.

Trains the tuned network on the training split alone (validation held out, the test set never
read) with the recipe of the tune stage's baseline, then with one ingredient taken out at a time,
for each seed, and evaluates every run on the validation split. The test-time views are compared
on the baseline's own runs (no training: the same weights evaluated three ways). Needs
data/prepared (`dvc repro prepare`).

    python benchmarks/ablation.py                    # the committed table: about an hour
    python benchmarks/ablation.py --epochs 8 --seeds 42 43 44
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from fmnist.atomic import write_json
from fmnist.data.dataset import Dataset
from fmnist.runtime import choose_bf16, resolve_device, seed_everything
from fmnist.train.fit import evaluate
from fmnist.train.recipe import train_tuned
from fmnist.tune.space import BASELINE, configs_from

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
from _shared import load_params, load_split  # noqa: E402

# name -> changes to the baseline: TrainConfig fields, or "shift" (the augmentation's pixels)
VARIANTS = {
    "baseline": {},
    "no label smoothing": {"label_smoothing": 0.0},
    "no random erasing": {"erase": 0.0},
    "no weight average": {"ema_decay": 1e-6},  # the "average" is the last weights
    "no random shifts": {"shift": 0},  # mirroring stays
}
TTA_VIEWS = ("none", "flip", "shift")


def one_run(changes: dict, seed: int, epochs: int, data: dict, p: object, bf16: bool,
            device: torch.device) -> tuple[dict[str, float], float]:
    """Validation accuracy of one training (per test-time view set) and its minutes."""
    params = {**BASELINE, **{k: v for k, v in changes.items() if k != "shift"}}
    return train_and_validate(params, seed, epochs, data, p, bf16, device,
                              shift=changes.get("shift", p.tune.shift),
                              views=TTA_VIEWS if not changes else (p.tune.tta,))


def train_and_validate(params: dict, seed: int, epochs: int, data: dict, p: object, bf16: bool,
                       device: torch.device, shift: int | None = None,
                       views: tuple[str, ...] | None = None) -> tuple[dict[str, float], float]:
    """Train the tuned network with a trial's `params` on the training split; its validation
    accuracy per test-time view set (the stage's by default) and its minutes."""
    arch, config = configs_from(params)
    start = time.perf_counter()
    seed_everything(seed)
    model, _, _ = train_tuned(arch, config, epochs, data["x"], data["y"], data["val"], seed=seed,
                              shift=p.tune.shift if shift is None else shift, bf16=bf16,
                              device=device, progress=False, keep="last", validate_every=epochs)
    minutes = (time.perf_counter() - start) / 60
    return {tta: evaluate(model.with_tta(tta), data["val"], device)[1]
            for tta in views or (p.tune.tta,)}, minutes


def data_splits(params: Path, prepared: Path) -> tuple[object, dict, bool, str, torch.device]:
    """The params, the training split with the validation Dataset, and the precision and device
    the tune stage would use."""
    p = load_params(params, ("seed", "device", "tune"))
    device = resolve_device(p.device)
    bf16, precision = choose_bf16(p.tune.precision, device)
    train, val = (load_split(prepared / f"{s}.pt") for s in ("train", "val"))
    return p, {"x": train["x"], "y": train["y"], "val": Dataset(val["x"], val["y"], 512)}, \
        bf16, precision, device


def summarise(accuracies: list[float]) -> dict[str, float]:
    """Mean and (for several seeds) standard deviation, rounded for the table."""
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    return {"mean": round(statistics.mean(accuracies), 4), "std": round(spread, 4),
            "runs": [round(a, 4) for a in accuracies]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ablation.json"))
    args = parser.parse_args()
    if args.epochs < 1 or not args.seeds:
        parser.error("need --epochs >= 1 and at least one seed")

    p, data, bf16, precision, device = data_splits(args.params, args.prepared)
    results, minutes = {}, []
    for name, changes in VARIANTS.items():
        per_view: dict[str, list[float]] = {}
        for seed in args.seeds:
            accuracy, took = one_run(changes, seed, args.epochs, data, p, bf16, device)
            minutes.append(took)
            for view, value in accuracy.items():
                per_view.setdefault(view, []).append(value)
            print(f"{name:<20} seed {seed}: val acc {accuracy}, {took:.1f} min", flush=True)
        if name == "baseline":
            name = f"baseline (test-time views: {p.tune.tta})"
            for view in (v for v in TTA_VIEWS if v != p.tune.tta):  # the same weights
                results[f"baseline with test-time views: {view}"] = summarise(per_view[view])
        results[name] = summarise(per_view[p.tune.tta])
    write_json(args.out, {
        "setup": {"epochs": args.epochs, "seeds": args.seeds, "trained_on": "train split",
                  "evaluated_on": "val split", "samples": len(data["y"]),
                  "tta": p.tune.tta, "precision": precision, "device": str(device),
                  "threads": torch.get_num_threads(), "torch": torch.__version__,
                  "minutes_per_run": round(statistics.mean(minutes), 1)},
        "val_accuracy": results})
    for name, r in results.items():
        print(f"{name:<36} {r['mean']:.4f} ± {r['std']:.4f}")


if __name__ == "__main__":
    main()
