"""Winograd F(4x4, 3x3) convolution on channels-first ``(N, C, H, W)`` arrays, for classic callers.

It transposes x to HWNC and the output back around ``nnplug_std.kernels.winograd``'s convolution,
which costs about as much as the convolution's transforms: nets should stay in HWNC
(``nnplug_std.kernels.hwnc_layers``).
"""
import numpy as np

from nnplug_std.kernels.winograd import check_winograd_params, conv3x3_backward_hwnc, conv3x3_hwnc, filter_transform


def conv_forward_winograd(x, w, b, conv_param):
    """Forward pass of a 3x3 stride-1 convolution by Winograd F(4x4, 3x3), on channels-first arrays.

    The same result as ``conv_forward_fast`` to within Winograd's rounding (see the module's
    docstring). It transposes x to HWNC and the output back, which costs about as much as the
    convolution's transforms: nets should stay in HWNC (``nnplug_std.kernels.hwnc_layers``).

    Inputs:
    - x: input of shape (N, C, H, W)
    - w: filters of shape (F, C, 3, 3)
    - b: biases of shape (F,)
    - conv_param: dict with 'stride' (must be 1) and 'pad' (0, 1 or 2); else ValueError

    Returns a tuple of:
    - out: output of shape (N, F, H + 2 pad - 2, W + 2 pad - 2)
    - cache: what ``conv_backward_winograd`` needs
    """
    check_winograd_params(w, conv_param)
    pad = conv_param["pad"]
    dtype = np.result_type(x, w)
    n, c, h, w_in = x.shape
    out_h, out_w = h + 2 * pad - 2, w_in + 2 * pad - 2
    out, v = conv3x3_hwnc(x.transpose(2, 3, 0, 1).astype(dtype, copy=False), filter_transform(w, dtype), pad,
                          out_h, out_w)
    out = np.ascontiguousarray(out.transpose(2, 3, 0, 1))  # channels-first in memory too
    out += b.astype(dtype, copy=False)[:, None, None]
    return out, (w, pad, (h, w_in), v)


def conv_backward_winograd(dout, cache):
    """Backward pass of ``conv_forward_winograd``.

    Inputs:
    - dout: upstream gradient of shape (N, F, H', W')
    - cache: from ``conv_forward_winograd``

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, C, H, W)
    - dw: gradient with respect to w, of shape (F, C, 3, 3)
    - db: gradient with respect to b, of shape (F,)
    """
    w, pad, (h, w_in), v = cache
    dtype = v[0][1].dtype  # the forward pass's: its first range's transformed tiles
    dy = dout.transpose(2, 3, 0, 1).astype(dtype, copy=False)  # HWNC, a view
    dx, dw = conv3x3_backward_hwnc(dy, v, filter_transform(w, dtype), w.shape, pad, h, w_in)
    return np.ascontiguousarray(dx.transpose(2, 3, 0, 1)), dw.astype(dtype, copy=False), dout.sum(axis=(0, 2, 3))
