"""Honest variance: the tuned network's final training again with other seeds, on the test set.

Retrains the configuration the tune stage chose (results/tune.json) with the params of
params.yaml and each seed, exactly as the stage does, and reports the test accuracy of each run,
their mean and standard deviation, so that a gain of 0.002 is not mistaken for progress. Needs
data/prepared (`dvc repro prepare`); it reads the test set, so nothing here feeds a choice.

    python benchmarks/seeds.py --seeds 42 43 44   # about 3 final trainings' time
    python benchmarks/seeds.py --reuse             # 42 from the committed run, 2 trainings
    python benchmarks/seeds.py --reuse --jobs 2    # ... side by side, a CPU core each

`--reuse` takes the run of params.yaml's own seed from the committed pipeline's results
(metrics/test.json) instead of training it again: `dvc repro` trained exactly that.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from side_by_side import side_by_side

from fmnist.analysis.evaluation import classification_stats, logits_to_onehot
from fmnist.atomic import write_json
from fmnist.data.dataset import Dataset
from fmnist.runtime import choose_bf16, resolve_device
from fmnist.train.fit import predict
from fmnist.train.recipe import train_final
from fmnist.tune.space import configs_from

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
from _shared import load_params, load_split, read_json  # noqa: E402

_RUN = SimpleNamespace()  # what every training shares; forked workers inherit it


def train_seed(seed: int) -> dict:
    """Train the chosen configuration with `seed`; its test accuracy and minutes."""
    r, start = _RUN, time.perf_counter()
    model = train_final(r.arch, r.config, r.p.tune.final_epochs, r.splits, r.p.tune.final_data,
                        tta=r.p.tune.tta, seed=seed, shift=r.p.tune.shift, bf16=r.bf16,
                        device=r.device, progress=r.jobs == 1)
    stats = classification_stats(logits_to_onehot(predict(model, r.test, r.device)), r.labels)
    run = {"seed": seed, "test_accuracy": stats["accuracy"],
           "minutes": round((time.perf_counter() - start) / 60, 1)}
    print(run, flush=True)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    parser.add_argument("--chosen", type=Path, default=Path("results/tune.json"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/seeds.json"))
    parser.add_argument("--reuse", action="store_true",
                        help="take params.yaml's seed's run from --committed, not a new training")
    parser.add_argument("--committed", type=Path, default=Path("metrics/test.json"))
    parser.add_argument("--jobs", type=int, default=1, help="trainings side by side (CPU)")
    args = parser.parse_args()

    p = load_params(args.params, ("seed", "device", "tune"))
    device = resolve_device(p.device)
    bf16, why = choose_bf16(p.tune.precision, device)
    arch, config = configs_from(read_json(args.chosen)["best_params"])  # tta: trained with flips
    train, val, test = (load_split(args.prepared / f"{s}.pt") for s in ("train", "val", "test"))
    _RUN.__dict__.update(
        p=p, device=device, bf16=bf16, arch=arch, config=config, splits=(train, val),
        test=Dataset(test["x"], test["y"], 250),  # the evaluate stage's batch, same logits
        labels=test["y"].numpy().astype("int64"), jobs=args.jobs)
    runs = {}
    if args.reuse and p.seed in args.seeds:
        committed = read_json(args.committed)["tuned"]["test_acc"]
        runs[p.seed] = {"seed": p.seed, "test_accuracy": committed, "from": str(args.committed)}
    todo = [seed for seed in args.seeds if seed not in runs]
    runs.update(zip(todo, side_by_side(train_seed, todo, args.jobs), strict=True))
    ordered = [runs[seed] for seed in args.seeds]
    accuracies = [run["test_accuracy"] for run in ordered]
    summary = {"mean": round(statistics.mean(accuracies), 5),
               "std": round(statistics.stdev(accuracies), 5) if len(ordered) > 1 else 0.0,
               "min": min(accuracies), "max": max(accuracies)}
    print(summary)
    write_json(args.out, {"setup": {"device": str(device), "precision": why, "jobs": args.jobs,
                                    "cpu_count": os.cpu_count(), "torch": torch.__version__,
                                    "epochs": p.tune.final_epochs,
                                    "final_data": p.tune.final_data,
                                    "config": {**vars(arch), "tta": p.tune.tta, **vars(config)}},
                          "runs": ordered, "test_accuracy": summary})


if __name__ == "__main__":
    main()
