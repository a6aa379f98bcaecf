"""The stages' outputs, written atomically: each file as `.<name>.partial` beside it, renamed into
place once complete (`clean_partials` removes a killed run's). Whole folders are DVC's to clear."""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
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


def clean_partials(*paths: str | Path) -> None:
    """Remove what killed earlier runs left of these outputs' temporary files."""
    for path in paths:
        partial_path(path).unlink(missing_ok=True)


def _write(path: str | Path, write: Callable[[Path], object]) -> None:
    """`write(tmp)` to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    _write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` atomically, UTF-8."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any) -> None:
    """Write `data` as indented, key-sorted JSON (byte-identical for equal data)."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def torch_bytes(obj: Any) -> bytes:
    """`torch.save` of `obj` into memory: equal objects give equal bytes."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)  # not to a file, whose archive would record its temporary name
    return buffer.getvalue()


def save_torch(path: str | Path, obj: Any) -> None:
    """`torch.save` to `path` atomically, byte-identical for equal objects."""
    write_bytes(path, torch_bytes(obj))


def write_dir(path: str | Path, files: dict[str, bytes]) -> None:
    """Write `files` ({name: bytes}) into folder `path`, each atomically."""
    for name, data in files.items():
        write_bytes(Path(path) / name, data)


def save_figure(path: str | Path, fig: Figure) -> None:
    """Save a figure atomically as PNG, without the timestamp and software metadata."""
    _write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight",
                                         metadata={"Software": None}))


def write_live(path: str | Path, results: list[EpochResult]) -> None:
    """A run's per-epoch losses and accuracy as a dvclive log (step = epoch)."""
    from dvclive import Live  # imported here: only the training stages need it

    # dvcyaml=False: dvc.yaml declares the plots by hand; no experiment of its own either
    with Live(dir=str(path), dvcyaml=False, save_dvc_exp=False) as live:
        for result in results:
            live.step = result.epoch
            for name in LOGGED:
                value = getattr(result, name)
                if not math.isnan(value):  # epochs that were not validated have no point
                    live.log_metric(name, round(value, 6))  # rounded: equal runs, equal files
            live.next_step()
