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
from numpy.lib.stride_tricks import as_strided

from nnplug_std.kernels.parallel import each, matmul, split
from nnplug_std.kernels.workspace import scratch, zero_border

_BT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=float)
_G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
               [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
_AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], dtype=float)
_GG = np.kron(_G, _G)  # (36, 9): both sides of G g G^T at once, points (a, b) row-major, taps (i, j)


def _per_tile_row(a, b, out, axis=1):
    """``np.matmul(a, b, out=out)`` for b and out with the rows of tiles along ``axis``, one row of tiles at
    a time, the rows shared out over the kernel's threads (``nnplug_std.kernels.parallel``)."""
    at = (slice(None),) * axis
    each(lambda i: np.matmul(a, b[at + (i,)], out=out[at + (i,)]), range(b.shape[axis]))


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


def input_transform(x_pad, ty, tx):
    """V = B^T d B of every 6x6 tile of a padded HWNC input, shape (36, TY*TX*N, C).

    Inputs:
    - x_pad: (4 TY + 2, 4 TX + 2, N, C), the input with its zero border; tile (i, j) starts at
      row 4i and column 4j
    - ty, tx: the number of tile rows and columns

    Returns:
    - V, a new array (the weight gradient needs it again): one (tiles, C) matrix per point, tiles
      in (row, column, sample) order
    """
    hp, wp, n, c = x_pad.shape
    dtype = x_pad.dtype
    bt = _BT.astype(dtype)
    rows = x_pad.reshape(hp, wp * n * c)
    s0, s1 = rows.strides
    # rows first: each tile row's 6 input rows, a matrix of 6 contiguous rows; tile rows overlap in the batch axis
    r = scratch("winograd_stage", (6, ty, wp, n * c), dtype)
    _per_tile_row(bt, as_strided(rows, (ty, 6, wp * n * c), (4 * s0, s0, s1)),
                  r.reshape(6, ty, wp * n * c).transpose(1, 0, 2), axis=0)
    # then columns: each tile's 6 columns of N*C values
    s = r.strides
    cols = as_strided(r, (6, ty, tx, 6, n * c), (s[0], s[1], 4 * s[2], s[2], s[3]))
    v = np.empty((6, 6, ty, tx, n * c), dtype)
    _per_tile_row(bt, cols, v.transpose(0, 2, 3, 1, 4))
    return v.reshape(36, ty * tx * n, c)


def output_transform(m, ty, tx, n, out=None, each_row_block=None):
    """Y = A^T M A of every tile: the HWNC output (4 TY, 4 TX, N, F) from the products M (36, TY*TX*N, F).

    ``out`` (optional) receives the result; it must be C-contiguous of that shape.
    ``each_row_block`` (optional) is called with each row of tiles, (4, 4 TX, N, F), and its index, as
    soon as it is written, while it is still in cache (batch norm's statistics are taken there); rows
    are written on the kernel's threads, so it may be called from any of them.
    """
    f = m.shape[2]
    dtype = m.dtype
    at = _AT.astype(dtype)
    # columns first: (4, 6) @ (6, N*F) for every tile, written as 4 output columns of N*F values
    z = scratch("winograd_stage", (6, ty, tx, 4, n * f), dtype)
    _per_tile_row(at, m.reshape(6, 6, ty, tx, n * f).transpose(0, 2, 3, 1, 4), z)
    # then rows: (4, 6) @ (6, 4 TX * N * F) for every tile row
    if out is None:
        out = np.empty((4 * ty, 4 * tx, n, f), dtype)
    rows, z_rows = out.reshape(ty, 4, 4 * tx * n * f), z.reshape(6, ty, 4 * tx * n * f).transpose(1, 0, 2)

    def tile_row(i):
        np.matmul(at, z_rows[i], out=rows[i])
        if each_row_block is not None:
            each_row_block(out[4 * i:4 * i + 4], i)

    each(tile_row, range(ty))
    return out


def grad_transform(dy, ty, tx):
    """dM = A dY A^T of every 4x4 tile of the output gradient dY (4 TY, 4 TX, N, F): shape (36, TY*TX*N, F).

    The transpose of ``output_transform``; the result is a scratch array.
    """
    _, _, n, f = dy.shape
    dtype = dy.dtype
    a = _AT.T.astype(dtype)  # (6, 4)
    d = scratch("winograd_stage", (6, ty, 4 * tx, n * f), dtype)
    _per_tile_row(a, dy.reshape(ty, 4, 4 * tx * n * f), d.reshape(6, ty, 4 * tx * n * f).transpose(1, 0, 2), axis=0)
    dm = scratch("winograd_points", (6, 6, ty, tx, n * f), dtype)
    _per_tile_row(a, d.reshape(6, ty, tx, 4, n * f), dm.transpose(0, 2, 3, 1, 4))
    return dm.reshape(36, ty * tx * n, f)


