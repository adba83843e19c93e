"""CIFAR-10 from the official "CIFAR-10 python version" folder, optionally downloaded.

``root`` is the folder holding ``data_batch_1..5``, ``test_batch`` and ``batches.meta`` (the
``cifar-10-batches-py`` folder of the archive). The batch files are pickles, read with
``nnplug.safe_pickle`` so that a tampered file cannot run code.
"""
import os

import numpy as np

from nnplug.data import safe_pickle
from nnplug.data import default_root
from nnplug.data.fetch import fetch_archive
from nnplug.contract.kinds import Dataset
from nnplug.contract.options import in_range

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
FILES = TRAIN_BATCHES + ["test_batch", "batches.meta"]
IMAGE_SHAPE = (3, 32, 32)  # each row is the red plane, then green, then blue, 32x32 row-major


def load(root=None, download=False, url=URL, md5=MD5, test_size=None):
    root = os.path.expanduser(root) if root else default_root("cifar-10-batches-py")
    if download and _missing(root):
        fetch_archive(url, root, md5)
    missing = _missing(root)
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 not found in {root}: missing {', '.join(missing)}; expected the "
            f"'cifar-10-batches-py' folder of the official archive, or set data.download=true to fetch {url}"
        )
    meta = _unpickle(os.path.join(root, "batches.meta"))
    if not isinstance(meta, dict) or not isinstance(meta.get(b"label_names"), list):
        raise ValueError(f"{os.path.join(root, 'batches.meta')}: holds no b'label_names' list: not the "
                         f"batches.meta of the official release")
    x_train, y_train = _read_batches(root, TRAIN_BATCHES)
    x_test, y_test = _read_batches(root, ["test_batch"])
    if test_size is not None:
        if not 1 <= int(test_size) <= len(x_test):
            raise ValueError(f"data.test_size={test_size!r}: expected 1 to {len(x_test)}, or null for all")
        # CS231n tests on the first 1,000 test images; views, so no copy
        x_test, y_test = x_test[:int(test_size)], y_test[:int(test_size)]
    return {
        "X_train": x_train, "y_train": y_train, "X_test": x_test, "y_test": y_test,
        "class_names": [name.decode() for name in meta[b"label_names"]],
    }


def _unpickle(path):
    """The object pickled in the release file ``path``; ValueError naming it when it is damaged or foreign."""
    try:
        return safe_pickle.load(path)
    except safe_pickle.UnsafePickleError:
        raise
    except Exception as exc:  # noqa: BLE001  truncated, empty, random bytes: the unpickler's errors vary
        reason = str(exc) or type(exc).__name__
        raise ValueError(f"{path}: not a CIFAR-10 batch file as published ({reason}); "
                         f"the 'cifar-10-batches-py' folder of the official archive holds them") from None


def _missing(root):
    return [name for name in FILES if not os.path.isfile(os.path.join(root, name))]


def _read_batches(root, names):
    images, labels = [], []
    for name in names:
        x, y = _read_batch(os.path.join(root, name))
        images.append(x)
        labels.append(y)
    x = images[0] if len(images) == 1 else np.concatenate(images)
    return x.reshape((len(x),) + IMAGE_SHAPE), np.concatenate(labels)


def _read_batch(path):
    batch = _unpickle(path)
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: holds a {type(batch).__name__}, expected a CIFAR batch dict")
    data, labels = batch.get(b"data"), np.asarray(batch.get(b"labels"))
    width = int(np.prod(IMAGE_SHAPE))
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.shape[1:] == (width,)):
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path}: b'data' is {got}, expected a uint8 array of N x {width}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: b'labels' has shape {labels.shape}, expected {len(data)} integers")
    return data, labels


DATASET = Dataset(
    "cifar10", load,
    "CIFAR-10, 50,000/10,000 32x32 colour images in 10 classes, from the official python-version folder",
    {"root": None, "download": False, "url": URL, "md5": MD5, "test_size": None},
    option_types={"root": (str, type(None)), "test_size": (int, type(None))},
    check=lambda options: in_range(options, "test_size", minimum=1, at_most=10_000),
)
