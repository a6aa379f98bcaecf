"""Shared fixtures: every test seeded; small synthetic IDX files written on demand."""

import gzip
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml


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


def postgres_bin() -> Path | None:
    """Debian's PostgreSQL server programs (initdb, pg_ctl), the newest version, if installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return found[-1].parent if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a local port: the URL of its `postgres` database.

    initdb and pg_ctl refuse to run as root, so as root they run as `nobody` in a folder it
    owns; no system service is involved, and the cluster is removed afterwards.
    """
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("needs Debian's postgresql (.ci/run installs it)")
    home = Path(tempfile.mkdtemp(prefix="fmnist-pg-"))
    as_user: dict[str, int] = {}
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid}
        os.chown(home, nobody.pw_uid, nobody.pw_gid)
    port, data = free_port(), home / "data"

    def pg(*args: str) -> None:
        subprocess.run([str(bin_dir / args[0]), *args[1:]], check=True, capture_output=True,
                       cwd=home, **as_user)

    try:
        pg("initdb", "-D", str(data), "-U", "fmnist", "--auth=trust", "--no-locale",
           "-E", "UTF8")
        pg("pg_ctl", "-D", str(data), "-l", str(home / "log"), "-w", "-o",
           f"-p {port} -k {home} -h 127.0.0.1 -c max_connections=100 -F", "start")
        yield f"postgresql+psycopg://fmnist@127.0.0.1:{port}/postgres"
        pg("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the throw-away cluster, for one test."""
    import psycopg

    name = f"t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"


def edit_params(path: Path, **changes: object) -> Path:
    """Change the params file at `path`; dotted keys reach into groups, None deletes a key."""
    params = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        *groups, last = key.split(".")
        target = params
        for group in groups:
            target = target[group]
        if value is None:
            del target[last]
        else:
            target[last] = value
    path.write_text(yaml.safe_dump(params))
    return path


# A hand-made classification: (actual, predicted) pairs over classes a, b, c; c is never
# predicted. Recall per row: a 3/4, b 2/4, c 0/2; precision per column: a 3/6, b 2/4, c none.
NAMES = ("a", "b", "c")
PAIRS = [(0, 0)] * 3 + [(0, 1)] + [(1, 1)] * 2 + [(1, 0)] * 2 + [(2, 0), (2, 1)]


def onehot(indices: list[int], k: int = 3) -> np.ndarray:
    return np.eye(k, dtype=np.int64)[indices]


def hand_made() -> tuple[np.ndarray, np.ndarray]:
    """(predictions, labels) one-hot [10, 3] for PAIRS."""
    actual, predicted = zip(*PAIRS, strict=True)
    return onehot(list(predicted)), onehot(list(actual))