def pad_into(x, pad, ty, tx, purpose):
    """x (H, W, N, C) copied into a zero-bordered scratch array (4 TY + 2, 4 TX + 2, N, C) at offset ``pad``.

    Rows and columns past x (when 4 TY + 2 exceeds H + 2 pad) are zero too.
    """
    h, w, n, c = x.shape
    x_pad = scratch(purpose, (4 * ty + 2, 4 * tx + 2, n, c), x.dtype)
    zero_border(x_pad, pad, 4 * ty + 2 - pad - h, pad, 4 * tx + 2 - pad - w)

    def copy(rows):
        x_pad[pad + rows.start:pad + rows.stop, pad:pad + w] = x[rows]

    each(copy, split(h))
    return x_pad


def tile_row_chunks(ty):
    """Ranges of tile rows a convolution takes at a time: as many as keep a chunk's 36 transformed points
    per tile position (the products M, their gradient dM, dV) no larger than the whole output (16 values
    per tile position), at least one row. The scratch arrays are then bounded by the layer's output."""
    step = max(1, ty * 16 // 36)
    return [range(t0, min(ty, t0 + step)) for t0 in range(0, ty, step)]


def conv3x3_hwnc(x, u, pad, out_h, out_w, each_row_block=None):
    """The Winograd convolution of an HWNC input with transformed filters ``u``.

    The point products and the output transform run by chunks of tile rows (``tile_row_chunks``).

    Inputs:
    - x: input of shape (H, W, N, C)
    - u: ``filter_transform`` of the filters, (36, C, F)
    - pad: zero padding on each side
    - out_h, out_w: the output's size, H + 2 pad - 2 and W + 2 pad - 2
    - each_row_block: passed on to ``output_transform``

    Returns a tuple of:
    - out: (4 TY, 4 TX, N, F) with TY = tiles(out_h), TX = tiles(out_w); rows and columns past
      (out_h, out_w) are junk to be cut off
    - v: the transformed input tiles, (36, TY*TX*N, C)
    """
    ty, tx = tiles(out_h), tiles(out_w)
    n, c, f = x.shape[2], u.shape[1], u.shape[2]
    v = input_transform(pad_into(x, pad, ty, tx, "winograd_pad"), ty, tx)
    by_row = v.reshape(36, ty, tx * n, c)
    out = np.empty((4 * ty, 4 * tx, n, f), v.dtype)
    for rows in tile_row_chunks(ty):
        m = scratch("winograd_points", (36, len(rows) * tx * n, f), v.dtype)
        matmul(by_row[:, rows.start:rows.stop].reshape(36, -1, c), u, out=m)
        output_transform(m, len(rows), tx, n, out=out[4 * rows.start:4 * rows.stop],
                         each_row_block=None if each_row_block is None else
                         lambda block, i, first=rows.start: each_row_block(block, first + i))
    return out, v


def input_transform_transpose(dv, ty, tx, n, dx_pad=None, first=0, carry=None):
    """The transpose of ``input_transform``: dL/d(x_pad) (4 TY + 2, 4 TX + 2, N, C) from dL/dV (36, TY*TX*N, C).

    Each tile's gradient B dV B^T is 6x6 and neighbouring tiles overlap by 2 rows or columns:
    the first 4 rows (columns) of every tile go straight into their place, the last 2 into a
    scratch array that is then added onto the next tile's first 2. Returns a new array.

    By chunks of tile rows: ``dv`` holds the tile rows from ``first`` on (``ty`` of them), written into
    ``dx_pad`` (the whole array, from a first call without it); ``carry`` is the last 2 rows the chunk
    before left for this one's first 2 (None for the first chunk). Returns ``(dx_pad, carry)``: the
    last chunk's carry goes into the last 2 rows. Without ``dx_pad``, the one chunk's result alone.
    """
    c = dv.shape[2]
    dtype = dv.dtype
    b = _BT.T.astype(dtype)  # (6, 6): a = b @ a' for each tile
    wp = 4 * tx + 2
    # columns: (6, 6) @ (6, N*C) for every tile, into the rows-transformed gradient (6, TY, W+2, N*C)
    d_rows = scratch("winograd_stage", (6, ty, wp, n * c), dtype)
    per_tile = dv.reshape(6, 6, ty, tx, n * c).transpose(0, 2, 3, 1, 4)

    def tile_row(i):  # many small products, each too small for BLAS to thread: the rows go to threads
        row = d_rows[:, i]
        np.matmul(b[:4], per_tile[:, i], out=row[:, :4 * tx].reshape(6, tx, 4, n * c))
        tail = np.matmul(b[4:], per_tile[:, i], out=scratch("winograd_tail", (6, tx, 2, n * c), dtype))
        row[:, 4:4 * tx].reshape(6, tx - 1, 4, n * c)[:, :, :2] += tail[:, :-1]
        row[:, 4 * tx:] = tail[:, -1]

    each(tile_row, range(ty))
    # rows: (6, 6) @ (6, (W+2)*N*C) for every tile row
    alone = dx_pad is None
    if alone:
        dx_pad = np.empty((4 * ty + 2, wp, n, c), dtype)
    flat, per_row = dx_pad.reshape(-1, wp * n * c)[4 * first:], d_rows.reshape(6, ty, wp * n * c).transpose(1, 0, 2)
    _per_tile_row(b[:4], per_row, flat[:4 * ty].reshape(ty, 4, wp * n * c), axis=0)
    tail = scratch("winograd_tail", (ty, 2, wp * n * c), dtype)
    _per_tile_row(b[4:], per_row, tail, axis=0)
    flat[4:4 * ty].reshape(ty - 1, 4, wp * n * c)[:, :2] += tail[:-1]
    if carry is not None:
        flat[:2] += carry
    if alone:
        flat[4 * ty:] = tail[-1]
        return dx_pad
    return dx_pad, tail[-1].copy()  # the scratch serves the next chunk


def conv3x3_backward_hwnc(dy, v, u, w_shape, pad, in_h, in_w, input_grad=True):
    """Gradients of ``conv3x3_hwnc`` by the transposed algorithm: dM = A dY A^T, then dU and dV from dM.

    By chunks of tile rows (``tile_row_chunks``): dU adds up each chunk's ``V^T dM``.

    Inputs:
    - dy: output gradient (4 TY, 4 TX, N, F), zero past the real output
    - v, u: the forward pass's transformed tiles (36, TY*TX*N, C) and filters (36, C, F)
    - w_shape: (F, C, 3, 3)
    - pad, in_h, in_w: the forward pass's padding and input size
    - input_grad: False skips dx (None is returned)

    Returns a tuple of:
    - dx: (H, W, N, C), a view into a new padded array (or None)
    - dw: (F, C, 3, 3)
    """
    ty, tx, n = dy.shape[0] // 4, dy.shape[1] // 4, dy.shape[2]
    f, c = w_shape[:2]
    by_row = v.reshape(36, ty, tx * n, c)
    du = np.zeros((36, c, f), v.dtype)
    dx_pad, carry = (np.empty((4 * ty + 2, 4 * tx + 2, n, c), v.dtype) if input_grad else None), None
    for rows in tile_row_chunks(ty):
        dm = grad_transform(dy[4 * rows.start:4 * rows.stop], len(rows), tx)
        du += matmul(by_row[:, rows.start:rows.stop].reshape(36, -1, c).transpose(0, 2, 1), dm,
                     out=np.empty((36, c, f), v.dtype))
        if input_grad:
            dv = matmul(dm, u.transpose(0, 2, 1), out=scratch("winograd_dv", (36, dm.shape[1], c), v.dtype))
            dx_pad, carry = input_transform_transpose(dv, len(rows), tx, n, dx_pad, rows.start, carry)
    dw = filter_grad(du, f, c)
    if not input_grad:
        return None, dw
    dx_pad.reshape(4 * ty + 2, -1)[4 * ty:] = carry
    return dx_pad[pad:pad + in_h, pad:pad + in_w], dw


def check_winograd_params(w, conv_param):
    """Raise ValueError unless the filters are 3x3, the stride 1 and the pad 0, 1 or 2."""
    if w.shape[2:] != (3, 3) or conv_param["stride"] != 1 or not 0 <= conv_param["pad"] <= 2:
        raise ValueError(f"Winograd F(4x4, 3x3) takes 3x3 filters, stride 1 and pad 0 to 2, not filters "
                         f"{w.shape[2:]}, stride {conv_param['stride']}, pad {conv_param['pad']}")
