"""The fast paths: the fused affine-batchnorm-relu block and the network that runs it.

Each is checked against numeric gradients (float64) and against the classic unfused composition.
"""
import numpy as np
import pytest

from nnplug.core.gradcheck import eval_numerical_gradient_array, rel_error
from nnplug.core.network import Network
from nnplug.core.classic_models import FullyConnectedNet
from nnplug_std.classic import (
    affine_bn_relu_backward, affine_bn_relu_forward, affine_forward, batchnorm_forward, relu_forward)
from nnplug_std.layers import BatchNorm


def block_inputs(seed=0, n=6, d=7, h=5):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)), rng.standard_normal((d, h)), rng.standard_normal(h),
            1 + 0.5 * rng.standard_normal(h), rng.standard_normal(h), rng.standard_normal((n, h)))


def composed_forward(x, w, b, gamma, beta, bn_param):
    a, _ = affine_forward(x, w, b)
    out, _ = batchnorm_forward(a, gamma, beta, bn_param)
    return relu_forward(out)[0]


def test_fused_block_gradients_against_numeric():
    x, w, b, gamma, beta, dout = block_inputs()
    out, cache = affine_bn_relu_forward(x, w, b, gamma, beta, {"mode": "train"})
    dx, dw, db, dgamma, dbeta = affine_bn_relu_backward(dout, cache)

    def f(_):
        return affine_bn_relu_forward(x, w, b, gamma, beta, {"mode": "train"})[0]

    for name, analytic, value in [("x", dx, x), ("w", dw, w), ("gamma", dgamma, gamma), ("beta", dbeta, beta)]:
        assert rel_error(analytic, eval_numerical_gradient_array(f, value, dout)) < 1e-7, name
    # batch norm removes the bias exactly: both gradients are zero
    assert np.all(db == 0) and np.all(eval_numerical_gradient_array(f, b, dout) == 0)


@pytest.mark.parametrize("mode", ["train", "test"])
def test_fused_block_matches_the_classic_composition(mode):
    x, w, b, gamma, beta, _ = block_inputs(1)
    stats = {"running_mean": np.linspace(-1, 1, 5), "running_var": np.linspace(0.5, 2, 5)}
    fused_param, composed_param = {"mode": mode, **stats}, {"mode": mode, **stats}
    out = affine_bn_relu_forward(x, w, b, gamma, beta, fused_param)[0]
    expected = composed_forward(x, w, b, gamma, beta, composed_param)
    assert rel_error(out, expected) < 1e-12
    for key in ("running_mean", "running_var"):
        assert rel_error(fused_param[key], composed_param[key]) < 1e-12


def test_fused_block_skips_dx_when_asked_and_refuses_a_test_mode_cache():
    x, w, b, gamma, beta, dout = block_inputs(2)
    _, cache = affine_bn_relu_forward(x, w, b, gamma, beta, {"mode": "train"})
    assert affine_bn_relu_backward(dout, cache, input_grad=False)[0] is None
    _, cache = affine_bn_relu_forward(x, w, b, gamma, beta, {"mode": "test"})
    with pytest.raises(ValueError, match="'train' mode"):
        affine_bn_relu_backward(dout, cache)


def test_fused_block_keeps_float32():
    x, w, b, gamma, beta, dout = (a.astype(np.float32) for a in block_inputs(3))
    bn_param = {"mode": "train"}
    out, cache = affine_bn_relu_forward(x, w, b, gamma, beta, bn_param)
    grads = affine_bn_relu_backward(dout, cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    assert bn_param["running_mean"].dtype == bn_param["running_var"].dtype == np.float32


def nets(**kwargs):
    options = dict(hidden_dims=[9, 8, 7], input_dim=12, num_classes=4, block=["affine", "batchnorm", "relu"],
                   weight_scale=0.3, seed=5, **kwargs)
    return Network(**options), Network(**options, fuse=False)


@pytest.mark.parametrize("reg", [0.0, 0.5])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fused_network_equals_the_unfused_one(reg, dropout):
    fused, plain = nets(reg=reg, dropout=dropout)
    assert len(fused.root.runs) < len(fused.layers) == len(plain.root.runs)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 12)), rng.integers(0, 4, 10)
    for _ in range(2):  # the second pass sees the running statistics of the first
        loss_f, grads_f = fused.loss(X, y)
        loss_p, grads_p = plain.loss(X, y)
        assert abs(loss_f - loss_p) < 1e-12
        assert grads_f.keys() == grads_p.keys()
        for name in grads_p:
            np.testing.assert_allclose(grads_f[name], grads_p[name], rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(fused.loss(X), plain.loss(X), rtol=1e-12)
    for state_f, state_p in zip(fused.get_state(), plain.get_state()):
        for key in ("running_mean", "running_var"):
            if key in state_p:
                np.testing.assert_allclose(state_f[key], state_p[key], rtol=1e-12)


def test_fused_network_state_round_trips_through_the_batchnorm_layers():
    fused, _ = nets()
    X, y = np.random.default_rng(1).standard_normal((10, 12)), np.arange(10) % 4
    fused.loss(X, y)
    state = fused.get_state()
    scores = fused.loss(X)
    other, _ = nets()
    other.set_state(state)
    assert np.array_equal(other.loss(X), scores)


def test_only_the_exact_standard_layers_fuse():
    class MyBatchNorm(BatchNorm):  # a subclass may compute something else: it must run on its own
        name = "my_batchnorm"

    net = Network([5], input_dim=4, num_classes=3, block=["affine", "batchnorm", "relu"], seed=0)
    assert len(net.root.runs) == 2  # the fused block, then the output affine layer
    net.root.nodes[1].layer = MyBatchNorm(5, dtype=np.float64)
    net.root.plan(fuse=True)
    assert [run.runner for run in net.root.runs] == [node.layer for node in net.root.nodes]


def test_float32_batchnorm_net_never_upcasts():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((16, 20)).astype(np.float32), rng.integers(0, 10, 16)
    model = FullyConnectedNet([12, 12], input_dim=20, use_batchnorm=True, dtype=np.float32, seed=0)
    loss, grads = model.loss(X, y)
    assert isinstance(loss, float) and all(g.dtype == np.float32 for g in grads.values())


def test_fused_block_with_an_f_ordered_weight_gives_an_f_ordered_dw_of_the_same_values():
    x, w, b, gamma, beta, dout = block_inputs(3)
    w_f = np.asfortranarray(w)
    grads_c = affine_bn_relu_backward(dout, affine_bn_relu_forward(x, w, b, gamma, beta, {"mode": "train"})[1])
    grads_f = affine_bn_relu_backward(dout, affine_bn_relu_forward(x, w_f, b, gamma, beta, {"mode": "train"})[1])
    assert grads_c[1].flags.c_contiguous and grads_f[1].flags.f_contiguous and not grads_f[1].flags.c_contiguous
    for c, f in zip(grads_c, grads_f):
        np.testing.assert_allclose(f, c, rtol=1e-12, atol=1e-14)

    def fn(_):
        return affine_bn_relu_forward(x, w_f, b, gamma, beta, {"mode": "train"})[0]

    assert rel_error(grads_f[1], eval_numerical_gradient_array(fn, w_f, dout)) < 1e-7
