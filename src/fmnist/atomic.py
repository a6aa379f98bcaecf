"""The stages' outputs, written atomically: files, folders, figures and per-epoch logs.

Every output is written under a temporary name beside its target, `.<name>.partial`, and renamed
into place only when complete: a killed or failed stage never leaves a half-written output, and
the next run removes any partial it finds (`clean_partials`).
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # for annotations only: writing files needs neither
    from matplotlib.figure import Figure

    from fmnist.train.history import EpochResult

PARTIAL = ".partial"
LOGGED = ("train_loss", "val_loss", "val_accuracy")  # per epoch; seconds stay out (they vary)


def partial_path(path: str | Path) -> Path:
    """The temporary name `path` is written under: `.<name>.partial` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}{PARTIAL}")


def remove(path: Path) -> None:
    """Delete a file or folder if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def clean_partials(*paths: str | Path) -> None:
    """Remove what killed earlier runs left of these outputs' temporary files."""
    for path in paths:
        remove(partial_path(path))


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (file or folder); move it into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    remove(tmp)
    try:
        yield tmp
        if tmp.is_dir():
            _replace_dir(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        remove(tmp)


def _replace_dir(new: Path, path: Path) -> None:
    """Put folder `new` at `path`, replacing what was there; a folder cannot be renamed over."""
    old = path.with_name(f".{path.name}.old")
    remove(old)
    if path.exists():
        os.replace(path, old)
    os.replace(new, path)
    remove(old)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` atomically, UTF-8."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any) -> None:
    """Write `data` as indented, key-sorted JSON (byte-identical for equal data)."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def torch_bytes(obj: Any) -> bytes:
    """`torch.save` of `obj` into memory: equal objects give equal bytes.

    torch.save records the name of the file it writes inside the archive; saving to memory keeps
    the temporary name out, so equal tensors give equal files (and equal DVC hashes).
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_torch(path: str | Path, obj: Any) -> None:
    """`torch.save` to `path` atomically, byte-identical for equal objects."""
    write_bytes(path, torch_bytes(obj))


def write_dir(path: str | Path, files: dict[str, bytes]) -> None:
    """Make `path` a folder holding exactly `files` ({name: bytes}), atomically as a whole."""
    with atomic_path(path) as tmp:
        tmp.mkdir()
        for name, data in files.items():
            (tmp / name).write_bytes(data)


def save_figure(path: str | Path, fig: Figure) -> None:
    """Save a figure atomically as PNG, without the timestamp and software metadata."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})


class LiveLog:
    """An `on_epoch` callback logging with dvclive (step = epoch) into a temporary folder.

    The folder moves into place when the block ends normally; an interrupted or failed run
    leaves no log behind that could pass for a result.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.results: list[EpochResult] = []
        self._tmp = partial_path(self.path)
        self._live: Any = None

    def __enter__(self) -> LiveLog:
        from dvclive import Live  # imported here: only the training stages need it

        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove(self._tmp)
        # dvcyaml=False: dvc.yaml declares the plots by hand; no experiment of its own either
        self._live = Live(dir=str(self._tmp), dvcyaml=False, save_dvc_exp=False)
        return self

    def __call__(self, result: EpochResult) -> None:
        """Log one epoch's losses and accuracy, rounded so equal runs give equal files."""
        self.results.append(result)
        self._live.step = result.epoch
        for name in LOGGED:
            value = getattr(result, name)
            if not math.isnan(value):  # NaN: an epoch fit did not validate; no point to plot
                self._live.log_metric(name, round(value, 6))
        self._live.next_step()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self._live.end()
            _replace_dir(self._tmp, self.path)
        remove(self._tmp)
