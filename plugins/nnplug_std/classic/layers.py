"""CS231n's layers as pairs of functions: ``*_forward`` returns ``(out, cache)``, ``*_backward`` the gradients.

Every function keeps its input's float dtype (float32 stays float32) and changes none of its
arguments. The normalization layers are in ``nnplug_std.classic.normalization``.
"""
import numpy as np

from nnplug.core.global_random import NumpyGlobal
from nnplug_std.kernels.gelu import check_form, gelu, gelu_grad
from nnplug_std.kernels.parallel import dot
from nnplug_std.kernels.products import column_sums, weight_grad


# --- affine -------------------------------------------------------------------------------------

def affine_forward(x, w, b):
    """Forward pass of a fully connected layer: ``out = x @ w + b``, each sample flattened first.

    Inputs:
    - x: input of shape (N, d_1, ..., d_k); each sample is reshaped to D = d_1 * ... * d_k values
    - w: weights of shape (D, M)
    - b: biases of shape (M,), or None for a layer without biases

    Returns a tuple of:
    - out: output of shape (N, M)
    - cache: (x, w, b)
    """
    x2 = x.reshape(x.shape[0], -1)  # a view for contiguous x: no copy
    out = dot(x2, w)  # rows shared out where the caller spreads its work (nnplug_std.kernels.parallel)
    if b is not None:
        out += b
    return out, (x, w, b)


def affine_backward(dout, cache, input_grad=True):
    """Backward pass of a fully connected layer.

    Inputs:
    - dout: upstream gradient of shape (N, M)
    - cache: (x, w, b) from ``affine_forward``
    - input_grad: False skips dx (None is returned), which the first layer of a net never needs

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, d_1, ..., d_k)
    - dw: gradient with respect to w, of shape (D, M), in w's memory layout
    - db: gradient with respect to b, of shape (M,); None for a layer without biases
    """
    x, w, b = cache
    dw = weight_grad(x.reshape(x.shape[0], -1), dout, w)
    db = None if b is None else column_sums(dout)
    dx = dot(dout, w.T).reshape(x.shape) if input_grad else None  # as costly as dw
    return dx, dw, db


# --- elementwise nonlinearities -----------------------------------------------------------------

def relu_forward(x):
    """Forward pass of a rectified linear unit, ``max(x, 0)``.

    Inputs:
    - x: input of any shape

    Returns a tuple of:
    - out: output of x's shape
    - cache: x
    """
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """Backward pass of a ReLU: ``dout`` where the input was positive, else 0.

    Inputs:
    - dout: upstream gradient of any shape
    - cache: the input x, of dout's shape

    Returns:
    - dx: gradient with respect to x
    """
    return dout * (cache > 0)  # a multiply by the mask: np.where on a random sign pattern is slower


def leaky_relu_forward(x, alpha=0.01):
    """Forward pass of a leaky ReLU: x where x > 0, else ``alpha * x``.

    Inputs:
    - x: input of any shape
    - alpha: slope below zero

    Returns a tuple of:
    - out: output of x's shape
    - cache: (x, alpha)
    """
    return np.where(x > 0, x, alpha * x), (x, alpha)


def leaky_relu_backward(dout, cache):
    """Backward pass of a leaky ReLU.

    Inputs:
    - dout: upstream gradient of any shape
    - cache: (x, alpha) from ``leaky_relu_forward``

    Returns:
    - dx: gradient with respect to x
    """
    x, alpha = cache
    return np.where(x > 0, dout, alpha * dout)


def tanh_forward(x):
    """Forward pass of the hyperbolic tangent.

    Inputs:
    - x: input of any shape

    Returns a tuple of:
    - out: tanh(x)
    - cache: out (the gradient needs only the output)
    """
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """Backward pass of tanh: ``dout * (1 - tanh(x) ** 2)``.

    Inputs:
    - dout: upstream gradient of any shape
    - cache: tanh(x) from ``tanh_forward``

    Returns:
    - dx: gradient with respect to x
    """
    return dout * (1 - cache * cache)


