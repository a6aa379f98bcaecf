"""The mirror-reading edge: the four raw gz files from directories or URLs, content verified."""

import hashlib
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fmnist.data.gunzip import decompress
from fmnist.errors import DataError


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


@dataclass
class Fetched:
    """The verified gz bytes per file, the mirror each came from, and the copies turned down."""

    files: dict[str, bytes] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)  # "<mirror>/<file>: <why>", in order


def read_mirror(mirror: str, name: str, timeout: float) -> bytes:
    """Return the bytes of `name` at `mirror`; raise DataError('missing'/'unreachable ...')."""
    if mirror.startswith(("http://", "https://")):
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
    """Check that `gz_bytes` is sound gzip whose content has the expected size and SHA-256."""
    content = decompress(gz_bytes)
    if len(content) != expected.size:
        raise DataError(f"checksum mismatch (size {len(content)}, expected {expected.size})")
    digest = hashlib.sha256(content).hexdigest()
    if digest != expected.sha256:
        raise DataError(f"checksum mismatch (sha256 {digest[:12]}..., "
                        f"expected {expected.sha256[:12]}...)")


def fetch_all(mirrors: Sequence[str], timeout: float,
              expected: Mapping[str, Expected] = EXPECTED) -> Fetched:
    """Find a verified copy of every `expected` file; DataError listing every file without one."""
    fetched, errors = Fetched(), []
    for name, want in expected.items():
        failures = []  # each copy refused, recorded once another mirror has a valid one
        for mirror in mirrors:
            try:
                data = read_mirror(mirror, name, timeout)
                verify(data, want)
            except DataError as err:
                failures.append(f"{mirror}: {err}")
                continue
            fetched.files[name], fetched.sources[name] = data, mirror
            fetched.rejected += [f"{failure} (used {mirror})" for failure in failures]
            break
        else:
            errors.append(f"{name}: no valid copy on any mirror ({'; '.join(failures)})")
    if errors:
        raise DataError("; ".join(errors))
    return fetched
