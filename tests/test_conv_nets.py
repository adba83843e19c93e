"""Convolutional networks composed from the registry: shapes inferred layer by layer, the fused HWNC
chain against the layers it stands for, CS231n's ThreeLayerConvNet, and the new layers' semantics."""
import numpy as np
import pytest

from nnplug.core.gradcheck import eval_numerical_gradient, rel_error
from nnplug.core.network import Network
from nnplug.core.solver import Solver
from nnplug_std.classic import (ThreeLayerConvNet, conv_forward_naive, conv1d_backward, conv1d_forward,
                                max_pool_forward_naive)
from nnplug_std.layers.conv_chain import ConvChain

VGG = [{"widths": [4, 6], "layers": [{"repeat": 2, "layers": ["conv", "spatial_batchnorm", "relu"]}, "max_pool"]},
       "affine"]


def rng(seed=0):
    return np.random.default_rng(seed)


def vgg(fuse, dtype=np.float64, layers=VGG, shape=(3, 8, 8)):
    return Network(layers=layers, input_dim=shape, num_classes=5, seed=0, dtype=dtype, fuse=fuse)


def test_the_model_infers_every_shape_from_the_layer_list():
    net = Network(layers=[{"conv": {"filters": 8, "size": 5, "stride": 1, "pad": "same"}}, "relu",
                          {"max_pool": {"size": 2}}, {"conv": {"filters": 16, "size": 3, "stride": 2, "pad": 0}},
                          "global_avg_pool", {"affine": {"units": 7}}, "relu", "affine"],
                  input_dim=(3, 32, 32), num_classes=10, seed=0)
    assert [layer.out_shape for layer, _ in net.layers] == [
        (8, 32, 32), (8, 32, 32), (8, 16, 16), (16, 7, 7), (16,), (7,), (7,), (10,)]
    assert net.params["W1"].shape == (8, 3, 5, 5) and net.params["W2"].shape == (16, 8, 3, 3)
    assert net.params["W3"].shape == (16, 7) and net.params["W4"].shape == (7, 10)


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "layer by layer"])
def test_grey_images_without_a_channel_axis_are_one_channel(fuse):
    X, y = rng(1).standard_normal((6, 8, 8)), rng(2).integers(0, 5, 6)
    grey, channel = vgg(fuse, shape=(8, 8)), vgg(fuse, shape=(1, 8, 8))

    loss, grads = grey.loss(X, y)
    expected, expected_grads = channel.loss(X[:, None], y)

    assert grey.layers[0][0].in_shape == (1, 8, 8) and loss == expected
    assert all(np.array_equal(grads[name], expected_grads[name]) for name in expected_grads)
    # the input's gradient, where a layer before needs it, comes back in the input's own shape
    run = grey.root.runs[0]
    grey.layers[0][0].input_grad = True
    out, cache = run.runner.forward(X, run.params(grey.params), "train")
    assert run.runner.backward(np.ones_like(out), cache)[0].shape == X.shape


def test_widths_and_repeats_unroll_into_stages():
    net = vgg(fuse=False)
    assert [type(layer).__name__ for layer, _ in net.layers] == ["Conv", "SpatialBatchNorm", "ReLU"] * 2 + [
        "MaxPool"] + ["Conv", "SpatialBatchNorm", "ReLU"] * 2 + ["MaxPool", "Affine"]
    assert [net.params[f"W{i}"].shape[0] for i in range(1, 5)] == [4, 4, 6, 6]
    assert net.layers[-1][0].out_shape == (5,)


def test_the_fused_chain_is_the_same_model_as_its_layers():
    X, y = rng(1).standard_normal((6, 3, 8, 8)), rng(2).integers(0, 5, 6)
    fused, plain = vgg(fuse=True), vgg(fuse=False)
    assert [type(run.runner) for run in fused.root.runs] == [ConvChain]  # the affine head runs in the chain too
    assert fused.root.runs[0].runner.head is fused.layers[-1][0]
    loss_f, grads_f = fused.loss(X, y)
    loss_p, grads_p = plain.loss(X, y)
    assert loss_f == pytest.approx(loss_p, rel=1e-12)
    assert set(grads_f) == set(grads_p)
    for name in grads_p:
        assert np.allclose(grads_f[name], grads_p[name], rtol=1e-7, atol=1e-10), name
    for (a, _), (b, _) in zip(fused.layers, plain.layers):  # the running statistics stay in each layer
        if hasattr(a, "bn_param"):
            assert np.allclose(a.bn_param["running_mean"], b.bn_param["running_mean"], atol=1e-12)
            assert np.allclose(a.bn_param["running_var"], b.bn_param["running_var"], atol=1e-12)
    assert np.allclose(fused.loss(X), plain.loss(X), atol=1e-10)  # test mode, with those statistics


