"""MNIST-1D (Greydanus 2020): 4,000/1,000 sequences of length 40 in 10 classes, generated offline.

The ``mnist1d`` package's own generator builds the data from its templates with the paper's default
arguments; its ``get_dataset`` helper is never used because it downloads (with no timeout). The
generator already centres and scales the whole set, so ``normalize: none`` reproduces the paper.
"""
import random

import numpy as np

from nnplug.kinds import Dataset

PAPER_SEED = 42  # the seed of the published benchmark data


def load(seed=PAPER_SEED):
    # imported here: mnist1d pulls in matplotlib and requests
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    # make_dataset reseeds the global numpy and random generators; put them back for everyone else.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {
        "X_train": data["x"], "y_train": data["y"], "X_test": data["x_test"], "y_test": data["y_test"],
        "class_names": [str(d) for d in range(10)],
    }


DATASET = Dataset(
    "mnist1d", load,
    "MNIST-1D, 4,000/1,000 sequences of length 40 in 10 classes, generated offline by the mnist1d package",
    {"seed": PAPER_SEED},
)
