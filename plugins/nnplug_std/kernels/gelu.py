"""GELU (Hendrycks and Gimpel, 2016), ``x * Phi(x)``, and its derivative, elementwise on arrays of any shape.

Two forms, as PyTorch's ``approximate`` names them:

- ``"none"``: Phi is the standard normal CDF, ``0.5 * erfc(-x / sqrt 2)``. numpy has no erf;
  float64 takes SciPy's ``ndtr`` (exact to rounding, and slow: 20 ns a value), float32 a rational
  approximation of erfc with a relative error below 1.2e-7 for every x (Numerical Recipes'
  ``erfcc``, a Chebyshev fit), evaluated in float32: a few units in the last place of GELU and
  its derivative, on either side of zero, at about 1 ns a value.
- ``"tanh"``: ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))``, exact to rounding in
  either dtype through numpy's tanh.

The derivative is ``Phi(x) + x * phi(x)`` (tanh form: its own derivative).

The work runs block by block (``BLOCK`` values), so that a dozen passes of numpy over a block stay
in cache (a megabyte each, in the L2 and L3 caches: blocks of a tenth of that make calls so short
that two threads queue on the GIL between them), and the blocks go to as many threads as BLAS may
use (``nnplug_std.kernels.parallel``). A block's temporaries are the thread's scratch arrays
(``nnplug_std.kernels.workspace``), not new ones: temporaries of a block's size are big enough for
the C library to map afresh and hand back on every call, and those page faults cost several times
the arithmetic.
"""
import numpy as np

from nnplug_std.kernels.parallel import each
from nnplug_std.kernels.workspace import scratch

FORMS = ("none", "tanh")
BLOCK = 1 << 18  # values per block: see the module docstring

# |x| past which the normal density and tail are 0 and tanh's term is +-1 in the dtype: capped there, no
# square or cube overflows (a net in test mode before its batch norms saw any data divides by sqrt(eps),
# and its maps can reach 1e19), and the results are the same
SATURATED = {np.float32: np.float32(16), np.float64: np.float64(40)}
_SQRT_HALF = np.sqrt(0.5)
_PHI_SCALE = 1 / np.sqrt(2 * np.pi)
_TANH_K0 = np.sqrt(2 / np.pi)
_TANH_K1 = 0.044715
# erfc(z) = t * exp(-z^2 + P(t)), t = 1 / (1 + z / 2), z >= 0; P's coefficients from the constant term up
_ERFC = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
         -0.82215223, 0.17087277)


def check_form(approximate):
    if approximate not in FORMS:
        raise ValueError(f"unknown GELU form {approximate!r}: expected one of {', '.join(FORMS)}")
    return approximate


def _blocks(x, *others):
    """Flat views of ``x`` and ``others`` (arrays of x's size), cut into blocks of ``BLOCK`` values."""
    flat = [a.reshape(-1) for a in (x, *others)]
    return [[a[start:start + BLOCK] for a in flat] for start in range(0, flat[0].size, BLOCK)]


def _temp(name, like, dtype=None):
    """This thread's scratch array ``name`` of the shape (and dtype) of block ``like``."""
    return scratch("gelu_" + name, like.shape, like.dtype if dtype is None else dtype)


def _half_erfc_float32(z, out):
    """``0.5 * erfc(|z|)`` of a float32 block into ``out`` (which may be z)."""
    az = np.abs(z, out=_temp("az", z))
    np.minimum(az, SATURATED[np.float32], out=az)
    t = np.multiply(az, np.float32(0.5), out=_temp("t", z))
    t += np.float32(1)
    np.reciprocal(t, out=t)
    p = _temp("p", z)
    p.fill(np.float32(_ERFC[-1]))
    for c in _ERFC[-2::-1]:  # Horner, in float32
        p *= t
        p += np.float32(c)
    np.multiply(az, az, out=az)
    np.subtract(p, az, out=p)
    np.exp(p, out=p)
    np.multiply(p, t, out=out)
    out *= np.float32(0.5)
    return out


