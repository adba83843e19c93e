"""Convolution of sequences ``(N, C, L)``, vectorised: im2col through a strided view and one GEMM.

The 1-D counterpart of ``nnplug_std.kernels.im2col``' convolution, for signals such as
MNIST-1D. Samples and output positions form the rows of one (N*L', C*K) column matrix, so a
convolution is a single product however short the sequences are.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnplug_std.kernels.shapes import conv_output_size


def _columns(x, k, stride, pad):
    """im2col of x (N, C, L): a new array of shape (N*L', C*K), and L'."""
    n, c, length = x.shape
    l_out = conv_output_size(length, k, pad, stride)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad))) if pad else x
    windows = sliding_window_view(x_pad, k, axis=2)[:, :, :stride * (l_out - 1) + 1:stride]  # (N, C, L', K)
    return windows.transpose(0, 2, 1, 3).reshape(n * l_out, c * k), l_out


def conv1d_forward(x, w, b, conv_param):
    """Forward pass of a 1-D convolutional layer.

    Inputs:
    - x: input of shape (N, C, L)
    - w: filters of shape (F, C, K)
    - b: biases of shape (F,), or None for none
    - conv_param: dict with 'stride' and 'pad' (zeros added at both ends)

    Returns a tuple of:
    - out: of shape (N, F, L'), L' = 1 + (L + 2 * pad - K) // stride
    - cache: (x, w, b, cols, conv_param)
    """
    f, _, k = w.shape
    cols, l_out = _columns(x, k, conv_param["stride"], conv_param["pad"])
    out = cols @ w.reshape(f, -1).T  # (N*L', F)
    if b is not None:
        out += b
    return np.ascontiguousarray(out.reshape(x.shape[0], l_out, f).transpose(0, 2, 1)), (x, w, b, cols, conv_param)


def conv1d_backward(dout, cache, input_grad=True):
    """Backward pass of a 1-D convolutional layer.

    Inputs:
    - dout: upstream gradient of shape (N, F, L')
    - cache: from ``conv1d_forward``
    - input_grad: False skips dx (None is returned)

    Returns a tuple of:
    - dx: of shape (N, C, L)
    - dw: of shape (F, C, K)
    - db: of shape (F,); None for a convolution without biases
    """
    x, w, b, cols, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, c, length = x.shape
    f, _, k = w.shape
    d2 = dout.transpose(0, 2, 1).reshape(-1, f)  # (N*L', F)
    dw = (d2.T @ cols).reshape(w.shape)
    db = None if b is None else d2.sum(axis=0)
    if not input_grad:
        return None, dw, db
    l_out = dout.shape[2]
    dcols = (d2 @ w.reshape(f, -1)).reshape(n, l_out, c, k)
    dx_pad = np.zeros((n, c, length + 2 * pad), dtype=dcols.dtype)
    span = stride * (l_out - 1) + 1
    for offset in range(k):  # one strided add per filter tap, not per position
        dx_pad[:, :, offset:offset + span:stride] += dcols[:, :, :, offset].transpose(0, 2, 1)
    return dx_pad[:, :, pad:pad + length].copy(), dw, db
