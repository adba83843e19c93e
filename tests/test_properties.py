"""Properties every registered layer keeps, for any batch size, sample shape and dtype it accepts:
finite outputs of the right shape and dtype, and analytic gradients that match numeric ones.

A layer for vectors gets samples of 1 to 6 features; a layer for maps (its ``check_shape`` has
more than one axis) gets its own channel count with 2 to 5 positions along each other axis."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnplug.checks.harness import make_layer
from nnplug.core.gradcheck import eval_numerical_gradient_array
from nnplug.contract.registry import default_registry

LAYERS = default_registry().names("layers")


def build(name, batch, in_dim, out_dim, dtype, seed, scale, split_features, spatial=(3, 3)):
    """A layer instance, its parameters and an input batch.

    ``split_features`` lays a resizing layer's input out as (N, a, b), as the first affine layer
    sees images; its output is (N, out_dim) all the same. Inputs stay at least 1e-3 away from 0,
    where ReLU-like layers have a kink and no derivative to check.
    """
    cls = default_registry().get("layers", name)
    rng = np.random.default_rng(seed)
    check_shape = tuple(cls.check_shape)
    shape = (in_dim,) if len(check_shape) == 1 else (check_shape[0], *spatial[:len(check_shape) - 1])
    layer, params = make_layer(cls, shape, dtype, seed=seed, width=out_dim)  # a composite: with its children
    x = scale * rng.standard_normal((batch, *shape))
    x = np.where(np.abs(x) < 1e-3, np.copysign(1e-3, x), x).astype(dtype)
    if split_features and cls.resizes and len(shape) == 1 and in_dim % 2 == 0:
        x = x.reshape(batch, 2, in_dim // 2)
    return layer, params, x, rng


cases = dict(
    batch=st.integers(1, 6), in_dim=st.integers(1, 6), out_dim=st.integers(1, 5),
    seed=st.integers(0, 2**16), split_features=st.booleans(),
    spatial=st.tuples(st.integers(2, 5), st.integers(2, 5)),
)


@pytest.mark.parametrize("name", LAYERS)
@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64]), scale=st.sampled_from([1e-3, 1.0, 1e3]),
       mode=st.sampled_from(["train", "test"]), **cases)
def test_outputs_and_gradients_are_finite_with_the_right_shape_and_dtype(
        name, batch, in_dim, out_dim, seed, split_features, spatial, dtype, scale, mode):
    layer, params, x, rng = build(name, batch, in_dim, out_dim, dtype, seed, scale, split_features, spatial)
    assert all(p.dtype == dtype for p in params.values())
    out, cache = layer.forward(x, params, mode)
    assert out.shape == (batch, *layer.out_shape) and out.dtype == dtype
    assert np.isfinite(out).all()
    if mode == "test":  # batch norm has no backward for test mode; nothing trains there
        return
    dx, grads = layer.backward(rng.standard_normal(out.shape).astype(dtype), cache)
    assert dx.shape == x.shape and dx.dtype == dtype and np.isfinite(dx).all()
    assert grads.keys() == params.keys()
    for key, grad in grads.items():
        assert grad.shape == params[key].shape and grad.dtype == dtype and np.isfinite(grad).all()


def numeric_gradient(f, x, dout, h=1e-5):
    """Centred differences at h and 2h, combined by Richardson extrapolation.

    A plain centred difference errs by about h^2 f'''/6, which is large where a normalisation
    layer sees two nearly equal values (the spread near sqrt(eps)): there even a correct analytic
    gradient would miss 1e-5. Combining h and 2h cancels that term.
    """
    return (4 * eval_numerical_gradient_array(f, x, dout, h) - eval_numerical_gradient_array(f, x, dout, 2 * h)) / 3


def spread(x):
    """``x`` with its order and signs kept and its magnitudes evenly spaced: no two entries within
    the numeric check's step of each other (max pooling's gradient jumps between them) or of 0."""
    step = 2 / x.size
    same_sign_below = np.empty(x.shape, dtype=np.intp)
    for sign in (x < 0, x >= 0):  # the rank of |x| among the entries of its own sign
        same_sign_below[sign] = np.abs(x[sign]).argsort().argsort()
    return (np.where(x < 0, -1, 1) * (same_sign_below + 1) * step).astype(x.dtype)


@pytest.mark.parametrize("name", LAYERS)
@settings(max_examples=40, deadline=None)
@given(**cases)
def test_gradients_pass_the_numeric_check(name, batch, in_dim, out_dim, seed, split_features, spatial):
    if len(default_registry().get("layers", name).check_shape) > 1:
        # The check runs the layer four times per input entry and a map has many per sample
        # (groupnorm's are 32 channels): one or two samples, which batch statistics still mix,
        # of 2 or 3 positions along each axis, which a 3x3 filter, its padding and a 2x2 pool cover.
        batch, spatial = 1 + batch % 2, tuple(2 + n % 2 for n in spatial)
    layer, params, x, rng = build(name, batch, in_dim, out_dim, np.float64, seed, 1.0, split_features, spatial)
    x = spread(x)
    state = layer.get_state()

    def run():
        layer.set_state(state)  # the same dropout mask on every call
        return layer.forward(x, params, "train")

    def forward(_):
        return run()[0]

    out, cache = run()
    dout = rng.standard_normal(out.shape)
    dx, grads = layer.backward(dout, cache)
    np.testing.assert_allclose(dx, numeric_gradient(forward, x, dout), rtol=1e-6, atol=1e-9, err_msg="x")
    for key, value in params.items():
        np.testing.assert_allclose(grads[key], numeric_gradient(forward, value, dout), rtol=1e-6, atol=1e-9,
                                   err_msg=key)
