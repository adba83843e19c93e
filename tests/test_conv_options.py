"""The layers and options of airbench94-style nets: GELU, layers without biases, identity ("dirac")
filters, batch-norm momentum and eps, the whitening layer, and the HWNC chain that runs them
(pools before batch norm, odd sizes, GELU, a frozen whitening conv first): each against its
definition, the fused chain against the same layers unfused, and numeric gradients through nets
the registry builds."""
import math

import numpy as np
import pytest

from nnplug.core.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from nnplug.core import param_groups
from nnplug.core.network import Network
from nnplug_std.classic import (conv_backward_naive, conv_forward_naive, gelu_backward, gelu_forward,
                                max_pool_forward_naive)
from nnplug_std.kernels.hwnc_image import image_conv_backward, image_conv_forward
from nnplug_std.kernels.hwnc_layers import hwnc_to_nchw, max_pool_backward_hwnc, max_pool_forward_hwnc, nchw_to_hwnc
from nnplug_std.layers.conv_chain import ConvChain
from nnplug_std.layers.whiten import Whiten, patch_moments


def rng(seed=0):
    return np.random.default_rng(seed)


def exact_gelu(x):
    return np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in np.ravel(x)]).reshape(np.shape(x))


def tanh_gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


# --- GELU ---------------------------------------------------------------------------------------

def test_gelu_is_x_times_the_normal_cdf_to_rounding_in_float64():
    x = np.linspace(-9, 9, 721)
    assert np.abs(gelu_forward(x)[0] - exact_gelu(x)).max() < 1e-15 * 9
    assert np.abs(gelu_forward(x, "tanh")[0] - tanh_gelu(x)).max() < 1e-15 * 9


@pytest.mark.parametrize("form", ["none", "tanh"])
def test_gelu_in_float32_is_within_a_few_1e_7_of_float64(form):
    x = np.linspace(-12, 12, 100_001)
    out, cache = gelu_forward(x.astype(np.float32), form)
    dx = gelu_backward(np.ones_like(out), cache)
    out64, cache64 = gelu_forward(x, form)
    assert out.dtype == dx.dtype == np.float32
    assert np.all(np.abs(out - out64) <= 6e-7 * np.maximum(1, np.abs(x)))
    assert np.abs(dx - gelu_backward(np.ones_like(x), cache64)).max() < 2e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("form", ["none", "tanh"])
def test_gelu_of_huge_values_is_x_or_0_and_its_gradient_1_or_0_without_overflow(form, dtype):
    # what a net's maps reach in test mode before its batch norms saw any data (running variance 0)
    big = np.finfo(dtype).max / 2
    x = np.array([-big, -1e20, -60, 60, 1e20, big], dtype)
    with np.errstate(over="raise", invalid="raise"):
        out, cache = gelu_forward(x, form)
        dx = gelu_backward(np.ones_like(out), cache)
    assert np.array_equal(out, np.where(x > 0, x, 0)) and np.array_equal(dx, (x > 0).astype(dtype))


@pytest.mark.parametrize("form", ["none", "tanh"])
def test_gelu_gradient_against_numeric(form):
    # within +-4: further out the tanh form's 1 + tanh cancels, and centred differences see only rounding
    x, dout = rng(1).uniform(-4, 4, (4, 5, 6)), rng(2).standard_normal((4, 5, 6))
    dx = gelu_backward(dout, gelu_forward(x, form)[1])
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: gelu_forward(v, form)[0], x, dout)) < 1e-8


def test_gelu_refuses_an_unknown_form():
    with pytest.raises(ValueError, match="approximate='erf': expected one of none, tanh"):
        Network(layers=[{"affine": {"units": 4}}, {"gelu": {"approximate": "erf"}}, "affine"], input_dim=3,
                num_classes=2)


# --- biases, identity filters, batch norm's options ---------------------------------------------

def test_layers_without_biases_have_no_b_in_any_path():
    layers = [{"conv": {"filters": 3, "bias": False}}, "spatial_batchnorm", "relu", {"conv": {"filters": 4}}, "relu",
              {"affine": {"units": 6, "bias": False}}, "batchnorm", "relu", {"affine": {"bias": False}}]
    fused, plain = (Network(layers=layers, input_dim=(2, 6, 6), num_classes=3, seed=0, fuse=f) for f in (True, False))
    assert sorted(fused.params) == ["W1", "W2", "W3", "W4", "b2", "beta1", "beta3", "gamma1", "gamma3"]
    X, y = rng(3).standard_normal((5, 2, 6, 6)), rng(4).integers(0, 3, 5)
    (loss_f, grads_f), (loss_p, grads_p) = fused.loss(X, y), plain.loss(X, y)
    assert loss_f == pytest.approx(loss_p, rel=1e-12) and grads_f.keys() == grads_p.keys() == fused.params.keys()
    for name in grads_p:
        assert rel_error(grads_f[name], grads_p[name]) < 1e-9, name


