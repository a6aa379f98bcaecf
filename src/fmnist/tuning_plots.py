"""The optimisation-history figure of an Optuna study."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def history_figure(study: optuna.Study) -> Figure:
    """Each trial's best validation loss (pruned ones at their last report) and the running best."""
    fig, ax = plt.subplots(figsize=(7, 4))
    best, running = float("inf"), []
    for trial in study.trials:
        steps = trial.intermediate_values
        value = trial.value if trial.value is not None else (
            min(steps.values()) if steps else None)
        if value is None:
            continue
        pruned = trial.state == optuna.trial.TrialState.PRUNED
        ax.scatter(trial.number, value, marker="x" if pruned else "o",
                   color="tab:gray" if pruned else "tab:blue")
        if not pruned:
            best = min(best, value)
        running.append((trial.number, best))
    ax.step(*zip(*running, strict=True), where="post", color="tab:red", label="best so far")
    ax.scatter([], [], marker="o", color="tab:blue", label="complete")
    ax.scatter([], [], marker="x", color="tab:gray", label="pruned (last reported)")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation loss")
    ax.set_title("Optuna search (seeded TPE, median pruner)")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
