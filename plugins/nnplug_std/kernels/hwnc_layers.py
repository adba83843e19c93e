"""The layers of a convolutional net on channels-inner HWNC arrays ``(H, W, N, C)``, fused where it pays.

A net that keeps its feature maps in HWNC from the first convolution to the last pool runs its
3x3 convolutions through ``nnplug_std.kernels.winograd`` with no transposing copy between layers;
only the images (NCHW, going in) and the last feature map (to NCHW, for the affine layer's
classic flattening order) are transposed. In HWNC a feature map is a C-ordered matrix
``(H*W*N, C)``, so batch norm's per-channel statistics are column reductions and its scale and
shift broadcast along rows.

- ``image_conv_forward/backward``: the input layer, NCHW images to HWNC maps, by im2col (for few
  input channels a Winograd product would be a GEMM with an inner dimension of 3); no dx.
- ``bn_relu_forward_hwnc/backward_hwnc`` (from ``nnplug_std.kernels.hwnc_norm``): spatial batch
  norm and ReLU together.
- ``conv_bn_relu_forward_hwnc/backward_hwnc``: Winograd 3x3 conv, spatial batch norm and ReLU;
  batch norm's statistics are taken as the convolution writes its output. Batch norm removes the
  convolution's bias exactly in train mode, so it is left out of the product (it still enters
  the running mean) and its gradient is zero.
- ``max_pool_forward_hwnc/backward_hwnc``: 2x2 stride-2 pooling.
"""
import numpy as np

from nnplug_std.kernels.shapes import conv_output_size
from nnplug_std.kernels.hwnc_norm import ChannelMoments, bn_relu_backward_hwnc, bn_relu_forward_hwnc, column_sums
from nnplug_std.kernels.winograd import check_winograd_params, conv3x3_backward_hwnc, conv3x3_hwnc, filter_transform, \
    tiles


def nchw_to_hwnc(x):
    """A C-contiguous HWNC copy (H, W, N, C) of a channels-first array (N, C, H, W)."""
    return np.ascontiguousarray(x.transpose(2, 3, 0, 1))


def hwnc_to_nchw(x):
    """A C-contiguous channels-first copy (N, C, H, W) of an HWNC array (H, W, N, C)."""
    return np.ascontiguousarray(x.transpose(2, 3, 0, 1))