def test_the_fused_chain_passes_the_numeric_gradient_check():
    net = vgg(fuse=True, layers=[{"conv": {"filters": 3}}, "spatial_batchnorm", "relu", "max_pool",
                                 {"conv": {"filters": 4}}, "spatial_batchnorm", "relu", "affine"])
    X, y = rng(1).standard_normal((4, 3, 8, 8)), rng(2).integers(0, 5, 4)
    _, grads = net.loss(X, y)
    for name, w in net.params.items():
        numeric = eval_numerical_gradient(lambda _: net.loss(X, y)[0], w, verbose=False, h=1e-6)
        if name in ("b1", "b2"):  # batch norm removes a conv bias: its gradient is zero
            assert np.abs(grads[name]).max() < 1e-12 and np.abs(numeric).max() < 1e-7, name
        else:
            assert rel_error(numeric, grads[name]) < 1e-6, name


def test_the_chain_in_float32_agrees_with_float64():
    X, y = rng(1).standard_normal((6, 3, 8, 8)), rng(2).integers(0, 5, 6)
    loss64, _ = vgg(fuse=False).loss(X, y)
    loss32, grads32 = vgg(fuse=True, dtype=np.float32).loss(X.astype(np.float32), y)
    assert all(g.dtype == np.float32 for g in grads32.values())
    assert loss32 == pytest.approx(loss64, rel=1e-4)


def test_a_chain_stops_where_its_pattern_does():
    net = vgg(fuse=True, layers=[{"conv": {"filters": 3}}, "spatial_batchnorm", "relu", {"groupnorm": {"groups": 1}},
                                 {"conv": {"filters": 4, "size": 5}}, "spatial_batchnorm", "tanh", "affine"])
    assert [type(run.runner).__name__ for run in net.root.runs] == ["ConvChain", "GroupNorm", "ConvChain", "Tanh",
                                                                    "Affine"]
    assert [len(run.nodes) for run in net.root.runs] == [3, 1, 2, 1, 1]


def test_three_layer_conv_net_has_cs231n_shapes_and_starts_near_log_10():
    np.random.seed(231)
    model = ThreeLayerConvNet()
    assert {k: v.shape for k, v in model.params.items()} == {
        "W1": (32, 3, 7, 7), "b1": (32,), "W2": (32 * 16 * 16, 100), "b2": (100,), "W3": (100, 10), "b3": (10,)}
    assert all(v.dtype == np.float32 for v in model.params.values())
    X, y = np.random.randn(50, 3, 32, 32).astype(np.float32), np.random.randint(10, size=50)
    loss, _ = model.loss(X, y)
    assert abs(loss - np.log(10)) < 0.01
    model.reg = 0.5
    assert model.loss(X, y)[0] > loss  # the regularisation term counts


def test_three_layer_conv_net_gradients():
    np.random.seed(231)
    model = ThreeLayerConvNet(num_filters=3, filter_size=3, input_dim=(3, 8, 8), hidden_dim=7, dtype=np.float64,
                              weight_scale=1e-1, reg=0.1)
    X, y = np.random.randn(2, 3, 8, 8), np.random.randint(10, size=2)
    _, grads = model.loss(X, y)
    for name, w in model.params.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], w, verbose=False, h=1e-6)
        assert rel_error(numeric, grads[name]) < 1e-5, name  # relu kinks cost a digit or so


def test_three_layer_conv_net_overfits_50_samples():
    data = {"X_train": rng(0).standard_normal((50, 3, 16, 16)).astype(np.float32), "y_train": rng(1).integers(0, 10, 50)}
    data["X_val"], data["y_val"] = data["X_train"][:10], data["y_train"][:10]
    np.random.seed(0)
    model = ThreeLayerConvNet(input_dim=(3, 16, 16), weight_scale=1e-2)
    # random images and labels: pure memorisation, 50 steps
    solver = Solver(model, data, num_epochs=25, batch_size=25, update_rule="adam",
                    optim_config={"learning_rate": 3e-3}, verbose=False, seed=0)
    solver.train()
    assert solver.train_acc_history[-1] == 1.0


