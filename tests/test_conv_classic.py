"""Convolution, pooling and spatial normalization: the naive reference, the fast versions and the sandwiches.

The naive layers are checked against numeric gradients; the fast ones against the naive ones to
1e-10 in float64, over shapes that exercise padding, strides, non-square inputs and filters,
overlapping pooling windows and ties.
"""
import numpy as np
import pytest

from nnplug.core.gradcheck import eval_numerical_gradient_array, rel_error
from nnplug_std.classic import (
    conv_backward_fast, conv_backward_naive, conv_bn_relu_backward, conv_bn_relu_forward, conv_forward_fast,
    conv_forward_naive, conv_relu_backward, conv_relu_forward, conv_relu_pool_backward, conv_relu_pool_forward,
    layernorm_forward, max_pool_backward_fast, max_pool_backward_naive, max_pool_forward_fast,
    max_pool_forward_naive, spatial_batchnorm_backward, spatial_batchnorm_forward, spatial_groupnorm_backward,
    spatial_groupnorm_forward)

CONV_CASES = [  # (x shape, w shape, stride, pad)
    ((2, 3, 7, 7), (4, 3, 3, 3), 1, 1),
    ((2, 3, 8, 6), (3, 3, 3, 3), 1, 0),
    ((3, 2, 9, 7), (4, 2, 3, 3), 2, 1),
    ((2, 3, 6, 9), (2, 3, 2, 4), 1, 2),
    ((1, 4, 10, 8), (3, 4, 5, 3), 2, 0),
    ((2, 1, 5, 5), (2, 1, 1, 1), 1, 0),
]
POOL_CASES = [  # (x shape, pool_height, pool_width, stride)
    ((2, 3, 8, 8), 2, 2, 2),
    ((2, 2, 7, 9), 3, 3, 2),
    ((1, 3, 6, 8), 2, 3, 1),
    ((2, 2, 9, 6), 3, 2, 3),
]


def rng(seed=0):
    return np.random.default_rng(seed)


def numeric_checks(f, dout, pairs, tol=1e-7):
    """Assert that each analytic gradient matches the centred-difference one (h = 1e-5)."""
    for name, analytic, value in pairs:
        numeric = eval_numerical_gradient_array(f, value, dout, h=1e-5)
        assert rel_error(analytic, numeric) < tol, name


# --- convolution --------------------------------------------------------------------------------

@pytest.mark.parametrize("xs,ws,stride,pad", CONV_CASES)
def test_fast_conv_matches_naive(xs, ws, stride, pad):
    g = rng(1)
    x, w, b = g.standard_normal(xs), g.standard_normal(ws), g.standard_normal(ws[0])
    param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_naive(x, w, b, param)
    fast, fast_cache = conv_forward_fast(x, w, b, param)
    assert fast.shape == out.shape and rel_error(fast, out) < 1e-10
    dout = g.standard_normal(out.shape)
    for naive_grad, fast_grad in zip(conv_backward_naive(dout, cache), conv_backward_fast(dout, fast_cache)):
        assert naive_grad.shape == fast_grad.shape and rel_error(fast_grad, naive_grad) < 1e-10


@pytest.mark.parametrize("xs,ws,stride,pad", CONV_CASES[:4])
def test_naive_conv_gradients_against_numeric(xs, ws, stride, pad):
    g = rng(2)
    x, w, b = g.standard_normal(xs), g.standard_normal(ws), g.standard_normal(ws[0])
    param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_naive(x, w, b, param)
    dout = g.standard_normal(out.shape)
    dx, dw, db = conv_backward_naive(dout, cache)

    def f(_):
        return conv_forward_naive(x, w, b, param)[0]

    numeric_checks(f, dout, [("x", dx, x), ("w", dw, w), ("b", db, b)])


def test_conv_output_size_follows_the_floor():
    x, w, b = np.ones((1, 1, 6, 6)), np.ones((1, 1, 3, 3)), np.zeros(1)
    assert conv_forward_naive(x, w, b, {"stride": 2, "pad": 0})[0].shape == (1, 1, 2, 2)
    assert conv_forward_fast(x, w, b, {"stride": 2, "pad": 0})[0].shape == (1, 1, 2, 2)
    with pytest.raises(ValueError):
        conv_forward_fast(np.ones((1, 1, 2, 2)), w, b, {"stride": 1, "pad": 0})


