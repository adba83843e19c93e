"""Prepare the raw splits a data-set plugin returns the way a run's config asks.

Data-set plugins only read their files and return raw splits (uint8 images ``(N, C, H, W)``, float
sequences ``(N, L)``, integer labels). Everything a config may change about them happens here, the
same way for every data set: the validation split, a training subset for quick runs, normalisation
with statistics of the training split only, the float dtype and the layout.

Memory matters for CIFAR-10 (50,000 x 3,072 values): each output array is allocated once and filled
straight from the uint8 input, normalisation works in place, and statistics are accumulated over
blocks of rows, so the peak stays near the size of the raw plus the final arrays.
"""
import numbers

import numpy as np

from nnplug.core.preprocessing import Preprocessing, standardise

# "auto", the default of every data set: images (N, C, H, W) standardised per channel, anything
# else per feature, with the training split's statistics. Raw pixels of 0-255 would otherwise
# make the first losses huge for any usual initialisation.
NORMALIZE = ("auto", "per_channel", "per_feature", "mean_image", "none")
DTYPES = ("float32", "float64")
# Without a val_size and without a validation split of its own, a data set gives up this many rows of
# the end of its training split (CS231n's 1,000 for CIFAR-10), but never more than a tenth of them.
DEFAULT_VAL_SIZE = 1000
STATS_BLOCK_BYTES = 16 << 20  # float64 block size for accumulating statistics
REQUIRED = ("X_train", "y_train", "X_test", "y_test", "class_names")
RAW_EXAMPLES = 5  # the first test samples kept as the data set gave them: a logged model's input example


def prepare(raw, *, val_size=None, normalize="auto", dtype="float32", limit=None, flatten=False):
    """Turn the raw splits a data-set plugin returns into arrays ready for training.

    - validation: the data set's own split when it has one and ``val_size`` is None; otherwise the
      last ``val_size`` training rows (default ``min(1000, n_train // 10)``), as CS231n's 49,000/1,000;
    - ``limit``: keep only the first ``limit`` remaining training rows;
    - ``normalize``, with the training split's mean and standard deviation: "per_channel"
      standardises each channel of ``(N, C, H, W)`` images (the whole sample for other shapes),
      "per_feature" each value of a sample, "auto" (the default) the first for images and the
      second for anything else; "mean_image" only subtracts the mean training sample (CS231n's
      preparation); "none" only converts;
    - ``dtype``: "float32" or "float64"; ``flatten``: reshape samples to ``(N, D)``.

    Returns a dict with ``X_train, y_train, X_val, y_val, X_test, y_test`` (labels int64),
    ``class_names`` (list of str), ``image_shape`` (``(C, H, W)`` of image data sets whether or not
    flattened, else None), ``input_dim`` (values per sample), ``input_shape`` (one sample's shape
    as the arrays hold it), ``num_classes``, and ``mean`` and ``std``: the statistics
    that were applied, shaped like one raw sample (with a leading axis of 1) for broadcasting, or
    None (``std`` is None for "mean_image"); ``preprocessing``: all of it as a
    ``nnplug.core.preprocessing.Preprocessing``, which a trained model applies to new raw samples;
    ``raw_examples``: the first ``RAW_EXAMPLES`` test samples as the data set gave them.
    """
    return _prepare(raw, *checked_settings(val_size, normalize, dtype, limit, flatten))


def _prepare(raw, val_size, normalize, dtype, limit, flatten):
    _check_raw(raw)
    class_names = [str(c) for c in raw["class_names"]]
    splits = _split(raw, val_size, limit)
    x_train = splits["train"][0]
    mean, std = _statistics(x_train, normalize)
    out = {}
    for part, (x, y) in splits.items():
        out[f"X_{part}"] = standardise(x, mean, std, dtype, flatten)
        out[f"y_{part}"] = _labels(y, f"y_{part}", len(class_names))
    sample_shape = raw["X_train"].shape[1:]
    out.update(
        class_names=class_names,
        image_shape=tuple(int(d) for d in sample_shape) if len(sample_shape) >= 2 else None,
        input_dim=int(np.prod(sample_shape)),
        input_shape=out["X_train"].shape[1:],
        num_classes=len(class_names),
        mean=mean,
        std=std,
        preprocessing=Preprocessing(tuple(int(d) for d in sample_shape), np.asarray(raw["X_train"]).dtype.name,
                                    dtype.name, flatten, mean, std),
        raw_examples=np.array(raw["X_test"][:RAW_EXAMPLES]),
    )
    return out


