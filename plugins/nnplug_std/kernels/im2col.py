"""Vectorised convolution and max pooling on channels-first ``(N, C, H, W)`` arrays.

The same signatures and results as ``nnplug_std.classic.conv_layers`` (to rounding: 1e-10 in
float64), with no Python loop over pixels or samples. A convolution is im2col through a
``sliding_window_view`` of the padded input and one batched GEMM per product: for every sample
the ``(F, C*HH*WW) @ (C*HH*WW, H'*W')`` product writes that sample's ``(F, H', W')`` block, so the
output is channels-first as it comes out of BLAS, with no transposing copy. The padded input and
the column matrix are scratch arrays reused from call to call (``nnplug_std.kernels.workspace``);
the backward pass rebuilds the columns from the input it is given instead of keeping them.

For 3x3 stride-1 convolutions of a trained net, ``nnplug_std.kernels.winograd`` needs fewer
multiplications.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnplug_std.kernels.shapes import conv_output_size
from nnplug_std.kernels.workspace import scratch, zero_border


def _columns(x, hh, ww, stride, pad, dtype):
    """im2col of x: a scratch array of shape (N, C*HH*WW, H'*W'), rows in (c, k, l) order."""
    n, c, h, w = x.shape
    h_out, w_out = conv_output_size(h, hh, pad, stride), conv_output_size(w, ww, pad, stride)
    if pad:
        x_pad = scratch("conv_pad", (n, c, h + 2 * pad, w + 2 * pad), dtype)
        zero_border(x_pad.transpose(2, 3, 0, 1), pad, pad, pad, pad)  # rows and columns first
        x_pad[:, :, pad:pad + h, pad:pad + w] = x
    else:
        x_pad = x
    windows = sliding_window_view(x_pad, (hh, ww), axis=(2, 3))
    windows = windows[:, :, :stride * (h_out - 1) + 1:stride, :stride * (w_out - 1) + 1:stride]
    cols = scratch("conv_cols", (n, c, hh, ww, h_out, w_out), dtype)
    np.copyto(cols, windows.transpose(0, 1, 4, 5, 2, 3))
    return cols.reshape(n, c * hh * ww, h_out * w_out), h_out, w_out


def conv_forward_fast(x, w, b, conv_param):
    """Forward pass of a convolutional layer, as ``conv_forward_naive`` computes it.

    Inputs:
    - x: input of shape (N, C, H, W)
    - w: filters of shape (F, C, HH, WW)
    - b: biases of shape (F,)
    - conv_param: dict with 'stride' and 'pad'

    Returns a tuple of:
    - out: output of shape (N, F, H', W'), in the dtype of x and w
    - cache: (x, w, b, conv_param)
    """
    f = w.shape[0]
    dtype = np.result_type(x, w)
    cols, h_out, w_out = _columns(x, w.shape[2], w.shape[3], conv_param["stride"], conv_param["pad"], dtype)
    out = np.matmul(w.reshape(f, -1).astype(dtype, copy=False), cols)  # (N, F, H'*W')
    out += b.astype(dtype, copy=False)[:, None]
    return out.reshape(x.shape[0], f, h_out, w_out), (x, w, b, conv_param)


def conv_backward_fast(dout, cache):
    """Backward pass of a convolutional layer, as ``conv_backward_naive`` computes it.

    dw sums the per-sample products ``dout[n] @ cols[n].T``; dx is col2im of ``w.T @ dout[n]``,
    one strided add per filter offset (HH*WW of them), not per pixel.

    Inputs:
    - dout: upstream gradient of shape (N, F, H', W')
    - cache: (x, w, b, conv_param) from ``conv_forward_fast``

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, C, H, W)
    - dw: gradient with respect to w, of shape (F, C, HH, WW)
    - db: gradient with respect to b, of shape (F,)
    """
    x, w, _, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, c, h, w_in = x.shape
    f, _, hh, ww = w.shape
    dtype = np.result_type(dout, x, w)
    cols, h_out, w_out = _columns(x, hh, ww, stride, pad, dtype)
    d3 = dout.reshape(n, f, h_out * w_out).astype(dtype, copy=False)
    db = d3.sum(axis=(0, 2))
    dw = np.matmul(d3, cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    dcols = np.matmul(w.reshape(f, -1).T.astype(dtype, copy=False), d3, out=cols)  # cols are spent: reuse them
    dcols = dcols.reshape(n, c, hh, ww, h_out, w_out)
    dx_pad = np.zeros((n, c, h + 2 * pad, w_in + 2 * pad), dtype)
    rows, cols = stride * (h_out - 1) + 1, stride * (w_out - 1) + 1
    for k in range(hh):
        for l in range(ww):
            dx_pad[:, :, k:k + rows:stride, l:l + cols:stride] += dcols[:, :, k, l]
    return np.ascontiguousarray(dx_pad[:, :, pad:pad + h, pad:pad + w_in]), dw, db


def _pool_geometry(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    return ph, pw, stride, 1 + (x.shape[2] - ph) // stride, 1 + (x.shape[3] - pw) // stride


def _pool_reduce(x, pool_param, reduce):
    """``reduce`` (np.max or np.mean) over each pooling window of x: by reshape where the windows
    tile the input, else over strided views."""
    ph, pw, stride, h_out, w_out = _pool_geometry(x, pool_param)
    n, c, h, w = x.shape
    if ph == pw == stride and h % ph == 0 and w % pw == 0:
        return reduce(x.reshape(n, c, h_out, ph, w_out, pw), axis=(3, 5))
    return reduce(_pool_windows(x, ph, pw, stride, h_out, w_out), axis=(4, 5))


def _pool_windows(x, ph, pw, stride, h_out, w_out):
    """The pooling windows of x as a view of shape (N, C, H', W', ph, pw)."""
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))
    return windows[:, :, :stride * (h_out - 1) + 1:stride, :stride * (w_out - 1) + 1:stride]


def max_pool_forward_fast(x, pool_param):
    """Forward pass of max pooling, as ``max_pool_forward_naive`` computes it.

    Windows that tile the input (pool size = stride, dividing H and W) are reduced through a
    reshape; any other windows, overlapping ones included, through a strided view.

    Inputs:
    - x: input of shape (N, C, H, W)
    - pool_param: dict with 'pool_height', 'pool_width' and 'stride'

    Returns a tuple of:
    - out: output of shape (N, C, H', W')
    - cache: (x, pool_param)
    """
    return _pool_reduce(x, pool_param, np.max), (x, pool_param)


def max_pool_backward_fast(dout, cache):
    """Backward pass of max pooling, as ``max_pool_backward_naive`` computes it.

    Each window's gradient goes to its first maximum in row-major order (``argmax`` of the
    flattened window); one strided add per window offset (ph*pw of them) spreads them out.

    Inputs:
    - dout: upstream gradient of shape (N, C, H', W')
    - cache: (x, pool_param) from ``max_pool_forward_fast``

    Returns:
    - dx: gradient with respect to x, of shape (N, C, H, W)
    """
    x, pool_param = cache
    ph, pw, stride, h_out, w_out = _pool_geometry(x, pool_param)
    n, c = x.shape[:2]
    first = _pool_windows(x, ph, pw, stride, h_out, w_out).reshape(n, c, h_out, w_out, ph * pw).argmax(axis=4)
    dx = np.zeros_like(x, dtype=dout.dtype)
    for k in range(ph * pw):
        i, j = divmod(k, pw)
        dx[:, :, i:i + stride * (h_out - 1) + 1:stride, j:j + stride * (w_out - 1) + 1:stride] += dout * (first == k)
    return dx


def avg_pool_forward_fast(x, pool_param):
    """Forward pass of average pooling: the mean of each window.

    Inputs:
    - x: input of shape (N, C, H, W)
    - pool_param: dict with 'pool_height', 'pool_width' and 'stride'

    Returns a tuple of:
    - out: output of shape (N, C, H', W')
    - cache: (x.shape, pool_param)
    """
    return _pool_reduce(x, pool_param, np.mean), (x.shape, pool_param)


def avg_pool_backward_fast(dout, cache):
    """Backward pass of average pooling: each window's gradient shared equally by its values.

    Inputs:
    - dout: upstream gradient of shape (N, C, H', W')
    - cache: (x.shape, pool_param) from ``avg_pool_forward_fast``

    Returns:
    - dx: gradient with respect to x, of shape (N, C, H, W)
    """
    shape, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    h_out, w_out = dout.shape[2:]
    share = dout / (ph * pw)
    dx = np.zeros(shape, dtype=dout.dtype)
    for i in range(ph):  # one strided add per window offset
        for j in range(pw):
            dx[:, :, i:i + stride * (h_out - 1) + 1:stride, j:j + stride * (w_out - 1) + 1:stride] += share
    return dx
