"""The standard layers: CS231n's forward/backward function pairs and the plugins built on them.

Each classic function keeps SPEC.md's name, signature and semantics; each plugin class is a thin
adapter that holds the layer's options and state and calls the pair.
"""
import functools

import numpy as np

from nnplug.hookspecs import hookimpl
from nnplug.kinds import Layer, check_mode


def _column_sums(a):
    # a matrix-vector product: BLAS sums the columns of a C-ordered (N, D) array 3x faster than sum(0)
    return _ones(a.shape[0], a.dtype) @ a


@functools.lru_cache(maxsize=64)
def _ones(n, dtype):
    # one read-only vector per (batch size, dtype), not a new one for every sum of every step
    ones = np.ones(n, dtype=dtype)
    ones.flags.writeable = False
    return ones


# --- affine -------------------------------------------------------------------------------------

def weight_order(fan_in, fan_out, dtype):
    """The memory layout ("C" or "F") an affine weight (fan_in, fan_out) trains fastest in.

    dW is computed in W's layout (``_weight_grad``), and x2.T @ dout (C) and (dout.T @ x2).T (F)
    are different dgemm calls: numpy hands a C-ordered product to OpenBLAS as the column-major
    product of the transposes, which swaps its m and n, and OpenBLAS blocks the two differently.
    Measured with bench/gemm_layout.py (OpenBLAS 0.3.31, SkylakeX kernels, one thread, batch 100
    and 256; see its docstring): for float64 the call with the long fan-in as m wins for tall
    weights: dW of a 3072 x 100 weight runs at 56-66 GFLOP/s instead of 44-51, x @ W and
    dout @ W.T are as fast in either layout, so a tall layer's step gets 4-15% faster. F order
    does not pay for square weights (no consistent gain), loses 6-14% for wide ones (100 x 1024) and is
    noise or a loss for small ones (256 x 10, 100 x 100, where x @ W can be much slower in F).
    float32 never gains (sgemm's dW is as fast either way) and its x @ W is 5-15% slower with F
    order: float32 weights stay C-ordered. Re-measure when OpenBLAS or the CPU changes.
    """
    if np.dtype(dtype) == np.float64 and fan_in >= 512 and fan_in >= 2 * fan_out:
        return "F"
    return "C"


def _weight_grad(x2, dout, w):
    """dL/dw = x2.T @ dout, laid out like ``w`` so that an update in place never mixes layouts.

    For an F-ordered w the product is computed as the C-ordered (dout.T @ x2) and transposed: a
    view, F-ordered, from the faster dgemm call (see ``weight_order``). A C-ordered w (a classic
    caller's) gets the classic x2.T @ dout.
    """
    if w.flags.f_contiguous and not w.flags.c_contiguous:
        return (dout.T @ x2).T
    return x2.T @ dout


def affine_forward(x, w, b):
    x2 = x.reshape(x.shape[0], -1)  # a view for contiguous x: no copy
    out = x2 @ w
    out += b
    return out, (x, w, b)


def affine_backward(dout, cache, input_grad=True):
    x, w, _ = cache
    dw = _weight_grad(x.reshape(x.shape[0], -1), dout, w)
    db = _column_sums(dout)
    # dx of the first layer is never used, and costs as much as dw
    dx = (dout @ w.T).reshape(x.shape) if input_grad else None
    return dx, dw, db


# --- elementwise nonlinearities -----------------------------------------------------------------

def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    # a multiply by the mask: np.where on a random sign pattern is ten times slower
    return dout * (cache > 0)


def leaky_relu_forward(x, alpha=0.01):
    return np.where(x > 0, x, alpha * x), (x, alpha)


def leaky_relu_backward(dout, cache):
    x, alpha = cache
    return np.where(x > 0, dout, alpha * dout)


def tanh_forward(x):
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    return dout * (1 - cache * cache)


def sigmoid_forward(x):
    # exp of a negative number only, so large |x| cannot overflow
    z = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return out, out


def sigmoid_backward(dout, cache):
    return dout * cache * (1 - cache)


# --- normalisation ------------------------------------------------------------------------------

