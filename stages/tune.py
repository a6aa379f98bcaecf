"""Stage tune: Optuna search on short pruned trials (this stage is worker 0 of the study; extra
workers may join with stages/tune_join.py), then retrain the winner at full length."""

from _tuning import PARAMS, open_tuning  # noqa: F401 (PARAMS: the keys it reads)

from fmnist import atomic
from fmnist.figures.tuning import history_figure
from fmnist.nn.tuned import tuned_state
from fmnist.train.history import timings
from fmnist.train.recipe import train_final
from fmnist.tune.search import best_trial, describe, summary, trial_history, work
from fmnist.tune.space import configs_from

from _shared import Checkpoints, parse, run


def main() -> None:
    args = parse(__doc__, inputs=["--params", "--train", "--val"],
                 outputs=["--model", "--live", "--metrics", "--details", "--figure", "--timings"])
    t = open_tuning(args, worker=0)
    print(f"study {t.study.study_name}; precision: {t.precision}")
    work(t.study, t.objective, t.params.tune.trials, 0,
         on_trial=lambda trial: print(describe(trial), flush=True))

    best = best_trial(t.study)
    arch, config = configs_from(best.params)
    tp = t.params.tune
    samples = len(t.train["y"]) + (len(t.val["y"]) if tp.final_data == "train+val" else 0)
    print(f"retraining trial {best.number} on {tp.final_data} ({samples} samples), "
          f"{tp.final_epochs} epochs: {arch}, {config}")
    # the winner's params are part of what decides the final run: part of its key too
    checkpoints = Checkpoints("tune", tp.final_epochs, t.params, [args.train, args.val],
                              extra=best.params)
    model = train_final(arch, config, tp.final_epochs, (t.train, t.val), tp.final_data,
                        tta=tp.tta, seed=t.params.seed, shift=tp.shift, bf16=t.bf16,
                        device=t.device, checkpoint=checkpoints)
    details = summary(t.study, best, model.config, config, checkpoints.history, tp.final_data)
    atomic.save_torch(args.model, tuned_state(model))
    atomic.write_live(args.live, checkpoints.history)
    atomic.write_json(args.metrics, {"tuned": {"search_val_acc": details["search_val_accuracy"]}})
    atomic.write_json(args.details, {"device": str(t.device), "bf16": t.bf16, **details})
    search = f"{type(t.study.sampler).__name__}, {type(t.study.pruner).__name__}"  # as it ran
    atomic.save_figure(args.figure, history_figure(trial_history(t.study), search))
    atomic.write_json(args.timings, timings(checkpoints.history))
    checkpoints.clear()


if __name__ == "__main__":
    run(main)