def test_conv1d_matches_the_2d_reference_one_row_high():
    x, w, b = rng(0).standard_normal((3, 2, 11)), rng(1).standard_normal((4, 2, 5)), rng(2).standard_normal(4)
    for stride, pad in ((1, 0), (2, 1), (3, 2)):
        out, cache = conv1d_forward(x, w, b, {"stride": stride, "pad": pad})
        padded = np.pad(x, ((0, 0), (0, 0), (pad, pad)))[:, :, None, :]
        reference, _ = conv_forward_naive(padded, w[:, :, None, :], b, {"stride": stride, "pad": 0})
        assert rel_error(out, reference[:, :, 0]) < 1e-10
        dout = rng(3).standard_normal(out.shape)
        dx, dw, db = conv1d_backward(dout, cache)
        assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape


def test_a_sequence_without_channels_is_one_channel():
    net = Network(layers=[{"conv1d": {"filters": 5, "size": 5, "stride": 2, "pad": 1}}, "relu", "max_pool",
                          "flatten", "affine"], input_dim=(40,), num_classes=10, seed=0)
    assert [layer.out_shape for layer, _ in net.layers] == [(5, 19), (5, 19), (5, 9), (45,), (10,)]
    assert net.loss(rng().standard_normal((3, 40))).shape == (3, 10)


def test_max_pool_on_sequences_is_pooling_along_them():
    x = rng().standard_normal((2, 3, 10))
    net = Network(layers=[{"max_pool": {"size": 3, "stride": 2}}, "flatten", "affine"], input_dim=(3, 10),
                  num_classes=2, seed=0)
    pool, _ = net.layers[0]
    out, _ = pool.forward(x, {}, "train")
    reference, _ = max_pool_forward_naive(x[:, :, None, :], {"pool_height": 1, "pool_width": 3, "stride": 2})
    assert np.array_equal(out, reference[:, :, 0])


def test_avg_and_global_avg_pool_are_means():
    x = rng().standard_normal((2, 3, 4, 6))
    net = Network(layers=["avg_pool", "global_avg_pool", "affine"], input_dim=(3, 4, 6), num_classes=2, seed=0)
    (avg, _), (glob, _) = net.layers[:2]
    out, _ = avg.forward(x, {}, "train")
    assert np.allclose(out, x.reshape(2, 3, 2, 2, 3, 2).mean(axis=(3, 5)))
    assert np.allclose(glob.forward(out, {}, "train")[0], x.mean(axis=(2, 3)))


def test_dropout_works_on_maps():
    net = Network(layers=["conv", {"dropout": {"p": 0.5}}, "affine"], input_dim=(2, 5, 5), num_classes=3,
                  layer_options={"conv": {"filters": 4}}, seed=0)
    dropout, _ = net.layers[1]
    out, _ = dropout.forward(np.ones((10, 4, 5, 5)), {}, "train")
    assert set(np.unique(out)) == {0.0, 2.0} and 0.3 < (out == 0).mean() < 0.7


@pytest.mark.parametrize("layers, message", [
    (["conv", "affine"], "layer 1 'conv' (nnplug "),
    ([{"conv": {"filters": 2}}, {"groupnorm": {"groups": 3}}, "affine"], "groupnorm groups=3 does not divide the 2"),
    ([{"conv": {"filters": 2, "size": 9, "pad": 0}}, "affine"], "a kernel of 9 with pad 0 and stride 1 does not fit"),
    ([{"conv": {"filters": 2, "pad": "full"}}, "affine"], "conv pad='full': expected 'same', 'valid' or a whole number"),
    (["max_pool", "affine"], "max_pool takes (C, H, W) images or (C, L) sequences, not samples of shape (12,)"),
])
def test_a_layer_that_does_not_fit_its_input_says_which_and_why(layers, message):
    shape = (12,) if layers[0] == "max_pool" else (3, 6, 6)
    with pytest.raises(ValueError, match=None) as raised:
        Network(layers=layers, input_dim=shape, num_classes=4, seed=0)
    assert message in str(raised.value)
