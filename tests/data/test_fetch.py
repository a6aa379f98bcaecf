"""Fetching from mirrors: verification by decompressed SHA-256, fallback, every failure named."""

import functools
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from fmnist.data.fetch import Expected, fetch_all
from fmnist.errors import DataError
from tests.conftest import corrupt, write_idx_pair


def expected_of(folder: Path) -> dict[str, Expected]:
    """The Expected entry of each gz file in `folder`, from its decompressed bytes."""
    table = {}
    for path in sorted(folder.glob("*.gz")):
        content = gzip.decompress(path.read_bytes())
        table[path.name] = Expected(hashlib.sha256(content).hexdigest(), len(content))
    return table


def bad_mirror(tmp_path: Path, expected: dict[str, Expected]) -> tuple[Path, list[str]]:
    """A mirror whose first file is not gzip, second has the wrong content, others missing."""
    bad = tmp_path / "bad"
    bad.mkdir()
    names = sorted(expected)
    (bad / names[0]).write_bytes(b"plain text, not gzip")
    (bad / names[1]).write_bytes(gzip.compress(b"wrong content"))
    return bad, names


@pytest.fixture
def good_mirror(tmp_path: Path) -> Path:
    folder = tmp_path / "good"
    write_idx_pair(folder, "train", 20)
    write_idx_pair(folder, "t10k", 10, seed=1)
    return folder


def test_returns_verified_files(good_mirror):
    expected = expected_of(good_mirror)
    fetched = fetch_all([str(good_mirror)], 5, expected=expected)
    assert set(fetched.sources.values()) == {str(good_mirror)} and not fetched.rejected
    assert fetched.files == {name: (good_mirror / name).read_bytes() for name in expected}


def test_recompressed_copy_is_accepted(tmp_path, good_mirror):
    expected = expected_of(good_mirror)
    other = tmp_path / "other"
    other.mkdir()
    for name in expected:  # different gz bytes, same content
        content = gzip.decompress((good_mirror / name).read_bytes())
        (other / name).write_bytes(gzip.compress(content, compresslevel=1, mtime=123))
    assert set(fetch_all([str(other)], 5, expected=expected).sources.values()) == {str(other)}


def test_first_mirror_bad_second_good_names_each_rejection(tmp_path, good_mirror):
    expected = expected_of(good_mirror)
    bad, names = bad_mirror(tmp_path, expected)
    fetched = fetch_all([str(bad), str(good_mirror)], 5, expected=expected)
    assert set(fetched.sources.values()) == {str(good_mirror)}
    assert len(fetched.rejected) == len(expected)  # one line per file the bad mirror failed
    assert any(line.startswith(f"{bad}: not gzip") for line in fetched.rejected)
    assert all(line.endswith(f"(used {good_mirror})") for line in fetched.rejected)


@pytest.mark.parametrize("damage", ["truncate", "crc", "deflate"])
def test_corrupt_copy_is_called_corrupt_gzip(tmp_path, good_mirror, damage):
    expected = expected_of(good_mirror)
    bad = tmp_path / "bad"
    bad.mkdir()
    name = sorted(expected)[0]
    (bad / name).write_bytes(corrupt((good_mirror / name).read_bytes(), damage))
    with pytest.raises(DataError, match=rf"{name}: no valid copy .*{bad}: corrupt gzip \("):
        fetch_all([str(bad)], 5, expected={name: expected[name]})


def test_error_names_each_mirror_and_reason(tmp_path, good_mirror):
    expected = expected_of(good_mirror)
    bad, names = bad_mirror(tmp_path, expected)
    unreachable = "http://127.0.0.1:9/nothing"  # port 9 (discard) is closed here
    with pytest.raises(DataError) as err:
        fetch_all([str(bad), unreachable], 2, expected=expected)
    message = str(err.value)
    assert "\n" not in message
    assert f"{names[0]}: no valid copy" in message
    assert f"{bad}: not gzip" in message
    assert f"{bad}: checksum mismatch" in message
    assert f"{bad}: missing" in message
    assert f"{unreachable}: unreachable" in message


def test_http_mirror(tmp_path, good_mirror):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(good_mirror))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        expected = expected_of(good_mirror)
        fetched = fetch_all([str(tmp_path / "nowhere"), url], 5, expected=expected)
        assert set(fetched.sources.values()) == {url}
        with pytest.raises(DataError, match="missing"):
            fetch_all([url + "sub/"], 5, expected=expected)
    finally:
        server.shutdown()
