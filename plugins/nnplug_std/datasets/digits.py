"""scikit-learn's handwritten digits: 1,797 8x8 images shipped inside scikit-learn, so the default
experiment needs no download."""
import importlib.util
from pathlib import Path

import numpy as np

from nnplug.contract.kinds import Dataset
from nnplug.contract.options import in_range


def _pixels_and_labels():
    """The rows of scikit-learn's ``digits.csv.gz``: 64 pixels and the label, as load_digits reads them.

    Importing scikit-learn takes over a second, as long as the default experiment trains, and every
    process of a parallel sweep would pay it: the file is read from the installed package instead,
    which ``find_spec`` locates without importing it. A scikit-learn that keeps it elsewhere is
    asked through its own loader.
    """
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits

        return load_digits(return_X_y=True)
    rows = np.loadtxt(path, delimiter=",", dtype=np.uint8)  # counts 0..16, and labels 0..9
    return rows[:, :-1], rows[:, -1].astype(np.int64)


def load(seed=0, test_size=250):
    pixels, labels = _pixels_and_labels()
    n = len(labels)
    if not (isinstance(test_size, int) and 1 <= test_size <= n - 2):
        raise ValueError(f"test_size={test_size!r} is not allowed: expected a whole number from 1 to {n - 2}")
    # The pixels are counts 0..16; uint8 holds them exactly, like other image sets.
    images = pixels.astype(np.uint8, copy=False).reshape(n, 1, 8, 8)
    # The file is ordered by writer; a seeded shuffle makes train, validation and test alike.
    order = np.random.default_rng(seed).permutation(n)
    images, labels = images[order], labels[order]
    return {
        "X_train": images[:-test_size], "y_train": labels[:-test_size],
        "X_test": images[-test_size:], "y_test": labels[-test_size:],
        "class_names": [str(d) for d in range(10)],
    }


DATASET = Dataset(
    "digits", load,
    "scikit-learn's 1,797 8x8 handwritten digits, embedded: no download; seeded shuffle, last test_size for test",
    {"seed": 0, "test_size": 250},
    check=lambda options: in_range(options, "test_size", minimum=1, at_most=1795),
    val_size=250,
)
