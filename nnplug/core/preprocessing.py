"""The preprocessing a run fitted on its training split, kept so that new raw samples get exactly the same.

``nnplug.data.prepare`` fits it (normalisation statistics of the training split only) and applies
it to every split with ``standardise``; a trained model holds it and applies it again to the raw
samples it is asked to predict on. One function for both, so that the two cannot drift apart:
predictions on raw inputs equal the run's own bit for bit.
"""
from dataclasses import dataclass

import numpy as np


def standardise(x, mean, std, dtype, flatten):
    """Raw samples as the network takes them: cast, centred, scaled, and flattened if asked.

    Inputs:
    - x: raw samples, shape (N, *sample_shape), any real dtype (uint8 images, float sequences);
    - mean, std: training statistics broadcastable against x (shape (1, ...)), or None (not applied);
    - dtype: the float dtype of the result; flatten: reshape to (N, D).

    Returns a new array of ``dtype``, shape (N, *sample_shape) or (N, D). Casting first and working
    in place keeps the peak at one output array (CIFAR-10 is 50,000 x 3,072 values).
    """
    out = np.array(x, dtype=dtype)  # the one allocation; casts straight from uint8
    if mean is not None:
        out -= mean.astype(dtype)
    if std is not None:
        out /= std.astype(dtype)
    return out.reshape(len(out), -1) if flatten else out


@dataclass(frozen=True, eq=False)
class Preprocessing:
    """What turns one raw sample into the network's input.

    - sample_shape: the shape of one raw sample, e.g. (1, 8, 8) for digits, (40,) for MNIST-1D;
    - raw_dtype: the dtype the data set gives its samples in (uint8 for images);
    - dtype: the float dtype the network computes in; flatten: whether samples become vectors;
    - mean, std: the training split's statistics that were applied (arrays shaped (1, ...)), or None.
    """

    sample_shape: tuple
    raw_dtype: str
    dtype: str
    flatten: bool
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def apply(self, raw, flat=False):
        """The network's input for raw samples (any of ``shapes(flat)``); ValueError naming what does not fit."""
        return standardise(self.conform(raw, flat), self.mean, self.std, self.dtype, self.flatten)

    def shapes(self, flat=False):
        """The shapes a raw sample may have: ``sample_shape``; the same without its channel axis when that
        is 1, or with one added to an (H, W) image or an (L,) sequence (``(8, 8)`` for ``(1, 8, 8)``
        and back); and with ``flat`` (the network reads each sample as one vector) all its values in a row.
        """
        shape = tuple(self.sample_shape)
        found = [shape]
        if len(shape) >= 2 and shape[0] == 1:
            found.append(shape[1:])
        elif len(shape) in (1, 2):
            found.append((1, *shape))
        if flat or self.flatten:
            found.append((int(np.prod(shape)),))
        return list(dict.fromkeys(found))

    def conform(self, raw, flat=False):
        """``raw`` as samples of ``sample_shape``, in the dtype it came in (``apply`` casts it).

        ValueError in one line unless ``raw`` holds real numbers (any integer or float dtype; not
        bool, complex or objects), all finite, in samples of one of ``shapes(flat)``, e.g.
        "samples of shape (40,) (float64), not the model's (1, 8, 8), (8, 8) or (64,) samples".
        """
        raw = np.asarray(raw)
        if raw.dtype == np.bool_ or not np.issubdtype(raw.dtype, np.number) or np.iscomplexobj(raw):
            raise ValueError(f"samples of dtype {raw.dtype}, not the model's {self.describe(flat)}")
        if raw.ndim == 0 or tuple(raw.shape[1:]) not in self.shapes(flat):
            raise ValueError(f"samples of shape {_shape(raw.shape[1:])} ({raw.dtype}), not the model's "
                             f"{self.describe(flat)}")
        if raw.dtype.kind == "f" and not np.isfinite(raw).all():
            raise ValueError(f"samples holding NaN or infinite values, not the model's {self.describe(flat)}")
        return raw.reshape(len(raw), *self.sample_shape)

    def check(self, raw, flat=False):
        """ValueError unless ``raw`` holds samples the model takes (``conform``)."""
        self.conform(raw, flat)

    def describe(self, flat=False):
        """``(1, 8, 8), (8, 8) or (64,) samples of real numbers``: what a raw input must look like."""
        shapes = [_shape(s) for s in self.shapes(flat)]
        listed = shapes[0] if len(shapes) == 1 else f"{', '.join(shapes[:-1])} or {shapes[-1]}"
        return f"{listed} samples of finite real numbers"

    def to_json(self):
        """Everything but the statistics, as JSON-able data (``arrays`` holds those)."""
        return {"sample_shape": list(self.sample_shape), "raw_dtype": self.raw_dtype, "dtype": self.dtype,
                "flatten": self.flatten, "mean": self.mean is not None, "std": self.std is not None}

    def arrays(self):
        """The statistics by name, those that are applied."""
        return {name: value for name, value in (("mean", self.mean), ("std", self.std)) if value is not None}

    @classmethod
    def from_json(cls, data, arrays):
        """What ``to_json`` and ``arrays`` wrote; KeyError or ValueError when a part is missing."""
        found = {name: np.asarray(arrays[name]) if data[name] else None for name in ("mean", "std")}
        return cls(tuple(int(d) for d in data["sample_shape"]), str(np.dtype(data["raw_dtype"])),
                   str(np.dtype(data["dtype"])), bool(data["flatten"]), **found)


def _shape(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
