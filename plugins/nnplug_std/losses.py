"""The standard losses, with SPEC.md's signature ``loss(x (N, C), y (N,)) -> (loss, dx)``."""
import numpy as np

from nnplug.hookspecs import hookimpl
from nnplug.kinds import Loss


def softmax_loss(x, y):
    n = x.shape[0]
    rows = np.arange(n)
    shifted = x - x.max(axis=1, keepdims=True)  # exp never overflows
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].mean()
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    dx /= n
    return float(loss), dx


def svm_loss(x, y):
    n = x.shape[0]
    rows = np.arange(n)
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
