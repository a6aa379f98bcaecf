"""One gunzip for every reader of the raw files: corrupt data is a clear DataError, never zlib's."""

import gzip
import zlib

from fmnist.errors import DataError


def is_gzip(raw: bytes) -> bool:
    """Whether `raw` starts with gzip's magic bytes (decided by content, not by file name)."""
    return raw[:2] == b"\x1f\x8b"


def decompress(raw: bytes) -> bytes:
    """The decompressed bytes of gzip data `raw`; DataError saying why if it is not sound gzip."""
    if not is_gzip(raw):
        raise DataError("not gzip (no gzip magic bytes at the start)")
    try:
        return gzip.decompress(raw)
    except EOFError as err:
        raise DataError(f"corrupt gzip (truncated: {err})") from err
    except (OSError, zlib.error) as err:  # gzip.BadGzipFile (CRC, header) is an OSError
        raise DataError(f"corrupt gzip ({err})") from err


def gunzip(raw: bytes, name: str) -> bytes:
    """`decompress(raw)`, with errors naming the file `name`."""
    try:
        return decompress(raw)
    except DataError as err:
        raise DataError(f"{name}: {err}") from err.__cause__
