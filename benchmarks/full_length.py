"""Recipe variants at full length, in validation accuracy: what the reduced budget cannot tell.

Trains the tuned network on the training split alone (validation held out, the test set never
read) with the tune stage's baseline recipe and with each variant, for tune.final_epochs unless
the variant sets its own, per seed, and evaluates each run on the validation split with the
stage's test-time views. With --jobs 2 the runs go side by side, a CPU core each (forked
workers share the loaded data). Needs data/prepared (`dvc repro prepare`).

    python benchmarks/full_length.py --jobs 2     # the committed JSON: about 75 minutes
    python benchmarks/full_length.py --variants baseline --epochs 1 --seeds 42 --out /tmp/f.json
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from ablation import data_splits, summarise, train_and_validate

from fmnist.atomic import write_json
from fmnist.tune.space import BASELINE

# name -> (changes to the baseline's params, epochs; None: tune.final_epochs)
VARIANTS: dict[str, tuple[dict, int | None]] = {
    "baseline": ({}, None),
    # a step of width 24 took 1.7x width 16's on 2 threads (46 / 1.7 = 27 epochs); on one
    # thread it costs relatively more: the JSON keeps the minutes each variant really took
    "width 24 for 27 epochs": ({"width": 24}, 27),
}

_RUN = SimpleNamespace()  # what every training shares; forked workers inherit it


def train(job: tuple[str, int]) -> dict:
    """Train variant `name` with `seed`; its validation accuracy and minutes."""
    (name, seed), r = job, _RUN
    torch.set_num_threads(r.threads)
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
    if args.epochs < 0 or args.jobs < 1 or not args.seeds or "baseline" not in args.variants:
        parser.error("need --epochs >= 0, --jobs >= 1, a seed, and the baseline among variants")

    p, data, bf16, precision, device = data_splits(args.params, args.prepared)
    _RUN.__dict__.update(p=p, data=data, bf16=bf16, device=device, epochs=args.epochs,
                         threads=max(1, torch.get_num_threads() // args.jobs))
    jobs = [(name, seed) for name in args.variants for seed in args.seeds]
    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            runs = pool.map(train, jobs, chunksize=1)
    else:
        runs = [train(job) for job in jobs]
    results = {}
    for name in args.variants:
        mine = [r for r in runs if r["variant"] == name]
        results[name] = {"changes": VARIANTS[name][0], "epochs": mine[0]["epochs"],
                         "minutes_per_run": round(statistics.mean(r["minutes"] for r in mine), 1),
                         "val_accuracy": summarise([r["val_accuracy"] for r in mine])}
    write_json(args.out, {
        "setup": {"seeds": args.seeds, "trained_on": "train split", "evaluated_on": "val split",
                  "samples": len(data["y"]), "tta": p.tune.tta, "precision": precision,
                  "device": str(device), "jobs": args.jobs, "threads": _RUN.threads,
                  "torch": torch.__version__},
        "full_length": results})
    for name, r in results.items():
        acc = r["val_accuracy"]
        print(f"{name:<28} {r['epochs']:>3} epochs {acc['mean']:.4f} ± {acc['std']:.4f} "
              f"{r['minutes_per_run']} min a run")


if __name__ == "__main__":
    main()
