"""CS231n's normalization layers: batch normalization (with running statistics) and layer normalization."""
import numpy as np

from nnplug_std.classic.products import column_sums


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


def batchnorm_forward(x, gamma, beta, bn_param):
    """Forward pass of batch normalization.

    In train mode each feature is normalised with the minibatch's mean and biased variance,
    ``out = gamma * (x - mean) / sqrt(var + eps) + beta``, and the running statistics move towards
    them: ``running = momentum * running + (1 - momentum) * batch statistic``. In test mode the
    running statistics normalise instead.

    Inputs:
    - x: data of shape (N, D)
    - gamma: scale of shape (D,)
    - beta: shift of shape (D,)
    - bn_param: dict with
      - mode: 'train' or 'test' (required)
      - eps: added to the variance for stability (default 1e-5)
      - momentum: of the running statistics (default 0.9)
      - running_mean, running_var: arrays of shape (D,) (zeros when absent); updated in place of
        the dict in train mode

    Returns a tuple of:
    - out: of shape (N, D)
    - cache: what ``batchnorm_backward`` needs
    """
    mode, eps, momentum, running_mean, running_var = bn_setup(bn_param, x.shape[1], x.dtype)
    if mode == "train":
        xc = x.astype(np.result_type(x, 1.0))  # a copy, centred in place; ints become float64
        mean, var, inv_std = bn_train_stats(xc, eps)
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
        scale = gamma * inv_std
        out = xc * scale
        cache = (xc, inv_std, scale)
    else:
        out = (x - running_mean) / np.sqrt(running_var + eps)
        out *= gamma
        cache = (None, None, None)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    out += beta
    return out, cache


def batchnorm_backward(dout, cache):
    """Backward pass of batch normalization (of a train-mode forward pass).

    Inputs:
    - dout: upstream gradient of shape (N, D)
    - cache: from ``batchnorm_forward``

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, D)
    - dgamma: gradient with respect to gamma, of shape (D,)
    - dbeta: gradient with respect to beta, of shape (D,)
    """
    xc, inv_std, scale = cache
    if inv_std is None:
        raise ValueError("batchnorm_backward needs a cache from a 'train' mode forward pass")
    return bn_train_backward(dout, xc, inv_std, scale)


def batchnorm_backward_alt(dout, cache):
    """The same as ``batchnorm_backward``, which is already the simplified form CS231n asks for here."""
    return batchnorm_backward(dout, cache)


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


def layernorm_forward(x, gamma, beta, ln_param):
    """Forward pass of layer normalization: each sample normalised over its own features.

    The same in train and test mode; there are no running statistics.

    Inputs:
    - x: data of shape (N, D)
    - gamma: scale of shape (D,)
    - beta: shift of shape (D,)
    - ln_param: dict with eps (default 1e-5)

    Returns a tuple of:
    - out: of shape (N, D)
    - cache: what ``layernorm_backward`` needs
    """
    x_hat, _, _, inv_std = normalize(x, 1, ln_param.get("eps", 1e-5))
    out = x_hat * gamma
    out += beta
    return out, (x_hat, gamma, inv_std)


def layernorm_backward(dout, cache):
    """Backward pass of layer normalization.

    Inputs:
    - dout: upstream gradient of shape (N, D)
    - cache: from ``layernorm_forward``

    Returns a tuple of (dx (N, D), dgamma (D,), dbeta (D,)).
    """
    x_hat, gamma, inv_std = cache
    dgamma = (dout * x_hat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dx = normalize_backward(dout * gamma, x_hat, inv_std, 1)
    return dx, dgamma, dbeta
