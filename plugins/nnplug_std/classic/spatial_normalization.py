"""CS231n's normalizations of convolutional feature maps ``(N, C, H, W)``: spatial batch norm and group norm.

Spatial batch norm is batch norm of every channel over (N, H, W). CS231n reshapes to
``(N*H*W, C)``, which costs a transposing copy each way; here the statistics are taken over the
axes of the channels-first array itself, so the only new arrays are the centred input (which
the backward pass needs) and the output. The formulas are those of
``nnplug_std.classic.normalization``'s batch norm, whose ``bn_setup`` reads ``bn_param``.
"""
import numpy as np

from nnplug_std.kernels.batch_stats import bn_setup, normalize, normalize_backward

_SPATIAL = (0, 2, 3)


def _per_channel(v):
    """A (C,) vector shaped (C, 1, 1), to broadcast over (N, C, H, W)."""
    return v.reshape(-1, 1, 1)


def _channel_dot(a, b):
    """``sum over (N, H, W) of a * b`` for each channel, shape (C,), without an (N, C, H, W) temporary."""
    return np.einsum("nchw,nchw->c", a, b)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Forward pass of spatial batch normalization: batch norm of each channel over (N, H, W).

    Inputs:
    - x: data of shape (N, C, H, W)
    - gamma: scale of shape (C,)
    - beta: shift of shape (C,)
    - bn_param: dict with
      - mode: 'train' or 'test' (required; anything else raises ValueError)
      - eps: added to the variance for stability (default 1e-5)
      - momentum: of the running statistics (default 0.9)
      - running_mean, running_var: arrays of shape (C,) (zeros of x's dtype when absent);
        updated and written back into the dict in train mode

    Returns a tuple of:
    - out: of shape (N, C, H, W)
    - cache: what ``spatial_batchnorm_backward`` needs
    """
    mode, eps, momentum, running_mean, running_var = bn_setup(bn_param, x.shape[1], x.dtype)
    if mode == "train":
        m = x.shape[0] * x.shape[2] * x.shape[3]
        mean = x.sum(axis=_SPATIAL) / m
        xc = x - _per_channel(mean)
        var = _channel_dot(xc, xc) / m  # biased, as batch norm's
        inv_std = 1 / np.sqrt(var + eps)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
        scale = gamma * inv_std
        out = xc * _per_channel(scale)
        cache = (xc, inv_std, scale)
    else:
        scale = gamma / np.sqrt(running_var + eps)
        out = (x - _per_channel(running_mean)) * _per_channel(scale)
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
        cache = (None, None, None)
    out += _per_channel(beta)
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    """Backward pass of spatial batch normalization (of a train-mode forward pass).

    With x_hat = xc * inv_std and m = N*H*W values per channel, ``dx = scale * (dout - dbeta / m
    - xc * inv_std * dgamma / m)``: batch norm's simplified gradient, channel by channel.

    Inputs:
    - dout: upstream gradient of shape (N, C, H, W)
    - cache: from ``spatial_batchnorm_forward``

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, C, H, W)
    - dgamma: gradient with respect to gamma, of shape (C,)
    - dbeta: gradient with respect to beta, of shape (C,)
    """
    xc, inv_std, scale = cache
    if inv_std is None:
        raise ValueError("spatial_batchnorm_backward needs a cache from a 'train' mode forward pass")
    m = dout.shape[0] * dout.shape[2] * dout.shape[3]
    dbeta = dout.sum(axis=_SPATIAL)
    dgamma = _channel_dot(dout, xc) * inv_std
    dx = xc * _per_channel(inv_std * dgamma / m)
    np.subtract(dout, dx, out=dx)
    dx -= _per_channel(dbeta / m)
    dx *= _per_channel(scale)
    return dx, dgamma, dbeta


def _groups(x, groups):
    """x (N, C, H, W) viewed as (N, G, C/G * H * W); ValueError when G does not divide C."""
    n, c = x.shape[:2]
    if groups < 1 or c % groups:
        raise ValueError(f"G = {groups} groups do not divide C = {c} channels")
    return x.reshape(n, groups, -1)


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Forward pass of spatial group normalization.

    The C channels of each sample are split into G groups of C/G consecutive channels, each group
    is normalised over its (C/G, H, W) values, then every channel is scaled and shifted. The
    same in train and test mode: there are no running statistics. G = 1 is layer norm over
    (C, H, W); G = C is instance norm.

    Inputs:
    - x: data of shape (N, C, H, W)
    - gamma: scale of shape (1, C, 1, 1)
    - beta: shift of shape (1, C, 1, 1)
    - G: the number of groups; must divide C (else ValueError)
    - gn_param: dict with eps (default 1e-5)

    Returns a tuple of:
    - out: of shape (N, C, H, W)
    - cache: what ``spatial_groupnorm_backward`` needs
    """
    x_hat, _, _, inv_std = normalize(_groups(x, G), 2, gn_param.get("eps", 1e-5))
    x_hat = x_hat.reshape(x.shape)
    out = x_hat * gamma
    out += beta
    return out, (x_hat, gamma, inv_std, G)


def spatial_groupnorm_backward(dout, cache):
    """Backward pass of spatial group normalization.

    Inputs:
    - dout: upstream gradient of shape (N, C, H, W)
    - cache: from ``spatial_groupnorm_forward``

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, C, H, W)
    - dgamma: gradient with respect to gamma, of shape (1, C, 1, 1)
    - dbeta: gradient with respect to beta, of shape (1, C, 1, 1)
    """
    x_hat, gamma, inv_std, G = cache
    dgamma = _channel_dot(dout, x_hat).reshape(gamma.shape)
    dbeta = dout.sum(axis=_SPATIAL).reshape(gamma.shape)
    dx = normalize_backward(_groups(dout * gamma, G), _groups(x_hat, G), inv_std, 2)
    return dx.reshape(dout.shape), dgamma, dbeta
