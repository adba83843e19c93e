"""Normalisation statistics and their gradients, shared by the classic batch and layer norms, the
spatial norms, the channels-inner (HWNC) norms and the fused affine - batch norm - relu."""
import numpy as np

from nnplug_std.kernels.products import column_sums


def bn_setup(bn_param, d, dtype):
    """``bn_param``'s values with CS231n's defaults: (mode, eps, momentum, running_mean, running_var).

    Raises ValueError for a mode other than 'train' or 'test'.
    """
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"Invalid forward batchnorm mode {mode!r}: expected 'train' or 'test'")
    running_mean = bn_param.get("running_mean")
    running_var = bn_param.get("running_var")
    return (mode, bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9),
            np.zeros(d, dtype=dtype) if running_mean is None else running_mean,
            np.zeros(d, dtype=dtype) if running_var is None else running_var)


def bn_train_stats(xc, eps):
    """Centre ``xc (N, D)`` in place by its column means; return (mean, biased var, 1 / std), each (D,)."""
    n = xc.shape[0]
    mean = column_sums(xc) / n
    xc -= mean
    var = np.einsum("ij,ij->j", xc, xc) / n  # one pass, no (N, D) temporary
    return mean, var, 1 / np.sqrt(var + eps)


def bn_train_backward(dy, xc, inv_std, scale):
    """Batch norm's gradients from ``dy`` = dL/d(out), the centred input and ``scale = gamma / std``.

    With x_hat = xc * inv_std: sum(dx_hat) = gamma * dbeta and sum(dx_hat * x_hat) = gamma * dgamma,
    so the classic dx = inv_std / N * (N dx_hat - sum(dx_hat) - x_hat sum(dx_hat x_hat)) becomes
    scale * (dy - dbeta / N - xc * inv_std * dgamma / N): per-feature vectors and four passes over dy.

    Returns a tuple of (dx (N, D), dgamma (D,), dbeta (D,)).
    """
    n = dy.shape[0]
    dbeta = column_sums(dy)
    dgamma = np.einsum("ij,ij->j", dy, xc) * inv_std
    dx = xc * (inv_std * dgamma / n)
    np.subtract(dy, dx, out=dx)
    dx -= dbeta / n
    dx *= scale
    return dx, dgamma, dbeta


def normalize(x, axis, eps):
    """``(x - mean) / sqrt(var + eps)`` over ``axis``; returns (x_hat, mean, var, inv_std), statistics kept as dims."""
    mean = x.mean(axis=axis, keepdims=True)
    xc = x - mean
    var = np.mean(xc * xc, axis=axis, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    return xc * inv_std, mean, var, inv_std


def normalize_backward(dx_hat, x_hat, inv_std, axis):
    """d/dx of ``normalize`` given dL/d(x_hat), written without the intermediate terms of the naive graph."""
    n = x_hat.shape[axis]
    return (inv_std / n) * (n * dx_hat - dx_hat.sum(axis=axis, keepdims=True)
                            - x_hat * (dx_hat * x_hat).sum(axis=axis, keepdims=True))
