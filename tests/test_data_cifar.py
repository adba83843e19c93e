"""CIFAR-10 read from a folder in the official format, through the real loader and preparation."""
import os
import pickle

import numpy as np
import pytest
from data_fixtures import dump_py2, py2_pickle, write_cifar_folder

from nnplug import data
from nnplug.data.safe_pickle import UnsafePickleError


@pytest.fixture
def cifar(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    x_train, y_train, x_test, y_test = write_cifar_folder(root, n_train=50, n_test=10)
    return str(root), x_train.reshape(-1, 3, 32, 32), y_train, x_test.reshape(-1, 3, 32, 32), y_test


def test_fixture_is_written_like_the_official_python2_pickles(cifar):
    content = open(os.path.join(cifar[0], "data_batch_1"), "rb").read()
    assert content.startswith(b"\x80\x02}")  # protocol 2, a dict
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in content
    assert b"U\x04data" in content and b"U\x06labels" in content  # SHORT_BINSTRING keys


def test_layout_split_and_labels_follow_the_files(cifar):
    root, x_train, y_train, x_test, y_test = cifar
    d = data.load("cifar10", root=root, val_size=10, normalize="none", dtype="float64")
    # each row is the red plane, then green, then blue: exactly (C, H, W) after a reshape
    np.testing.assert_array_equal(d["X_train"], x_train[:40])
    np.testing.assert_array_equal(d["X_val"], x_train[40:])  # validation = the END of train
    np.testing.assert_array_equal(d["X_test"], x_test)
    np.testing.assert_array_equal(d["y_train"], y_train[:40])
    np.testing.assert_array_equal(d["y_val"], y_train[40:])
    np.testing.assert_array_equal(d["y_test"], y_test)
    assert d["y_train"].dtype == np.int64 and d["X_train"].dtype == np.float64
    assert d["class_names"][:3] == ["airplane", "automobile", "bird"]
    assert (d["image_shape"], d["input_dim"], d["num_classes"]) == ((3, 32, 32), 3072, 10)


def test_mean_image_comes_from_the_training_split_only(cifar):
    root, x_train, _, x_test, _ = cifar
    d = data.load("cifar10", root=root, val_size=10, normalize="mean_image")
    mean = x_train[:40].astype(np.float64).mean(axis=0)
    assert d["X_train"].dtype == np.float32
    np.testing.assert_allclose(d["X_train"].mean(axis=0, dtype=np.float64), 0, atol=1e-4)
    np.testing.assert_allclose(d["X_val"], x_train[40:] - mean, atol=1e-4)
    np.testing.assert_allclose(d["X_test"], x_test - mean, atol=1e-4)


@pytest.mark.parametrize("normalize", ["per_channel", "auto"])
def test_per_channel_standardises_each_colour_with_training_statistics(cifar, normalize):
    root, x_train, _, x_test, _ = cifar
    d = data.load("cifar10", root=root, val_size=10, normalize=normalize, dtype="float64")
    train = x_train[:40].astype(np.float64)
    mean, std = train.mean(axis=(0, 2, 3), keepdims=True), train.std(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(d["X_train"].std(axis=(0, 2, 3)), 1, rtol=1e-9)
    np.testing.assert_allclose(d["X_test"], (x_test - mean) / std, rtol=1e-9)


def test_limit_keeps_the_first_training_rows_and_the_same_validation(cifar):
    root, x_train, *_ = cifar
    d = data.load("cifar10", root=root, val_size=10, limit=15, normalize="none")
    np.testing.assert_array_equal(d["X_train"], x_train[:15])
    np.testing.assert_array_equal(d["X_val"], x_train[40:])


def test_flatten_gives_rows_of_3072_in_file_order(cifar):
    root, x_train, *_ = cifar
    d = data.load("cifar10", root=root, val_size=10, normalize="none", flatten=True)
    assert d["X_train"].shape == (40, 3072) and d["image_shape"] == (3, 32, 32)
    np.testing.assert_array_equal(d["X_train"], x_train[:40].reshape(40, -1))


def test_missing_files_are_named_with_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"not found in .*nowhere: missing data_batch_1.*download=true"):
        data.load("cifar10", root=str(tmp_path / "nowhere"))


def test_a_batch_that_is_not_uint8_rows_of_3072_is_rejected(cifar):
    root = cifar[0]
    dump_py2({b"data": np.zeros((5, 100), np.uint8), b"labels": [0] * 5}, os.path.join(root, "data_batch_2"))
    with pytest.raises(ValueError, match=r"data_batch_2: b'data' is uint8 \(5, 100\), expected a uint8 array of N x 3072"):
        data.load("cifar10", root=root)


class _MakeDir:
    """Unpickling this calls os.mkdir(path): the shape of every pickle exploit."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_a_crafted_pickle_is_refused_and_its_payload_never_runs(cifar, tmp_path):
    root = cifar[0]
    marker = tmp_path / "payload-ran"
    crafted = py2_pickle({b"data": _MakeDir(str(marker)), b"labels": []})
    # the payload is live: an ordinary unpickler runs it
    pickle.loads(crafted)
    assert marker.exists()
    marker.rmdir()

    with open(os.path.join(root, "data_batch_3"), "wb") as f:
        f.write(crafted)
    with pytest.raises(UnsafePickleError, match=r"data_batch_3: refused to load global posix\.mkdir"):
        data.load("cifar10", root=root)
    assert not marker.exists()


def test_numpy_globals_outside_the_allow_list_are_refused_too(cifar):
    root = cifar[0]
    with open(os.path.join(root, "batches.meta"), "wb") as f:
        f.write(b"\x80\x02cnumpy\nload\nq\x00X\x08\x00\x00\x00/dev/nullq\x01\x85q\x02Rq\x03.")
    with pytest.raises(UnsafePickleError, match=r"batches\.meta: refused to load global numpy\.load"):
        data.load("cifar10", root=root)


def test_test_size_keeps_the_first_test_images_as_cs231n(cifar):
    root, _, _, x_test, y_test = cifar
    d = data.load("cifar10", root=root, val_size=10, normalize="none", test_size=4)
    np.testing.assert_array_equal(d["X_test"], x_test[:4])
    np.testing.assert_array_equal(d["y_test"], y_test[:4])
    with pytest.raises(ValueError, match=r"data.test_size=11: expected 1 to 10"):
        data.load("cifar10", root=root, val_size=10, test_size=11)