def _normalize(x, axis, eps):
    mean = x.mean(axis=axis, keepdims=True)
    xc = x - mean
    var = np.mean(xc * xc, axis=axis, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    return xc * inv_std, mean, var, inv_std


def _normalize_backward(dx_hat, x_hat, inv_std, axis):
    # d/dx of (x - mean) / std, written without the intermediate terms of the naive graph
    n = x_hat.shape[axis]
    return (inv_std / n) * (n * dx_hat - dx_hat.sum(axis=axis, keepdims=True)
                            - x_hat * (dx_hat * x_hat).sum(axis=axis, keepdims=True))


def _bn_setup(bn_param, d, dtype):
    """SPEC's bn_param defaults: (mode, eps, momentum, running_mean, running_var)."""
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"Invalid forward batchnorm mode {mode!r}: expected 'train' or 'test'")
    running_mean = bn_param.get("running_mean")
    running_var = bn_param.get("running_var")
    return (mode, bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9),
            np.zeros(d, dtype=dtype) if running_mean is None else running_mean,
            np.zeros(d, dtype=dtype) if running_var is None else running_var)


def _bn_train_stats(xc, eps):
    """Centre ``xc`` (N, D) in place by its column means; return (mean, biased var, 1 / std)."""
    n = xc.shape[0]
    mean = _column_sums(xc) / n
    xc -= mean
    var = np.einsum("ij,ij->j", xc, xc) / n  # one pass, no (N, D) temporary
    return mean, var, 1 / np.sqrt(var + eps)


def _bn_train_backward(dy, xc, inv_std, scale):
    """Batch norm's gradients from dy = dL/d(out), the centred input and scale = gamma / std.

    With x_hat = xc * inv_std: sum(dx_hat) = gamma * dbeta and sum(dx_hat * x_hat) = gamma * dgamma,
    so the classic dx = inv_std / N * (N dx_hat - sum(dx_hat) - x_hat sum(dx_hat x_hat)) becomes
    scale * (dy - dbeta / N - xc * inv_std * dgamma / N): per-feature vectors and four passes over dy.
    Returns (dx, dgamma, dbeta).
    """
    n = dy.shape[0]
    dbeta = _column_sums(dy)
    dgamma = np.einsum("ij,ij->j", dy, xc) * inv_std
    dx = xc * (inv_std * dgamma / n)
    np.subtract(dy, dx, out=dx)
    dx -= dbeta / n
    dx *= scale
    return dx, dgamma, dbeta


def batchnorm_forward(x, gamma, beta, bn_param):
    mode, eps, momentum, running_mean, running_var = _bn_setup(bn_param, x.shape[1], x.dtype)
    if mode == "train":
        xc = x.astype(np.result_type(x, 1.0))  # a copy, centred in place; ints become float64
        mean, var, inv_std = _bn_train_stats(xc, eps)
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
        scale = gamma * inv_std
        out = xc * scale
        cache = (xc, inv_std, scale)
    else:
        out = (x - running_mean) / np.sqrt(running_var + eps)
        out *= gamma
        cache = (None, None, None)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    out += beta
    return out, cache


def batchnorm_backward(dout, cache):
    xc, inv_std, scale = cache
    if inv_std is None:
        raise ValueError("batchnorm_backward needs a cache from a 'train' mode forward pass")
    return _bn_train_backward(dout, xc, inv_std, scale)


def batchnorm_backward_alt(dout, cache):
    """Same as ``batchnorm_backward`` (CS231n asks for both; ours is the simplified one already)."""
    return batchnorm_backward(dout, cache)


def layernorm_forward(x, gamma, beta, ln_param):
    x_hat, _, _, inv_std = _normalize(x, 1, ln_param.get("eps", 1e-5))
    out = x_hat * gamma
    out += beta
    return out, (x_hat, gamma, inv_std)


def layernorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache
    dgamma = (dout * x_hat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dx = _normalize_backward(dout * gamma, x_hat, inv_std, 1)
    return dx, dgamma, dbeta


# --- dropout ------------------------------------------------------------------------------------

def dropout_forward(x, dropout_param, rng=None):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if mode == "train":
        if "seed" in dropout_param and dropout_param["seed"] is not None:
            rng = np.random.default_rng(dropout_param["seed"])
        elif rng is None:
            rng = np.random.default_rng()
        keep = 1 - p
        # the mask stays in x's dtype, so float32 nets never upcast here
        mask = (rng.random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64) < keep)
        mask = mask.astype(x.dtype) / x.dtype.type(keep)
        out = x * mask
    elif mode == "test":
        mask, out = None, x
    else:
        raise ValueError(f"Invalid forward dropout mode {mode!r}: expected 'train' or 'test'")
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    if dropout_param["mode"] == "train":
        return dout * mask
    return dout


