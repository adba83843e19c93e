"""The standard layers: CS231n's forward/backward function pairs and the plugins built on them.

Each classic function keeps SPEC.md's name, signature and semantics; each plugin class is a thin
adapter that holds the layer's options and state and calls the pair.
"""
import numpy as np

from nnplug.hookspecs import hookimpl
from nnplug.kinds import Layer, check_mode


# --- affine -------------------------------------------------------------------------------------

def affine_forward(x, w, b):
    x2 = x.reshape(x.shape[0], -1)  # a view for contiguous x: no copy
    out = x2 @ w
    out += b
    return out, (x, w, b)


def affine_backward(dout, cache, input_grad=True):
    x, w, _ = cache
    x2 = x.reshape(x.shape[0], -1)
    dw = x2.T @ dout
    db = dout.sum(axis=0)
    # dx of the first layer is never used, and costs as much as dw
    dx = (dout @ w.T).reshape(x.shape) if input_grad else None
    return dx, dw, db


# --- elementwise nonlinearities -----------------------------------------------------------------

def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return np.where(cache > 0, dout, 0).astype(dout.dtype, copy=False)


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


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"Invalid forward batchnorm mode {mode!r}: expected 'train' or 'test'")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(d, dtype=x.dtype))
    if mode == "train":
        x_hat, mean, var, inv_std = _normalize(x, 0, eps)
        running_mean = momentum * running_mean + (1 - momentum) * mean[0]
        running_var = momentum * running_var + (1 - momentum) * var[0]
        cache = (x_hat, gamma, inv_std)
    else:
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        cache = (x_hat, gamma, None)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    out = x_hat * gamma
    out += beta
    return out, cache


def batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache
    dgamma = (dout * x_hat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    if inv_std is None:
        raise ValueError("batchnorm_backward needs a cache from a 'train' mode forward pass")
    dx = _normalize_backward(dout * gamma, x_hat, inv_std, 0)
    return dx, dgamma, dbeta


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
    a, fc_cache = affine_forward(x, w, b)
    an, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (fc_cache, bn_cache, relu_cache)


def affine_bn_relu_backward(dout, cache):
    fc_cache, bn_cache, relu_cache = cache
    dan, dgamma, dbeta = batchnorm_backward(relu_backward(dout, relu_cache), bn_cache)
    dx, dw, db = affine_backward(dan, fc_cache)
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
    return (scale * rng.standard_normal(shape)).astype(dtype)


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
