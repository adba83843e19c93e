"""Every layer and loss the registry lists is gradient-checked; the classic functions keep CS231n's semantics."""
import numpy as np
import pytest

from nnplug.checks.harness import make_layer
from nnplug.core.gradcheck import eval_numerical_gradient_array, rel_error
from nnplug.testing import assert_layer_ok, assert_loss_ok
from nnplug.contract.registry import default_registry
from nnplug_std.classic import (
    affine_backward, affine_forward, affine_relu_backward, affine_relu_forward, batchnorm_backward,
    batchnorm_forward, dropout_backward, dropout_forward, layernorm_backward, layernorm_forward,
    relu_backward, relu_forward)

LAYERS = default_registry().names("layers")
LOSSES = default_registry().names("losses")


@pytest.mark.parametrize("name", LAYERS)
def test_every_registered_layer_passes_the_gradient_check(name):
    # shapes, both modes, float32, and gradients to 1e-7 in float64 (batch 4 keeps batch norm below it)
    assert_layer_ok(name)


@pytest.mark.parametrize("name", LOSSES)
def test_every_registered_loss_passes_the_gradient_check(name):
    assert_loss_ok(name)


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_the_dtype(name, dtype):
    cls = default_registry().get("layers", name)
    layer, params = make_layer(cls, cls.check_shape, dtype, width=4)
    x = np.random.default_rng(1).standard_normal((5, *cls.check_shape)).astype(dtype)
    out, cache = layer.forward(x, params, "train")
    dx, grads = layer.backward(np.ones_like(out), cache)
    assert out.dtype == dtype and dx.dtype == dtype
    assert all(g.dtype == dtype for g in grads.values())


def test_the_standard_plugins_are_all_there():
    registry = default_registry()
    assert {"affine", "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "batchnorm", "layernorm", "dropout", "conv",
            "conv1d", "whiten", "max_pool", "avg_pool", "global_avg_pool", "spatial_batchnorm", "groupnorm",
            "flatten"} <= set(LAYERS)
    assert {"softmax", "svm"} <= set(LOSSES)
    assert {"sgd", "sgd_momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"} <= set(
        registry.names("optimizers"))
    assert all(p.dist == "nnplug" for p in registry.list("layers") if p.name in ("affine", "relu"))


def test_affine_forward_matches_cs231n():
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size, weight_size = num_inputs * np.prod(input_shape), output_dim * np.prod(input_shape)
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out, _ = affine_forward(x, w, b)
    correct = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
    assert rel_error(out, correct) < 1e-7


def test_affine_backward_shapes_and_numeric_gradients():
    rng = np.random.default_rng(231)
    x, w, b = rng.standard_normal((10, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((10, 5))
    dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert rel_error(dx, eval_numerical_gradient_array(lambda x: affine_forward(x, w, b)[0], x, dout)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda w: affine_forward(x, w, b)[0], w, dout)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(lambda b: affine_forward(x, w, b)[0], b, dout)) < 1e-7


def test_relu_forward_matches_cs231n_and_backward_masks():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out, cache = relu_forward(x)
    correct = np.array([[0., 0., 0., 0.], [0., 0., 0.04545455, 0.13636364],
                        [0.22727273, 0.31818182, 0.40909091, 0.5]])
    assert rel_error(out, correct) < 5e-8
    assert np.array_equal(relu_backward(np.ones_like(x), cache), (x > 0).astype(float))


def test_affine_relu_composition_gradients():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((12, 10)), rng.standard_normal(10)
    dout = rng.standard_normal((2, 10))
    dx, dw, db = affine_relu_backward(dout, affine_relu_forward(x, w, b)[1])
    assert rel_error(dx, eval_numerical_gradient_array(lambda x: affine_relu_forward(x, w, b)[0], x, dout)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda w: affine_relu_forward(x, w, b)[0], w, dout)) < 1e-7


def test_batchnorm_train_normalizes_and_test_uses_running_statistics():
    rng = np.random.default_rng(231)
    d = 3
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([11.0, 12.0, 13.0])
    bn_param = {"mode": "train"}
    w1, w2 = rng.standard_normal((50, 60)), rng.standard_normal((60, d))
    for _ in range(200):
        a = np.maximum(rng.standard_normal((200, 50)) @ w1, 0) @ w2
        out, _ = batchnorm_forward(a, gamma, beta, bn_param)
        assert np.allclose(out.mean(axis=0), beta) and np.allclose(out.std(axis=0), gamma, rtol=1e-4)
    bn_param["mode"] = "test"
    a = np.maximum(rng.standard_normal((2000, 50)) @ w1, 0) @ w2
    out, _ = batchnorm_forward(a, gamma, beta, bn_param)
    # the running averages estimate the population: test-mode output is close to normalized
    assert np.allclose(out.mean(axis=0), beta, atol=0.2) and np.allclose(out.std(axis=0), gamma, rtol=0.1)


def test_batchnorm_defaults_and_bad_mode():
    x = np.random.default_rng(0).standard_normal((4, 3))
    bn_param = {"mode": "train"}
    batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    assert np.allclose(bn_param["running_mean"], 0.1 * x.mean(axis=0))
    assert np.allclose(bn_param["running_var"], 0.1 * x.var(axis=0))
    with pytest.raises(ValueError, match="'eval'"):
        batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "eval"})


