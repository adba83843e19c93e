"""scikit-learn's handwritten digits: 1,797 8x8 images shipped inside scikit-learn, so the default
experiment needs no download."""
import numpy as np

from nnplug.kinds import Dataset


def load(seed=0, test_size=250):
    from sklearn.datasets import load_digits  # imported here: scikit-learn takes a second to import

    digits = load_digits()
    n = len(digits.target)
    if not (isinstance(test_size, int) and 1 <= test_size <= n - 2):
        raise ValueError(f"test_size={test_size!r} is not allowed: expected a whole number from 1 to {n - 2}")
    # The pixels are counts 0..16 stored as float64; uint8 holds them exactly, like other image sets.
    images = digits.images.astype(np.uint8)[:, None]  # (N, 1, 8, 8)
    # The file is ordered by writer; a seeded shuffle makes train, validation and test alike.
    order = np.random.default_rng(seed).permutation(n)
    images, labels = images[order], digits.target[order]
    return {
        "X_train": images[:-test_size], "y_train": labels[:-test_size],
        "X_test": images[-test_size:], "y_test": labels[-test_size:],
        "class_names": [str(d) for d in digits.target_names],
    }


DATASET = Dataset(
    "digits", load,
    "scikit-learn's 1,797 8x8 handwritten digits, embedded: no download; seeded shuffle, last test_size for test",
    {"seed": 0, "test_size": 250},
)