def _split(raw, val_size, limit):
    x, y = raw["X_train"], raw["y_train"]
    if "X_val" in raw:
        if val_size is not None:
            raise ValueError(
                f"val_size={val_size!r} is not allowed: this data set has its own validation split "
                f"({len(raw['X_val'])} rows); set val_size to null to use it"
            )
        val = (raw["X_val"], raw["y_val"])
    else:
        n_val = val_size if val_size is not None else max(1, min(DEFAULT_VAL_SIZE, len(x) // 10))
        if len(x) < 2:
            raise ValueError(
                f"the training split has {len(x)} row{'' if len(x) == 1 else 's'}: too few to hold out a "
                f"validation split (data.val_size) and train on the rest; expected at least 2 rows, or a "
                f"validation split of the data set's own (X_val, y_val)"
            )
        if n_val >= len(x):
            raise ValueError(
                f"val_size={n_val!r} is not allowed: the training split has {len(x)} rows, "
                f"expected 1 to {len(x) - 1} so that some are left to train on"
            )
        val = (x[-n_val:], y[-n_val:])
        x, y = x[:-n_val], y[:-n_val]
    if limit is not None:
        if limit > len(x):
            raise ValueError(f"limit={limit!r} is not allowed: only {len(x)} training rows, expected 1 to {len(x)}")
        x, y = x[:limit], y[:limit]
    return {"train": (x, y), "val": val, "test": (raw["X_test"], raw["y_test"])}


def _statistics(x, normalize):
    """``(mean, std)`` of the training split for ``normalize``; either may be None (not applied)."""
    if normalize == "auto":
        normalize = "per_channel" if x.ndim == 4 else "per_feature"
    if normalize == "none":
        return None, None
    if normalize == "mean_image":
        return _moments(x, axes=(0,), with_std=False)
    axes = (0,) if normalize == "per_feature" else (0, 2, 3) if x.ndim == 4 else tuple(range(x.ndim))
    mean, std = _moments(x, axes, with_std=True)
    std[std == 0] = 1.0  # a constant channel or feature stays centred instead of becoming NaN
    return mean, std


def _moments(x, axes, with_std):
    """Mean and standard deviation of ``x`` over ``axes`` (which include 0), accumulated in float64 a
    block of rows at a time so that no temporary as large as ``x`` is ever made."""
    rows = max(1, STATS_BLOCK_BYTES // (8 * max(1, int(np.prod(x.shape[1:])))))
    total = squares = 0.0
    for start in range(0, len(x), rows):
        block = x[start:start + rows].astype(np.float64)
        total = total + block.sum(axis=axes, keepdims=True)
        if with_std:
            squares = squares + np.square(block).sum(axis=axes, keepdims=True)
    count = x.size // total.size
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0)) if with_std else None
    return mean, std


def _labels(y, key, num_classes):
    y = np.asarray(y)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.size == 0):
        raise ValueError(f"{key} has dtype {y.dtype} and shape {y.shape}: expected one integer label per row")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{key} has labels from {y.min()} to {y.max()}: expected 0 to {num_classes - 1} "
            f"for the {num_classes} class names"
        )
    return y.astype(np.int64, copy=False)


def _check_raw(raw):
    missing = [key for key in REQUIRED if key not in raw]
    if ("X_val" in raw) != ("y_val" in raw):
        missing.append("y_val" if "X_val" in raw else "X_val")
    if missing:
        raise ValueError(f"the data set returned no {', '.join(missing)} (it returned {', '.join(sorted(raw))})")
    for part in ("train", "val", "test"):
        if f"X_{part}" in raw and len(raw[f"X_{part}"]) != len(raw[f"y_{part}"]):
            raise ValueError(
                f"X_{part} has {len(raw[f'X_{part}'])} rows but y_{part} has {len(raw[f'y_{part}'])} labels"
            )


SETTINGS = ("val_size", "normalize", "dtype", "limit", "flatten")


def settings_problems(val_size=None, normalize="auto", dtype="float32", limit=None, flatten=False):
    """One line per preparation setting that is not allowed, e.g. ``normalize='zscore': expected one of ...``."""
    problems = []
    for key, value in (("val_size", val_size), ("limit", limit)):
        if value is not None and not (_is_int(value) and value >= 1):
            problems.append(f"{key}={value!r}: expected null or a whole number >= 1")
    if normalize not in NORMALIZE:
        problems.append(f"normalize={normalize!r}: expected one of {', '.join(NORMALIZE)}")
    if _dtype_name(dtype) not in DTYPES:
        problems.append(f"dtype={dtype!r}: expected one of {', '.join(DTYPES)}")
    if not isinstance(flatten, (bool, np.bool_)):
        problems.append(f"flatten={flatten!r}: expected true or false")
    return problems


def checked_settings(val_size=None, normalize="auto", dtype="float32", limit=None, flatten=False):
    """The settings as ``_prepare`` takes them; ValueError naming the first that is not allowed."""
    problems = settings_problems(val_size, normalize, dtype, limit, flatten)
    if problems:
        raise ValueError(problems[0])
    return val_size, normalize, np.dtype(_dtype_name(dtype)), limit, bool(flatten)


def _dtype_name(dtype):
    try:
        return np.dtype(dtype).name
    except TypeError:
        return None


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
