"""MNIST-1D (Greydanus 2020): 4,000/1,000 sequences of length 40 in 10 classes, generated offline.

The ``mnist1d`` package's own generator builds the data from its templates with the paper's default
arguments; its ``get_dataset`` helper is never used because it downloads (with no timeout). The
generator already centres and scales the whole set, so ``normalize: none`` reproduces the paper.

Generating takes 1.5-2 s, a sixth of a whole ``experiment=mnist1d_mlp`` run and more for each job of
a sweep, so the arrays of a seeded set are kept in ``~/.cache/nnplug/mnist1d`` (per generator
version and seed, written all or nothing); a missing or unreadable file is generated again.
"""
import random
import zipfile
from pathlib import Path

import numpy as np

from nnplug.core.checkpoint import atomic_write
from nnplug.data import default_root
from nnplug.contract.kinds import Dataset
from nnplug.contract.registry import MissingDependency

PAPER_SEED = 42  # the seed of the published benchmark data
ARRAYS = ("X_train", "y_train", "X_test", "y_test")


def load(seed=PAPER_SEED):
    path = None if seed is None else cache_path(seed)  # an unseeded set is new every time
    arrays = None if path is None else _cached(path)
    if arrays is None:
        arrays = _generate(seed)
        if path is not None:
            _keep(path, arrays)
    return {**arrays, "class_names": [str(d) for d in range(10)]}


def cache_path(seed):
    """Where the set of ``seed`` is kept; None without the mnist1d package (generating says so)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        generator = version("mnist1d")
    except PackageNotFoundError:
        return None
    return Path(default_root("mnist1d")) / f"mnist1d-{generator}-seed{seed}.npz"


def _generate(seed):
    try:  # imported here: mnist1d pulls in matplotlib and requests
        from mnist1d.data import get_dataset_args, make_dataset
    except ModuleNotFoundError:
        raise MissingDependency("data set 'mnist1d' needs the mnist1d package: pip install 'nnplug[data]'") from None

    args = get_dataset_args()
    args.seed = seed
    # make_dataset reseeds the global numpy and random generators; put them back for everyone else.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {"X_train": data["x"], "y_train": data["y"], "X_test": data["x_test"], "y_test": data["y_test"]}


def _cached(path):
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return {key: arrays[key] for key in ARRAYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # none yet, or damaged
        return None


def _keep(path, arrays):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, **arrays))
    except OSError:  # a read-only cache: every run generates the set again, as before
        pass


DATASET = Dataset(
    "mnist1d", load,
    "MNIST-1D, 4,000/1,000 sequences of length 40 in 10 classes, generated offline by the mnist1d package",
    {"seed": PAPER_SEED},
)
