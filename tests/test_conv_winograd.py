"""Winograd F(4x4, 3x3) convolutions and the channels-inner HWNC layers of a conv net.

Checked against the naive channels-first reference (float64: to rounding), against numeric
gradients, in float32 against the float64 result (Winograd's documented tolerance), and end to
end: a small HWNC net against the same net built from the classic channels-first sandwiches.
"""
import numpy as np
import pytest

from nnplug.core.gradcheck import eval_numerical_gradient_array, rel_error
from nnplug_std.classic import (
    affine_backward, affine_forward, conv_backward_naive, conv_bn_relu_backward, conv_bn_relu_forward,
    conv_forward_naive, max_pool_backward_fast, max_pool_backward_naive, max_pool_forward_fast,
    max_pool_forward_naive, softmax_loss, spatial_batchnorm_backward, spatial_batchnorm_forward)
from nnplug_std.kernels.hwnc_layers import (
    bn_relu_backward_hwnc, bn_relu_forward_hwnc, conv_bn_relu_backward_hwnc, conv_bn_relu_forward_hwnc,
    hwnc_to_nchw, image_conv_backward, image_conv_forward, max_pool_backward_hwnc, max_pool_forward_hwnc,
    nchw_to_hwnc)
from nnplug_std.kernels.winograd_nchw import conv_backward_winograd, conv_forward_winograd

CASES = [  # (x shape, F, pad): sizes that are and are not multiples of the 4x4 tile
    ((2, 3, 8, 8), 4, 1),
    ((2, 3, 7, 9), 5, 1),
    ((1, 2, 10, 6), 3, 0),
    ((2, 2, 5, 6), 2, 2),
    ((3, 4, 16, 12), 6, 1),
]


def rng(seed=0):
    return np.random.default_rng(seed)


