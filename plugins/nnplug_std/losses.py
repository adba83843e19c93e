"""The standard losses, with SPEC.md's signature ``loss(x (N, C), y (N,)) -> (loss, dx)``."""
import functools

import numpy as np

from nnplug.hookspecs import hookimpl
from nnplug.kinds import Loss
from nnplug_std.layers import _ones


def softmax_loss(x, y):
    n = x.shape[0]
    rows = _rows(n)
    # exp never overflows. The row max of a transposed copy: numpy reduces a short inner axis
    # (10 classes) several times slower than it reduces across rows.
    shifted = x - np.ascontiguousarray(x.T).max(axis=0)[:, None]
    exp = np.exp(shifted)
    sums = exp @ _ones(x.shape[1], exp.dtype)  # BLAS row sums, for the same reason
    # mean of log(sum exp) - shifted[y]: the log of one number per row, not of every score
    loss = (np.log(sums).sum() - shifted[rows, y].sum()) / n
    dx = exp
    dx /= (sums * n)[:, None]  # the probabilities, already divided by n
    dx[rows, y] -= 1 / n
    return float(loss), dx


@functools.lru_cache(maxsize=64)
def _rows(n):
    # row indices for picking each row's label, made once per batch size, not at every step
    rows = np.arange(n)
    rows.flags.writeable = False
    return rows


def svm_loss(x, y):
    n = x.shape[0]
    rows = _rows(n)
    margins = x - x[rows, y][:, None] + 1
    np.maximum(margins, 0, out=margins)
    margins[rows, y] = 0
    loss = margins.sum() / n
    dx = (margins > 0).astype(x.dtype)
    dx[rows, y] -= dx.sum(axis=1)
    dx /= n
    return float(loss), dx


@hookimpl
def nnplug_losses():
    return [
        Loss("softmax", softmax_loss, "Softmax cross-entropy, mean over the batch"),
        Loss("svm", svm_loss, "Multiclass hinge loss with margin 1, mean over the batch"),
    ]
