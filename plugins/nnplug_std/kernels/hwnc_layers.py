"""The layers of a convolutional net on channels-inner HWNC arrays ``(H, W, N, C)``.

A net that keeps its feature maps in HWNC from the first convolution to the last pool runs its
3x3 convolutions through ``nnplug_std.kernels.winograd`` with no transposing copy between layers;
only the images (NCHW, going in) and the last feature map (to NCHW, for the affine layer's
classic flattening order) are transposed. In HWNC a feature map is a C-ordered matrix
``(H*W*N, C)``, so batch norm's per-channel statistics are column reductions and its scale and
shift broadcast along rows.

- ``image_conv_forward/backward`` (from ``nnplug_std.kernels.hwnc_image``): the input layer, NCHW
  images to HWNC maps, by im2col; no dx.
- ``winograd_conv_forward_hwnc/backward_hwnc``: a 3x3 stride-1 convolution by Winograd; it may
  hand each row of output tiles to batch norm's statistics as it writes it.
- ``bn_act_forward_hwnc/backward_hwnc`` (from ``nnplug_std.kernels.hwnc_norm``): spatial batch
  norm and its activation (ReLU, GELU or none) together.
- ``conv_bn_relu_forward_hwnc/backward_hwnc``: the three in one call. Batch norm removes the
  convolution's bias exactly in train mode, so it is left out of the product (it still enters
  the running mean) and its gradient is zero.
- ``max_pool_forward_hwnc/backward_hwnc``: 2x2 stride-2 pooling (odd sizes lose their last row or
  column, as the floor in the output size says).
"""
import numpy as np

from nnplug_std.kernels.hwnc_image import image_conv_backward, image_conv_forward  # noqa: F401
from nnplug_std.kernels.hwnc_norm import (ChannelMoments, bn_act_backward_hwnc, bn_act_forward_hwnc,  # noqa: F401
                                          bn_relu_backward_hwnc, bn_relu_forward_hwnc, column_sums)
from nnplug_std.kernels.parallel import each
from nnplug_std.kernels.winograd import check_winograd_params, conv3x3_backward_hwnc, conv3x3_hwnc, filter_transform


