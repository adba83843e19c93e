"""Matrix products shaped for OpenBLAS: column sums through BLAS, weight gradients in the weight's layout."""
import functools

import numpy as np

from nnplug_std.kernels.parallel import dot


def column_sums(a):
    """Sum of the rows of a C-ordered ``(N, D)`` array, shape ``(D,)``.

    A matrix-vector product: BLAS sums the columns of a C-ordered array several times faster than
    ``a.sum(axis=0)``.
    """
    return ones(a.shape[0], a.dtype) @ a


@functools.lru_cache(maxsize=64)
def ones(n, dtype):
    """A read-only vector of ``n`` ones: one per (batch size, dtype), not a new one for every sum of every step."""
    vector = np.ones(n, dtype=dtype)
    vector.flags.writeable = False
    return vector


def weight_order(fan_in, fan_out, dtype):
    """The memory layout ("C" or "F") an affine weight ``(fan_in, fan_out)`` trains fastest in.

    dW is computed in W's layout (``weight_grad``), and ``x2.T @ dout`` (C) and ``(dout.T @ x2).T``
    (F) are different dgemm calls: numpy hands a C-ordered product to OpenBLAS as the column-major
    product of the transposes, which swaps its m and n, and OpenBLAS blocks the two differently.
    For float64 the call with the long fan-in as m is the faster one for tall weights, and neither
    layout slows ``x @ W`` or ``dout @ W.T`` there; for square, wide or small weights, and for
    float32, C order is as fast or faster. ``python bench/gemm_layout.py`` measures both.
    """
    if np.dtype(dtype) == np.float64 and fan_in >= 512 and fan_in >= 2 * fan_out:
        return "F"
    return "C"


def weight_grad(x2, dout, w):
    """dL/dw = ``x2.T @ dout`` for ``x2 (N, D)``, ``dout (N, M)``, laid out like ``w (D, M)``.

    For an F-ordered w the product is computed as the C-ordered ``(dout.T @ x2)`` and transposed: a
    view, F-ordered, from the faster dgemm call (see ``weight_order``), so that an update in place
    never mixes layouts. A C-ordered w (a classic caller's) gets the classic ``x2.T @ dout``.
    """
    if w.flags.f_contiguous and not w.flags.c_contiguous:
        return dot(dout.T, x2).T
    return dot(x2.T, dout)
