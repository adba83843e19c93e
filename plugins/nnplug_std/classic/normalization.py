"""CS231n's normalization layers: batch normalization (with running statistics) and layer normalization."""
import numpy as np

from nnplug_std.kernels.batch_stats import bn_setup, bn_train_backward, bn_train_stats, normalize, normalize_backward


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
