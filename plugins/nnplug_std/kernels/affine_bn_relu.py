"""Fused fast paths: several classic layers computed as one, with fewer passes over memory.

Each gives the same results as composing the classic functions, up to rounding; the layer plugins
offer them through ``Layer.fuse``.
"""
import numpy as np

from nnplug_std.kernels.batch_stats import bn_setup, bn_train_backward, bn_train_stats
from nnplug_std.kernels.parallel import dot
from nnplug_std.kernels.products import weight_grad


def affine_bn_relu_forward(x, w, b, gamma, beta, bn_param):
    """affine -> batch norm -> relu in one go: the hidden block of a batch-norm net.

    In train mode the bias is left out of the normalised path: batch norm subtracts the batch
    mean, which removes it exactly (it still enters the running mean).

    Inputs:
    - x: input of shape (N, d_1, ..., d_k)
    - w, b: affine weights (D, M) and biases (M,) (or None for none)
    - gamma, beta: batch norm's scale and shift, of shape (M,)
    - bn_param: as for ``batchnorm_forward``

    Returns a tuple of:
    - out: of shape (N, M)
    - cache: what ``affine_bn_relu_backward`` needs
    """
    mode, eps, momentum, running_mean, running_var = bn_setup(bn_param, w.shape[1], w.dtype)
    b = np.zeros(w.shape[1], w.dtype) if b is None else b
    a = dot(x.reshape(x.shape[0], -1), w)
    if mode == "train":
        mean, var, inv_std = bn_train_stats(a, eps)  # a is centred in place
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * (mean + b)
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
        scale = gamma * inv_std
        out = a * scale
        cache = (x, w, a, inv_std, scale, out)
    else:
        a += b
        a -= running_mean
        a /= np.sqrt(running_var + eps)
        a *= gamma
        out, cache = a, (x, w, None, None, None, None)
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    out += beta
    np.maximum(out, 0, out=out)
    return out, cache


def affine_bn_relu_backward(dout, cache, input_grad=True):
    """Gradients of ``affine_bn_relu_forward``.

    Inputs:
    - dout: upstream gradient of shape (N, M)
    - cache: from a train-mode ``affine_bn_relu_forward``
    - input_grad: False skips dx (None is returned)

    Returns a tuple of (dx, dw, db, dgamma, dbeta); db is exactly zero (see the forward pass).
    """
    x, w, xc, inv_std, scale, out = cache
    if inv_std is None:
        raise ValueError("affine_bn_relu_backward needs a cache from a 'train' mode forward pass")
    da, dgamma, dbeta = bn_train_backward(dout * (out > 0), xc, inv_std, scale)
    dw = weight_grad(x.reshape(x.shape[0], -1), da, w)
    db = np.zeros_like(dbeta)
    dx = dot(da, w.T).reshape(x.shape) if input_grad else None
    return dx, dw, db, dgamma, dbeta
