"""A data set whose labels go beyond its class names."""
import numpy as np

from nnplug import Dataset, hookimpl


def load():
    rng = np.random.default_rng(0)
    return {"X_train": rng.standard_normal((40, 3)), "y_train": rng.integers(0, 4, 40),
            "X_test": rng.standard_normal((10, 3)), "y_test": rng.integers(0, 4, 10),
            "class_names": ["a", "b", "c"]}  # labels 0..3, names for 0..2


@hookimpl
def nnplug_datasets():
    return [Dataset("bad_labels", load, "labels out of range")]
