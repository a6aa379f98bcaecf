"""The optimisation history of the search."""

from collections.abc import Sequence

from matplotlib.figure import Figure


def history_figure(points: Sequence[tuple[int, float, bool]], search: str) -> Figure:
    """Each trial's (number, validation loss, pruned) and the best so far; `search` titles it."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    best, running = float("inf"), []
    for number, value, pruned in points:
        ax.scatter(number, value, marker="x" if pruned else "o",
                   color="tab:gray" if pruned else "tab:blue")
        if not pruned:
            best = min(best, value)
        running.append((number, best))
    if running:
        ax.step(*zip(*running, strict=True), where="post", color="tab:red", label="best so far")
    ax.scatter([], [], marker="o", color="tab:blue", label="complete")
    ax.scatter([], [], marker="x", color="tab:gray", label="pruned (best reported)")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation loss")
    ax.set_title(f"Optuna search ({search})")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