# --- compositions (CS231n's layer_utils) --------------------------------------------------------

def affine_relu_forward(x, w, b):
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


def affine_bn_relu_forward(x, w, b, gamma, beta, bn_param):
    """affine -> batch norm -> relu in one go: the hidden block of a batch-norm net, written for speed.

    Same results as composing the three classic functions, up to rounding. In train mode the bias
    is left out of the normalised path: batch norm subtracts the batch mean, which removes it
    exactly (it still enters the running mean).
    """
    mode, eps, momentum, running_mean, running_var = _bn_setup(bn_param, w.shape[1], w.dtype)
    a = x.reshape(x.shape[0], -1) @ w
    if mode == "train":
        mean, var, inv_std = _bn_train_stats(a, eps)  # a is centred in place
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * (mean + b)
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
        scale = gamma * inv_std
        out = a * scale
        cache = (x, w, a, inv_std, scale, out)
    else:
        a += b
        a -= running_mean
        a /= np.sqrt(running_var + eps)
        a *= gamma
        out, cache = a, (x, w, None, None, None, None)
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    out += beta
    np.maximum(out, 0, out=out)
    return out, cache


def affine_bn_relu_backward(dout, cache, input_grad=True):
    """Gradients of ``affine_bn_relu_forward``: ``dx, dw, db, dgamma, dbeta`` (dx None without input_grad)."""
    x, w, xc, inv_std, scale, out = cache
    if inv_std is None:
        raise ValueError("affine_bn_relu_backward needs a cache from a 'train' mode forward pass")
    da, dgamma, dbeta = _bn_train_backward(dout * (out > 0), xc, inv_std, scale)
    dw = _weight_grad(x.reshape(x.shape[0], -1), da, w)
    # the forward pass never adds b to what it normalises: its gradient is exactly zero
    db = np.zeros_like(dbeta)
    dx = (da @ w.T).reshape(x.shape) if input_grad else None
    return dx, dw, db, dgamma, dbeta


# --- the plugins --------------------------------------------------------------------------------

def _weights(rng, shape, init, weight_scale, dtype):
    fan_in, fan_out = shape
    scale = {
        "gaussian": weight_scale,
        "he": np.sqrt(2.0 / fan_in),
        "xavier": np.sqrt(2.0 / (fan_in + fan_out)),
    }.get(init)
    if scale is None:
        raise ValueError(f"unknown init {init!r}: expected 'gaussian', 'he' or 'xavier'")
    # the same values in either layout: a seed gives the same network as before
    return (scale * rng.standard_normal(shape)).astype(dtype, order=weight_order(fan_in, fan_out, dtype))


class Affine(Layer):
    name = "affine"
    description = "Fully connected: x @ W + b, mapping to the hidden width"
    resizes = True
    regularized = ("W",)

    def init_params(self, rng, init="gaussian", weight_scale=1e-2):
        return {
            "W": _weights(rng, (self.in_dim, self.out_dim), init, weight_scale, self.dtype),
            "b": np.zeros(self.out_dim, dtype=self.dtype),
        }

    def forward(self, x, params, mode):
        return affine_forward(x, params["W"], params["b"])

    def backward(self, dout, cache):
        dx, dw, db = affine_backward(dout, cache, self.input_grad)
        return dx, {"W": dw, "b": db}

    def fuse(self, following):
        # exact types: a subclass of BatchNorm or ReLU may compute something else
        if [type(layer) for layer in following[:2]] == [BatchNorm, ReLU]:
            return _AffineBatchNormReLU(self, following[0]), 3
        return None


class _Elementwise(Layer):
    """A parameter-free layer defined by one classic forward/backward pair."""

    pair = None

    def forward(self, x, params, mode):
        return self.pair[0](x)

    def backward(self, dout, cache):
        return self.pair[1](dout, cache), {}


class ReLU(_Elementwise):
    name = "relu"
    description = "Rectified linear unit: max(x, 0)"
    pair = (relu_forward, relu_backward)


class Tanh(_Elementwise):
    name = "tanh"
    description = "Hyperbolic tangent"
    pair = (tanh_forward, tanh_backward)


