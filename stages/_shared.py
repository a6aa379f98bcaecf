"""What every stage script shares, the edge between the pipeline's files and the package:
the command line, params read and validated, inputs read with checks, one-line errors, and the
trainings' checkpoints (docs/resume.md).

Our errors (bad params, missing, corrupt or foreign files, diverged training, ops that disagree)
print one `error:` line and exit 1; Ctrl-C prints `error: interrupted (resume with dvc repro)`
and exits 130. Anything else is a bug and keeps its traceback. Stages run from the repository
root, as DVC runs them.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import hashlib
import json
import pickle
import shutil
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml

import fmnist
from fmnist.atomic import clean_partials, save_torch
from fmnist.data.splits import Split, check_split
from fmnist.errors import DataError, FmnistError, ParamError
from fmnist.params import validate

if TYPE_CHECKING:  # annotations only: most stages train nothing
    from fmnist.train.fit import Training
    from fmnist.train.history import EpochResult

REMAKE = "run `dvc repro` to make it"
# what torch.load raises on a corrupt, truncated or foreign file
UNREADABLE = (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError,
              KeyError, TypeError, AttributeError, ImportError)
CHECKPOINTS = Path(".checkpoints")  # untracked scratch (.gitignore, .dvcignore): docs/resume.md
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
        print("error: interrupted (resume with dvc repro)", file=sys.stderr)
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


def require_file(path: str | Path) -> Path:
    """`path` if it is a file, else DataError saying to make it with `dvc repro`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not found: {REMAKE}")
    return path


def load_torch(path: str | Path) -> Any:
    """`torch.load` with weights_only=True; DataError for missing, corrupt or foreign files."""
    path = require_file(path)
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except UNREADABLE as err:
        # never the loader's own advice (weights_only=False runs arbitrary code)
        raise DataError(f"{path}: not produced by this pipeline or corrupt: "
                        f"{REMAKE}") from err


def read_json(path: str | Path) -> Any:
    """Read a JSON file; DataError for a missing or unreadable one."""
    path = require_file(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err}): {REMAKE}") from err


def read_curve(live_dir: str | Path, name: str) -> list[float]:
    """The per-epoch values of metric `name` that write_live wrote under `live_dir`."""
    path = require_file(Path(live_dir) / "plots" / "metrics" / f"{name}.tsv")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        return [float(row[name]) for row in sorted(rows, key=lambda row: int(row["step"]))]
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a training log with columns step and {name}: "
                        f"{REMAKE}") from err


def load_split(path: str | Path) -> Split:
    """A prepared split saved by the prepare stage, checked whole (see `check_split`)."""
    return check_split(load_torch(path), str(path))


def run_key(params: Any, inputs: Sequence[Path], extra: Any = None) -> str:
    """A hash of all that decides a run: its params (and `extra`), its input files and the code
    (the package and the stage scripts), so that a checkpoint never resumes into another run."""
    package, stages = Path(fmnist.__file__).parent, Path(__file__).parent
    code = sorted([*package.rglob("*.py"), *stages.glob("*.py")])
    digest = hashlib.sha256(f"{params.model_dump_json()} {json.dumps(extra, sort_keys=True)}"
                            .encode())
    for path in (*inputs, *code):
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


class Checkpoints:
    """A run's latest state in `.checkpoints/<stage>/<key>/state.pt`: restored when the stage
    starts, replaced after each epoch, removed (stale runs' too) once the outputs are written."""

    def __init__(self, stage: str, epochs: int, params: Any, inputs: Sequence[Path],
                 extra: Any = None) -> None:
        self.stage, self.epochs, self.key = stage, epochs, run_key(params, inputs, extra)
        self.path = CHECKPOINTS / stage / self.key / "state.pt"
        self.history: list[EpochResult] = []  # of the run so far, restored epochs included

    def restore(self, training: Training) -> None:
        """Continue `training` from the saved state, if a readable one of this run is there."""
        if not self.path.is_file():
            return
        fresh = copy.deepcopy(training.state_dict())  # state_dicts share the live tensors
        try:
            state = torch.load(self.path, weights_only=True, map_location="cpu")
            if state["key"] != self.key:
                raise ValueError(f"a checkpoint of run {state['key']}")
            training.load_state_dict(state["training"])
        except UNREADABLE as err:
            training.load_state_dict(fresh)
            print(f"warning: {self.path}: unreadable checkpoint skipped "
                  f"({type(err).__name__}); starting over", file=sys.stderr, flush=True)
            return
        self.history = list(training.history)
        when = datetime.fromtimestamp(self.path.stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{self.stage}: resuming from epoch {training.epoch + 1} of {self.epochs} "
              f"(checkpoint of {when})", flush=True)

    def store(self, training: Training) -> None:
        """Replace the saved state with `training`'s, atomically."""
        self.history = list(training.history)
        save_torch(self.path, {"key": self.key, "training": training.state_dict()})

    def clear(self) -> None:
        """Remove the stage's checkpoints, those of runs with other params too."""
        shutil.rmtree(CHECKPOINTS / self.stage, ignore_errors=True)
        with contextlib.suppress(OSError):  # other stages' checkpoints still there: keep it
            CHECKPOINTS.rmdir()
