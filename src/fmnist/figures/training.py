"""The two implementations' loss curves: overlaid, and their per-epoch difference."""

from collections.abc import Mapping

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

COLOURS = {"custom": "#4c78a8", "torch": "#f58518"}  # as in the dvc plots templates (.dvc/plots)
SPLITS = {"train_loss": ("train", "-"), "val_loss": ("val", "--")}


def losses_figure(histories: Mapping[str, Mapping[str, list[float]]]) -> Figure:
    """Left: train/val loss per epoch of each implementation; right: custom - torch per epoch."""
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    overlay, gap = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    for impl, curves in histories.items():
        for name, (split, style) in SPLITS.items():
            epochs = range(1, len(curves[name]) + 1)
            overlay.plot(epochs, curves[name], style, color=COLOURS.get(impl),
                         marker="o" if impl == "custom" else "x", markersize=4,
                         markerfacecolor="none", label=f"{impl} {split}")
    overlay.set_ylabel("cross-entropy loss (mean over samples)")
    overlay.set_title("Assignment network: our ops vs torch.nn")
    overlay.legend()
    if {"custom", "torch"} <= histories.keys():  # the gap: curves ~1e-4 apart hide each other
        for name, (split, style) in SPLITS.items():
            diff = [a - b for a, b in zip(histories["custom"][name], histories["torch"][name],
                                          strict=True)]
            gap.plot(range(1, len(diff) + 1), diff, style, color="black", marker="o",
                     markersize=4, label=f"{split}: custom - torch")
        gap.axhline(0.0, color="gray", linewidth=0.8)
        gap.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        gap.set_title("Difference per epoch, custom - torch")
        gap.legend()
    for ax in (overlay, gap):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    return fig
