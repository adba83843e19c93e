"""3x3 stride-1 convolutions by Winograd's minimal filtering F(4x4, 3x3): 4x fewer multiplications.

Each 6x6 input tile d (tiles overlap by 2) and each filter g are transformed, multiplied point by
point and transformed back to a 4x4 output tile: ``Y = A^T [(G g G^T) * (B^T d B)] A`` (Lavin and
Gray, 2016). Summed over the input channels, the point-by-point products become 36 GEMMs, one per
point of the 6x6 transformed tile, each ``(tiles, C) @ (C, F)``: 2.25 products per output value
and channel pair instead of im2col's 9.

The layout is channels-inner, HWNC: ``(H, W, N, C)``. In it every transform is a GEMM whose long
side is a contiguous run of ``N*C`` (or ``W*N*C``) values, and where tiles overlap, they overlap
in the batch dimension of ``np.matmul``, never inside one matrix; the transforms of rows and of
columns are two such calls each way. Channels-first arrays would need a transposing copy in
and out of every layer (``winograd_nchw.conv_forward_winograd`` pays it, for classic callers); a
net that runs in HWNC throughout pays it once (``nnplug_std.kernels.hwnc_layers``).

Accuracy: the transforms' constants (up to 8, down to 1/24) cost about three bits. In float32
the largest error is a few 1e-6 of the output's largest value, about 6 times im2col's in float32
(``python bench/conv.py`` measures it on the benchmark net's layers); in float64 about 1e-14.
``tests/test_conv_winograd.py`` holds float32 to 1e-4 and float64 to 1e-12 of the largest value.
"""
import numpy as np

from nnplug_std.kernels.parallel import each, split
from nnplug_std.kernels.winograd_transforms import (grad_transform, input_transform,
                                                    input_transform_transpose, output_transform)
from nnplug_std.kernels.workspace import scratch, zero_border