def _cdf_block(x, out):
    """Phi(x) of one block into ``out``."""
    if x.dtype == np.float32:
        q = _half_erfc_float32(np.multiply(x, np.float32(_SQRT_HALF), out=out), out)  # Phi(-|x|)
        flip = np.multiply(q, np.float32(-2), out=_temp("flip", x))  # Phi(x) = 1 - Phi(-x) for x >= 0: q + (1 - 2q)
        flip += np.float32(1)
        flip *= np.greater_equal(x, 0, out=_temp("sign", x, bool))  # a multiply by the mask: where= is many times slower
        out += flip
        return out
    from scipy.special import ndtr  # SciPy's import is slow: only float64 work pays for it
    return ndtr(x, out=out)


def _tanh_inner(x):
    """``tanh(sqrt(2/pi) * (x + 0.044715 x^3))`` of one block, and ``x^2``, both of x capped at +-SATURATED."""
    bound = SATURATED[x.dtype.type]
    x = np.clip(x, -bound, bound, out=_temp("capped", x))
    x2 = np.multiply(x, x, out=_temp("x2", x))
    u = np.multiply(x2, x.dtype.type(_TANH_K0 * _TANH_K1), out=_temp("u", x))
    u += x.dtype.type(_TANH_K0)
    u *= x
    return np.tanh(u, out=u), x2


def gelu(x, approximate="none", out=None):
    """GELU of ``x``, elementwise.

    Inputs:
    - x: array of any shape, float32 or float64
    - approximate: 'none' (the normal CDF) or 'tanh'
    - out: optional array of x's shape and dtype for the result (may be x itself)

    Returns:
    - out: GELU(x), of x's shape and dtype
    """
    check_form(approximate)
    out = np.empty_like(x) if out is None else out

    def block(pair):
        xb, ob = pair
        if approximate == "tanh":
            th, _ = _tanh_inner(xb)
            th += xb.dtype.type(1)
            th *= xb.dtype.type(0.5)
            np.multiply(xb, th, out=ob)
        else:
            cdf = _cdf_block(xb, _temp("cdf", xb))
            np.multiply(xb, cdf, out=ob)

    each(block, _blocks(x, out))
    return out


def gelu_grad(x, dout, approximate="none", out=None):
    """``dout * GELU'(x)``, elementwise: the backward pass of ``gelu``.

    Inputs:
    - x: the input of the forward pass, any shape
    - dout: upstream gradient of x's shape (a strided view is fine)
    - approximate: 'none' or 'tanh', as in the forward pass
    - out: optional array of x's shape and dtype for the result (may be dout when it is contiguous)

    Returns:
    - dx: of x's shape and dtype
    """
    check_form(approximate)
    out = np.empty_like(x) if out is None else out
    dout = np.ascontiguousarray(dout)
    each(lambda blocks: _grad_block(*blocks, approximate), _blocks(x, dout, out))
    return out


def _grad_block(xb, db, ob, approximate):
    """``db * GELU'(xb)`` of one block into ``ob``."""
    if approximate == "tanh":
        th, x2 = _tanh_inner(xb)
        # d/dx = 0.5 (1 + th) + 0.5 x (1 - th^2) k0 (1 + 3 k1 x^2)
        x2 *= xb.dtype.type(3 * _TANH_K1)
        x2 += xb.dtype.type(1)
        x2 *= xb.dtype.type(0.5 * _TANH_K0)
        sech2 = np.multiply(th, th, out=_temp("sech2", th))
        np.subtract(xb.dtype.type(1), sech2, out=sech2)
        x2 *= sech2
        x2 *= xb  # last: where tanh saturates, 0 times x, whatever x's size
        th += xb.dtype.type(1)
        th *= xb.dtype.type(0.5)
        th += x2
        np.multiply(db, th, out=ob)
    else:
        grad = _cdf_block(xb, _temp("cdf", xb))
        bound = SATURATED[xb.dtype.type]
        pdf = np.clip(xb, -bound, bound, out=_temp("pdf", xb))
        pdf *= pdf
        pdf *= xb.dtype.type(-0.5)
        np.exp(pdf, out=pdf)
        pdf *= xb.dtype.type(_PHI_SCALE)
        pdf *= xb
        grad += pdf
        np.multiply(db, grad, out=ob)
