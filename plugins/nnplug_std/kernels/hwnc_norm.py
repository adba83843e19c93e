"""Spatial batch norm and its activation (ReLU, GELU or none) of channels-inner HWNC maps ``(H, W, N, C)``, in as few
passes over memory as can be.

In HWNC a map is a C-ordered matrix (H*W*N, C): the statistics of a channel are a column's, and
its scale and shift broadcast along the rows. Two things make numpy do this quickly:

- rows of 8192 to 16384 values (``_wide``): numpy broadcasts a per-channel vector several times
  faster along such rows than along rows of C values, and rows of 1024 to 4096 values are the
  slowest of all; the vectors are tiled to the row's length;
- blocks that stay in cache (``_blocks``): a feature map of a batch is megabytes, and every
  numpy operation is a pass over all of it; the operations of normalise, shift and activation
  (mask and ReLU, or GELU's dozen) run block by block, so that each block is read from memory
  once, not once per operation (and likewise the backward pass's);
- statistics taken by the producer: ``ChannelMoments`` sums each row of tiles as the Winograd
  output transform writes it, so that the forward pass reads the map once more, not three times.

The blocks go to as many threads as BLAS may use (``nnplug_std.kernels.parallel``); their partial
sums are added up in block order whatever the threads, so the results do not depend on them.
"""
import numpy as np

from nnplug_std.kernels.batch_stats import bn_setup
from nnplug_std.kernels.gelu import check_form, gelu, gelu_grad
from nnplug_std.kernels.parallel import each
from nnplug_std.kernels.workspace import scratch

_BLOCK = 1 << 18  # values per block: a block of each operand stays in the L2 and L3 caches


def column_sums(a):
    """Sums of the columns of a matrix (P, C) of contiguous rows: one streaming pass (float32 gemv is slower here)."""
    return np.einsum("pc->c", a)


def _column_dots(a, b):
    """``sum_p a[p, c] * b[p, c]`` for each column, without a (P, C) temporary."""
    return np.einsum("pc,pc->c", a, b)