def image_conv_forward(x, w, b, conv_param):
    """Forward pass of a net's first convolution: channels-first images in, an HWNC feature map out.

    im2col with the columns as a (C*HH*WW, H'*W'*N) matrix, built from the images transposed to
    (C, H, W, N) so that every column row is a copy of contiguous runs; then one GEMM
    ``cols.T @ w.T`` writes the (H'*W'*N, F) map.

    Inputs:
    - x: images of shape (N, C, H, W)
    - w: filters of shape (F, C, HH, WW)
    - b: biases of shape (F,)
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
    x_pad = np.zeros((c, h + 2 * pad, w_in + 2 * pad, n), dtype)
    x_pad[:, pad:pad + h, pad:pad + w_in] = x.transpose(1, 2, 3, 0)
    cols = np.empty((c, hh, ww, h_out, w_out, n), dtype)  # kept for dw
    for k in range(hh):
        for l in range(ww):
            cols[:, k, l] = x_pad[:, k:k + stride * (h_out - 1) + 1:stride, l:l + stride * (w_out - 1) + 1:stride]
    cols = cols.reshape(c * hh * ww, h_out * w_out * n)
    out = cols.T @ w.reshape(f, -1).T.astype(dtype, copy=False)
    out += b.astype(dtype, copy=False)
    return out.reshape(h_out, w_out, n, f), (w, cols)


def image_conv_backward(dout, cache):
    """Backward pass of ``image_conv_forward``: the gradients of the filters and biases.

    Inputs:
    - dout: upstream gradient of shape (H', W', N, F)
    - cache: from ``image_conv_forward``

    Returns a tuple of:
    - dx: None (images need no gradient; this is the net's first layer)
    - dw: of shape (F, C, HH, WW)
    - db: of shape (F,)
    """
    w, cols = cache
    d2 = dout.reshape(-1, w.shape[0])
    dw = (d2.T @ cols.T).reshape(w.shape)  # K = H'*W'*N: one long product
    return None, dw, column_sums(d2)


def conv_bn_relu_forward_hwnc(x, w, b, gamma, beta, conv_param, bn_param):
    """conv 3x3 (Winograd) -> spatial batch norm -> ReLU on HWNC maps; CS231n's ``conv_bn_relu_forward``.

    Inputs:
    - x: input of shape (H, W, N, C)
    - w, b: filters (F, C, 3, 3) and biases (F,); stride must be 1 and pad 0 to 2 (else ValueError)
    - gamma, beta: batch norm's scale and shift, of shape (F,)
    - conv_param: dict with 'stride' and 'pad'
    - bn_param: as for ``spatial_batchnorm_forward``; its running statistics are updated in it

    Returns a tuple of:
    - out: of shape (H', W', N, F)
    - cache: what ``conv_bn_relu_backward_hwnc`` needs
    """
    check_winograd_params(w, conv_param)
    pad = conv_param["pad"]
    h, w_in = x.shape[:2]
    dtype = np.result_type(x, w)
    out_h, out_w = h + 2 * pad - 2, w_in + 2 * pad - 2
    u = filter_transform(w, dtype)
    # batch norm's statistics taken as the output is written; not when junk rows would be in them
    moments = ChannelMoments() if bn_param.get("mode") == "train" and out_h % 4 == out_w % 4 == 0 else None
    a, v = conv3x3_hwnc(x.astype(dtype, copy=False), u, pad, out_h, out_w,
                        each_row_block=None if moments is None else moments.add)
    if a.shape[:2] != (out_h, out_w):
        a = np.ascontiguousarray(a[:out_h, :out_w])
    out, bn_cache = bn_relu_forward_hwnc(a, gamma, beta, bn_param, bias=b, moments=moments)
    return out, (w.shape, u, pad, (h, w_in), v, bn_cache)


def conv_bn_relu_backward_hwnc(dout, cache, input_grad=True):
    """Backward pass of ``conv_bn_relu_forward_hwnc`` (of a train-mode forward pass).

    Inputs:
    - dout: upstream gradient of shape (H', W', N, F)
    - cache: from ``conv_bn_relu_forward_hwnc``
    - input_grad: False skips dx (None is returned)

    Returns a tuple of (dx (H, W, N, C), dw (F, C, 3, 3), db (F,), dgamma (F,), dbeta (F,));
    db is exactly zero: batch norm removes the bias. dx is a view into a padded array.
    """
    w_shape, u, pad, (h, w_in), v, bn_cache = cache
    da, dgamma, dbeta = bn_relu_backward_hwnc(dout, bn_cache)
    out_h, out_w, n, f = da.shape
    ty, tx = tiles(out_h), tiles(out_w)
    if (4 * ty, 4 * tx) != (out_h, out_w):
        da_tiles = np.zeros((4 * ty, 4 * tx, n, f), da.dtype)  # the tiles past the output get no gradient
        da_tiles[:out_h, :out_w] = da
    else:
        da_tiles = da
    dx, dw = conv3x3_backward_hwnc(da_tiles, v, u, w_shape, pad, h, w_in, input_grad)
    return dx, dw.astype(da.dtype, copy=False), np.zeros_like(dbeta), dgamma, dbeta


def max_pool_forward_hwnc(x, pool_param):
    """2x2 stride-2 max pooling of an HWNC map (H, W, N, C) with even H and W (else ValueError).

    The maximum of each row pair of the window first, then of the two rows, so that ties go to
    the first maximum in row-major order, as in ``max_pool_backward_naive``.

    Inputs:
    - x: input of shape (H, W, N, C)
    - pool_param: dict with 'pool_height', 'pool_width' and 'stride', all 2

    Returns a tuple of:
    - out: of shape (H/2, W/2, N, C)
    - cache: the two choices, as boolean masks
    """
    h, w = x.shape[:2]
    if (pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]) != (2, 2, 2) or h % 2 or w % 2:
        raise ValueError(f"max_pool_forward_hwnc pools 2x2 windows with stride 2 on even sizes, not {pool_param} "
                         f"on {h}x{w}; max_pool_forward_fast takes any")
    left = x[:, 0::2] >= x[:, 1::2]  # ties: the left one
    pairs = np.maximum(x[:, 0::2], x[:, 1::2])
    top = pairs[0::2] >= pairs[1::2]  # ties: the top one
    return np.maximum(pairs[0::2], pairs[1::2]), (left, top)


def max_pool_backward_hwnc(dout, cache):
    """Backward pass of ``max_pool_forward_hwnc``: each window's gradient to its first maximum.

    Inputs:
    - dout: upstream gradient of shape (H/2, W/2, N, C)
    - cache: from ``max_pool_forward_hwnc``

    Returns:
    - dx: gradient with respect to x, of shape (H, W, N, C)
    """
    left, top = cache
    d_top = dout * top
    d_bottom = dout - d_top  # exact: dout minus dout or minus zero
    dx = np.empty(left.shape[:1] + (2 * left.shape[1],) + left.shape[2:], dout.dtype)
    for row, d_row in ((0, d_top), (1, d_bottom)):
        np.multiply(d_row, left[row::2], out=dx[row::2, 0::2])
        np.subtract(d_row, dx[row::2, 0::2], out=dx[row::2, 1::2])
    return dx
