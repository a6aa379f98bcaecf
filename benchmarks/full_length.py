"""Recipe variants at full length, in validation accuracy: what the reduced budget cannot tell.

Trains the tuned network on the training split alone (validation held out, the test set never
read) with the tune stage's baseline recipe and with each variant, for tune.final_epochs unless
the variant sets its own, per seed, and evaluates each run on the validation split with the
stage's test-time views. With --jobs 2 the runs go side by side, a CPU core each (forked
workers share the loaded data). The runs are deterministic, so variants left out of --variants
keep their rows from the JSON written before, if it was measured with the same setup. Needs
data/prepared (`dvc repro prepare`).

    python benchmarks/full_length.py --jobs 2     # the committed JSON: about two hours
    python benchmarks/full_length.py --jobs 2 --variants "23 epochs"   # keeps the other rows
    python benchmarks/full_length.py --variants baseline --epochs 1 --seeds 42 --out /tmp/f.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from ablation import data_splits, summarise, train_and_validate
from side_by_side import side_by_side, threads_each

from fmnist.atomic import write_json
from fmnist.tune.space import BASELINE

# name -> (changes to the baseline's params, epochs; None: tune.final_epochs)
VARIANTS: dict[str, tuple[dict, int | None]] = {
    "baseline": ({}, None),
    # a step of width 24 took 1.7x width 16's on 2 threads (46 / 1.7 = 27 epochs); on one
    # thread it costs relatively more: the JSON keeps the minutes each variant really took
    "width 24 for 27 epochs": ({"width": 24}, 27),
    # how accuracy grows with epochs: half the baseline's, and the most that the repro's
    # 30-minute budget leaves room for (its other stages take about 5 minutes, and a final
    # epoch on train + val 26 s: 46 + 8 epochs keeps a minute in hand)
    "23 epochs": ({}, 23),
    "54 epochs": ({}, 54),
}

_RUN = SimpleNamespace()  # what every training shares; forked workers inherit it


def train(job: tuple[str, int]) -> dict:
    """Train variant `name` with `seed`; its validation accuracy and minutes."""
    (name, seed), r = job, _RUN
    changes, epochs = VARIANTS[name]
    epochs = r.epochs or epochs or r.p.tune.final_epochs
    start = time.perf_counter()
    accuracy, _ = train_and_validate({**BASELINE, **changes}, seed, epochs, r.data, r.p, r.bf16,
                                     r.device)
    run = {"variant": name, "seed": seed, "epochs": epochs,
           "val_accuracy": accuracy[r.p.tune.tta],
           "minutes": round((time.perf_counter() - start) / 60, 1)}
    print(run, flush=True)
    return run


def kept_rows(path: Path, setup: dict, epochs: int, final_epochs: int, rerun: list[str]) -> dict:
    """The rows of `path` that this run keeps: variants not rerun, measured with the same setup
    and the same changes and epochs (none if --epochs overrides them)."""
    if epochs or not path.exists():
        return {}
    before = json.loads(path.read_text())
    if before["setup"] != setup:
        return {}
    return {name: row for name, row in before["full_length"].items()
            if name in VARIANTS and name not in rerun
            and (row["changes"], row["epochs"]) == (VARIANTS[name][0],
                                                    VARIANTS[name][1] or final_epochs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=0, help="0: each variant's own")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43])
    parser.add_argument("--jobs", type=int, default=1, help="trainings side by side (CPU)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/full_length.json"))
    args = parser.parse_args()
    if args.epochs < 0 or args.jobs < 1 or not args.seeds:
        parser.error("need --epochs >= 0, --jobs >= 1 and a seed")

    p, data, bf16, precision, device = data_splits(args.params, args.prepared)
    _RUN.__dict__.update(p=p, data=data, bf16=bf16, device=device, epochs=args.epochs)
    setup = {"seeds": args.seeds, "trained_on": "train split", "evaluated_on": "val split",
             "samples": len(data["y"]), "tta": p.tune.tta, "precision": precision,
             "device": str(device), "jobs": args.jobs, "threads": threads_each(args.jobs),
             "torch": torch.__version__}
    results = kept_rows(args.out, setup, args.epochs, p.tune.final_epochs, args.variants)
    if "baseline" not in results and "baseline" not in args.variants:
        parser.error(f"{args.out} has no baseline measured with this setup: add it to --variants")
    jobs = [(name, seed) for name in args.variants for seed in args.seeds]
    runs = side_by_side(train, jobs, args.jobs)
    # minutes compare only within one invocation: the machine's speed varies between them
    this_run = 1 + max((row["run"] for row in results.values()), default=0)
    for name in args.variants:
        mine = [r for r in runs if r["variant"] == name]
        results[name] = {"changes": VARIANTS[name][0], "epochs": mine[0]["epochs"],
                         "run": this_run,
                         "minutes_per_run": round(statistics.mean(r["minutes"] for r in mine), 1),
                         "val_accuracy": summarise([r["val_accuracy"] for r in mine])}
    write_json(args.out, {"setup": setup, "full_length": results})
    for name, r in results.items():
        acc = r["val_accuracy"]
        print(f"{name:<28} {r['epochs']:>3} epochs {acc['mean']:.4f} ± {acc['std']:.4f} "
              f"{r['minutes_per_run']} min a run")


if __name__ == "__main__":
    main()
