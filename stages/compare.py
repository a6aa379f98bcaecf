"""Stage compare: the two implementations' loss curves in one figure, and their differences."""

import argparse
from pathlib import Path

from fmnist.cli import stage
from fmnist.compare import compare_runs, load_histories, losses_figure
from fmnist.io import read_json, save_figure, write_json
from fmnist.models import IMPLEMENTATIONS


@stage
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--live", default="metrics/live", help="holds one dvclive dir per impl")
    parser.add_argument("--train-metrics", default="metrics", help="holds train_<impl>.json")
    parser.add_argument("--metrics", default="metrics/compare.json")
    parser.add_argument("--figure", default="plots/losses.png")
    args = parser.parse_args()

    histories = load_histories({impl: Path(args.live) / impl for impl in IMPLEMENTATIONS})
    seconds = {impl: read_json(Path(args.train_metrics) / f"train_{impl}.json")["seconds_per_epoch"]
               for impl in IMPLEMENTATIONS}
    write_json(args.metrics, compare_runs(histories, seconds))
    save_figure(args.figure, losses_figure(histories))


if __name__ == "__main__":
    main()
