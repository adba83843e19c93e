"""Vectorised convolution and max pooling on channels-first ``(N, C, H, W)`` arrays.

The same signatures and results as ``nnplug_std.classic.conv_layers`` (to rounding: 1e-10 in
float64), with no Python loop over pixels or samples. A convolution is im2col through a
``sliding_window_view`` of the padded input and one GEMM per chunk of samples, whose columns
are at most as large as the chunk's output: ``(F, C*HH*WW) @ (C*HH*WW, n*H'*W')``, the samples
of the chunk side by side in one long product rather than one small product per sample. The
padded input and the column matrix are scratch arrays reused from call to call
(``nnplug_std.kernels.workspace``); the backward pass rebuilds the columns from the input it is
given instead of keeping them.

For 3x3 stride-1 convolutions of a trained net, ``nnplug_std.kernels.winograd`` needs fewer
multiplications.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnplug_std.kernels.shapes import conv_output_size
from nnplug_std.kernels.workspace import scratch, zero_border


def sample_chunk(n, filters, taps):
    """Samples per chunk: as many as keep a chunk's columns (``taps`` = C*HH*WW per output position)
    no larger than its output (``filters`` per position); at least one."""
    return max(1, min(n, n * filters // taps))


def _columns(x, hh, ww, stride, pad, samples, dtype):
    """im2col of the samples ``samples`` (a range) of x: a scratch array (C*HH*WW, n*H'*W'), rows in
    (c, k, l) order, columns in (sample, row, column) order; and H', W'."""
    n, c, h, w = x.shape
    h_out, w_out = conv_output_size(h, hh, pad, stride), conv_output_size(w, ww, pad, stride)
    x = x[samples.start:samples.stop]
    if pad:
        x_pad = scratch("conv_pad", (len(samples), c, h + 2 * pad, w + 2 * pad), dtype)
        zero_border(x_pad.transpose(2, 3, 0, 1), pad, pad, pad, pad)  # rows and columns first
        x_pad[:, :, pad:pad + h, pad:pad + w] = x
    else:
        x_pad = x
    windows = sliding_window_view(x_pad, (hh, ww), axis=(2, 3))
    windows = windows[:, :, :stride * (h_out - 1) + 1:stride, :stride * (w_out - 1) + 1:stride]
    cols = scratch("conv_cols", (c, hh, ww, len(samples), h_out, w_out), dtype)
    np.copyto(cols, windows.transpose(1, 4, 5, 0, 2, 3))
    return cols.reshape(c * hh * ww, -1), h_out, w_out


def _chunks(x, w):
    step = sample_chunk(x.shape[0], w.shape[0], int(np.prod(w.shape[1:])))
    return [range(start, min(x.shape[0], start + step)) for start in range(0, x.shape[0], step)]


def conv_forward_fast(x, w, b, conv_param):
    """Forward pass of a convolutional layer, as ``conv_forward_naive`` computes it.

    One GEMM per chunk of samples, ``w (F, C*HH*WW) @ cols (C*HH*WW, n*H'*W')``: its long side is
    the chunk's samples times their positions, however small the maps. A chunk's columns are at
    most as large as its output (``sample_chunk``), which bounds the scratch they take.

    Inputs:
    - x: input of shape (N, C, H, W)
    - w: filters of shape (F, C, HH, WW)
    - b: biases of shape (F,), or None for none
    - conv_param: dict with 'stride' and 'pad'

    Returns a tuple of:
    - out: output of shape (N, F, H', W'), in the dtype of x and w
    - cache: (x, w, b, conv_param)
    """
    f = w.shape[0]
    dtype = np.result_type(x, w)
    w2 = w.reshape(f, -1).astype(dtype, copy=False)
    out = None
    for samples in _chunks(x, w):
        cols, h_out, w_out = _columns(x, w.shape[2], w.shape[3], conv_param["stride"], conv_param["pad"], samples,
                                      dtype)
        if out is None:
            out = np.empty((x.shape[0], f, h_out * w_out), dtype)
        chunk = np.matmul(w2, cols, out=scratch("conv_out", (f, len(samples), h_out * w_out), dtype).reshape(f, -1))
        out[samples.start:samples.stop] = chunk.reshape(f, len(samples), -1).transpose(1, 0, 2)
    if b is not None:
        out += b.astype(dtype, copy=False)[:, None]
    return out.reshape(x.shape[0], f, h_out, w_out), (x, w, b, conv_param)


def conv_backward_fast(dout, cache, input_grad=True):
    """Backward pass of a convolutional layer, as ``conv_backward_naive`` computes it.

    Per chunk of samples (as in the forward pass, whose columns are built again): dw gains
    ``dout (F, n*H'*W') @ cols.T``, one GEMM over the chunk; dx is col2im of ``w.T @ dout``, one
    strided add per filter offset (HH*WW of them), not per pixel.

    Inputs:
    - dout: upstream gradient of shape (N, F, H', W')
    - cache: (x, w, b, conv_param) from ``conv_forward_fast``
    - input_grad: False skips dx (None is returned), which a net's first layer never needs

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, C, H, W)
    - dw: gradient with respect to w, of shape (F, C, HH, WW)
    - db: gradient with respect to b, of shape (F,); None for a convolution without biases
    """
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, c, h, w_in = x.shape
    f, _, hh, ww = w.shape
    dtype = np.result_type(dout, x, w)
    d3 = dout.reshape(n, f, -1).astype(dtype, copy=False)
    db = None if b is None else d3.sum(axis=(0, 2))
    w2 = w.reshape(f, -1).astype(dtype, copy=False)
    dw = np.zeros(w2.shape, dtype)
    dx_pad = np.zeros((n, c, h + 2 * pad, w_in + 2 * pad), dtype) if input_grad else None
    for samples in _chunks(x, w):
        cols, h_out, w_out = _columns(x, hh, ww, stride, pad, samples, dtype)
        d2 = scratch("conv_dout", (f, len(samples), h_out * w_out), dtype)
        np.copyto(d2, d3[samples.start:samples.stop].transpose(1, 0, 2))
        d2 = d2.reshape(f, -1)
        dw += d2 @ cols.T
        if not input_grad:
            continue
        dcols = np.matmul(w2.T, d2, out=cols).reshape(c, hh, ww, len(samples), h_out, w_out)  # cols are spent
        dx_chunk = dx_pad[samples.start:samples.stop].transpose(1, 0, 2, 3)  # (C, n, H+2p, W+2p)
        rows, columns = stride * (h_out - 1) + 1, stride * (w_out - 1) + 1
        for k in range(hh):
            for l in range(ww):
                dx_chunk[:, :, k:k + rows:stride, l:l + columns:stride] += dcols[:, k, l]
    dx = None if dx_pad is None else np.ascontiguousarray(dx_pad[:, :, pad:pad + h, pad:pad + w_in])
    return dx, dw.reshape(w.shape), db


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
