"""The standard loss plugins, built on the classic functions of ``nnplug_std.classic.losses``."""
import numpy as np

from nnplug.contract.hookspecs import hookimpl
from nnplug.contract.kinds import Loss
from nnplug.contract.options import in_range
from nnplug_std.classic.losses import softmax_loss, svm_loss


def softmax_with_smoothing(x, y, smoothing=0.0):
    """Softmax cross-entropy against labels smoothed towards uniform (Szegedy et al., 2016).

    The target of sample i is ``(1 - smoothing)`` on class y[i] plus ``smoothing / C`` on every
    class; ``smoothing=0`` is CS231n's ``softmax_loss``, computed by it.

    Inputs:
    - x: scores of shape (N, C)
    - y: labels of shape (N,), integers in [0, C)
    - smoothing: in [0, 1)

    Returns a tuple of (loss, a Python float; dx, of shape (N, C)).
    """
    loss, dx = softmax_loss(x, y)
    if not smoothing:
        return loss, dx
    n, c = x.shape
    # dx holds (p - onehot) / n; the uniform part of the target moves it by smoothing * (onehot - 1/C) / n
    shifted = x - x.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n)
    uniform = -log_p.mean(axis=1)  # the cross-entropy against a uniform target
    loss = (1 - smoothing) * loss + smoothing * float(uniform.mean())
    dx[rows, y] += smoothing / n
    dx -= smoothing / (c * n)
    return loss, dx


@hookimpl
def nnplug_losses():
    return [
        Loss("softmax", softmax_with_smoothing,
             "Softmax cross-entropy, mean over the batch; smoothing > 0 smooths the labels",
             options={"smoothing": 0.0}, check=lambda options: in_range(options, "smoothing", minimum=0, below=1),
             check_cases=({"smoothing": 0.1},)),
        Loss("svm", svm_loss, "Multiclass hinge loss with margin 1, mean over the batch"),
    ]