def _wide(a):
    """An HWNC array (H, W, N, C) viewed as rows of 8192 to 16384 values, k pixels a row, and k.

    k divides W*N, so that every row of the view lies within one row of the map and a block of
    map rows is a block of view rows; k = 1 (rows of C values) when no such k exists.
    """
    h, w, n, c = a.shape
    k = max(1, 16384 // c)
    while k > 1 and ((w * n) % k or k * c < 8192):
        k //= 2
    if (w * n) % k:
        k = 1
    return a.reshape(-1, k * c), k


def _tiled(v, k, dtype):
    """A per-channel vector repeated k times, in ``dtype``, to broadcast over a ``_wide`` view."""
    return np.tile(np.asarray(v, dtype), k)


def _blocks(a, k):
    """Blocks of about ``_BLOCK`` values of an HWNC array: pairs of slices (map rows, rows of its ``_wide`` view)."""
    h, w, n, c = a.shape
    step = max(1, _BLOCK // (w * n * c))
    per_row = w * n // k
    return [(slice(start, start + step), slice(start * per_row, (start + step) * per_row))
            for start in range(0, h, step)]


def _per_channel(partial, k, c):
    """Per-channel totals (C,) from per-column partial sums of a ``_wide`` view, added up in float64."""
    return np.sum(partial, axis=0, dtype=np.float64).reshape(k, c).sum(axis=0)


class ChannelMoments:
    """Per-channel sums of x and of x**2 over the rows of an HWNC map, added up in float64.

    ``add`` takes blocks of the map (h, W, n, C), a block of rows or of rows and samples (a strided
    view whose last two axes are contiguous), as they are produced, so that a convolution can hand
    each over while it is still in cache, from any of the kernel's threads; ``key`` orders the
    blocks (their sums are added up in that order, whatever thread produced them); ``total`` is the
    number of pixels seen.
    """

    def __init__(self):
        self.parts = {}

    def add(self, block, key=0):
        h, w, n, c = block.shape
        rows = block.reshape(h * w, n * c)  # a view where the block's last two axes are contiguous
        step = max(1, _BLOCK // (n * c))
        # partial sums in float32, a block of rows at a time (the same blocks whatever the threads)
        found = each(lambda r: (column_sums(rows[r]), _column_dots(rows[r], rows[r])),
                     [slice(start, start + step) for start in range(0, h * w, step)])
        sums, squares = (np.sum([f[i] for f in found], axis=0, dtype=np.float64).reshape(n, c).sum(axis=0)
                         for i in (0, 1))
        self.parts[key] = (sums, squares, h * w * n)

    @property
    def total(self):
        return sum(count for _, _, count in self.parts.values())

    def mean_var(self):
        """The mean and the biased variance, E[x^2] - E[x]^2 (in float64, from float32 partial sums).

        The difference loses digits only in proportion to mean^2 / var, which for the inputs of a
        batch norm (convolution outputs without their bias) stays small.
        """
        parts = [self.parts[key] for key in sorted(self.parts)]
        mean = sum(p[0] for p in parts) / self.total
        return mean, np.maximum(sum(p[1] for p in parts) / self.total - mean * mean, 0)


ACTIVATIONS = (None, "relu", "gelu")


def bn_act_forward_hwnc(a, gamma, beta, bn_param, act="relu", approximate="none", bias=None, moments=None):
    """Spatial batch norm and an activation of an HWNC map: ``act(gamma * (a - mean) / std + beta)``.

    Inputs:
    - a: pre-activations of shape (H, W, N, C), C-contiguous; kept in the cache as it is (the
      caller must not change it before the backward pass)
    - gamma, beta: scale and shift of shape (C,)
    - bn_param: as for ``spatial_batchnorm_forward`` (mode, eps, momentum); its running statistics
      are updated in it
    - act: 'relu', 'gelu' or None (batch norm alone); approximate: GELU's form ('none' or 'tanh')
    - bias: a per-channel constant that was left out of ``a`` (a convolution's bias) but belongs in
      the running mean and in test mode; None for none
    - moments: a ``ChannelMoments`` of all of ``a`` that the caller took while producing it, or
      None to take them here (one more pass over a)

    Returns a tuple of:
    - out: of shape (H, W, N, C)
    - cache: what ``bn_act_backward_hwnc`` needs (None in test mode)
    """
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}: expected one of {ACTIVATIONS}")
    check_form(approximate)
    c = a.shape[-1]
    dtype = a.dtype
    mode, eps, momentum, running_mean, running_var = bn_setup(bn_param, c, dtype)
    wide, k = _wide(a)
    blocks = [rows for _, rows in _blocks(a, k)]
    bias = np.zeros(c, dtype) if bias is None else bias
    if mode == "train":
        if moments is None:
            moments = ChannelMoments()
            moments.add(a)
        mean, var = (v.astype(dtype) for v in moments.mean_var())
        inv_std = 1 / np.sqrt(var + eps)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * (mean + bias)
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
        centre = mean
    else:
        inv_std = 1 / np.sqrt(running_var + eps)
        centre = running_mean - bias
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    scale = gamma * inv_std
    tiled_scale, shift = _tiled(scale, k, dtype), _tiled(beta - centre * scale, k, dtype)
    out = np.empty_like(wide)
    mask = np.empty(wide.shape, bool) if act == "relu" else None

    def block(rows):  # normalise, shift and activate a block while it is in cache
        o = np.multiply(wide[rows], tiled_scale, out=out[rows])
        o += shift
        if act == "relu":
            np.greater(o, 0, out=mask[rows])
            o *= mask[rows]  # a multiply by the mask: np.maximum is slower here
        elif act == "gelu":
            gelu(o, approximate, out=o)

    each(block, blocks)
    cache = None
    if mode == "train":
        cache = (wide, _tiled(mean, k, dtype), k, inv_std, scale, (act, approximate, mask, tiled_scale, shift))
    return out.reshape(a.shape), cache


def bn_act_backward_hwnc(dout, cache):
    """Backward pass of ``bn_act_forward_hwnc`` (of a train-mode forward pass).

    Batch norm's simplified gradient, as ``bn_train_backward`` computes it: with dy = dL/dy (y
    the normalised map before the activation), xc = a - mean and m values per channel,
    ``da = scale * (dy - dbeta / m - xc * inv_std * dgamma / m)``. xc is formed block by block in
    cache, never as a whole array. ReLU's dy is formed twice, from the mask, rather than stored;
    GELU's is stored in da's memory and finished there (its derivative costs a dozen passes).

    Inputs:
    - dout: upstream gradient of shape (H, W, N, C); a strided view is fine
    - cache: from ``bn_act_forward_hwnc``

    Returns a tuple of (da (H, W, N, C), dgamma (C,), dbeta (C,)).
    """
    if cache is None:
        raise ValueError("the HWNC batch norm's backward pass needs a cache from a 'train' mode forward pass")
    a, mean, k, inv_std, scale, (act, approximate, mask, tiled_scale, shift) = cache
    c = dout.shape[-1]
    p = dout.size // c
    dtype = a.dtype
    blocks = _blocks(dout, k)
    mask = None if mask is None else mask.reshape(dout.shape)
    da = np.empty_like(a)
    size = (blocks[0][1].stop, a.shape[1])

    def block_terms(map_rows, rows, first):
        """dy and xc = a - mean of one block, formed in cache (dout may be a strided view); this thread's
        scratch holds them."""
        n = a[rows].shape[0]
        dy, xc = scratch("bn_dy", size, dtype), scratch("bn_xc", size, dtype)
        if act == "gelu":
            if first:  # y again, as the forward pass computed it, then dy into da
                y = np.multiply(a[rows], tiled_scale, out=xc[:n])
                y += shift
                gelu_grad(y, np.ascontiguousarray(dout[map_rows]).reshape(y.shape), approximate, out=da[rows])
            block_dy = da[rows]
        elif act == "relu":
            block_dy = dy[:n]
            np.multiply(dout[map_rows], mask[map_rows], out=block_dy.reshape(dout[map_rows].shape))
        elif dout.flags.c_contiguous:  # batch norm alone: dy is dout itself
            block_dy = dout[map_rows].reshape(n, -1)
        else:
            block_dy = dy[:n]
            np.copyto(block_dy.reshape(dout[map_rows].shape), dout[map_rows])
        return block_dy, np.subtract(a[rows], mean, out=xc[:n])

    def partial(block):
        block_dy, block_xc = block_terms(*block, True)
        return column_sums(block_dy), _column_dots(block_dy, block_xc)

    sums, dots = zip(*each(partial, blocks))
    dbeta = _per_channel(sums, k, c).astype(dtype)
    dgamma = (_per_channel(dots, k, c) * inv_std).astype(dtype)
    k_xc, k_dy, k_0 = (_tiled(v, k, dtype) for v in (scale * inv_std * dgamma / p, scale, scale * dbeta / p))

    def finish(block):  # xc (and ReLU's dy) formed again rather than stored: a write and a read saved
        block_dy, block_xc = block_terms(*block, False)
        d = np.multiply(block_dy, k_dy, out=da[block[1]])
        block_xc *= k_xc
        d -= block_xc
        d -= k_0

    each(finish, blocks)
    return da.reshape(dout.shape), dgamma, dbeta


def bn_relu_forward_hwnc(a, gamma, beta, bn_param, bias=None, moments=None):
    """Spatial batch norm and ReLU of an HWNC map: ``bn_act_forward_hwnc`` with ``act='relu'``."""
    return bn_act_forward_hwnc(a, gamma, beta, bn_param, "relu", bias=bias, moments=moments)


def bn_relu_backward_hwnc(dout, cache):
    """Backward pass of ``bn_relu_forward_hwnc``: (da, dgamma, dbeta)."""
    return bn_act_backward_hwnc(dout, cache)