def _positions_per_block(x):
    """Positions a transposing copy moves at a time: one cache line of 64 bytes of them, so that the
    output is written a line at a time, not one value per line."""
    return max(1, 64 // x.itemsize)


def nchw_to_hwnc(x):
    """A C-contiguous HWNC copy (H, W, N, C) of a channels-first array (N, C, H, W)."""
    return np.ascontiguousarray(x.transpose(2, 3, 0, 1))


def hwnc_to_nchw(x):
    """A C-contiguous channels-first copy (N, C, H, W) of an HWNC array (H, W, N, C)."""
    h, w, n, c = x.shape
    out = np.empty((n, c, h, w), x.dtype)
    flat, step = x.reshape(h * w, n, c), _positions_per_block(x)

    def move(p):  # a straight transpose writes one value to each line it touches
        out.reshape(n, c, h * w)[:, :, p:p + step] = flat[p:p + step].transpose(1, 2, 0)

    each(move, range(0, h * w, step))
    return out


def winograd_conv_forward_hwnc(x, w, b, conv_param, moments=None):
    """A 3x3 stride-1 convolution (Winograd F(4x4, 3x3)) of an HWNC map.

    Inputs:
    - x: input of shape (H, W, N, C)
    - w: filters (F, C, 3, 3); stride must be 1 and pad 0 to 2 (else ValueError)
    - b: biases (F,) added to the output, or None (none, or left to a batch norm that removes them)
    - conv_param: dict with 'stride' and 'pad'
    - moments: a ``ChannelMoments`` to hand each row of output tiles to as it is written, or None

    Returns a tuple of:
    - out: of shape (H', W', N, F), C-contiguous
    - cache: what ``winograd_conv_backward_hwnc`` needs
    """
    check_winograd_params(w, conv_param)
    pad = conv_param["pad"]
    h, w_in = x.shape[:2]
    dtype = np.result_type(x, w)
    out_h, out_w = h + 2 * pad - 2, w_in + 2 * pad - 2
    u = filter_transform(w, dtype)
    a, v = conv3x3_hwnc(x.astype(dtype, copy=False), u, pad, out_h, out_w,
                        each_row_block=None if moments is None else moments.add)
    if b is not None:
        a += b.astype(dtype, copy=False)
    return a, (w.shape, u, pad, (h, w_in), v, b is not None)


def winograd_conv_backward_hwnc(da, cache, input_grad=True):
    """Backward pass of ``winograd_conv_forward_hwnc``.

    Inputs:
    - da: upstream gradient of shape (H', W', N, F)
    - cache: from ``winograd_conv_forward_hwnc``
    - input_grad: False skips dx (None is returned)

    Returns a tuple of (dx (H, W, N, C), a view into a padded array, or None; dw (F, C, 3, 3);
    db (F,), None where the forward pass added no biases).
    """
    w_shape, u, pad, (h, w_in), v, has_bias = cache
    dx, dw = conv3x3_backward_hwnc(da, v, u, w_shape, pad, h, w_in, input_grad)
    db = column_sums(np.ascontiguousarray(da).reshape(-1, da.shape[-1])) if has_bias else None
    return dx, dw.astype(da.dtype, copy=False), db


def conv_bn_relu_forward_hwnc(x, w, b, gamma, beta, conv_param, bn_param):
    """conv 3x3 (Winograd) -> spatial batch norm -> ReLU on HWNC maps; CS231n's ``conv_bn_relu_forward``.

    Inputs:
    - x: input of shape (H, W, N, C)
    - w, b: filters (F, C, 3, 3) and biases (F,) (or None); stride must be 1 and pad 0 to 2 (else ValueError)
    - gamma, beta: batch norm's scale and shift, of shape (F,)
    - conv_param: dict with 'stride' and 'pad'
    - bn_param: as for ``spatial_batchnorm_forward``; its running statistics are updated in it

    Returns a tuple of:
    - out: of shape (H', W', N, F)
    - cache: what ``conv_bn_relu_backward_hwnc`` needs
    """
    # batch norm's statistics taken as the output is written
    moments = ChannelMoments() if bn_param.get("mode") == "train" else None
    a, conv_cache = winograd_conv_forward_hwnc(x, w, None, conv_param, moments)
    out, bn_cache = bn_relu_forward_hwnc(a, gamma, beta, bn_param, bias=b,
                                         moments=moments if moments is not None and moments.total else None)
    return out, (conv_cache, bn_cache, b is not None)


def conv_bn_relu_backward_hwnc(dout, cache, input_grad=True):
    """Backward pass of ``conv_bn_relu_forward_hwnc`` (of a train-mode forward pass).

    Inputs:
    - dout: upstream gradient of shape (H', W', N, F)
    - cache: from ``conv_bn_relu_forward_hwnc``
    - input_grad: False skips dx (None is returned)

    Returns a tuple of (dx (H, W, N, C), dw (F, C, 3, 3), db (F,), dgamma (F,), dbeta (F,));
    db is exactly zero (batch norm removes the bias), None without biases. dx is a view into a
    padded array.
    """
    conv_cache, bn_cache, has_bias = cache
    da, dgamma, dbeta = bn_relu_backward_hwnc(dout, bn_cache)
    dx, dw, _ = winograd_conv_backward_hwnc(da, conv_cache, input_grad)
    return dx, dw, np.zeros_like(dbeta) if has_bias else None, dgamma, dbeta


def max_pool_forward_hwnc(x, pool_param):
    """2x2 stride-2 max pooling of an HWNC map (H, W, N, C); an odd H or W loses its last row or column.

    The maximum of each row pair of the window first, then of the two rows, so that ties go to
    the first maximum in row-major order, as in ``max_pool_backward_naive``.

    Inputs:
    - x: input of shape (H, W, N, C)
    - pool_param: dict with 'pool_height', 'pool_width' and 'stride', all 2 (else ValueError)

    Returns a tuple of:
    - out: of shape (H // 2, W // 2, N, C)
    - cache: the two choices, as boolean masks, and x's shape
    """
    h, w = x.shape[:2]
    if (pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]) != (2, 2, 2) or h < 2 or w < 2:
        raise ValueError(f"max_pool_forward_hwnc pools 2x2 windows with stride 2, not {pool_param} on {h}x{w}; "
                         f"max_pool_forward_fast takes any")
    x = x[:h - h % 2, :w - w % 2]
    rest = x.shape[2:]
    left, top = np.empty((h // 2 * 2, w // 2) + rest, bool), np.empty((h // 2, w // 2) + rest, bool)
    out = np.empty((h // 2, w // 2) + rest, x.dtype)

    def pool_row(i):  # one row of windows: two rows of x
        rows = x[2 * i:2 * i + 2]
        np.greater_equal(rows[:, 0::2], rows[:, 1::2], out=left[2 * i:2 * i + 2])  # ties: the left one
        pairs = np.maximum(rows[:, 0::2], rows[:, 1::2])
        np.greater_equal(pairs[0], pairs[1], out=top[i])  # ties: the top one
        np.maximum(pairs[0], pairs[1], out=out[i])

    each(pool_row, range(h // 2))
    return out, (left, top, (h, w))


def max_pool_backward_hwnc(dout, cache):
    """Backward pass of ``max_pool_forward_hwnc``: each window's gradient to its first maximum.

    Inputs:
    - dout: upstream gradient of shape (H // 2, W // 2, N, C)
    - cache: from ``max_pool_forward_hwnc``

    Returns:
    - dx: gradient with respect to x, of shape (H, W, N, C); zero in a dropped last row or column
    """
    left, top, (h, w) = cache
    dx = np.empty((h, w) + left.shape[2:], dout.dtype)
    if h % 2:
        dx[-1] = 0
    if w % 2:
        dx[:, -1] = 0

    def spread_row(i):  # one row of windows: two rows of dx
        d_top = dout[i] * top[i]
        d_rows = (d_top, dout[i] - d_top)  # exact: dout minus dout or minus zero
        for row, d_row in enumerate(d_rows):
            target = dx[2 * i + row, :w - w % 2]
            np.multiply(d_row, left[2 * i + row], out=target[0::2])
            np.subtract(d_row, target[0::2], out=target[1::2])

    each(spread_row, range(h // 2))
    return dx
