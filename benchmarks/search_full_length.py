"""Whether the search's winners beat the baseline at full length, in validation accuracy.

Runs the tune stage's search (its objective, sampler and pruner, the baseline as trial 0) for
--trials trials in a throw-away in-memory study, then trains the baseline and the best complete
trials that are not the baseline for tune.final_epochs on the training split alone (validation
held out, the test set unread), per seed, and evaluates each on the validation split with the
stage's test-time views. The search picks its winners on that same validation split, which
favours them a little. Needs data/prepared (`dvc repro prepare`).

    python benchmarks/search_full_length.py          # the committed JSON: about 75 minutes
    python benchmarks/search_full_length.py --trials 3 --epochs 1 --seeds 42 --out /tmp/s.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import optuna
import torch
from ablation import data_splits, summarise, train_and_validate
from optuna.trial import TrialState

from fmnist.atomic import write_json
from fmnist.tune.search import make_objective, open_study, work


def search(data: dict, trials: int, p: object, bf16: bool, device: torch.device
           ) -> tuple[list[optuna.trial.FrozenTrial], float]:
    """The stage's search, worker 0 alone, on an in-memory study; its finished trials, minutes."""
    start = time.perf_counter()
    study = open_study(optuna.storages.InMemoryStorage(), "search-at-full-length", p.seed, 0)
    objective = make_objective(data, data["val"],  # it reads data["x"] and ["y"]
                               p.tune.trial_epochs, p.tune.trial_samples, seed=p.seed,
                               shift=p.tune.shift, bf16=bf16, device=device)
    work(study, objective, trials, 0)
    return study.get_trials(deepcopy=False), (time.perf_counter() - start) / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12, help="search trials, baseline included")
    parser.add_argument("--winners", type=int, default=1, help="non-baseline trials to retrain")
    parser.add_argument("--epochs", type=int, default=0, help="0: params' tune.final_epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/search_full_length.json"))
    args = parser.parse_args()
    if args.trials < 2 or args.winners < 1 or args.epochs < 0 or not args.seeds:
        parser.error("need --trials >= 2, --winners >= 1, --epochs >= 0 and a seed")

    p, data, bf16, precision, device = data_splits(args.params, args.prepared)
    epochs = args.epochs or p.tune.final_epochs
    trials, search_minutes = search(data, args.trials, p, bf16, device)
    print(f"search: {len(trials)} trials in {search_minutes:.1f} min", flush=True)
    complete = sorted((t for t in trials if t.state == TrialState.COMPLETE),
                      key=lambda t: (t.value, t.number))
    baseline = next(t for t in trials if t.number == 0)
    chosen = [baseline] + [t for t in complete if t.number != 0][:args.winners]
    results, minutes = {}, []
    for trial in chosen:
        accuracies = []
        for seed in args.seeds:
            accuracy, took = train_and_validate(trial.params, seed, epochs, data, p, bf16, device)
            accuracies.append(accuracy[p.tune.tta])
            minutes.append(took)
            print(f"trial {trial.number} seed {seed}: val acc {accuracies[-1]:.4f}, "
                  f"{took:.1f} min", flush=True)
        results[f"trial {trial.number}"] = {
            "params": trial.params, "search_val_loss": round(trial.value, 4),
            "search_rank": complete.index(trial) + 1 if trial in complete else None,
            "val_accuracy": summarise(accuracies)}
    write_json(args.out, {
        "setup": {"trials": len(trials), "trial_epochs": p.tune.trial_epochs,
                  "trial_samples": p.tune.trial_samples, "search_minutes": round(search_minutes, 1),
                  "epochs": epochs, "seeds": args.seeds, "trained_on": "train split",
                  "evaluated_on": "val split", "samples": len(data["y"]), "tta": p.tune.tta,
                  "precision": precision, "device": str(device),
                  "threads": torch.get_num_threads(), "torch": torch.__version__,
                  "minutes_per_run": round(statistics.mean(minutes), 1)},
        "search": [{"number": t.number, "state": t.state.name.lower(),
                    "val_loss": None if t.value is None else round(t.value, 4)} for t in trials],
        "full_length": results})


if __name__ == "__main__":
    main()
