"""The ReLU commutativity experiment: op then ReLU, ReLU then op, and their difference."""

from typing import Any

from matplotlib.figure import Figure

ROWS = (("pool", "MaxPool2d(3, stride 2)"), ("conv", "Conv2d(1, 1, 3, stride 2)"))


def commutativity_figure(result: dict[str, Any]) -> Figure:
    """Input, op->ReLU, ReLU->op and |difference|: one row for pooling, one for the convolution."""
    fig = Figure(figsize=(15, 7.5), layout="constrained")
    axes = fig.subplots(2, 4)
    for row, (name, label) in enumerate(ROWS):
        a, b = result[name]["op_then_relu"][0], result[name]["relu_then_op"][0]
        diff = (a - b).abs()
        low, high = float(min(a.min(), b.min())), float(max(a.max(), b.max()))  # shared scale
        worst = float(diff.max())
        panels = [(result["input"][0], "input: U[-1, 1], 100 x 100", "RdBu_r", -1.0, 1.0),
                  (a, f"(a) {label}, then ReLU", "viridis", low, high),
                  (b, f"(b) ReLU, then {label}", "viridis", low, high),
                  (diff, f"|a - b|: max {worst:.3g}" if worst else "|a - b| = 0 everywhere",
                   "magma", 0.0, worst or 1.0)]
        for ax, (image, title, cmap, vmin, vmax) in zip(axes[row], panels, strict=True):
            shown = ax.imshow(image.numpy(), cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_title(title, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(shown, ax=ax, shrink=0.8)
    verb = {name: "does not commute" if float((result[name]["op_then_relu"] - result[name][
        "relu_then_op"]).abs().max()) else "commutes" for name, _ in ROWS}
    fig.suptitle(f"On this input, ReLU {verb['pool']} with max-pooling (top) and "
                 f"{verb['conv']} with a convolution (bottom)")
    return fig