class Sigmoid(_Elementwise):
    name = "sigmoid"
    description = "Logistic sigmoid 1 / (1 + exp(-x))"
    pair = (sigmoid_forward, sigmoid_backward)


class LeakyReLU(Layer):
    name = "leaky_relu"
    description = "Leaky ReLU: x where x > 0, else alpha * x"
    options = {"alpha": 0.01}

    def forward(self, x, params, mode):
        return leaky_relu_forward(x, self.alpha)

    def backward(self, dout, cache):
        return leaky_relu_backward(dout, cache), {}


class _Normalization(Layer):
    options = {"eps": 1e-5}

    def init_params(self, rng, init="gaussian", weight_scale=1e-2):
        return {"gamma": np.ones(self.in_dim, dtype=self.dtype),
                "beta": np.zeros(self.in_dim, dtype=self.dtype)}


class BatchNorm(_Normalization):
    name = "batchnorm"
    description = "Batch normalization with running statistics for test mode"
    options = {"eps": 1e-5, "momentum": 0.9}

    def __init__(self, in_dim, out_dim=None, **kwargs):
        super().__init__(in_dim, out_dim, **kwargs)
        self.bn_param = {"eps": self.eps, "momentum": self.momentum,
                         "running_mean": np.zeros(self.in_dim, dtype=self.dtype),
                         "running_var": np.zeros(self.in_dim, dtype=self.dtype)}

    def forward(self, x, params, mode):
        self.bn_param["mode"] = check_mode(mode)
        return batchnorm_forward(x, params["gamma"], params["beta"], self.bn_param)

    def backward(self, dout, cache):
        dx, dgamma, dbeta = batchnorm_backward(dout, cache)
        return dx, {"gamma": dgamma, "beta": dbeta}

    def get_state(self):
        return {**super().get_state(), "running_mean": self.bn_param["running_mean"],
                "running_var": self.bn_param["running_var"]}

    def set_state(self, state):
        super().set_state(state)
        self.bn_param["running_mean"] = np.array(state["running_mean"], dtype=self.dtype)
        self.bn_param["running_var"] = np.array(state["running_var"], dtype=self.dtype)


class _AffineBatchNormReLU:
    """Runs an affine, a batch-norm and a relu layer as one step (see ``Layer.fuse``).

    The three layers keep their parameters' names and their state (the running statistics stay
    in the batch-norm layer's ``bn_param``); only the arithmetic is shared.
    """

    def __init__(self, affine, batchnorm):
        self.affine = affine
        self.batchnorm = batchnorm

    def forward(self, x, params, mode):
        bn_param = self.batchnorm.bn_param
        bn_param["mode"] = check_mode(mode)
        return affine_bn_relu_forward(x, params["W"], params["b"], params["gamma"], params["beta"], bn_param)

    def backward(self, dout, cache):
        dx, dw, db, dgamma, dbeta = affine_bn_relu_backward(dout, cache, self.affine.input_grad)
        return dx, {"W": dw, "b": db, "gamma": dgamma, "beta": dbeta}


class LayerNorm(_Normalization):
    name = "layernorm"
    description = "Layer normalization over each sample's features"

    def forward(self, x, params, mode):
        check_mode(mode)
        return layernorm_forward(x, params["gamma"], params["beta"], {"eps": self.eps})

    def backward(self, dout, cache):
        dx, dgamma, dbeta = layernorm_backward(dout, cache)
        return dx, {"gamma": dgamma, "beta": dbeta}


class Dropout(Layer):
    name = "dropout"
    description = "Inverted dropout; p is the probability of dropping a unit"
    # seed: CS231n's fixed mask (the same units every call); None draws from the layer's generator
    options = {"p": 0.5, "seed": None}

    def __init__(self, in_dim, out_dim=None, **kwargs):
        super().__init__(in_dim, out_dim, **kwargs)
        if not 0 <= self.p < 1:
            raise ValueError(f"dropout p={self.p!r} is not a probability in [0, 1)")

    def forward(self, x, params, mode):
        param = {"p": self.p, "mode": check_mode(mode), "seed": self.seed}
        return dropout_forward(x, param, self.rng)

    def backward(self, dout, cache):
        return dropout_backward(dout, cache), {}


@hookimpl
def nnplug_layers():
    return [Affine, ReLU, LeakyReLU, Tanh, Sigmoid, BatchNorm, LayerNorm, Dropout]