def test_fast_conv_keeps_earlier_outputs_when_called_again():
    g = rng(3)
    x, w, b = g.standard_normal((2, 3, 6, 6)), g.standard_normal((2, 3, 3, 3)), g.standard_normal(2)
    param = {"stride": 1, "pad": 1}
    first, cache = conv_forward_fast(x, w, b, param)
    kept = first.copy()
    conv_forward_fast(-x, w, b, param)  # the same shapes: the same scratch arrays
    assert np.array_equal(first, kept)
    grads = conv_backward_fast(np.ones_like(first), cache)
    expected = conv_backward_naive(np.ones_like(first), conv_forward_naive(x, w, b, param)[1])
    assert rel_error(grads[1], expected[1]) < 1e-10


# --- max pooling --------------------------------------------------------------------------------

@pytest.mark.parametrize("xs,ph,pw,stride", POOL_CASES)
def test_fast_pool_matches_naive(xs, ph, pw, stride):
    g = rng(4)
    x = g.standard_normal(xs)
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = max_pool_forward_naive(x, param)
    fast, fast_cache = max_pool_forward_fast(x, param)
    assert fast.shape == out.shape and rel_error(fast, out) < 1e-10
    dout = g.standard_normal(out.shape)
    assert rel_error(max_pool_backward_fast(dout, fast_cache), max_pool_backward_naive(dout, cache)) < 1e-10


@pytest.mark.parametrize("xs,ph,pw,stride", POOL_CASES)
def test_pool_ties_send_the_gradient_to_the_first_maximum(xs, ph, pw, stride):
    x = rng(5).integers(0, 2, xs).astype(float)  # many ties
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = max_pool_forward_naive(x, param)
    dout = rng(6).standard_normal(out.shape)
    dx = max_pool_backward_naive(dout, cache)
    assert np.isclose(dx.sum(), dout.sum())  # one maximum per window, no double counting
    fast = max_pool_backward_fast(dout, max_pool_forward_fast(x, param)[1])
    assert rel_error(fast, dx) < 1e-12  # overlapping windows: the same sums in another order
    window = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])  # three maxima: the gradient goes to (0, 1)
    _, cache = max_pool_forward_naive(window, {"pool_height": 2, "pool_width": 2, "stride": 2})
    expected = np.array([[[[0.0, 5.0], [0.0, 0.0]]]])
    assert np.array_equal(max_pool_backward_naive(np.full((1, 1, 1, 1), 5.0), cache), expected)


@pytest.mark.parametrize("xs,ph,pw,stride", POOL_CASES[:2])
def test_naive_pool_gradient_against_numeric(xs, ph, pw, stride):
    g = rng(7)
    x = g.permutation(np.prod(xs)).reshape(xs) / 10.0  # distinct values: a differentiable point
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = max_pool_forward_naive(x, param)
    dout = g.standard_normal(out.shape)
    numeric_checks(lambda _: max_pool_forward_naive(x, param)[0], dout,
                   [("x", max_pool_backward_naive(dout, cache), x)])


# --- dtype --------------------------------------------------------------------------------------

