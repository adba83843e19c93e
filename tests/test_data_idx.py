"""MNIST and Fashion-MNIST read from gzipped IDX files, as published."""
import gzip
import os

import numpy as np
import pytest
from data_fixtures import idx_bytes, mnist_files, write_files

from nnplug import data
from nnplug_std.datasets import fashion_mnist


@pytest.fixture
def mnist_root(tmp_path):
    files, arrays = mnist_files(n_train=30, n_test=10)
    write_files(tmp_path, files)
    return str(tmp_path), arrays


def test_mnist_reads_images_as_one_channel_and_splits_the_end_of_train(mnist_root):
    root, arrays = mnist_root
    d = data.load("mnist", root=root, val_size=5, normalize="none")
    images, labels = arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]
    assert d["X_train"].shape == (25, 1, 28, 28) and d["image_shape"] == (1, 28, 28)
    np.testing.assert_array_equal(d["X_train"][:, 0], images[:25])
    np.testing.assert_array_equal(d["X_val"][:, 0], images[25:])
    np.testing.assert_array_equal(d["y_val"], labels[25:])
    np.testing.assert_array_equal(d["y_test"], arrays["t10k-labels-idx1-ubyte.gz"])
    assert d["class_names"] == [str(i) for i in range(10)]


def test_fashion_mnist_has_its_class_names(mnist_root):
    d = data.load("fashion_mnist", root=mnist_root[0], val_size=5)
    assert d["class_names"][0] == "T-shirt/top" and d["class_names"][9] == "Ankle boot"


def test_a_file_with_the_wrong_magic_number_is_rejected(mnist_root):
    root, arrays = mnist_root
    # a labels file where the images should be
    with open(os.path.join(root, "train-images-idx3-ubyte.gz"), "wb") as f:
        f.write(gzip.compress(idx_bytes(arrays["train-labels-idx1-ubyte.gz"])))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: IDX magic number 0x00000801, expected 0x00000803"):
        data.load("mnist", root=root)


def test_a_truncated_file_is_rejected(mnist_root):
    root, arrays = mnist_root
    with open(os.path.join(root, "t10k-images-idx3-ubyte.gz"), "wb") as f:
        f.write(gzip.compress(idx_bytes(arrays["t10k-images-idx3-ubyte.gz"])[:-100]))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: 7740 bytes of values, expected 7840 for shape \(10, 28, 28\)"):
        data.load("mnist", root=root)


def test_missing_files_are_named(tmp_path):
    write_files(tmp_path, {"train-images-idx3-ubyte.gz": b""})
    with pytest.raises(FileNotFoundError, match=r"MNIST not found in .*: missing train-labels-idx1-ubyte\.gz, t10k"):
        data.load("mnist", root=str(tmp_path))


@pytest.mark.skipif(not os.path.isdir(fashion_mnist.SYSTEM_ROOT), reason="apt package dataset-fashion-mnist not installed")
def test_fashion_mnist_defaults_to_the_debian_package_files():
    d = data.load("fashion_mnist", limit=100)
    assert d["X_train"].shape == (100, 1, 28, 28)
    assert d["X_val"].shape == (1000, 1, 28, 28) and d["X_test"].shape == (10000, 1, 28, 28)
    assert np.bincount(d["y_test"]).tolist() == [1000] * 10  # the real test set is balanced