def test_batchnorm_and_layernorm_gradients_against_numeric():
    rng = np.random.default_rng(231)
    x = 5 * rng.standard_normal((4, 5)) + 12
    gamma, beta, dout = rng.standard_normal(5), rng.standard_normal(5), rng.standard_normal((4, 5))
    bn = lambda x: batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]  # noqa: E731
    dx, dgamma, dbeta = batchnorm_backward(dout, batchnorm_forward(x, gamma, beta, {"mode": "train"})[1])
    assert rel_error(dx, eval_numerical_gradient_array(bn, x, dout)) < 1e-7
    ln = lambda x: layernorm_forward(x, gamma, beta, {})[0]  # noqa: E731
    dx, _, _ = layernorm_backward(dout, layernorm_forward(x, gamma, beta, {})[1])
    assert rel_error(dx, eval_numerical_gradient_array(ln, x, dout)) < 1e-7


def test_layernorm_normalizes_each_sample():
    x = np.random.default_rng(0).standard_normal((4, 7)) * 3 + 5
    out, _ = layernorm_forward(x, np.ones(7), np.zeros(7), {})
    assert np.allclose(out.mean(axis=1), 0) and np.allclose(out.std(axis=1), 1, rtol=1e-4)


@pytest.mark.parametrize("p", [0.25, 0.4, 0.7])
def test_dropout_drops_p_keeps_the_mean_and_passes_test_mode(p):
    x = np.random.default_rng(0).standard_normal((500, 500)) + 10
    out, _ = dropout_forward(x, {"mode": "train", "p": p, "seed": 123})
    assert abs(np.mean(out == 0) - p) < 0.01
    assert abs(out.mean() - x.mean()) < 0.05
    test_out, _ = dropout_forward(x, {"mode": "test", "p": p})
    assert test_out is x or np.array_equal(test_out, x)


def test_dropout_seed_mask_dtype_and_backward():
    x = np.random.default_rng(0).standard_normal((20, 30)).astype(np.float32)
    param = {"mode": "train", "p": 0.3, "seed": 7}
    a, cache = dropout_forward(x, param)
    b, _ = dropout_forward(x, param)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    dout = np.ones_like(x)
    dx = dropout_backward(dout, cache)
    assert np.array_equal(dx == 0, a == 0)
    assert np.array_equal(dropout_backward(dout, dropout_forward(x, {"mode": "test", "p": 0.3})[1]), dout)


def test_unknown_layer_option_is_named():
    cls = default_registry().get("layers", "leaky_relu")
    with pytest.raises(ValueError, match="'slope'.*alpha"):
        cls(3, slope=0.2)


# --- weight layout: float64 affine weights with a large fan-in are F-ordered (bench/gemm_layout.py)

def _layout(a):
    return "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else None


@pytest.mark.parametrize("dtype,shape,layout", [
    (np.float64, (3072, 100), "F"), (np.float64, (512, 10), "F"), (np.float64, (1024, 512), "F"),
    (np.float64, (100, 100), "C"), (np.float64, (256, 10), "C"),  # small: no gain
    (np.float64, (1024, 1024), "C"), (np.float64, (100, 3072), "C"),  # square, wide: no gain or a loss
    (np.float32, (3072, 100), "C"), (np.float32, (100, 100), "C"),  # float32: x @ W is slower in F
])
def test_affine_weight_layout_rule(dtype, shape, layout):
    from nnplug_std.kernels.products import weight_order

    assert weight_order(*shape, dtype) == layout
    params = default_registry().get("layers", "affine")(*shape, dtype=dtype).init_params(np.random.default_rng(0))
    assert _layout(params["W"]) == layout and params["W"].dtype == dtype


@pytest.mark.parametrize("init", ["gaussian", "he", "xavier", "small"])
def test_an_f_ordered_weight_has_the_values_a_c_ordered_one_would(init):
    # the layout changes where the numbers live, not which numbers a seed draws
    cls = default_registry().get("layers", "affine")
    f64 = cls(600, 20, dtype=np.float64).init_params(np.random.default_rng(5), init)["W"]
    f32 = cls(600, 20, dtype=np.float32).init_params(np.random.default_rng(5), init)["W"]
    assert _layout(f64) == "F" and _layout(f32) == "C"
    np.testing.assert_array_equal(f64.astype(np.float32), f32)


def test_a_float64_net_has_its_first_weight_f_ordered_and_the_rest_c():
    from nnplug.core.classic_models import FullyConnectedNet

    layouts = lambda net: {k: _layout(v) for k, v in net.params.items() if k.startswith("W")}  # noqa: E731
    assert layouts(FullyConnectedNet([100, 100], seed=0, dtype=np.float64)) == {"W1": "F", "W2": "C", "W3": "C"}
    assert layouts(FullyConnectedNet([100, 100], dtype=np.float32, seed=0)) == {"W1": "C", "W2": "C", "W3": "C"}


@pytest.mark.parametrize("layout", ["C", "F"])
def test_dw_has_the_layout_of_w_and_the_same_values(layout):
    rng = np.random.default_rng(3)
    x, b, dout = rng.standard_normal((8, 3, 5)), rng.standard_normal(4), rng.standard_normal((8, 4))
    w_c = rng.standard_normal((15, 4))
    w = np.asarray(w_c, order=layout)
    dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
    assert _layout(dw) == layout
    np.testing.assert_allclose(dw, x.reshape(8, -1).T @ dout, rtol=1e-13)
    np.testing.assert_allclose(dx, (dout @ w_c.T).reshape(x.shape), rtol=1e-13)


def test_affine_gradients_with_an_f_ordered_weight_against_numeric():
    rng = np.random.default_rng(231)
    x, w, b = rng.standard_normal((10, 2, 3)), np.asfortranarray(rng.standard_normal((6, 5))), rng.standard_normal(5)
    dout = rng.standard_normal((10, 5))
    dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
    assert _layout(dw) == "F"
    assert rel_error(dx, eval_numerical_gradient_array(lambda x: affine_forward(x, w, b)[0], x, dout)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda w: affine_forward(x, w, b)[0], w, dout)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(lambda b: affine_forward(x, w, b)[0], b, dout)) < 1e-7