def test_float32_in_gives_float32_out():
    g = rng(8)
    x, w, b = (a.astype(np.float32) for a in (g.standard_normal((2, 3, 8, 8)), g.standard_normal((4, 3, 3, 3)),
                                             g.standard_normal(4)))
    gamma, beta = np.ones(4, np.float32), np.zeros(4, np.float32)
    conv, pool = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    for forward, backward in [(conv_forward_naive, conv_backward_naive), (conv_forward_fast, conv_backward_fast)]:
        out, cache = forward(x, w, b, conv)
        assert out.dtype == np.float32 and all(d.dtype == np.float32 for d in backward(out, cache))
    for forward, backward in [(max_pool_forward_naive, max_pool_backward_naive),
                              (max_pool_forward_fast, max_pool_backward_fast)]:
        out, cache = forward(x, pool)
        assert out.dtype == np.float32 and backward(out, cache).dtype == np.float32
    bn_param = {"mode": "train"}
    out, cache = spatial_batchnorm_forward(x, np.ones(3, np.float32), np.zeros(3, np.float32), bn_param)
    assert out.dtype == np.float32 and all(d.dtype == np.float32 for d in spatial_batchnorm_backward(out, cache))
    assert bn_param["running_mean"].dtype == bn_param["running_var"].dtype == np.float32
    out, cache = spatial_groupnorm_forward(x, np.ones((1, 3, 1, 1), np.float32), np.zeros((1, 3, 1, 1), np.float32),
                                           3, {})
    assert out.dtype == np.float32 and all(d.dtype == np.float32 for d in spatial_groupnorm_backward(out, cache))
    for forward, backward, extra in [(conv_relu_forward, conv_relu_backward, (conv,)),
                                     (conv_relu_pool_forward, conv_relu_pool_backward, (conv, pool)),
                                     (conv_bn_relu_forward, conv_bn_relu_backward, ()),]:
        args = (x, w, b, gamma, beta, conv, {"mode": "train"}) if not extra else (x, w, b, *extra)
        out, cache = forward(*args)
        assert out.dtype == np.float32 and all(d.dtype == np.float32 for d in backward(out, cache))


# --- spatial batch norm -------------------------------------------------------------------------

def test_spatial_batchnorm_train_normalises_each_channel_and_updates_running_stats():
    g = rng(9)
    x = 4 + 3 * g.standard_normal((8, 3, 5, 6))
    bn_param = {"mode": "train"}
    out, _ = spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    assert np.allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-10)
    assert np.allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-4)
    assert np.allclose(bn_param["running_mean"], 0.1 * x.mean(axis=(0, 2, 3)))
    assert np.allclose(bn_param["running_var"], 0.1 * x.var(axis=(0, 2, 3)))
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.0, 1.0])
    out, _ = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    assert np.allclose(out.mean(axis=(0, 2, 3)), beta) and np.allclose(out.std(axis=(0, 2, 3)), gamma, atol=1e-4)


def test_spatial_batchnorm_test_mode_uses_the_running_stats():
    x = rng(10).standard_normal((4, 2, 3, 3))
    bn_param = {"mode": "test", "running_mean": np.array([1.0, -1.0]), "running_var": np.array([4.0, 0.25]), "eps": 0}
    out, _ = spatial_batchnorm_forward(x, np.ones(2), np.zeros(2), bn_param)
    expected = (x - np.array([1.0, -1.0])[:, None, None]) / np.array([2.0, 0.5])[:, None, None]
    assert rel_error(out, expected) < 1e-12
    with pytest.raises(ValueError, match="mode"):
        spatial_batchnorm_forward(x, np.ones(2), np.zeros(2), {"mode": "eval"})
    with pytest.raises(ValueError, match="mode"):
        spatial_batchnorm_forward(x, np.ones(2), np.zeros(2), {})


def test_spatial_batchnorm_gradients_against_numeric():
    g = rng(11)
    x, gamma, beta = 2 + g.standard_normal((3, 2, 4, 5)), 1 + 0.3 * g.standard_normal(2), g.standard_normal(2)
    out, cache = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dout = g.standard_normal(out.shape)
    dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)

    def f(_):
        return spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]

    numeric_checks(f, dout, [("x", dx, x), ("gamma", dgamma, gamma), ("beta", dbeta, beta)])


# --- spatial group norm -------------------------------------------------------------------------

def test_groupnorm_with_one_group_is_layernorm_and_with_c_groups_is_instance_norm():
    x = rng(12).standard_normal((3, 4, 5, 2))
    ones, zeros = np.ones((1, 4, 1, 1)), np.zeros((1, 4, 1, 1))
    out, _ = spatial_groupnorm_forward(x, ones, zeros, 1, {})
    expected, _ = layernorm_forward(x.reshape(3, -1), np.ones(40), np.zeros(40), {})
    assert rel_error(out, expected.reshape(x.shape)) < 1e-10
    out, _ = spatial_groupnorm_forward(x, ones, zeros, 4, {})
    mean, var = x.mean(axis=(2, 3), keepdims=True), x.var(axis=(2, 3), keepdims=True)
    assert rel_error(out, (x - mean) / np.sqrt(var + 1e-5)) < 1e-10
    with pytest.raises(ValueError, match="divide"):
        spatial_groupnorm_forward(x, ones, zeros, 3, {})


