"""Convolutions of any size and stride on channels-inner HWNC maps ``(H, W, N, C)``, by im2col: the
strided and 1x1 convolutions of a net whose 3x3 stride-1 ones run by Winograd.

The columns of a chunk of output rows are a (rows*W'*N, HH*WW*C) matrix, each row the window of
one output position, filled one filter tap at a time with runs of C contiguous values; one GEMM
``cols @ w`` (w as (HH*WW*C, F)) writes the chunk's output rows of the (H'*W'*N, F) map. A chunk's
columns are at most as large as its output (``nnplug_std.kernels.hwnc_image.chunk_rows``); the
backward pass builds them again from the input it keeps, and adds the columns' gradient back one
tap at a time.
"""
import numpy as np

from nnplug_std.kernels.hwnc_image import chunk_rows
from nnplug_std.kernels.hwnc_norm import column_sums
from nnplug_std.kernels.parallel import each, split
from nnplug_std.kernels.shapes import conv_output_size
from nnplug_std.kernels.workspace import scratch, zero_border


def _padded(x, pad):
    """x (H, W, N, C) with ``pad`` zeros on each side of H and W (x itself without padding)."""
    if not pad:
        return x
    h, w = x.shape[:2]
    x_pad = scratch("hwnc_conv_pad", (h + 2 * pad, w + 2 * pad) + x.shape[2:], x.dtype)
    zero_border(x_pad, pad, pad, pad, pad)
    x_pad[pad:pad + h, pad:pad + w] = x
    return x_pad


def _columns(x_pad, hh, ww, stride, rows, w_out):
    """The columns of output rows ``rows`` (a range): a scratch array (rows, W', N, HH, WW, C)."""
    n, c = x_pad.shape[2:]
    cols = scratch("hwnc_conv_cols", (len(rows), w_out, n, hh, ww, c), x_pad.dtype)
    r0 = rows.start
    for k in range(hh):
        for l in range(ww):
            top = k + stride * r0
            cols[:, :, :, k, l] = x_pad[top:top + stride * (len(rows) - 1) + 1:stride,
                                        l:l + stride * (w_out - 1) + 1:stride]
    return cols


def _filters(w, dtype):
    """w (F, C, HH, WW) as the (HH*WW*C, F) matrix the columns multiply."""
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0)).reshape(-1, w.shape[0]).astype(dtype, copy=False)


def conv_forward_hwnc(x, w, b, conv_param):
    """Forward pass of a convolution on an HWNC map.

    Each range of samples (``nnplug_std.kernels.parallel.split``) runs the whole convolution, its
    columns and products, on one of the kernel's threads.

    Inputs:
    - x: input of shape (H, W, N, C)
    - w: filters of shape (F, C, HH, WW)
    - b: biases of shape (F,), or None for none
    - conv_param: dict with 'stride' and 'pad'

    Returns a tuple of:
    - out: of shape (H', W', N, F)
    - cache: what ``conv_backward_hwnc`` needs (x itself, among others)
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    h, w_in, n, c = x.shape
    f, _, hh, ww = w.shape
    dtype = np.result_type(x, w)
    h_out, w_out = conv_output_size(h, hh, pad, stride), conv_output_size(w_in, ww, pad, stride)
    w2 = _filters(w, dtype)
    out = np.empty((h_out, w_out, n, f), dtype)
    step = chunk_rows(h_out, f, c * hh * ww)

    def part(samples):
        x_pad = _padded(x[:, :, samples].astype(dtype, copy=False), pad)
        for r0 in range(0, h_out, step):
            rows = range(r0, min(h_out, r0 + step))
            cols = _columns(x_pad, hh, ww, stride, rows, w_out)
            chunk = scratch("hwnc_conv_out", (len(rows), w_out, x_pad.shape[2], f), dtype)
            np.matmul(cols.reshape(-1, w2.shape[0]), w2, out=chunk.reshape(-1, f))
            out[rows.start:rows.stop, :, samples] = chunk

    each(part, split(n))
    if b is not None:
        out += b.astype(dtype, copy=False)
    return out, (x, w, conv_param, b is not None)


def conv_backward_hwnc(dout, cache, input_grad=True):
    """Backward pass of ``conv_forward_hwnc``.

    As there, each range of samples runs on one thread; dw adds up the ranges' parts in order.

    Inputs:
    - dout: upstream gradient of shape (H', W', N, F)
    - cache: from ``conv_forward_hwnc``
    - input_grad: False skips dx (None is returned)

    Returns a tuple of (dx (H, W, N, C) or None, dw (F, C, HH, WW), db (F,) or None without biases).
    """
    x, w, conv_param, has_bias = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    h, w_in, n, c = x.shape
    f, _, hh, ww = w.shape
    h_out, w_out = dout.shape[:2]
    dtype = np.result_type(dout, x)
    w2 = _filters(w, dtype)
    dx_pad = np.zeros((h + 2 * pad, w_in + 2 * pad, n, c), dtype) if input_grad else None
    step = chunk_rows(h_out, f, c * hh * ww)

    def part(samples):
        x_pad = _padded(x[:, :, samples].astype(dtype, copy=False), pad)
        m = x_pad.shape[2]
        dw2 = np.zeros(w2.shape, dtype)
        for r0 in range(0, h_out, step):
            rows = range(r0, min(h_out, r0 + step))
            cols = _columns(x_pad, hh, ww, stride, rows, w_out).reshape(-1, w2.shape[0])
            d_rows = scratch("hwnc_conv_out", (len(rows), w_out, m, f), dtype)
            d_rows[...] = dout[rows.start:rows.stop, :, samples]
            d_rows = d_rows.reshape(-1, f)
            dw2 += cols.T @ d_rows
            if dx_pad is None:
                continue
            dcols = np.matmul(d_rows, w2.T, out=cols).reshape(len(rows), w_out, m, hh, ww, c)  # columns spent
            top0 = stride * r0
            for k in range(hh):  # the taps overlap: added one at a time
                for l in range(ww):
                    dx_pad[k + top0:k + top0 + stride * (len(rows) - 1) + 1:stride,
                           l:l + stride * (w_out - 1) + 1:stride, samples] += dcols[:, :, :, k, l]
        return dw2

    dw2 = sum(each(part, split(n)))
    dw = np.ascontiguousarray(dw2.reshape(hh, ww, c, f).transpose(3, 2, 0, 1))
    dx = None if dx_pad is None else dx_pad[pad:pad + h, pad:pad + w_in]
    return dx, dw, column_sums(dout.reshape(-1, f)) if has_bias else None