_G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
               [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
_GG = np.kron(_G, _G)  # (36, 9): both sides of G g G^T at once, points (a, b) row-major, taps (i, j)


def tiles(size):
    """The number of 4-wide output tiles that cover ``size`` output positions."""
    return -(-size // 4)


def filter_transform(w, dtype):
    """U = G g G^T of every filter, shape (36, C, F): one (C, F) matrix per transformed point.

    Inputs:
    - w: filters of shape (F, C, 3, 3)
    - dtype: of the result

    Returns:
    - U of shape (36, C, F): the transposed view of a C-contiguous (36, F, C) array, which BLAS
      takes as it is (and whose transpose, for dx, is contiguous)
    """
    f, c = w.shape[:2]
    u = _GG.astype(dtype) @ w.reshape(f * c, 9).T.astype(dtype, copy=False)  # (36, F*C)
    return u.reshape(36, f, c).transpose(0, 2, 1)


def filter_grad(du, f, c):
    """dL/dw from dL/dU (36, C, F): the transpose of ``filter_transform``; shape (F, C, 3, 3)."""
    dw = _GG.T.astype(du.dtype) @ du.reshape(36, c * f)  # (9, C*F)
    return np.ascontiguousarray(dw.reshape(3, 3, c, f).transpose(3, 2, 0, 1))


def pad_into(x, pad, ty, tx, purpose):
    """x (H, W, N, C) copied into a zero-bordered scratch array (4 TY + 2, 4 TX + 2, N, C) at offset ``pad``.

    Rows and columns past x (when 4 TY + 2 exceeds H + 2 pad) are zero too.
    """
    h, w, n, c = x.shape
    x_pad = scratch(purpose, (4 * ty + 2, 4 * tx + 2, n, c), x.dtype)
    zero_border(x_pad, pad, 4 * ty + 2 - pad - h, pad, 4 * tx + 2 - pad - w)
    x_pad[pad:pad + h, pad:pad + w] = x
    return x_pad


def tile_row_chunks(ty):
    """Ranges of tile rows a convolution takes at a time: as many as keep a chunk's 36 transformed points
    per tile position (the products M, their gradient dM, dV) no larger than the whole output (16 values
    per tile position), at least one row. The scratch arrays are then bounded by the layer's output."""
    step = max(1, ty * 16 // 36)
    return [range(t0, min(ty, t0 + step)) for t0 in range(0, ty, step)]


def conv3x3_hwnc(x, u, pad, out_h, out_w, each_row_block=None):
    """The Winograd convolution of an HWNC input with transformed filters ``u``.

    The samples are independent: each range of them (``nnplug_std.kernels.parallel.split``, one range
    on one thread) runs the whole convolution, its transforms and point products, on one of the
    kernel's threads, so that the threads meet once per convolution rather than at every stage, and
    each works on its own slices while they are in its cache. Within a range, the point products and
    the output transform run by chunks of tile rows (``tile_row_chunks``).

    Inputs:
    - x: input of shape (H, W, N, C); a strided view is fine
    - u: ``filter_transform`` of the filters, (36, C, F)
    - pad: zero padding on each side
    - out_h, out_w: the output's size, H + 2 pad - 2 and W + 2 pad - 2
    - each_row_block: passed on to ``output_transform`` (its keys count columns over the whole batch)

    Returns a tuple of:
    - out: (out_h, out_w, N, F), C-contiguous (the tiles' values past it are never computed)
    - v: each range of samples with its transformed input tiles, a list of (slice, (36, TY*TX*n, C)
      array) with TY = tiles(out_h), TX = tiles(out_w)
    """
    ty, tx = tiles(out_h), tiles(out_w)
    n, c, f = x.shape[2], u.shape[1], u.shape[2]
    dtype = np.result_type(x, u)
    out = np.empty((out_h, out_w, n, f), dtype)
    # what outlives the call is allocated here, on the calling thread, and the parts fill it: memory a
    # part allocated would come from its own thread's heap, which the C library hands back to the
    # system when it is freed, to page-fault it in again the next call
    ranges = split(n)
    v = np.empty((36 * ty * tx * n * c,), dtype)
    per_sample = 36 * ty * tx * c

    def part(samples):
        block = None if each_row_block is None else \
            lambda rows, key: each_row_block(rows, (key[0], key[1] + samples.start * f))
        tiles_v = v[samples.start * per_sample:samples.stop * per_sample]
        return samples, _conv3x3_samples(x[:, :, samples], u, pad, ty, tx, out[:, :, samples], tiles_v, block)

    return out, each(part, ranges)


def _conv3x3_samples(x, u, pad, ty, tx, out, v, each_row_block):
    """``conv3x3_hwnc`` of some samples, into ``out`` (a view of the batch's output); returns their V,
    written into ``v`` (a flat array of their size)."""
    n, c = x.shape[2], u.shape[1]
    v = input_transform(pad_into(x, pad, ty, tx, "winograd_pad"), ty, tx, v)
    by_row = v.reshape(36, ty, tx * n, c)
    for rows in tile_row_chunks(ty):
        m = scratch("winograd_points", (36, len(rows) * tx * n, u.shape[2]), v.dtype)
        np.matmul(by_row[:, rows.start:rows.stop].reshape(36, -1, c), u, out=m)
        output_transform(m, len(rows), tx, n, out=out[4 * rows.start:4 * rows.stop],
                         each_row_block=None if each_row_block is None else
                         lambda block, key, first=rows.start: each_row_block(block, (first + key[0], key[1])))
    return v


def conv3x3_backward_hwnc(dy, v, u, w_shape, pad, in_h, in_w, input_grad=True):
    """Gradients of ``conv3x3_hwnc`` by the transposed algorithm: dM = A dY A^T, then dU and dV from dM.

    Each range of samples of the forward pass runs on one thread, as there; dU adds up the ranges'
    parts in order. Within a range, by chunks of tile rows (``tile_row_chunks``).

    Inputs:
    - dy: output gradient (out_h, out_w, N, F); a strided view is fine
    - v, u: the forward pass's transformed tiles (its list of ranges) and filters (36, C, F)
    - w_shape: (F, C, 3, 3)
    - pad, in_h, in_w: the forward pass's padding and input size
    - input_grad: False skips dx (None is returned)

    Returns a tuple of:
    - dx: (H, W, N, C), a view into a new padded array (or None)
    - dw: (F, C, 3, 3)
    """
    ty, tx, n = tiles(dy.shape[0]), tiles(dy.shape[1]), dy.shape[2]
    f, c = w_shape[:2]
    dx_pad = np.empty((4 * ty + 2, 4 * tx + 2, n, c), dy.dtype) if input_grad else None

    du = np.empty((len(v), 36, c, f), dy.dtype)  # each range's part, allocated here as in the forward pass

    def part(range_and_tiles):
        (samples, tiles_v), range_du = range_and_tiles
        _conv3x3_backward_samples(dy[:, :, samples], tiles_v, u, ty, tx,
                                  None if dx_pad is None else dx_pad[:, :, samples], range_du)

    each(part, zip(v, du))
    for range_du in du[1:]:  # in order, whatever the threads
        du[0] += range_du
    dw = filter_grad(du[0], f, c)
    if not input_grad:
        return None, dw
    return dx_pad[pad:pad + in_h, pad:pad + in_w], dw


def _conv3x3_backward_samples(dy, v, u, ty, tx, dx_pad, du):
    """dU of some samples into ``du`` (36, C, F), and their dx into ``dx_pad`` (a view of the batch's, or
    None for none)."""
    n, c = dy.shape[2], u.shape[1]
    by_row = v.reshape(36, ty, tx * n, c)
    carry = None
    for k, rows in enumerate(tile_row_chunks(ty)):
        dm = grad_transform(dy[4 * rows.start:4 * rows.stop], len(rows), tx)
        v_rows = by_row[:, rows.start:rows.stop].reshape(36, -1, c).transpose(0, 2, 1)
        if k == 0:
            np.matmul(v_rows, dm, out=du)
        else:
            du += np.matmul(v_rows, dm, out=scratch("winograd_du", du.shape, du.dtype))
        if dx_pad is not None:
            dv = np.matmul(dm, u.transpose(0, 2, 1), out=scratch("winograd_dv", (36, dm.shape[1], c), v.dtype))
            carry = input_transform_transpose(dv, len(rows), tx, n, dx_pad, rows.start, carry)
    if dx_pad is not None:
        dx_pad[4 * ty:] = carry.reshape(2, 4 * tx + 2, n, c)


def check_winograd_params(w, conv_param):
    """Raise ValueError unless the filters are 3x3, the stride 1 and the pad 0, 1 or 2."""
    if w.shape[2:] != (3, 3) or conv_param["stride"] != 1 or not 0 <= conv_param["pad"] <= 2:
        raise ValueError(f"Winograd F(4x4, 3x3) takes 3x3 filters, stride 1 and pad 0 to 2, not filters "
                         f"{w.shape[2:]}, stride {conv_param['stride']}, pad {conv_param['pad']}")