def relative_to_max(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("xs,f,pad", CASES)
def test_winograd_matches_naive_in_float64(xs, f, pad):
    g = rng(1)
    x, w, b = g.standard_normal(xs), g.standard_normal((f, xs[1], 3, 3)), g.standard_normal(f)
    param = {"stride": 1, "pad": pad}
    out, cache = conv_forward_naive(x, w, b, param)
    fast, fast_cache = conv_forward_winograd(x, w, b, param)
    assert fast.shape == out.shape and fast.flags.c_contiguous and relative_to_max(fast, out) < 1e-12
    dout = g.standard_normal(out.shape)
    for naive, wino in zip(conv_backward_naive(dout, cache), conv_backward_winograd(dout, fast_cache)):
        assert wino.shape == naive.shape and relative_to_max(wino, naive) < 1e-12


@pytest.mark.parametrize("xs,f,pad", CASES[:3])
def test_winograd_float32_error_stays_within_its_tolerance(xs, f, pad):
    g = rng(2)
    x, w, b = np.abs(g.standard_normal(xs)), g.standard_normal((f, xs[1], 3, 3)) / 3, g.standard_normal(f)
    param = {"stride": 1, "pad": pad}
    out, cache = conv_forward_naive(x, w, b, param)
    fast, fast_cache = conv_forward_winograd(*(a.astype(np.float32) for a in (x, w, b)), param)
    assert fast.dtype == np.float32 and relative_to_max(fast, out) < 1e-4
    dout = g.standard_normal(out.shape)
    grads = conv_backward_winograd(dout.astype(np.float32), fast_cache)
    for naive, wino in zip(conv_backward_naive(dout, cache), grads):
        assert wino.dtype == np.float32 and relative_to_max(wino, naive) < 1e-4


def test_winograd_gradients_against_numeric():
    g = rng(3)
    x, w, b = g.standard_normal((2, 2, 6, 5)), g.standard_normal((3, 2, 3, 3)), g.standard_normal(3)
    param = {"stride": 1, "pad": 1}
    out, cache = conv_forward_winograd(x, w, b, param)
    dout = g.standard_normal(out.shape)
    dx, dw, db = conv_backward_winograd(dout, cache)
    for name, analytic, value in [("x", dx, x), ("w", dw, w), ("b", db, b)]:
        numeric = eval_numerical_gradient_array(lambda _: conv_forward_winograd(x, w, b, param)[0], value, dout)
        assert rel_error(analytic, numeric) < 1e-7, name


def test_winograd_refuses_other_convolutions():
    x, b = np.ones((1, 1, 6, 6)), np.zeros(1)
    for w, param in [(np.ones((1, 1, 5, 5)), {"stride": 1, "pad": 1}), (np.ones((1, 1, 3, 3)), {"stride": 2, "pad": 1}),
                     (np.ones((1, 1, 3, 3)), {"stride": 1, "pad": 3})]:
        with pytest.raises(ValueError, match="Winograd"):
            conv_forward_winograd(x, w, b, param)


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("xs,f,pad", CASES)
def test_hwnc_conv_bn_relu_matches_the_classic_sandwich(xs, f, pad, mode):
    g = rng(4)
    x, w, b = g.standard_normal(xs), g.standard_normal((f, xs[1], 3, 3)), g.standard_normal(f)
    gamma, beta = 1 + 0.3 * g.standard_normal(f), g.standard_normal(f)
    param, stats = {"stride": 1, "pad": pad}, {"running_mean": g.standard_normal(f), "running_var": 1 + g.random(f)}
    classic, hwnc = {"mode": mode, **stats}, {"mode": mode, **stats}
    out, cache = conv_bn_relu_forward(x, w, b, gamma, beta, param, classic)
    fast, fast_cache = conv_bn_relu_forward_hwnc(nchw_to_hwnc(x), w, b, gamma, beta, param, hwnc)
    assert rel_error(hwnc_to_nchw(fast), out) < 1e-10
    for key in stats:
        assert rel_error(hwnc[key], classic[key]) < 1e-12
    dout = g.standard_normal(out.shape)
    if mode == "test":
        with pytest.raises(ValueError, match="'train' mode"):
            conv_bn_relu_backward_hwnc(nchw_to_hwnc(dout), fast_cache)
        return
    dx, dw, db, dgamma, dbeta = conv_bn_relu_backward_hwnc(nchw_to_hwnc(dout), fast_cache)
    expected = conv_bn_relu_backward(dout, cache)
    assert rel_error(hwnc_to_nchw(dx), expected[0]) < 1e-9
    for got, want in zip((dw, dgamma, dbeta), (expected[1], expected[3], expected[4])):
        assert rel_error(got, want) < 1e-9
    assert np.all(db == 0)
    assert conv_bn_relu_backward_hwnc(nchw_to_hwnc(dout), fast_cache, input_grad=False)[0] is None


def test_hwnc_bn_relu_gradients_against_numeric():
    g = rng(5)
    a, gamma, beta = g.standard_normal((3, 4, 2, 3)), 1 + 0.3 * g.standard_normal(3), g.standard_normal(3)
    out, cache = bn_relu_forward_hwnc(a.copy(), gamma, beta, {"mode": "train"})
    dout = g.standard_normal(out.shape)
    da, dgamma, dbeta = bn_relu_backward_hwnc(dout, cache)

    def f(_):
        return bn_relu_forward_hwnc(a.copy(), gamma, beta, {"mode": "train"})[0]

    for name, analytic, value in [("a", da, a), ("gamma", dgamma, gamma), ("beta", dbeta, beta)]:
        assert rel_error(analytic, eval_numerical_gradient_array(f, value, dout)) < 1e-7, name


@pytest.mark.parametrize("stride,pad", [(1, 1), (2, 1), (1, 0), (2, 0)])
def test_image_conv_matches_naive(stride, pad):
    g = rng(6)
    x, w, b = g.standard_normal((3, 3, 9, 8)), g.standard_normal((4, 3, 3, 3)), g.standard_normal(4)
    param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_naive(x, w, b, param)
    fast, fast_cache = image_conv_forward(x, w, b, param)
    assert rel_error(hwnc_to_nchw(fast), out) < 1e-10
    dout = g.standard_normal(out.shape)
    _, dw, db = conv_backward_naive(dout, cache)
    dx, fast_dw, fast_db = image_conv_backward(nchw_to_hwnc(dout), fast_cache)
    assert dx is None and rel_error(fast_dw, dw) < 1e-10 and rel_error(fast_db, db) < 1e-10


@pytest.mark.parametrize("ties", [False, True])
def test_hwnc_pool_matches_naive(ties):
    g = rng(7)
    x = g.integers(0, 2, (2, 3, 6, 8)).astype(float) if ties else g.standard_normal((2, 3, 6, 8))
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = max_pool_forward_naive(x, param)
    fast, fast_cache = max_pool_forward_hwnc(nchw_to_hwnc(x), param)
    assert np.array_equal(hwnc_to_nchw(fast), out)
    dout = g.standard_normal(out.shape)
    assert np.array_equal(hwnc_to_nchw(max_pool_backward_hwnc(nchw_to_hwnc(dout), fast_cache)),
                          max_pool_backward_naive(dout, cache))
    with pytest.raises(ValueError):
        max_pool_forward_hwnc(nchw_to_hwnc(x), {"pool_height": 3, "pool_width": 3, "stride": 2})


def test_hwnc_layers_keep_float32_and_earlier_results():
    g = rng(8)
    x, w, b = (a.astype(np.float32) for a in (g.standard_normal((4, 3, 8, 8)), g.standard_normal((4, 3, 3, 3)),
                                             g.standard_normal(4)))
    gamma, beta, param = np.ones(4, np.float32), np.zeros(4, np.float32), {"stride": 1, "pad": 1}
    h, image_cache = image_conv_forward(x, w, b, param)
    h, bn_cache = bn_relu_forward_hwnc(h, gamma, beta, {"mode": "train"})
    w2 = g.standard_normal((4, 4, 3, 3)).astype(np.float32)
    bn_param = {"mode": "train"}
    out, cache = conv_bn_relu_forward_hwnc(h, w2, b, gamma, beta, param, bn_param)
    kept = out.copy()
    conv_bn_relu_forward_hwnc(-h, w2, b, gamma, beta, param, {"mode": "train"})  # same shapes: same scratch
    assert np.array_equal(out, kept)
    pooled, pool_cache = max_pool_forward_hwnc(out, {"pool_height": 2, "pool_width": 2, "stride": 2})
    grads = conv_bn_relu_backward_hwnc(max_pool_backward_hwnc(pooled, pool_cache), cache)
    first = bn_relu_backward_hwnc(grads[0], bn_cache)
    arrays = [h, out, pooled, *grads, *first, *image_conv_backward(first[0], image_cache)[1:]]
    assert all(a.dtype == np.float32 for a in arrays)
    assert bn_param["running_mean"].dtype == np.float32


def classic_net(x, y, p, bn_params):
    """conv-bn-relu, conv-bn-relu-pool, affine on the channels-first classic functions."""
    conv, pool = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    h1, c1 = conv_bn_relu_forward(x, p["w0"], p["b0"], p["g0"], p["be0"], conv, bn_params[0])
    h2, c2 = conv_bn_relu_forward(h1, p["w1"], p["b1"], p["g1"], p["be1"], conv, bn_params[1])
    h3, c3 = max_pool_forward_fast(h2, pool)
    scores, c4 = affine_forward(h3, p["wf"], p["bf"])
    loss, d = softmax_loss(scores, y)
    grads = {}
    d, grads["wf"], grads["bf"] = affine_backward(d, c4)
    d = max_pool_backward_fast(d, c3)
    d, grads["w1"], grads["b1"], grads["g1"], grads["be1"] = conv_bn_relu_backward(d, c2)
    _, grads["w0"], grads["b0"], grads["g0"], grads["be0"] = conv_bn_relu_backward(d, c1)
    return loss, grads


def hwnc_net(x, y, p, bn_params):
    """The same net on the HWNC layers, as bench/conv_net.py builds it."""
    conv, pool = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    a, c0 = image_conv_forward(x, p["w0"], p["b0"], conv)
    h1, c1 = bn_relu_forward_hwnc(a, p["g0"], p["be0"], bn_params[0])
    h2, c2 = conv_bn_relu_forward_hwnc(h1, p["w1"], p["b1"], p["g1"], p["be1"], conv, bn_params[1])
    h3, c3 = max_pool_forward_hwnc(h2, pool)
    scores, c4 = affine_forward(hwnc_to_nchw(h3), p["wf"], p["bf"])
    loss, d = softmax_loss(scores, y)
    grads = {}
    d, grads["wf"], grads["bf"] = affine_backward(d, c4)
    d = max_pool_backward_hwnc(nchw_to_hwnc(d), c3)
    d, grads["w1"], grads["b1"], grads["g1"], grads["be1"] = conv_bn_relu_backward_hwnc(d, c2)
    d, grads["g0"], grads["be0"] = bn_relu_backward_hwnc(d, c1)
    _, grads["w0"], grads["b0"] = image_conv_backward(d, c0)
    return loss, grads


def test_a_hwnc_net_trains_like_the_classic_one():
    g = rng(9)
    x, y = g.standard_normal((4, 3, 8, 8)), g.integers(0, 5, 4)
    p = {"w0": g.standard_normal((4, 3, 3, 3)), "b0": g.standard_normal(4), "g0": 1 + 0.2 * g.standard_normal(4),
         "be0": g.standard_normal(4), "w1": g.standard_normal((6, 4, 3, 3)), "b1": g.standard_normal(6),
         "g1": 1 + 0.2 * g.standard_normal(6), "be1": g.standard_normal(6), "wf": g.standard_normal((96, 5)) / 10,
         "bf": g.standard_normal(5)}
    loss, grads = classic_net(x, y, p, [{"mode": "train"}, {"mode": "train"}])
    fast_loss, fast_grads = hwnc_net(x, y, p, [{"mode": "train"}, {"mode": "train"}])
    assert abs(loss - fast_loss) < 1e-12
    for name in p:
        if name in ("b0", "b1"):  # batch norm removes the biases: their gradients are rounding (b1's fused one is 0)
            assert np.abs(grads[name]).max() < 1e-12 and np.abs(fast_grads[name]).max() < 1e-12
        else:
            assert rel_error(fast_grads[name], grads[name]) < 1e-9, name


def test_spatial_batchnorm_agrees_with_the_hwnc_one():
    g = rng(10)
    x, gamma, beta = g.standard_normal((4, 3, 5, 6)), 1 + 0.3 * g.standard_normal(3), g.standard_normal(3)
    out, cache = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    fast, fast_cache = bn_relu_forward_hwnc(nchw_to_hwnc(x), gamma, beta, {"mode": "train"})
    assert rel_error(hwnc_to_nchw(fast), np.maximum(out, 0)) < 1e-12
    dout = g.standard_normal(out.shape)
    expected = spatial_batchnorm_backward(dout * (out > 0), cache)
    got = bn_relu_backward_hwnc(nchw_to_hwnc(dout), fast_cache)
    assert rel_error(hwnc_to_nchw(got[0]), expected[0]) < 1e-10
    assert rel_error(got[1], expected[1]) < 1e-10 and rel_error(got[2], expected[2]) < 1e-10
