"""Atomic file output and params loading: nothing half-written, no timestamps inside."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from fmnist.errors import ParamError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Call `writer(tmp_path)` and move the result to `path` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, data: Any) -> Path:
    """Write `data` as indented, key-sorted JSON (byte-identical for equal data)."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_torch(path: str | Path, obj: Any) -> Path:
    """`torch.save` to `path` atomically, byte-identical for equal objects."""
    import torch

    # torch.save records the file name it writes to inside the archive; saving to memory keeps
    # the random temporary name out, so equal tensors give equal files (and equal DVC hashes).
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_atomic(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def save_figure(path: str | Path, fig: Any) -> Path:
    """Save a matplotlib figure atomically (no timestamp metadata) and close it."""
    import matplotlib.pyplot as plt

    def _save(tmp: Path) -> None:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=110,
                    bbox_inches="tight", metadata={"Software": None})

    try:
        return write_atomic(path, _save)
    finally:
        plt.close(fig)


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Load params.yaml as a dict."""
    path = Path(path)
    if not path.is_file():
        raise ParamError(f"{path}: params file not found")
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(params, dict):
        raise ParamError(f"{path}: expected a mapping of parameters at the top level")
    return params


def require(params: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """Return `params[key]` (dotted keys reach into groups), checking its type."""
    value: Any = params
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ParamError(f"params.yaml: missing parameter '{key}'")
        value = value[part]
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ParamError(f"params.yaml: '{key}' must be a number, got {value!r}")
    if not isinstance(value, kind):
        raise ParamError(f"params.yaml: '{key}' has the wrong type, got {value!r}")
    return value
