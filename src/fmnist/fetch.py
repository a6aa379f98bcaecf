"""Fetch the four raw gz files from a list of mirrors, verifying the decompressed content."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fmnist.errors import DataError
from fmnist.io import write_atomic


@dataclass(frozen=True)
class Expected:
    """SHA-256 and size of a file's decompressed bytes (gz bytes differ between mirrors)."""

    sha256: str
    size: int


EXPECTED = {
    "train-images-idx3-ubyte.gz": Expected(
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
    "train-labels-idx1-ubyte.gz": Expected(
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
    "t10k-images-idx3-ubyte.gz": Expected(
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
    "t10k-labels-idx1-ubyte.gz": Expected(
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
}


DEFAULT_TIMEOUT = 30.0  # seconds per download attempt, when params.yaml names none


def is_url(mirror: str) -> bool:
    """True for http(s) mirrors, False for local directories."""
    return mirror.startswith(("http://", "https://"))


def read_mirror(mirror: str, name: str, timeout: float = 30.0) -> bytes:
    """Return the bytes of `name` at `mirror`; raise DataError('missing'/'unreachable ...')."""
    if is_url(mirror):
        url = f"{mirror.rstrip('/')}/{name}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.read()
        except urllib.error.HTTPError as err:
            raise DataError("missing" if err.code == 404 else f"unreachable (HTTP {err.code})") \
                from err
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise DataError(f"unreachable ({reason})") from err
    path = Path(mirror).expanduser() / name
    if not path.is_file():
        raise DataError("missing")
    return path.read_bytes()


def verify(gz_bytes: bytes, expected: Expected) -> None:
    """Check that `gz_bytes` is gzip whose content has the expected size and SHA-256."""
    if gz_bytes[:2] != b"\x1f\x8b":
        raise DataError("not gzip")
    try:
        content = gzip.decompress(gz_bytes)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"not gzip ({err})") from err
    if len(content) != expected.size:
        raise DataError(f"checksum mismatch (size {len(content)}, expected {expected.size})")
    digest = hashlib.sha256(content).hexdigest()
    if digest != expected.sha256:
        raise DataError(f"checksum mismatch (sha256 {digest[:12]}..., "
                        f"expected {expected.sha256[:12]}...)")


def fetch_file(name: str, expected: Expected, mirrors: list[str], out_dir: Path,
               timeout: float = 30.0) -> str:
    """Copy the first valid copy of `name` among `mirrors` into `out_dir`; return its mirror."""
    failures = []
    for mirror in mirrors:
        try:
            data = read_mirror(mirror, name, timeout)
            verify(data, expected)
        except DataError as err:
            failures.append(f"{mirror}: {err}")
            continue
        write_atomic(out_dir / name, lambda tmp, data=data: tmp.write_bytes(data))
        return mirror
    tried = "; ".join(failures) if failures else "no mirrors configured"
    raise DataError(f"{name}: no valid copy on any mirror ({tried})")


def fetch_all(mirrors: list[str], out_dir: str | Path, timeout: float = 30.0,
              expected: Mapping[str, Expected] = EXPECTED) -> dict[str, str]:
    """Fetch and verify every `expected` file into `out_dir`; return {file: mirror used}.

    Fails whole: on any error the directory holds no file of this run.
    """
    if not mirrors or not all(isinstance(m, str | os.PathLike) and str(m) for m in mirrors):
        raise DataError(f"params.yaml: 'data.mirrors' must be a non-empty list of directories "
                        f"or URLs, got {mirrors!r}")
    mirrors = [str(m) for m in mirrors]
    out_dir = Path(out_dir)
    staging = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        errors, used = [], {}
        for name, want in expected.items():
            try:
                used[name] = fetch_file(name, want, mirrors, staging, timeout)
            except DataError as err:
                errors.append(str(err))
        if errors:
            raise DataError("\n".join(errors))
        shutil.rmtree(out_dir, ignore_errors=True)
        staging.rename(out_dir)
        return used
    finally:
        shutil.rmtree(staging, ignore_errors=True)
