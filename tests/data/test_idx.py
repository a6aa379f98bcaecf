"""The IDX reader: good files load, every kind of damage is a DataError naming the file."""

import gzip

import numpy as np
import pytest

from fmnist.data.idx import load_mnist
from fmnist.errors import DataError
from tests.conftest import corrupt, idx_bytes, write_idx_pair


def test_reads_images_and_labels(tmp_path):
    images, labels = write_idx_pair(tmp_path, "train", 30)
    x, y = load_mnist(tmp_path, "train")
    assert x.shape == (30, 784) and x.dtype == np.uint8
    assert y.shape == (30,) and y.dtype == np.uint8
    np.testing.assert_array_equal(x, images.reshape(30, 784))
    np.testing.assert_array_equal(y, labels)


def test_reads_uncompressed_content_under_gz_name(tmp_path):
    write_idx_pair(tmp_path, "t10k", 5)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.decompress(path.read_bytes()))
    assert load_mnist(tmp_path, "t10k")[1].shape == (5,)


@pytest.mark.parametrize("which", ["images", "labels"])
def test_wrong_magic(tmp_path, which):
    write_idx_pair(tmp_path, "train", 4)
    path = tmp_path / f"train-{which}-idx{3 if which == 'images' else 1}-ubyte.gz"
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[:4] = (1234).to_bytes(4, "big")
    path.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(DataError, match=rf"{path.name}: expected IDX magic .* found 1234"):
        load_mnist(tmp_path, "train")


def test_truncated_file(tmp_path):
    write_idx_pair(tmp_path, "train", 4)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[:-10]))
    with pytest.raises(DataError, match=r"train-images.*header says \[4, 28, 28\]"):
        load_mnist(tmp_path, "train")


def test_truncated_header(tmp_path):
    write_idx_pair(tmp_path, "train", 4)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08"))
    with pytest.raises(DataError, match="train-labels.*truncated IDX header"):
        load_mnist(tmp_path, "train")


def test_count_mismatch(tmp_path):
    write_idx_pair(tmp_path, "train", 4)
    labels = np.zeros(3, dtype=np.uint8)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels, 2049)))
    with pytest.raises(DataError, match="4 images but .* has 3 labels"):
        load_mnist(tmp_path, "train")


@pytest.mark.parametrize("damage", ["truncate", "crc", "deflate"])
def test_corrupt_gzip(tmp_path, damage):
    write_idx_pair(tmp_path, "train", 4)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(corrupt(path.read_bytes(), damage))
    with pytest.raises(DataError, match="train-images.*: corrupt gzip"):
        load_mnist(tmp_path, "train")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="train-images.*not found"):
        load_mnist(tmp_path, "train")


def test_bad_kind_is_refused_before_any_file_is_read(tmp_path):
    # the folder does not exist: a reader that looked for files first would say "not found"
    with pytest.raises(ValueError) as refused:
        load_mnist(tmp_path / "nowhere", "test")
    assert str(refused.value) == "kind must be 'train' or 't10k', got 'test'"
    assert not isinstance(refused.value, DataError)


def test_kind_picks_its_own_files(tmp_path):
    write_idx_pair(tmp_path, "train", 4, seed=1)
    images, labels = write_idx_pair(tmp_path, "t10k", 6, seed=2)
    x, y = load_mnist(tmp_path, "t10k")
    np.testing.assert_array_equal(x, images.reshape(6, 784))
    np.testing.assert_array_equal(y, labels)


def test_label_outside_the_ten_classes(tmp_path):
    write_idx_pair(tmp_path, "train", 3)
    labels = np.array([0, 10, 2], dtype=np.uint8)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels, 2049)))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: label 10 outside 0\.\.9"):
        load_mnist(tmp_path, "train")


@pytest.mark.parametrize(("shape", "message"), [
    ((3, 10, 10), "expected 28x28 images, found 10x10"),
    ((0, 28, 28), "holds no images"),
])
def test_wrong_image_size_or_no_images(tmp_path, shape, message):
    write_idx_pair(tmp_path, "train", 3)
    images = np.zeros(shape, dtype=np.uint8)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images, 2051)))
    with pytest.raises(DataError, match=f"train-images.*{message}"):
        load_mnist(tmp_path, "train")


def test_callers_of_the_assignment_s_reader_catch_bad_files_as_value_error(tmp_path):
    """The assignment's reader raised ValueError; code written for it must still catch ours,
    and get the file's name and what is wrong with it."""
    write_idx_pair(tmp_path, "train", 4)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(corrupt(path.read_bytes(), "crc"))
    try:
        load_mnist(tmp_path, "train")
    except ValueError as err:
        assert isinstance(err, DataError)
        assert str(err).startswith(f"{path}: corrupt gzip"), str(err)
    else:
        pytest.fail("a corrupt file loaded")
