"""Numeric gradients by centred differences, with CS231n's names (``eval_numerical_gradient``,
``eval_numerical_gradient_array``, ``rel_error``); ``nnplug.testing`` builds the plugin checks on them."""
import numpy as np


def rel_error(x, y):
    """max(|x - y| / max(1e-8, |x| + |y|)), CS231n's yardstick."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


# Centred differences with h = 1e-5 in float64 are good to about 1e-10 on values of order one: a
# difference below this is their noise, not an error (a conv bias feeding batch norm has a true
# gradient of 0, computed as 1e-15 and measured as 1e-11).
ABSOLUTE = 1e-8


def gradient_error(analytic, numeric, atol=ABSOLUTE):
    """``rel_error`` over the entries whose difference exceeds ``atol`` (0.0 where none does): a
    gradient that is truly zero passes, where the relative error of two specks of noise would not."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    difference = np.abs(a - n)
    relative = np.where(difference > atol, difference / np.maximum(1e-8, np.abs(a) + np.abs(n)), 0.0)
    return float(relative.max()) if relative.size else 0.0


def magnitudes(analytic, numeric):
    """What a failed check shows: ``largest |analytic| 1.2e-15, |numeric| 8.0e-11, |difference| 8.0e-11``."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    biggest = (lambda v: float(np.max(np.abs(v))) if v.size else 0.0)
    return f"largest |analytic| {biggest(a):.1e}, |numeric| {biggest(n):.1e}, |difference| {biggest(a - n):.1e}"


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
