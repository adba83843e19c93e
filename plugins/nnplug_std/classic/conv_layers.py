"""CS231n's convolution and max-pooling layers, written for clarity: the reference that the fast
versions in ``nnplug_std.kernels.im2col`` and ``nnplug_std.kernels.winograd`` are checked against.

Arrays are channels-first, ``(N, C, H, W)``. Every function keeps its input's float dtype and
changes none of its arguments. The spatial normalizations are in
``nnplug_std.classic.spatial_normalization``.
"""
import numpy as np

from nnplug_std.kernels.shapes import conv_output_size


def conv_forward_naive(x, w, b, conv_param):
    """Forward pass of a convolutional layer: a cross-correlation, as every framework computes it.

    Each of F filters spans all C input channels and an HH x WW window; the input is zero-padded
    by ``pad`` on both sides of H and W, and the window moves by ``stride``:
    ``out[n, f, i, j] = b[f] + sum_{c,k,l} w[f, c, k, l] * x_pad[n, c, i*stride + k, j*stride + l]``.

    Inputs:
    - x: input of shape (N, C, H, W)
    - w: filters of shape (F, C, HH, WW)
    - b: biases of shape (F,)
    - conv_param: dict with 'stride' and 'pad' (ints)

    Returns a tuple of:
    - out: output of shape (N, F, H', W'), H' = 1 + (H + 2 pad - HH) // stride, likewise W'
    - cache: (x, w, b, conv_param)
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, _, h, w_in = x.shape
    f, _, hh, ww = w.shape
    h_out, w_out = conv_output_size(h, hh, pad, stride), conv_output_size(w_in, ww, pad, stride)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty((n, f, h_out, w_out), dtype=np.result_type(x, w))
    for i in range(h_out):
        for j in range(w_out):
            window = x_pad[:, :, i * stride:i * stride + hh, j * stride:j * stride + ww]  # (N, C, HH, WW)
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    """Backward pass of a convolutional layer.

    Inputs:
    - dout: upstream gradient of shape (N, F, H', W')
    - cache: (x, w, b, conv_param) from ``conv_forward_naive``

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, C, H, W)
    - dw: gradient with respect to w, of shape (F, C, HH, WW)
    - db: gradient with respect to b, of shape (F,)
    """
    x, w, _, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    _, _, h, w_in = x.shape
    _, _, hh, ww = w.shape
    _, _, h_out, w_out = dout.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad, dtype=dout.dtype)
    dw = np.zeros_like(w, dtype=dout.dtype)
    for i in range(h_out):
        for j in range(w_out):
            rows, cols = slice(i * stride, i * stride + hh), slice(j * stride, j * stride + ww)
            d = dout[:, :, i, j]  # (N, F)
            dw += np.tensordot(d, x_pad[:, :, rows, cols], axes=([0], [0]))  # (F, C, HH, WW)
            dx_pad[:, :, rows, cols] += np.tensordot(d, w, axes=([1], [0]))  # (N, C, HH, WW)
    db = dout.sum(axis=(0, 2, 3))
    return dx_pad[:, :, pad:pad + h, pad:pad + w_in], dw, db


def max_pool_forward_naive(x, pool_param):
    """Forward pass of a max-pooling layer: the maximum of each window, channel by channel, without padding.

    Inputs:
    - x: input of shape (N, C, H, W)
    - pool_param: dict with 'pool_height', 'pool_width' and 'stride'; windows may overlap
      (stride < pool size)

    Returns a tuple of:
    - out: output of shape (N, C, H', W'), H' = 1 + (H - pool_height) // stride, likewise W'
    - cache: (x, pool_param)
    """
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, h, w = x.shape
    h_out, w_out = 1 + (h - ph) // stride, 1 + (w - pw) // stride
    out = np.empty((n, c, h_out, w_out), dtype=x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    """Backward pass of a max-pooling layer: each window's gradient goes to its maximum.

    When a window holds its maximum more than once, the gradient goes to ONE of them: the first
    in the window in row-major order (``np.argmax`` of the flattened window), so that the
    gradient sums to dout exactly, as the fast versions also do. Where windows overlap, an input
    that is the maximum of several windows receives the sum of their gradients.

    Inputs:
    - dout: upstream gradient of shape (N, C, H', W')
    - cache: (x, pool_param) from ``max_pool_forward_naive``

    Returns:
    - dx: gradient with respect to x, of shape (N, C, H, W)
    """
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, _, _ = x.shape
    _, _, h_out, w_out = dout.shape
    dx = np.zeros_like(x, dtype=dout.dtype)
    samples, channels = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw].reshape(n, c, ph * pw)
            k, l = np.divmod(window.argmax(axis=2), pw)  # the first maximum, row-major
            dx[samples, channels, i * stride + k, j * stride + l] += dout[:, :, i, j]
    return dx
