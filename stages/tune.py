"""Stage tune: Optuna search on short pruned trials, then retrain the winner at full length."""

from pathlib import Path

from fmnist import atomic
from fmnist.data.dataset import Dataset
from fmnist.figures.tuning import history_figure
from fmnist.nn.tuned import tuned_state
from fmnist.runtime import choose_bf16, resolve_device, seed_everything
from fmnist.train.fit import timings
from fmnist.train.recipe import train_tuned
from fmnist.tune.search import TrialBudget, open_study, run_search, summary, trial_history
from fmnist.tune.space import configs_from

from _shared import load_params, load_split, parse, run

PARAMS = ("seed", "device", "tune")


def main() -> None:
    args = parse(__doc__, inputs=["--params", "--train", "--val"],
                 outputs=["--model", "--live", "--metrics", "--details", "--figure", "--timings"])
    p = load_params(args.params, PARAMS)
    train, val = load_split(args.train), load_split(args.val)
    device = resolve_device(p.device)
    bf16, why = choose_bf16(p.tune.precision, device)
    print(f"precision: {why}")
    seed_everything(p.seed)
    validation = Dataset(val["x"], val["y"], 512)

    if p.tune.storage.startswith("sqlite:///"):  # SQLite makes the file, not its folder
        Path(p.tune.storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    study = open_study(p.tune.storage, p.tune.study, p.seed, fresh=True)
    common = {"seed": p.seed, "shift": p.tune.shift, "bf16": bf16, "device": device}
    run_search(study, train, validation, p.tune.trials,
               TrialBudget(p.tune.trial_epochs, p.tune.trial_samples), **common)
    arch, config = configs_from(study.best_params)
    print(f"retraining the best configuration for {p.tune.final_epochs} epochs: {arch}, {config}")
    with atomic.LiveLog(args.live) as log:
        model, _, _ = train_tuned(arch, config, p.tune.final_epochs, train["x"], train["y"],
                                  validation, on_epoch=log, **common)
    details = summary(study, arch, config, log.results)
    atomic.save_torch(args.model, tuned_state(model))
    atomic.write_json(args.metrics, {"best_val_accuracy": details["best_val_accuracy"]})
    atomic.write_json(args.details, {"device": str(device), "bf16": bf16, **details})
    atomic.save_figure(args.figure, history_figure(trial_history(study)))
    atomic.write_json(args.timings, timings(log.results))


if __name__ == "__main__":
    run(main)
