"""What every stage script shares, the edge between the pipeline's files and the package:
the command line, params read and validated, inputs read with checks, and one-line errors.

Our errors (bad params, missing, corrupt or foreign files, diverged training, ops that disagree)
print one `error:` line and exit 1; Ctrl-C prints `error: interrupted` and exits 130. Anything
else is a bug and keeps its traceback. Stages run from the repository root, as DVC runs them.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import pickle
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import yaml

from fmnist.atomic import clean_partials
from fmnist.data.splits import Split, check_split
from fmnist.errors import DataError, FmnistError, ParamError
from fmnist.params import validate

DVC_YAML = Path("dvc.yaml")

INTERRUPTED = 130  # the shell's status for a process ended by SIGINT


def parse(description: str | None, inputs: Sequence[str], outputs: Sequence[str],
          **options: dict[str, Any]) -> argparse.Namespace:
    """Required path options (`inputs` such as "--params", "--data", then `outputs`) + `options`.

    Every path comes from the stage's command line in dvc.yaml, so none has a default. Leftover
    temporary files of the outputs (from a killed run) are removed.
    """
    parser = argparse.ArgumentParser(description=description)
    for flag in (*inputs, *outputs):
        parser.add_argument(flag, type=Path, required=True)
    for name, spec in options.items():
        parser.add_argument(f"--{name.replace('_', '-')}", **spec)
    args = parser.parse_args()
    clean_partials(*(getattr(args, flag.lstrip("-").replace("-", "_")) for flag in outputs))
    return args


def run(main: Callable[[], None]) -> None:
    """Run a stage's `main`: our errors as one `error:` line and exit 1, Ctrl-C as exit 130."""
    try:
        main()
    except FmnistError as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        raise SystemExit(INTERRUPTED) from None


@contextmanager
def param(key: str) -> Iterator[None]:
    """Our errors raised in the block name the params `key` their value came from."""
    try:
        yield
    except FmnistError as err:
        raise type(err)(f"{key}: {err}") from err.__cause__


def load_params(path: Path, keys: Sequence[str]) -> Any:
    """The params `keys` of the YAML file at `path`, validated (see `fmnist.params`)."""
    if not path.is_file():
        raise ParamError(f"{path}: params file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        where = getattr(err, "problem_mark", None)
        raise ParamError(f"{path}: not valid YAML{f' at line {where.line + 1}' if where else ''}"
                         ) from None
    try:
        return validate(raw, keys)
    except ParamError as err:
        raise ParamError(f"{path}: {err}") from None


def producer(path: str | Path, dvc_yaml: Path = DVC_YAML) -> str | None:
    """The dvc.yaml stage whose outputs hold `path` (a matrix stage as `name@item`), if any."""
    try:
        stages = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    target = Path(os.path.normpath(path))
    for name, stage in stages.items():
        for label, outs in _stage_outputs(name, stage):
            if any(target == out or out in target.parents for out in outs):
                return label
    return None


def _stage_outputs(name: str, stage: dict[str, Any]) -> Iterator[tuple[str, list[Path]]]:
    """(stage label, output paths) of a dvc.yaml stage, once per item of a `matrix`."""
    entries = [next(iter(e)) if isinstance(e, dict) else e
               for kind in ("outs", "metrics", "plots") for e in stage.get(kind, [])]
    matrix = stage.get("matrix") or {}
    for values in itertools.product(*matrix.values()):
        item = dict(zip(matrix, values, strict=True))
        label = name + ("@" + "-".join(map(str, values)) if values else "")
        paths = []
        for entry in entries:
            for key, value in item.items():
                entry = entry.replace(f"${{item.{key}}}", str(value))
            paths.append(Path(os.path.normpath(entry)))
        yield label, paths


def _remake(path: Path) -> str:
    """How to remake `path`: the stage that makes it, as a command."""
    stage = producer(path)
    return f"run `dvc repro -f {stage}`" if stage else "remake it with `dvc repro`"


def require_file(path: str | Path) -> Path:
    """`path` if it is a file, else DataError naming the stage that makes it."""
    path = Path(path)
    if not path.is_file():
        stage = producer(path)
        made = f"; the '{stage}' stage makes it: run `dvc repro {stage}`" if stage else ""
        raise DataError(f"{path}: not found{made}")
    return path


def load_torch(path: str | Path) -> Any:
    """`torch.load` with weights_only=True; DataError for missing, corrupt or foreign files."""
    path = require_file(path)
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError,
            KeyError, TypeError, AttributeError, ImportError) as err:
        # never the loader's own advice (weights_only=False runs arbitrary code)
        raise DataError(f"{path}: not produced by this pipeline or corrupt: "
                        f"{_remake(path)}") from err


def read_json(path: str | Path) -> Any:
    """Read a JSON file; DataError for a missing or unreadable one."""
    path = require_file(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err}): {_remake(path)}") from err


def read_curve(live_dir: str | Path, name: str) -> list[float]:
    """The per-epoch values of metric `name` that LiveLog wrote under `live_dir`."""
    path = require_file(Path(live_dir) / "plots" / "metrics" / f"{name}.tsv")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        return [float(row[name]) for row in sorted(rows, key=lambda row: int(row["step"]))]
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a training log with columns step and {name}: "
                        f"{_remake(path)}") from err


def load_split(path: str | Path) -> Split:
    """A prepared split saved by the prepare stage, checked whole (see `check_split`)."""
    return check_split(load_torch(path), str(path))