def sigmoid_forward(x):
    """Forward pass of the logistic sigmoid ``1 / (1 + exp(-x))``, without overflow for large |x|.

    Inputs:
    - x: input of any shape

    Returns a tuple of:
    - out: sigmoid(x)
    - cache: out
    """
    z = np.exp(-np.abs(x))  # exp of a negative number only
    out = np.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return out, out


def sigmoid_backward(dout, cache):
    """Backward pass of the sigmoid: ``dout * s * (1 - s)``.

    Inputs:
    - dout: upstream gradient of any shape
    - cache: s = sigmoid(x) from ``sigmoid_forward``

    Returns:
    - dx: gradient with respect to x
    """
    return dout * cache * (1 - cache)


def gelu_forward(x, approximate="none"):
    """Forward pass of GELU, ``x * Phi(x)`` with Phi the standard normal CDF (Hendrycks and Gimpel, 2016).

    Inputs:
    - x: input of any shape
    - approximate: 'none' (Phi itself) or 'tanh' (``0.5 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``
      in its place), as PyTorch's ``nn.GELU(approximate=...)``

    Returns a tuple of:
    - out: GELU(x), of x's shape and dtype
    - cache: (x, approximate)
    """
    return gelu(x, check_form(approximate)), (x, approximate)


def gelu_backward(dout, cache):
    """Backward pass of GELU: ``dout * (Phi(x) + x * phi(x))`` (the tanh form's own derivative for 'tanh').

    Inputs:
    - dout: upstream gradient of any shape
    - cache: (x, approximate) from ``gelu_forward``

    Returns:
    - dx: gradient with respect to x
    """
    x, approximate = cache
    return gelu_grad(x, dout, approximate)


# --- dropout ------------------------------------------------------------------------------------

def dropout_forward(x, dropout_param, rng=None):
    """Forward pass of inverted dropout.

    In train mode each unit is kept with probability 1 - p and scaled by 1 / (1 - p), so that test
    mode is the identity.

    Inputs:
    - x: input of any shape
    - dropout_param: dict with
      - p: the probability of DROPPING each unit
      - mode: 'train' or 'test'
      - seed: optional; when set, the mask's generator is seeded with it first (the same mask every
        call, as CS231n's gradient checks need): ``np.random.seed(seed)``, as CS231n does, when the
        mask comes from numpy's global generator
    - rng: where the mask comes from: a ``numpy.random.Generator`` (a dropout layer's own), or
      None (or ``NumpyGlobal``) for numpy's global generator, as in CS231n's code

    Returns a tuple of:
    - out: of x's shape and dtype
    - cache: (dropout_param, mask); mask is None in test mode
    """
    p, mode = dropout_param["p"], dropout_param["mode"]
    if mode == "train":
        seed = dropout_param.get("seed")
        keep = 1 - p
        if rng is None or isinstance(rng, NumpyGlobal):
            if seed is not None:
                np.random.seed(seed)
            mask = np.random.rand(*x.shape) < keep
        else:
            if seed is not None:
                rng = np.random.default_rng(seed)
            # the draws stay in x's dtype, so float32 nets never upcast here
            mask = rng.random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64) < keep
        mask = mask.astype(x.dtype) / x.dtype.type(keep)
        out = x * mask
    elif mode == "test":
        mask, out = None, x
    else:
        raise ValueError(f"Invalid forward dropout mode {mode!r}: expected 'train' or 'test'")
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    """Backward pass of inverted dropout: dout times the mask in train mode, dout itself in test mode.

    Inputs:
    - dout: upstream gradient of any shape
    - cache: (dropout_param, mask) from ``dropout_forward``

    Returns:
    - dx: gradient with respect to x
    """
    dropout_param, mask = cache
    if dropout_param["mode"] == "train":
        return dout * mask
    return dout
