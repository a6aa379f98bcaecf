"""Stage tune: Optuna search on short pruned trials, then retrain the winner at full length."""

import argparse

from fmnist.cli import stage
from fmnist.io import load_params, require, save_figure, save_torch, write_json
from fmnist.prepare import load_dataset, load_split
from fmnist.runtime import resolve_device, seed_everything
from fmnist.tracking import LiveLogger
from fmnist.tuned import checkpoint, use_bf16
from fmnist.tuning import Budget, configs_from, open_study, run_search, summary, train_tuned
from fmnist.tuning_plots import history_figure


@stage
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--model", default="models/tuned.pt")
    parser.add_argument("--live", default="metrics/live/tuned")
    parser.add_argument("--metrics", default="metrics/tune.json")
    parser.add_argument("--figure", default="plots/tune_history.png")
    parser.add_argument("--join", action="store_true",
                        help="only add trials to an existing shared study (extra workers)")
    args = parser.parse_args()

    params = load_params(args.params)
    seed = require(params, "seed", int)
    seed_everything(seed)
    device = resolve_device(require(params, "device", str))
    budget = Budget(**{key: require(params, f"tune.{key}", int) for key in (
        "trials", "trial_epochs", "trial_samples", "final_epochs", "shift")},
        bf16=use_bf16(require(params, "tune.precision", str), device))
    training = load_split(f"{args.data}/train.pt")
    validation = load_dataset(f"{args.data}/val.pt", 512)

    study = open_study(require(params, "tune.storage", str), require(params, "tune.study", str),
                       seed, fresh=not args.join)
    run_search(study, training, validation, budget, seed, device)
    if args.join:
        return
    arch, train = configs_from(study.best_params)
    print(f"retraining the best configuration for {budget.final_epochs} epochs: {arch}, {train}")
    logger = LiveLogger(args.live)
    model, _, _ = train_tuned(arch, train, budget.final_epochs, training["x"], training["y"],
                              validation, seed=seed, budget=budget, device=device,
                              on_epoch=logger)
    logger.close()
    save_torch(args.model, checkpoint(model))
    write_json(args.metrics, summary(study, arch, train, logger.results))
    save_figure(args.figure, history_figure(study))


if __name__ == "__main__":
    main()
