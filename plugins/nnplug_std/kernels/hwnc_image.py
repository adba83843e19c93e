"""A net's first convolution: channels-first images in, a channels-inner HWNC feature map out, by im2col
and one GEMM per chunk of output rows.

The columns are a (C*HH*WW, rows*W'*N) matrix built from the images transposed to (C, H, W, N),
so that every column row is a copy of contiguous runs of N values, and ``cols.T @ w.T`` writes
those output rows of the (H'*W'*N, F) map directly: no per-sample products, and the GEMM's long
side is the batch times the positions.

The columns of a chunk of rows are at most as large as the chunk's output (``chunk_rows``), so the
scratch they take is bounded by the layer's output, whatever its filters' size: a 7x7 filter on 3
channels makes 147 column rows for 32 output channels, five times the output. Where one chunk
covers the whole map its columns are kept for the weight gradient; otherwise the backward pass
builds each chunk's columns again.

The first layer needs no input gradient, so the backward pass returns none.
"""
import numpy as np

from nnplug_std.kernels.parallel import each, split
from nnplug_std.kernels.products import column_sums
from nnplug_std.kernels.shapes import conv_output_size
from nnplug_std.kernels.workspace import scratch


def chunk_rows(h_out, filters, taps):
    """Output rows per chunk: as many as keep a chunk's columns (``taps`` per output value) no larger
    than its output (``filters`` per output value); at least one."""
    return max(1, min(h_out, h_out * filters // taps))


def _columns(x_t, hh, ww, stride, rows, w_out, out):
    """im2col of output rows ``rows`` (a range) from the padded (C, Hp, Wp, N) images into ``out``
    of shape (C, HH, WW, len(rows), W', N)."""
    r0, r1 = rows.start, rows.stop
    for k in range(hh):
        for l in range(ww):
            top = k + stride * r0
            out[:, k, l] = x_t[:, top:top + stride * (r1 - r0 - 1) + 1:stride, l:l + stride * (w_out - 1) + 1:stride]
    return out


def _chunks(h_out, f, taps):
    """The ranges of output rows the columns are built for, one at a time (``chunk_rows``)."""
    step = chunk_rows(h_out, f, taps)
    return [range(r0, min(h_out, r0 + step)) for r0 in range(0, h_out, step)]


def image_conv_forward(x, w, b, conv_param):
    """Forward pass of a net's first convolution: channels-first images in, an HWNC feature map out.

    Each range of samples (``nnplug_std.kernels.parallel.split``) runs on one of the kernel's threads.

    Inputs:
    - x: images of shape (N, C, H, W)
    - w: filters of shape (F, C, HH, WW)
    - b: biases of shape (F,), or None for none
    - conv_param: dict with 'stride' and 'pad'

    Returns a tuple of:
    - out: of shape (H', W', N, F)
    - cache: what ``image_conv_backward`` needs
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, c, h, w_in = x.shape
    f, _, hh, ww = w.shape
    dtype = np.result_type(x, w)
    h_out, w_out = conv_output_size(h, hh, pad, stride), conv_output_size(w_in, ww, pad, stride)
    x_t = np.zeros((c, h + 2 * pad, w_in + 2 * pad, n), dtype)
    x_t[:, pad:pad + h, pad:pad + w_in] = x.transpose(1, 2, 3, 0)
    w2 = w.reshape(f, -1).T.astype(dtype, copy=False)  # (C*HH*WW, F)
    out = np.empty((h_out, w_out, n, f), dtype)
    chunks = _chunks(h_out, f, c * hh * ww)

    def part(samples):
        m, kept = samples.stop - samples.start, None
        for rows in chunks:
            shape = (c, hh, ww, len(rows), w_out, m)
            # one chunk: its columns are the weight gradient's, kept; several: a scratch array, built again later
            cols = _columns(x_t[..., samples], hh, ww, stride, rows, w_out, np.empty(shape, dtype)
                            if len(chunks) == 1 else scratch("image_cols", shape, dtype)).reshape(c * hh * ww, -1)
            chunk = scratch("image_out", (len(rows), w_out, m, f), dtype)
            np.matmul(cols.T, w2, out=chunk.reshape(-1, f))
            out[rows.start:rows.stop, :, samples] = chunk
            kept = cols if len(chunks) == 1 else None
        return samples, kept

    ranges = each(part, split(n))  # each range of samples with its kept columns, or None
    if b is not None:
        out += b.astype(dtype, copy=False)
    return out, (w.shape, stride, x_t, ranges, b is not None)


def image_conv_backward(dout, cache):
    """Backward pass of ``image_conv_forward``: the gradients of the filters and biases.

    Each range of samples of the forward pass runs on one thread; dw adds up their parts in order.

    Inputs:
    - dout: upstream gradient of shape (H', W', N, F)
    - cache: from ``image_conv_forward``

    Returns a tuple of:
    - dx: None (images need no gradient; this is the net's first layer)
    - dw: of shape (F, C, HH, WW)
    - db: of shape (F,); None for a convolution without biases
    """
    w_shape, stride, x_t, ranges, has_bias = cache
    f, c, hh, ww = w_shape
    h_out, w_out = dout.shape[:2]
    chunks = _chunks(h_out, f, c * hh * ww)

    def part(range_and_columns):
        samples, cols = range_and_columns
        m = samples.stop - samples.start
        dw_t = np.zeros((c * hh * ww, f), dout.dtype)
        for rows in chunks:
            if cols is None:
                cols = _columns(x_t[..., samples], hh, ww, stride, rows, w_out,
                                scratch("image_cols", (c, hh, ww, len(rows), w_out, m), x_t.dtype))
            d_rows = scratch("image_out", (len(rows), w_out, m, f), dout.dtype)
            d_rows[...] = dout[rows.start:rows.stop, :, samples]
            # dw.T = cols @ d, (C*HH*WW, F): the product with the long inner dimension that BLAS runs fastest
            dw_t += cols.reshape(c * hh * ww, -1) @ d_rows.reshape(-1, f)
            cols = None
        return dw_t

    dw_t = sum(each(part, ranges))
    return None, np.ascontiguousarray(dw_t.T).reshape(w_shape), column_sums(dout.reshape(-1, f)) if has_bias else None
