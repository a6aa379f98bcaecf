"""The one gunzip: sound data decompresses, every kind of damage is one "corrupt gzip" DataError."""

import gzip
import zlib

import pytest

from fmnist.data.gunzip import decompress, gunzip, is_gzip
from fmnist.errors import DataError
from tests.conftest import corrupt

CONTENT = bytes(range(256)) * 64


def test_round_trip_and_magic():
    gz = gzip.compress(CONTENT)
    assert is_gzip(gz) and not is_gzip(CONTENT)
    assert gunzip(gz, "f.gz") == CONTENT == decompress(gz)


@pytest.mark.parametrize(("damage", "cause"), [
    ("truncate", EOFError), ("crc", gzip.BadGzipFile), ("deflate", zlib.error)])
def test_each_damage_is_a_corrupt_gzip_error_naming_the_file(damage, cause):
    gz = corrupt(gzip.compress(CONTENT), damage)
    with pytest.raises(cause):  # what gzip itself raises, so each case is really different
        gzip.decompress(gz)
    with pytest.raises(DataError, match=r"^data/x\.gz: corrupt gzip \(") as err:
        gunzip(gz, "data/x.gz")
    assert isinstance(err.value.__cause__, cause)


def test_not_gzip():
    with pytest.raises(DataError, match="^f: not gzip"):
        gunzip(b"plain text", "f")