def test_groupnorm_gradients_against_numeric():
    g = rng(13)
    x = g.standard_normal((2, 6, 4, 3))
    gamma, beta = 1 + 0.3 * g.standard_normal((1, 6, 1, 1)), g.standard_normal((1, 6, 1, 1))
    out, cache = spatial_groupnorm_forward(x, gamma, beta, 2, {"eps": 1e-5})
    dout = g.standard_normal(out.shape)
    dx, dgamma, dbeta = spatial_groupnorm_backward(dout, cache)
    assert dgamma.shape == dbeta.shape == (1, 6, 1, 1)

    def f(_):
        return spatial_groupnorm_forward(x, gamma, beta, 2, {"eps": 1e-5})[0]

    numeric_checks(f, dout, [("x", dx, x), ("gamma", dgamma, gamma), ("beta", dbeta, beta)])


# --- sandwiches ---------------------------------------------------------------------------------

def test_sandwich_gradients_against_numeric():
    g = rng(14)
    x, w, b = g.standard_normal((2, 3, 6, 6)), g.standard_normal((3, 3, 3, 3)), g.standard_normal(3)
    conv, pool = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}

    out, cache = conv_relu_forward(x, w, b, conv)
    dout = g.standard_normal(out.shape)
    dx, dw, db = conv_relu_backward(dout, cache)
    numeric_checks(lambda _: conv_relu_forward(x, w, b, conv)[0], dout, [("x", dx, x), ("w", dw, w), ("b", db, b)])

    out, cache = conv_relu_pool_forward(x, w, b, conv, pool)
    dout = g.standard_normal(out.shape)
    dx, dw, db = conv_relu_pool_backward(dout, cache)
    numeric_checks(lambda _: conv_relu_pool_forward(x, w, b, conv, pool)[0], dout,
                   [("x", dx, x), ("w", dw, w), ("b", db, b)])

    gamma, beta = 1 + 0.3 * g.standard_normal(3), g.standard_normal(3)
    out, cache = conv_bn_relu_forward(x, w, b, gamma, beta, conv, {"mode": "train"})
    dout = g.standard_normal(out.shape)
    dx, dw, db, dgamma, dbeta = conv_bn_relu_backward(dout, cache)

    def f(_):
        return conv_bn_relu_forward(x, w, b, gamma, beta, conv, {"mode": "train"})[0]

    numeric_checks(f, dout, [("x", dx, x), ("w", dw, w), ("gamma", dgamma, gamma), ("beta", dbeta, beta)])
    assert np.abs(db).max() < 1e-10  # batch norm removes the bias


# --- scratch buffers ----------------------------------------------------------------------------

def test_scratch_buffers_are_shared_by_shape_and_kept_apart_by_purpose_dtype_and_thread():
    import threading

    from nnplug_std.kernels.workspace import clear, scratch, zero_border
    clear()
    big = scratch("test", (4, 5), np.float32)
    small = scratch("test", (2, 3), np.float32)
    assert np.shares_memory(big, small) and small.shape == (2, 3) and small.flags.c_contiguous
    assert not np.shares_memory(big, scratch("other", (4, 5), np.float32))
    assert not np.shares_memory(big, scratch("test", (4, 5), np.float64))
    larger = scratch("test", (10, 10), np.float32)  # grows: a new buffer
    assert larger.shape == (10, 10) and not np.shares_memory(larger, big)
    seen = []
    worker = threading.Thread(target=lambda: seen.append(scratch("test", (10, 10), np.float32)))
    worker.start()
    worker.join()
    assert not np.shares_memory(seen[0], larger)
    a = np.ones((5, 6, 2))
    zero_border(a, 1, 2, 1, 0)
    assert a[1:3, 1:].all() and not a[0].any() and not a[3:].any() and not a[:, 0].any()
    clear()
