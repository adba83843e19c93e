"""CS231n's losses: ``loss(x (N, C), y (N,)) -> (loss, dx)``, the mean over the batch."""
import functools

import numpy as np

from nnplug_std.kernels.products import ones


def softmax_loss(x, y):
    """Softmax cross-entropy loss and its gradient.

    Inputs:
    - x: scores of shape (N, C), x[i, j] the score of class j for sample i
    - y: labels of shape (N,), integers in [0, C)

    Returns a tuple of:
    - loss: the mean cross-entropy, a Python float
    - dx: gradient of the loss with respect to x, of shape (N, C)
    """
    n = x.shape[0]
    rows = _rows(n)
    # exp never overflows. The row max of a transposed copy: numpy reduces a short inner axis
    # (10 classes) several times slower than it reduces across rows.
    shifted = x - np.ascontiguousarray(x.T).max(axis=0)[:, None]
    exp = np.exp(shifted)
    sums = exp @ ones(x.shape[1], exp.dtype)  # BLAS row sums, for the same reason
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
    """Multiclass hinge (SVM) loss with margin 1, and its gradient.

    Inputs:
    - x: scores of shape (N, C)
    - y: labels of shape (N,), integers in [0, C)

    Returns a tuple of:
    - loss: the mean hinge loss, a Python float
    - dx: gradient of the loss with respect to x, of shape (N, C)
    """
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