@pytest.mark.parametrize("filters, channels", [(6, 4), (3, 5)])
def test_dirac_filters_pass_channels_through_as_pytorch_dirac_does(filters, channels):
    x = rng(5).standard_normal((2, channels, 5, 5))
    net = Network(layers=[{"conv": {"filters": filters, "init": "dirac"}}, "affine"], input_dim=x.shape[1:],
                  num_classes=2, seed=0, init="he")
    w, identity = net.params["W1"], min(filters, channels)
    out = conv_forward_naive(x, w, np.zeros(filters), {"stride": 1, "pad": 1})[0]
    assert np.array_equal(out[:, :identity], x[:, :identity]) and not out[:, identity:].any()
    assert np.count_nonzero(w) == identity


def test_partial_dirac_draws_the_other_filters_by_the_network_rule():
    layers = [{"conv": {"filters": 6, "init": "partial_dirac"}}, {"conv": {"filters": 3}}, "affine"]
    net = Network(layers=layers, input_dim=(4, 5, 5), num_classes=2, seed=0, init="he")
    drawn = Network(layers=[{"conv": {"filters": 6}}, {"conv": {"filters": 3}}, "affine"], input_dim=(4, 5, 5),
                    num_classes=2, seed=0, init="he")
    w = net.params["W1"]
    assert np.array_equal(w[4:], drawn.params["W1"][4:])  # the filters past the identity ones, as drawn
    assert np.array_equal(w[:4].reshape(4, -1).nonzero()[1], [4 + 9 * c for c in range(4)])  # centre taps only
    assert np.array_equal(net.params["W2"], drawn.params["W2"])  # the next layer's weights are unchanged


def test_batch_norm_momentum_and_eps_reach_the_fused_chain():
    layers = [{"conv": {"filters": 3}}, {"spatial_batchnorm": {"momentum": 0.6, "eps": 1e-12}}, "relu",
              {"conv": {"filters": 4}}, {"spatial_batchnorm": {"momentum": 0.6, "eps": 1e-12}}, "relu", "affine"]
    fused, plain = (Network(layers=layers, input_dim=(2, 8, 8), num_classes=3, seed=0, fuse=f) for f in (True, False))
    assert isinstance(fused.root.runs[0].runner, ConvChain)
    X, y = rng(6).standard_normal((4, 2, 8, 8)), rng(7).integers(0, 3, 4)
    for _ in range(2):
        fused.loss(X, y), plain.loss(X, y)
    for (a, _), (b, _) in zip(fused.layers, plain.layers):
        if hasattr(a, "bn_param"):
            assert a.bn_param["eps"] == 1e-12 and a.bn_param["momentum"] == 0.6
            assert rel_error(a.bn_param["running_var"], b.bn_param["running_var"]) < 1e-12
    # one step from zeros: running = 0.4 * the batch's statistic
    one = Network(layers=layers, input_dim=(2, 8, 8), num_classes=3, seed=0)
    one.loss(X, y)
    h = conv_forward_naive(X, one.params["W1"], one.params["b1"], {"stride": 1, "pad": 1})[0]
    assert np.allclose(one.layers[1][0].bn_param["running_mean"], 0.4 * h.mean(axis=(0, 2, 3)), atol=1e-12)


# --- the HWNC chain: pools before batch norm, odd sizes, GELU, no biases ------------------------

AIRBENCH_LIKE = [{"conv": {"filters": 4, "bias": False}}, "max_pool", "spatial_batchnorm", "gelu",
                 {"conv": {"filters": 5, "bias": False}}, "spatial_batchnorm", {"gelu": {"approximate": "tanh"}},
                 {"conv": {"filters": 3}}, "max_pool", "spatial_batchnorm", "relu", {"conv": {"filters": 3}}, "gelu",
                 "flatten", {"affine": {"bias": False}}]


