"""Reader for the IDX files of (Fashion-)MNIST, gzip-compressed or not: the data-reading edge."""

from pathlib import Path

import numpy as np

from fmnist.data.classes import IMAGE_SIZE, NUM_CLASSES
from fmnist.data.gunzip import gunzip, is_gzip
from fmnist.errors import DataError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


def read_bytes(path: str | Path) -> bytes:
    """Return the content of `path`, decompressed when it is gzip (by magic, not by name)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    raw = path.read_bytes()
    return gunzip(raw, str(path)) if is_gzip(raw) else raw


def parse_idx(data: bytes, magic: int, name: str) -> np.ndarray:
    """Parse IDX bytes with the expected `magic`; the array has the header's dimensions."""
    ndim = magic - 2048
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated IDX header ({len(data)} bytes, expected {header})")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(f"{name}: expected IDX magic {magic}, found {found}")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise DataError(
            f"{name}: header says {dims} -> {expected} bytes, but the file has {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load_mnist(path: str | Path, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load `{kind}-images/labels` from `path`: images uint8 [N, 784], labels uint8 [N]."""
    if kind not in ("train", "t10k"):
        raise ValueError(f"kind must be 'train' or 't10k', got {kind!r}")
    path = Path(path)
    images_file = path / f"{kind}-images-idx3-ubyte.gz"
    labels_file = path / f"{kind}-labels-idx1-ubyte.gz"
    images = parse_idx(read_bytes(images_file), IMAGES_MAGIC, str(images_file))
    if images.shape[1:] != IMAGE_SIZE:
        raise DataError(f"{images_file}: expected {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} images, "
                        f"found {images.shape[1]}x{images.shape[2]}")
    if images.shape[0] == 0:
        raise DataError(f"{images_file}: holds no images")
    labels = parse_idx(read_bytes(labels_file), LABELS_MAGIC, str(labels_file))
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{images_file}: {images.shape[0]} images but {labels_file} has "
                        f"{labels.shape[0]} labels")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(f"{labels_file}: label {labels.max()} outside 0..{NUM_CLASSES - 1}")
    return images.reshape(len(images), IMAGE_SIZE[0] * IMAGE_SIZE[1]), labels  # (N, 784), (N,)
