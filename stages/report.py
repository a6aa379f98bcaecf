"""Stage report: reports/report.md from every stage's results and figures."""

import os
from pathlib import Path

from fmnist import atomic
from fmnist.report.markdown import RESULTS, build_report

from _shared import load_params, parse, read_json, run


def main() -> None:
    flags = [f"--{name.replace('_', '-')}" for name in RESULTS]
    args = parse(__doc__, inputs=["--params", *flags, "--plots", "--timings"], outputs=["--out"])
    load_params(args.params, ())  # reads no key, but refuses a misspelt one as every stage does
    results = {name: read_json(getattr(args, name)) for name in RESULTS}

    # figures and timings are linked relative to the report, so it renders wherever it is
    where = {folder: Path(os.path.relpath(getattr(args, folder), args.out.parent)).as_posix()
             for folder in ("plots", "timings")}
    atomic.write_text(args.out, build_report(results, where["plots"], where["timings"]))


if __name__ == "__main__":
    run(main)
