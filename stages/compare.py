"""Stage compare: the two implementations' loss curves in one figure, and their differences."""

from fmnist import atomic
from fmnist.analysis.compare import CURVES, compare_runs
from fmnist.figures.training import losses_figure

from _shared import load_params, parse, read_curve, run


def main() -> None:
    args = parse(__doc__, inputs=["--params", "--custom", "--torch"],
                 outputs=["--details", "--figure"])
    load_params(args.params, ())  # reads no key, but refuses a misspelt one as every stage does
    histories = {impl: {name: read_curve(folder, name) for name in CURVES}
                 for impl, folder in (("custom", args.custom), ("torch", args.torch))}

    atomic.write_json(args.details, compare_runs(histories["custom"], histories["torch"]))
    atomic.save_figure(args.figure, losses_figure(histories))


if __name__ == "__main__":
    run(main)
