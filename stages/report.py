"""Stage report: reports/report.md from every stage's metrics and figures."""

import argparse
import os
from pathlib import Path

from fmnist.cli import stage
from fmnist.io import write_text
from fmnist.report import build_report


@stage
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", default="metrics")
    parser.add_argument("--plots", default="plots")
    parser.add_argument("--out", default="reports/report.md")
    args = parser.parse_args()

    # figures are linked relative to the report, so it renders wherever the repo is checked out
    plots = Path(os.path.relpath(args.plots, Path(args.out).parent)).as_posix()
    write_text(args.out, build_report(args.metrics, plots))


if __name__ == "__main__":
    main()