def test_the_chain_runs_pools_before_batch_norm_odd_sizes_and_gelu_as_the_layers_do():
    fused, plain = (Network(layers=AIRBENCH_LIKE, input_dim=(3, 11, 11), num_classes=4, seed=0, fuse=f,
                            init="he") for f in (True, False))
    assert [type(run.runner).__name__ for run in fused.root.runs] == ["ConvChain", "Flatten", "Affine"]
    X, y = rng(8).standard_normal((3, 3, 11, 11)), rng(9).integers(0, 4, 3)
    for _ in range(2):  # the second pass starts from the first one's running statistics
        (loss_f, grads_f), (loss_p, grads_p) = fused.loss(X, y), plain.loss(X, y)
        assert loss_f == pytest.approx(loss_p, rel=1e-12)
        for name in grads_p:
            assert rel_error(grads_f[name], grads_p[name]) < 1e-8, name
    assert np.allclose(fused.loss(X), plain.loss(X), rtol=1e-10, atol=1e-12)


def test_the_chain_passes_the_numeric_gradient_check():
    net = Network(layers=AIRBENCH_LIKE, input_dim=(3, 7, 7), num_classes=4, seed=1, init="he")
    assert isinstance(net.root.runs[0].runner, ConvChain)
    X, y = rng(10).standard_normal((2, 3, 7, 7)), rng(11).integers(0, 4, 2)
    _, grads = net.loss(X, y)
    for name, w in net.params.items():
        numeric = eval_numerical_gradient(lambda _: net.loss(X, y)[0], w, verbose=False, h=1e-5)
        if name == "b3":  # batch norm removes the third conv's bias (through the pool): zero gradient
            assert not grads[name].any() and np.abs(numeric).max() < 1e-8
        else:  # relative to the largest entry: some entries are far below the differences' rounding
            assert np.abs(numeric - grads[name]).max() < 1e-6 * np.abs(numeric).max(), name


