"""Numeric gradient checks, public so a plugin author proves a new layer or loss with one call."""
import numpy as np

from nnplug.contract.registry import default_registry


def rel_error(x, y):
    """max(|x - y| / max(1e-8, |x| + |y|)), CS231n's yardstick."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _centred_differences(evaluate, x, h):
    """Yield ``(index, evaluate(x + h e_i), evaluate(x - h e_i))`` per entry, restoring ``x`` each time."""
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        plus = evaluate(x)
        x[ix] = old - h
        minus = evaluate(x)
        x[ix] = old
        yield ix, plus, minus
        it.iternext()


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Centred-difference gradient of the scalar function ``f`` at ``x`` (changed and restored in place)."""
    grad = np.zeros_like(x)
    for ix, plus, minus in _centred_differences(f, x, h):
        grad[ix] = (plus - minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numeric gradient of ``sum(f(x) * df)`` with respect to ``x``, for array-valued ``f``."""
    grad = np.zeros_like(x)
    # copies: f may return the same buffer for both evaluations
    for ix, plus, minus in _centred_differences(lambda v: f(v).copy(), x, h):
        grad[ix] = np.sum((plus - minus) * df) / (2 * h)
    return grad


def check_layer(layer, in_dim=6, out_dim=5, batch=4, options=None, weight_scale=0.5, seed=0):
    """Relative errors of a layer plugin's analytic gradients (input and every parameter).

    ``layer`` is a Layer subclass or a registered name. Train mode, float64. Any randomness the
    layer draws is replayed identically for every evaluation, so dropout is checkable too.
    """
    cls = default_registry().get("layers", layer) if isinstance(layer, str) else layer
    rng = np.random.default_rng(seed)
    inst = cls(in_dim, out_dim, dtype=np.float64, rng=np.random.default_rng(seed + 1), **(options or {}))
    params = inst.init_params(rng, "gaussian", weight_scale)
    x = rng.standard_normal((batch, in_dim))
    state = inst.get_state()

    def forward():
        inst.set_state(state)
        return inst.forward(x, params, "train")

    out, cache = forward()
    dout = rng.standard_normal(out.shape)
    dx, grads = inst.backward(dout, cache)
    errors = {"x": rel_error(dx, eval_numerical_gradient_array(lambda _: forward()[0], x, dout))}
    for name, value in params.items():
        errors[name] = rel_error(grads[name], eval_numerical_gradient_array(lambda _: forward()[0], value, dout))
    return errors


def check_loss(loss, num_classes=5, batch=8, seed=0):
    """Relative error of a loss plugin's gradient with respect to the scores."""
    fn = default_registry().get("losses", loss) if isinstance(loss, str) else loss
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, num_classes))
    y = rng.integers(0, num_classes, batch)
    _, dx = fn(x, y)
    return {"x": rel_error(dx, eval_numerical_gradient(lambda s: fn(s, y)[0], x, verbose=False))}


def assert_gradients_ok(errors, tol=1e-7):
    """Raise AssertionError naming every input whose relative error is not below ``tol``."""
    bad = {k: v for k, v in errors.items() if not v < tol}
    if bad:
        raise AssertionError("gradient check failed: " + ", ".join(f"{k}: {v:.2e}" for k, v in bad.items())
                             + f" (tolerance {tol:.0e})")
