"""The user's own arrays from an ``.npz`` file, checked before anything trains on them.

Keys: ``X_train, y_train, X_test, y_test``, optionally ``X_val, y_val`` (together) and
``class_names`` (strings); the lower-case ``x_train, y_train, ...`` that Keras's loaders and the
MNIST-1D package use are read the same way. Samples are ``(N, ...)`` with the same shape in every split (images as
``(N, C, H, W)``), labels are integers ``0..C-1``. The file is read with ``allow_pickle=False``:
object arrays are refused rather than unpickled.
"""
import zipfile

import numpy as np

from nnplug.contract.kinds import Dataset

REQUIRED = ("X_train", "y_train", "X_test", "y_test")
OPTIONAL = ("X_val", "y_val", "class_names")


def load(path=None):
    if not path:
        raise ValueError("path=None is not allowed: the npz data set needs data.path=FILE.npz")
    try:
        arrays = _read(path)
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile) as exc:  # truncated, or not an npz at all
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    missing = [key for key in REQUIRED if key not in arrays]
    if ("X_val" in arrays) != ("y_val" in arrays):
        missing.append("y_val" if "X_val" in arrays else "X_val")
    if missing:
        raise ValueError(f"{path}: missing key {', '.join(missing)} (found: {', '.join(sorted(arrays)) or 'none'})")
    sample_shape = arrays["X_train"].shape[1:]
    for part in ("train", "val", "test"):
        if f"X_{part}" in arrays:
            _check_split(path, part, arrays[f"X_{part}"], arrays[f"y_{part}"], sample_shape)
    arrays["class_names"] = _class_names(path, arrays)
    return arrays


def _read(path):
    arrays = {}
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError:  # numpy read a non-zip file as a single pickled array, and refused it
        raise ValueError(f"{path}: not an .npz file of arrays (np.savez writes one)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: holds a single array, not an .npz file of named arrays (np.savez writes one)")
    with archive:
        for key in archive.files:
            name = _canonical(key)
            if name not in REQUIRED + OPTIONAL:
                raise ValueError(f"{path}: unexpected key {key!r}; allowed keys: {', '.join(REQUIRED + OPTIONAL)} "
                                 f"(or in lower case)")
            if name in arrays:
                raise ValueError(f"{path}: holds both {name!r} and {key!r}; keep one")
            try:
                arrays[name] = archive[key]
            except ValueError:  # an object array, which only a pickle could hold
                raise ValueError(f"{path}: key {key!r} holds Python objects, not numbers; store plain "
                                 f"numeric arrays") from None
    return arrays


def _canonical(key):
    """``x_train`` -> ``X_train``; other keys as they are."""
    return "X" + key[1:] if key in ("x_train", "x_val", "x_test") else key


def _check_split(path, part, x, y, sample_shape):
    key = f"X_{part}"
    if x.dtype.kind not in "uif":
        raise ValueError(f"{path}: key {key!r} has dtype {x.dtype}, expected integers or floats")
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"{path}: key {key!r} has shape {x.shape}, expected (N, features...) with N >= 1")
    if x.shape[1:] != sample_shape:
        raise ValueError(f"{path}: key {key!r} has samples of shape {x.shape[1:]}, expected {sample_shape} like X_train")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError(f"{path}: key {key!r} holds NaN or infinite values")
    key = f"y_{part}"
    if y.dtype.kind not in "ui":
        raise ValueError(f"{path}: key {key!r} has dtype {y.dtype}, expected integer class labels")
    if y.shape != (len(x),):
        raise ValueError(f"{path}: key {key!r} has shape {y.shape}, expected ({len(x)},) to match X_{part}")
    if y.min() < 0:
        raise ValueError(f"{path}: key {key!r} has label {y.min()}, expected labels from 0")


def _class_names(path, arrays):
    """The stored names, or "0".."C-1" with C one more than the largest training (and validation) label.

    Without names the labels number the classes, so each class must have a training row to learn it
    from: a test label no training row has, or more classes than training rows (a label of 1e9),
    is a mistake in the file, not a class.
    """
    if "class_names" not in arrays:
        seen = [key for key in ("y_train", "y_val") if key in arrays]
        top = max(int(arrays[key].max()) for key in seen)
        rows = sum(len(arrays[key]) for key in seen)
        if top + 1 > rows:
            raise ValueError(f"{path}: key 'y_train' has label {top}, which would make {top + 1:,} classes for "
                             f"{rows:,} training rows; expected labels numbered 0 to C-1 for C classes "
                             f"(or a 'class_names' key naming them)")
        unseen = int(arrays["y_test"].max())
        if unseen > top:
            raise ValueError(f"{path}: key 'y_test' has label {unseen}, which no training row has (their labels go "
                             f"from 0 to {top}); expected test labels of the classes trained on (or a "
                             f"'class_names' key naming every class)")
        return [str(c) for c in range(top + 1)]
    names = arrays["class_names"]
    if names.dtype.kind != "U" or names.ndim != 1:
        raise ValueError(f"{path}: key 'class_names' has dtype {names.dtype} and shape {names.shape}, expected a 1-D array of strings")
    return names.tolist()


DATASET = Dataset(
    "npz", load,
    "your own arrays from an .npz file (X_train, y_train, X_test, y_test, optional X_val/y_val, class_names)",
    {"path": None},
    option_types={"path": (str, type(None))},
)