@pytest.mark.parametrize("shape", [(7, 5), (6, 9), (3, 3)])
def test_hwnc_pool_drops_the_last_odd_row_and_column_as_the_floor_says(shape):
    x = rng(12).standard_normal((2, 3, *shape))
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = max_pool_forward_hwnc(nchw_to_hwnc(x), param)
    assert np.array_equal(hwnc_to_nchw(out), max_pool_forward_naive(x, param)[0])
    dout = rng(13).standard_normal((2, 3, shape[0] // 2, shape[1] // 2))
    dx = hwnc_to_nchw(max_pool_backward_hwnc(nchw_to_hwnc(dout), cache))
    numeric = eval_numerical_gradient_array(lambda v: max_pool_forward_naive(v, param)[0], x, dout)
    assert rel_error(dx, numeric) < 1e-9


def test_the_image_conv_in_chunks_of_rows_is_the_convolution():
    x, w, b = rng(14).standard_normal((3, 2, 9, 8)), rng(15).standard_normal((3, 2, 5, 5)), rng(16).standard_normal(3)
    param = {"stride": 1, "pad": 2}
    out, cache = image_conv_forward(x, w, b, param)  # 50 taps for 3 filters: rows in chunks of 9 * 3 // 50 = 1
    assert [kept for _, kept in cache[3]] == [None]  # the columns are built again for the gradient
    expected, naive_cache = conv_forward_naive(x, w, b, param)
    assert rel_error(hwnc_to_nchw(out), expected) < 1e-10
    dout = rng(17).standard_normal(expected.shape)
    _, dw, db = image_conv_backward(nchw_to_hwnc(dout), cache)
    numeric = eval_numerical_gradient_array(lambda v: conv_forward_naive(x, v, b, param)[0], w, dout)
    assert rel_error(dw, numeric) < 1e-8 and rel_error(db, dout.sum(axis=(0, 2, 3))) < 1e-12
    assert image_conv_backward(nchw_to_hwnc(dout), image_conv_forward(x, w, None, param)[1])[2] is None


# --- the whitening layer ------------------------------------------------------------------------

def whiten(sample, **options):
    layer = Whiten(sample.shape[1:], rng=rng(0), **options)
    return layer, layer.init_params(rng(1), sample=sample)


def correlated_images(n=300, size=8):
    """Images whose neighbouring pixels and channels are strongly correlated, as natural ones are."""
    base = rng(18).standard_normal((n, 1, size + 2, size + 2))
    smooth = (base[:, :, 1:-1, 1:-1] + base[:, :, :-2, 1:-1] + base[:, :, 1:-1, :-2] + base[:, :, 2:, 2:]) / 4
    return np.concatenate([smooth, 0.8 * smooth + 0.2 * rng(19).standard_normal(smooth.shape),
                           smooth[:, :, ::-1] * 0.5], axis=1) + 0.3


def test_whitening_filters_make_the_patch_covariance_the_identity_on_their_sample():
    sample = correlated_images()
    layer, params = whiten(sample, eps=1e-12)
    assert layer.out_shape == (24, 7, 7) and params["W"].shape == (24, 3, 2, 2)
    out, _ = layer.forward(sample, params, "train")
    whitened = out[:, :12].transpose(0, 2, 3, 1).reshape(-1, 12)
    assert np.abs(np.cov(whitened, rowvar=False, bias=True) - np.eye(12)).max() < 1e-6
    assert np.array_equal(params["W"][12:], -params["W"][:12])  # each filter with both signs
    before = np.linalg.eigvalsh(patch_moments(sample, 2)[1])
    assert before.max() / before.min() > 20  # the patches were far from white


def test_whitening_with_eps_shrinks_the_weak_directions_and_orders_them_strongest_first():
    sample = correlated_images()
    _, params = whiten(sample, eps=0.1)
    eigenvalues = np.linalg.eigvalsh(patch_moments(sample, 2)[1])[::-1]
    norms = np.linalg.norm(params["W"][:12].reshape(12, -1), axis=1)  # eigenvectors have norm 1
    assert np.allclose(norms, 1 / np.sqrt(eigenvalues + 0.1))


def test_whiten_without_a_sample_passes_each_patch_value_and_its_negative():
    layer = Whiten((3, 6, 6), rng=rng(0))
    w = layer.init_params(rng(1))["W"].reshape(24, 12)
    assert np.allclose(w, np.concatenate([np.eye(12), -np.eye(12)]) / np.sqrt(1 + 5e-4))
    assert Whiten.frozen == ("W",) and Whiten.sample_inputs > 0


def test_a_network_draws_the_sample_a_layer_asks_for_from_the_whole_set_by_its_seed():
    class FewWhiten(Whiten):
        sample_inputs = 100

    X = correlated_images(600, 6)
    filters = lambda seed, sample=X: Network(layers=[FewWhiten, "flatten", "affine"], input_dim=X.shape[1:],  # noqa: E731
                                             num_classes=3, seed=seed, sample=sample).params["W1"]
    assert np.array_equal(filters(0), filters(0))
    assert not np.allclose(filters(0), filters(1))  # another seed, other rows
    assert not np.allclose(filters(0), whiten(X[:100])[1]["W"])  # not the first rows
    assert np.array_equal(filters(0, X[:100]), whiten(X[:100])[1]["W"])  # no more than it asks for: all, in order


def test_whiten_gradients_against_numeric():
    sample = correlated_images(20, 6)
    layer, params = whiten(sample, size=3)
    x = rng(20).standard_normal((2, 3, 6, 6))
    out, cache = layer.forward(x, params, "train")
    dout = rng(21).standard_normal(out.shape)
    dx, grads = layer.backward(dout, cache)
    assert set(grads) == {"W", "b"}

    def f(_):
        return layer.forward(x, params, "train")[0]

    for name, analytic, value in [("x", dx, x), ("W", grads["W"], params["W"]), ("b", grads["b"], params["b"])]:
        assert rel_error(analytic, eval_numerical_gradient_array(f, value, dout)) < 1e-7, name


def test_a_whitening_first_layer_joins_the_chain_with_gelu():
    layers = [{"whiten": {"eps": 1e-3}}, "gelu", {"conv": {"filters": 4, "bias": False}}, "max_pool",
              "spatial_batchnorm", "gelu", "flatten", "affine"]
    X, y = rng(22).standard_normal((3, 3, 9, 9)), rng(23).integers(0, 3, 3)
    fused, plain = (Network(layers=layers, input_dim=(3, 9, 9), num_classes=3, seed=0, fuse=f, sample=X)
                    for f in (True, False))
    assert isinstance(fused.root.runs[0].runner, ConvChain) and len(fused.root.runs[0].nodes) == 6
    assert np.array_equal(fused.params["W1"], fused.layers[0][0].init_params(rng(0), sample=X)["W"])
    (loss_f, grads_f), (loss_p, grads_p) = fused.loss(X, y), plain.loss(X, y)
    assert loss_f == pytest.approx(loss_p, rel=1e-12)
    for name in grads_p:
        assert rel_error(grads_f[name], grads_p[name]) < 1e-8, name


def test_the_network_hands_whiten_its_sample_as_it_arrives_and_never_trains_its_filters():
    X = correlated_images(64, 8)
    layers = [{"conv": {"filters": 3, "size": 1, "init": "dirac", "bias": False}}, {"whiten": {"eps": 1e-12}}, "relu",
              "flatten", "affine"]
    net = Network(layers=layers, input_dim=X.shape[1:], num_classes=3, seed=0, sample=X)
    out = conv_forward_naive(X, net.params["W2"], net.params["b2"], {"stride": 1, "pad": 0})[0]
    whitened = out[:, :12].transpose(0, 2, 3, 1).reshape(-1, 12)
    assert np.abs(np.cov(whitened, rowvar=False, bias=True) - np.eye(12)).max() < 1e-6
    settings = param_groups.resolve([], net)
    assert not settings["W2"].trainable and settings["b2"].trainable  # the filters are frozen, the biases train
    y = rng(24).integers(0, 3, 4)
    _, grads = net.loss(X[:4], y)  # whiten's input gradient reaches the conv before it
    numeric = eval_numerical_gradient(lambda _: net.loss(X[:4], y)[0], net.params["W1"], verbose=False, h=1e-5)
    assert np.abs(numeric - grads["W1"]).max() < 1e-6 * np.abs(numeric).max()


def test_the_chain_pools_before_relu_and_adds_biases_late_to_the_same_results():
    from nnplug_std.layers.chain_plan import schedule
    roles = ["conv", "relu", "pool", "conv", "pool", "bn", "gelu", "conv"]
    biased = [True, False, False, True, False, False, False, True]
    assert schedule(roles, biased) == [("conv", 0), ("pool", 2), ("bias", 0), ("relu", 1), ("conv", 3), ("pool", 4),
                                       ("bn", 5, 6, 3), ("conv", 7), ("bias", 7)]
    layers = [{"conv": {"filters": 4, "size": 5}}, "relu", "max_pool", {"conv": {"filters": 3}}, "relu", "max_pool",
              {"conv": {"filters": 3}}, "flatten", "affine"]
    fused, plain = (Network(layers=layers, input_dim=(2, 9, 9), num_classes=3, seed=0, fuse=f, init="he")
                    for f in (True, False))
    assert len(fused.root.runs[0].nodes) == 7
    X, y = rng(25).standard_normal((3, 2, 9, 9)), rng(26).integers(0, 3, 3)
    assert np.array_equal(fused.loss(X).argmax(axis=1), plain.loss(X).argmax(axis=1))
    (loss_f, grads_f), (loss_p, grads_p) = fused.loss(X, y), plain.loss(X, y)
    assert loss_f == pytest.approx(loss_p, rel=1e-12)
    for name in grads_p:  # Winograd's float64 rounding: about 1e-14 of the largest value, more on small entries
        assert np.abs(grads_f[name] - grads_p[name]).max() < 1e-12 * np.abs(grads_p[name]).max(), name


@pytest.mark.parametrize("size, stride, pad", [(3, 2, 1), (1, 2, 0), (5, 1, 2), (2, 3, 1)])
def test_hwnc_im2col_conv_is_the_convolution(size, stride, pad):
    from nnplug_std.kernels.hwnc_conv import conv_backward_hwnc, conv_forward_hwnc
    x, w, b = rng(27).standard_normal((3, 4, 9, 8)), rng(28).standard_normal((5, 4, size, size)), rng(29).standard_normal(5)
    param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_hwnc(nchw_to_hwnc(x), w, b, param)
    expected = conv_forward_naive(x, w, b, param)[0]
    assert rel_error(hwnc_to_nchw(out), expected) < 1e-10
    dout = rng(30).standard_normal(expected.shape)
    dx, dw, db = conv_backward_hwnc(nchw_to_hwnc(dout), cache)
    naive = conv_backward_naive(dout, conv_forward_naive(x, w, b, param)[1])  # numerically checked elsewhere
    for got, want in zip((hwnc_to_nchw(dx), dw, db), naive):
        assert rel_error(got, want) < 1e-10
    assert conv_backward_hwnc(nchw_to_hwnc(dout), cache, input_grad=False)[0] is None


def test_strided_and_1x1_convs_join_the_chain_as_a_resnet_stage_has_them():
    layers = [{"conv": {"filters": 4}}, "spatial_batchnorm", "relu", {"conv": {"filters": 6, "stride": 2}},
              "spatial_batchnorm", "relu", {"conv": {"filters": 6, "size": 1}}, "spatial_batchnorm", "gelu",
              "global_avg_pool", "affine"]
    fused, plain = (Network(layers=layers, input_dim=(3, 8, 8), num_classes=3, seed=0, fuse=f, init="he")
                    for f in (True, False))
    assert len(fused.root.runs[0].nodes) == 9
    X, y = rng(31).standard_normal((3, 3, 8, 8)), rng(32).integers(0, 3, 3)
    (loss_f, grads_f), (loss_p, grads_p) = fused.loss(X, y), plain.loss(X, y)
    assert loss_f == pytest.approx(loss_p, rel=1e-12)
    for name in grads_p:
        assert rel_error(grads_f[name], grads_p[name]) < 1e-8, name


@pytest.mark.parametrize("shortcut", ["projection", "pad", "pool"])
def test_residual_blocks_join_the_chain_and_compute_what_the_blocks_do(shortcut):
    def block(stride, activation="relu"):
        return {"residual": {"layers": [{"conv": {"stride": stride, "bias": False}}, "spatial_batchnorm", "relu",
                                        "conv", "spatial_batchnorm"],
                             "shortcut": shortcut if stride > 1 else "identity", "activation": activation}}
    layers = [{"conv": {"filters": 3}}, "spatial_batchnorm", "relu",
              {"widths": [3], "layers": [block(1), block(1, None)]}, {"widths": [5], "layers": [block(2), block(1)]},
              {"widths": [5], "layers": [{"residual": {"layers": [block(1, "gelu")]}}]}, "global_avg_pool", "affine"]
    fused, plain = (Network(layers=layers, input_dim=(3, 8, 8), num_classes=3, seed=0, fuse=f, init="he")
                    for f in (True, False))
    assert [type(run.runner).__name__ for run in fused.root.runs] == ["ConvChain", "GlobalAvgPool", "Affine"]
    X, y = rng(33).standard_normal((4, 3, 8, 8)), rng(34).integers(0, 3, 4)
    for _ in range(2):
        (loss_f, grads_f), (loss_p, grads_p) = fused.loss(X, y), plain.loss(X, y)
        assert loss_f == pytest.approx(loss_p, rel=1e-12)
        assert grads_f.keys() == grads_p.keys() == fused.params.keys()
        for name in grads_p:  # (the biases batch norm removes: 0 fused, rounding unfused)
            np.testing.assert_allclose(grads_f[name], grads_p[name], rtol=1e-8, atol=1e-12, err_msg=name)
    for (a, _), (b, _) in zip(fused.layers, plain.layers):  # the blocks' batch norms keep their statistics
        if hasattr(a, "bn_param"):
            assert rel_error(a.bn_param["running_var"], b.bn_param["running_var"]) < 1e-12
    assert np.allclose(fused.loss(X), plain.loss(X), rtol=1e-10, atol=1e-12)


def test_a_resnet_in_the_chain_passes_the_numeric_gradient_check():
    block = {"residual": {"layers": [{"conv": {"stride": 2}}, "spatial_batchnorm", "relu", "conv"],
                          "shortcut": "projection", "activation": "relu"}}
    net = Network(layers=[{"conv": {"filters": 2}}, "relu", {"widths": [3], "layers": [block]}, "flatten", "affine"],
                  input_dim=(2, 4, 4), num_classes=3, seed=2, init="he")
    assert isinstance(net.root.runs[0].runner, ConvChain) and len(net.root.runs[0].nodes) == 3
    X, y = rng(35).standard_normal((2, 2, 4, 4)), rng(36).integers(0, 3, 2)
    _, grads = net.loss(X, y)
    for name, w in net.params.items():
        numeric = eval_numerical_gradient(lambda _: net.loss(X, y)[0], w, verbose=False, h=1e-5)
        if name in ("residual3.b1", "residual3.shortcut.b1"):  # batch norm removes these biases
            assert not grads[name].any() and np.abs(numeric).max() < 1e-8, name
        else:
            assert np.abs(numeric - grads[name]).max() < 1e-6 * np.abs(numeric).max(), name
