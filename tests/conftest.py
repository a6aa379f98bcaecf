"""Shared fixtures: every test seeded; small synthetic IDX files written on demand."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """Encode a uint8 array as IDX with the given magic number."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_pair(folder: Path, kind: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Write gzip IDX images [n, 28, 28] and labels [n] for `kind` into `folder`."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{kind}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images, 2051)))
    (folder / f"{kind}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels, 2049)))
    return images, labels


def corrupt(gz: bytes, damage: str) -> bytes:
    """`gz` damaged three ways gzip reports differently: cut short, wrong CRC, broken deflate."""
    if damage == "truncate":
        return gz[: len(gz) // 2]  # EOFError
    if damage == "crc":
        return gz[:-8] + bytes(b ^ 0xFF for b in gz[-8:-4]) + gz[-4:]  # BadGzipFile
    if damage == "deflate":
        return gz[:10] + b"\xff" * 8 + gz[18:]  # zlib.error, with a valid header
    raise ValueError(damage)


# The stage scripts import their shared edge as `_shared`, from beside them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
