"""Fetching from mirrors: verification by decompressed SHA-256, fallback, all-or-nothing output."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fmnist.errors import DataError
from fmnist.fetch import Expected, fetch_all
from tests.conftest import write_idx_pair

ROOT = Path(__file__).resolve().parents[1]


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


def test_copies_verified_files(tmp_path, good_mirror):
    expected = expected_of(good_mirror)
    used = fetch_all([str(good_mirror)], tmp_path / "raw", expected=expected)
    assert set(used) == set(expected) and set(used.values()) == {str(good_mirror)}
    for name in expected:
        assert (tmp_path / "raw" / name).read_bytes() == (good_mirror / name).read_bytes()


def test_recompressed_copy_is_accepted(tmp_path, good_mirror):
    expected = expected_of(good_mirror)
    other = tmp_path / "other"
    other.mkdir()
    for name in expected:  # different gz bytes, same content
        content = gzip.decompress((good_mirror / name).read_bytes())
        (other / name).write_bytes(gzip.compress(content, compresslevel=1, mtime=123))
    assert set(fetch_all([str(other)], tmp_path / "raw", expected=expected).values()) == {
        str(other)}


def test_first_mirror_bad_second_good(tmp_path, good_mirror):
    expected = expected_of(good_mirror)
    bad, names = bad_mirror(tmp_path, expected)
    used = fetch_all([str(bad), str(good_mirror)], tmp_path / "raw", expected=expected)
    assert set(used.values()) == {str(good_mirror)}


def test_error_names_each_mirror_and_reason(tmp_path, good_mirror):
    expected = expected_of(good_mirror)
    bad, names = bad_mirror(tmp_path, expected)
    unreachable = "http://127.0.0.1:9/nothing"  # port 9 (discard) is closed here
    out = tmp_path / "raw"
    with pytest.raises(DataError) as err:
        fetch_all([str(bad), unreachable], out, timeout=2, expected=expected)
    message = str(err.value)
    assert f"{names[0]}: no valid copy" in message
    assert f"{bad}: not gzip" in message
    assert f"{bad}: checksum mismatch" in message
    assert f"{bad}: missing" in message
    assert f"{unreachable}: unreachable" in message
    assert not out.exists(), "nothing may be left behind when a file fails"
    assert not list(tmp_path.glob(".raw*")), "no staging directory may be left behind"


def test_failure_keeps_previous_output_untouched(tmp_path, good_mirror):
    expected = expected_of(good_mirror)
    out = tmp_path / "raw"
    fetch_all([str(good_mirror)], out, expected=expected)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(DataError):
        fetch_all([str(tmp_path / "empty")], out, expected=expected)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_http_mirror(tmp_path, good_mirror):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(good_mirror))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        expected = expected_of(good_mirror)
        used = fetch_all([str(tmp_path / "nowhere"), url], tmp_path / "raw", expected=expected)
        assert set(used.values()) == {url}
        with pytest.raises(DataError, match="missing"):
            fetch_all([url + "sub/"], tmp_path / "raw2", expected=expected)
    finally:
        server.shutdown()


def test_empty_mirror_list_is_a_param_error(tmp_path):
    with pytest.raises(DataError, match="data.mirrors"):
        fetch_all([], tmp_path / "raw")


def test_stage_exits_nonzero_with_one_message(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(f"data:\n  mirrors: ['{tmp_path / 'none'}']\n  timeout: 1\n")
    run = subprocess.run([sys.executable, str(ROOT / "stages" / "fetch.py"), "--params",
                          str(params), "--out", str(tmp_path / "raw")],
                         capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.startswith("error: ") and "Traceback" not in run.stderr
    assert f"{tmp_path / 'none'}: missing" in run.stderr
    assert not (tmp_path / "raw").exists()
