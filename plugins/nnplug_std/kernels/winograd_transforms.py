"""The four tile transforms of Winograd F(4x4, 3x3) on channels-inner HWNC arrays (see
``nnplug_std.kernels.winograd``): V = B^T d B of the input's tiles, Y = A^T M A of the products',
and their transposes for the gradients.

Each transform is two small products per tile, one along its rows and one along its columns,
written as ``np.matmul`` of the 6x6 (or 4x6) matrix with stacks of (6, K) views whose K is a
contiguous run of samples times channels. They run on the calling thread: a convolution hands
each of its threads a range of samples and runs them on it (``nnplug_std.kernels.winograd``).
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from nnplug_std.kernels.workspace import scratch, zero_border

BT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=float)
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], dtype=float)


def _view(a, shape):
    """``a`` reshaped as a view (a strided one is fine where its axes merge); never a copy, which a
    write into it would miss."""
    view = a.view()
    view.shape = shape  # raises where only a copy could have that shape
    return view


def input_transform(x_pad, ty, tx, out):
    """V = B^T d B of every 6x6 tile of a padded HWNC input, shape (36, TY*TX*N, C).

    Inputs:
    - x_pad: (4 TY + 2, 4 TX + 2, N, C), the input with its zero border; tile (i, j) starts at
      row 4i and column 4j
    - ty, tx: the number of tile rows and columns
    - out: a C-contiguous array of 36 * TY * TX * N * C values for V (the weight gradient needs it
      again, so it is not scratch)

    Returns:
    - V in ``out``: one (tiles, C) matrix per point, tiles in (row, column, sample) order
    """
    hp, wp, n, c = x_pad.shape
    dtype = x_pad.dtype
    bt = BT.astype(dtype)
    rows = x_pad.reshape(hp, wp, n * c)
    r = scratch("winograd_stage", (6, ty, wp, n * c), dtype)
    v = _view(out, (6, 6, ty, tx, n * c))
    # rows first: each tile row's 6 input rows (tile rows overlap, in the stack's axes only)
    s0, s1, s2 = rows.strides
    np.matmul(bt, as_strided(rows, (ty, wp, 6, n * c), (4 * s0, s1, s0, s2)), out=r.transpose(1, 2, 0, 3))
    # then columns: each tile's 6 columns
    q = r.strides
    cols = as_strided(r, (6, ty, tx, 6, n * c), (q[0], q[1], 4 * q[2], q[2], q[3]))
    np.matmul(bt, cols, out=v.transpose(0, 2, 3, 1, 4))
    return v.reshape(36, ty * tx * n, c)


def output_transform(m, ty, tx, n, out, each_row_block=None):
    """Y = A^T M A of every tile: the HWNC output from the products M (36, TY*TX*N, F), into ``out``.

    ``out`` receives the result: an array of shape (H, W, N, F), H and W no more than the
    tiles cover (4 TY, 4 TX) and more than the tiles but the last do, whose last two axes are
    C-contiguous (a range of a batch's samples, say); the tiles' values past H and W are not computed.
    ``each_row_block`` (optional) is called with each row of tiles, (4, W, N, F) (a view; fewer rows
    for the last), and a key that orders the calls, ``(tile row, 0)``, as soon as it is written, while
    it is still in cache (batch norm's statistics are taken there).
    """
    f = m.shape[2]
    dtype = m.dtype
    at = AT.astype(dtype)
    points = m.reshape(6, 6, ty, tx, n * f)
    z = scratch("winograd_stage", (6, ty, tx, 4, n * f), dtype)
    h, w = out.shape[:2]
    flat = _view(out, (h, w, n * f))
    # columns first: (4, 6) @ (6, n*f) for every tile, written as its 4 output columns
    np.matmul(at, points.transpose(0, 2, 3, 1, 4), out=z)
    # then rows, tile row by tile row: (4, 6) @ (6, n*f) for every column of the row (up to W)
    by_column = z.transpose(1, 2, 3, 0, 4).reshape(ty, 4 * tx, 6, -1)[:, :w]
    for i in range(ty):
        rows = flat[4 * i:4 * i + 4]
        np.matmul(at[:len(rows)], by_column[i], out=rows.transpose(1, 0, 2))
        if each_row_block is not None:
            each_row_block(out[4 * i:4 * i + 4], (i, 0))
    return out


def grad_transform(dy, ty, tx):
    """dM = A dY A^T of every 4x4 tile of the output gradient dY: shape (36, TY*TX*N, F).

    dY is (H, W, N, F), H and W no more than the tiles cover (4 TY, 4 TX): the tiles' gradient past
    them is zero. The transpose of ``output_transform``; the result is a scratch array.
    """
    h, w, n, f = dy.shape
    dtype = dy.dtype
    if (h, w) != (4 * ty, 4 * tx):
        full = scratch("winograd_dy", (4 * ty, 4 * tx, n, f), dtype)
        zero_border(full, 0, 4 * ty - h, 0, 4 * tx - w)
        full[:h, :w] = dy
        dy = full
    a = AT.T.astype(dtype)  # (6, 4)
    rows = dy.reshape(ty, 4, 4 * tx, n * f)
    d = scratch("winograd_stage", (6, ty, 4 * tx, n * f), dtype)
    dm = scratch("winograd_points", (6, 6, ty, tx, n * f), dtype)
    np.matmul(a, rows.transpose(0, 2, 1, 3), out=d.transpose(1, 2, 0, 3))
    np.matmul(a, d.reshape(6, ty, tx, 4, -1), out=dm.transpose(0, 2, 3, 1, 4))
    return dm.reshape(36, ty * tx * n, f)


def input_transform_transpose(dv, ty, tx, n, dx_pad, first, carry):
    """The transpose of ``input_transform``: dL/d(x_pad) (4 TY + 2, 4 TX + 2, N, C) from dL/dV (36, TY*TX*N, C).

    Each tile's gradient B dV B^T is 6x6 and neighbouring tiles overlap by 2 rows or columns:
    the first 4 rows (columns) of every tile go straight into their place, the last 2 into a
    scratch array that is then added onto the next tile's first 2.

    By chunks of tile rows: ``dv`` holds the tile rows from ``first`` on (``ty`` of them), written into
    ``dx_pad`` (the whole array's view; last two axes C-contiguous); ``carry`` is the last 2 rows the
    chunk before left for this one's first 2 (None for the first chunk). Returns this chunk's carry:
    the last chunk's goes into the last 2 rows.
    """
    c = dv.shape[2]
    dtype = dv.dtype
    b = BT.T.astype(dtype)  # (6, 6): a = b @ a' for each tile
    wp = 4 * tx + 2
    rows = _view(dx_pad, (-1, wp, n * c))[4 * first:4 * first + 4 * ty + 2]
    per_tile = dv.reshape(6, 6, ty, tx, n * c).transpose(0, 2, 3, 1, 4)
    # columns: (6, 6) @ (6, n*c) for every tile, into the rows-transformed gradient (6, TY, W+2, n*c)
    d = scratch("winograd_stage", (6, ty, wp, n * c), dtype)
    np.matmul(b[:4], per_tile, out=d[:, :, :4 * tx].reshape(6, ty, tx, 4, -1))
    tail = np.matmul(b[4:], per_tile, out=scratch("winograd_tail", (6, ty, tx, 2, d.shape[3]), dtype))
    if tx > 1:
        d[:, :, 4:4 * tx].reshape(6, ty, tx - 1, 4, -1)[:, :, :, :2] += tail[:, :, :-1]
    d[:, :, 4 * tx:] = tail[:, :, -1]
    # rows: (6, 6) @ (6, n*c) for every column of every tile row
    by_column = d.transpose(1, 2, 0, 3)
    np.matmul(b[:4], by_column, out=rows[:4 * ty].reshape(ty, 4, wp, -1).transpose(0, 2, 1, 3))
    tail = np.matmul(b[4:], by_column, out=scratch("winograd_tail", (ty, wp, 2, d.shape[3]), dtype))
    if ty > 1:
        rows[4:4 * ty].reshape(ty - 1, 4, wp, -1)[:, :2] += tail[:-1].transpose(0, 2, 1, 3)
    if carry is not None:
        rows[:2] += carry
    return tail[-1].transpose(1, 0, 2).copy()  # the scratch tail is reused by the next chunk
