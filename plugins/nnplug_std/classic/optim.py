"""CS231n's update rules: ``rule(w, dw, config=None, out=None) -> (next_w, config)``.

Inputs of every rule:
- w: a parameter array of any shape
- dw: the loss's gradient with respect to w, of w's shape
- config: a dict of hyperparameters (defaults in ``DEFAULTS`` fill what is missing) and of the
  rule's own state, which it adds on its first call and keeps up to date; None for a new one
- out: where to write the next value (``out=w`` for in place); None allocates

Returns a tuple of:
- next_w: the updated parameter
- config: the dict, holding the new state; a checkpoint of it resumes the rule exactly

Called as in CS231n (no ``out``) a rule changes neither ``w`` nor the state arrays it was given
and returns new ones. The Solver passes ``out=w``: the parameter and the rule's state (velocity,
cache, m, v) are then updated in place, so a training step allocates no new parameter arrays.

Every array a rule creates or copies (the result, the state) takes ``w``'s memory layout, C or F
(float64 affine weights may be F-ordered: ``nnplug_std.kernels.products.weight_order``): an elementwise update
of arrays in different layouts is a strided transpose, much slower than a straight pass.
"""
import numpy as np


DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9, "weight_decay": 0.0, "decoupled_weight_decay": False},
    "nesterov": {"learning_rate": 1e-2, "momentum": 0.9, "weight_decay": 0.0, "decoupled_weight_decay": False},
    "adagrad": {"learning_rate": 1e-2, "epsilon": 1e-8},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    "adamw": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
              "weight_decay": 1e-2},
}


# Large parameters are updated in blocks of this many elements: a rule makes several passes over
# its operands, and a block of each stays in the L2 cache between them, where a whole 3072 x 100
# weight matrix does not.
BLOCK = 1 << 15


def _config(name, config):
    config = {} if config is None else config
    for key, value in DEFAULTS[name].items():
        config.setdefault(key, value)
    return config


def _floats(config, *keys):
    # Python floats: a numpy float64 hyperparameter (10 ** np.random.uniform(...) in a random search)
    # would run float32 arithmetic through float64 loops
    return [float(config[key]) for key in keys]


def _layout(a):
    """The layout of a contiguous array, "C" or "F" (a 1-D array is both: "C"); None for a strided view."""
    if a.flags.c_contiguous:
        return "C"
    return "F" if a.flags.f_contiguous else None


def _state(config, key, w, in_place):
    """The rule's state array ``key`` in ``w``'s layout: updated in place by the Solver, copied for classic calls.

    A state in another layout than ``w`` (one restored from a checkpoint of C-ordered weights, or
    made by hand with np.zeros(w.shape) for an F-ordered w) is replaced, once, by a copy in ``w``'s
    layout: updating it in place would be a strided transpose at every step.
    """
    state = config.get(key)
    layout = _layout(w)
    if state is None:
        state = np.zeros_like(w)  # order "K": w's layout
    elif not in_place or (layout is not None and _layout(state) != layout):
        state = np.array(state, order=layout or "K")  # keeps the state's dtype
    config[key] = state
    return state


def _update(kernel, w, dw, out, *states):
    """Run ``kernel(w, dw, out, *states)``, block by block on large arrays of one layout; return ``out``.

    Blocks are slices of the arrays' memory order (``ravel(order="K")``, a view of a contiguous
    array), so all arrays must share one layout, C or F, for block k of each to hold the same
    elements. Anything else (a strided view, a mix of layouts) is updated whole.
    """
    if out is None:
        out = np.empty_like(w)  # order "K": w's layout
    arrays = (w, dw, out, *states)
    if w.size <= BLOCK or (layout := _layout(w)) is None or any(_layout(a) != layout for a in arrays):
        kernel(*arrays)
        return out
    flat = [a.ravel(order="K") for a in arrays]
    for start in range(0, w.size, BLOCK):
        kernel(*[f[start:start + BLOCK] for f in flat])
    return out


def sgd(w, dw, config=None, out=None):
    """Vanilla stochastic gradient descent: ``w - learning_rate * dw``.

    config: learning_rate (1e-2).
    """
    config = _config("sgd", config)
    (lr,) = _floats(config, "learning_rate")

    def kernel(w, dw, out):
        np.subtract(w, lr * dw, out=out)

    return _update(kernel, w, dw, out), config


def _weight_decay(config):
    """``(coupled, decoupled)`` weight decay factors of an SGD rule's config: one of them is 0."""
    (wd,) = _floats(config, "weight_decay")
    return (0.0, wd) if config["decoupled_weight_decay"] else (wd, 0.0)


def sgd_momentum(w, dw, config=None, out=None):
    """SGD with momentum: ``v = momentum * v - learning_rate * dw; w + v``.

    With ``weight_decay`` (coupled, the default) ``dw + weight_decay * w`` takes the place of dw:
    the gradient of an L2 penalty on every parameter, which the velocity accumulates. With
    ``decoupled_weight_decay`` the step shrinks the weights instead, ``w * (1 - learning_rate *
    weight_decay) + v``, outside the velocity.

    config: learning_rate (1e-2), momentum (0.9), weight_decay (0), decoupled_weight_decay (False);
    state: velocity, of w's shape.
    """
    config = _config("sgd_momentum", config)
    mu, lr = _floats(config, "momentum", "learning_rate")
    coupled, decoupled = _weight_decay(config)

    def kernel(w, dw, out, v):
        v *= mu
        v -= lr * (dw + coupled * w if coupled else dw)
        if decoupled:
            np.add(w, v - (lr * decoupled) * w, out=out)
        else:
            np.add(w, v, out=out)

    return _update(kernel, w, dw, out, _state(config, "velocity", w, out is not None)), config


def nesterov(w, dw, config=None, out=None):
    """SGD with Nesterov momentum, PyTorch's ``SGD(nesterov=True)`` step for step, also when the
    learning rate changes between steps (the buffer holds gradients, not steps):

    ``g = dw + weight_decay * w; buf = momentum * buf + g; w - learning_rate * (g + momentum * buf)``.

    That is the coupled weight decay of ``SGD(nesterov=True, weight_decay=...)``. With
    ``decoupled_weight_decay`` g is dw alone and the weights shrink by ``learning_rate *
    weight_decay`` of themselves at each step instead, as AdamW does for Adam:
    ``w - learning_rate * weight_decay * w - learning_rate * (g + momentum * buf)``.

    config: learning_rate (1e-2), momentum (0.9), weight_decay (0), decoupled_weight_decay (False);
    state: momentum_buffer, of w's shape (PyTorch's name; zeros at first, so the first step's
    buffer is g, as PyTorch's).
    """
    config = _config("nesterov", config)
    mu, lr = _floats(config, "momentum", "learning_rate")
    coupled, decoupled = _weight_decay(config)

    def kernel(w, dw, out, buf):
        g = dw + coupled * w if coupled else dw
        buf *= mu
        buf += g
        step = mu * buf
        step += g
        step *= -lr
        if decoupled:
            step -= (lr * decoupled) * w
        np.add(w, step, out=out)

    return _update(kernel, w, dw, out, _state(config, "momentum_buffer", w, out is not None)), config


def adagrad(w, dw, config=None, out=None):
    """Adagrad: per-parameter rates from the running sum of squared gradients.

    config: learning_rate (1e-2), epsilon (1e-8); state: cache, of w's shape.
    """
    config = _config("adagrad", config)
    lr, eps = _floats(config, "learning_rate", "epsilon")

    def kernel(w, dw, out, cache):
        cache += dw * dw
        step = np.sqrt(cache)
        step += eps
        np.divide(dw, step, out=step)
        step *= -lr
        np.add(w, step, out=out)

    return _update(kernel, w, dw, out, _state(config, "cache", w, out is not None)), config


def rmsprop(w, dw, config=None, out=None):
    """RMSProp: per-parameter rates from a moving average of squared gradients.

    config: learning_rate (1e-2), decay_rate (0.99), epsilon (1e-8); state: cache.
    """
    config = _config("rmsprop", config)
    lr, eps, decay = _floats(config, "learning_rate", "epsilon", "decay_rate")

    def kernel(w, dw, out, cache):
        cache *= decay
        cache += (1 - decay) * (dw * dw)
        step = np.sqrt(cache)
        step += eps
        np.divide(dw, step, out=step)
        step *= -lr
        np.add(w, step, out=out)

    return _update(kernel, w, dw, out, _state(config, "cache", w, out is not None)), config


def _adam(w, dw, config, out, weight_decay=0.0):
    beta1, beta2, eps, lr = _floats(config, "beta1", "beta2", "epsilon", "learning_rate")
    config["t"] = t = config.get("t", 0) + 1
    # bias correction folded into two scalars: lr_t * m / (sqrt(v) / c2 + eps) equals
    # lr * m_hat / (sqrt(v_hat) + eps) exactly in real arithmetic
    lr_t, c2 = lr / (1 - beta1 ** t), (1 - beta2 ** t) ** 0.5
    decay = lr * weight_decay

    def kernel(w, dw, out, m, v):
        m *= beta1
        m += (1 - beta1) * dw
        v *= beta2
        v += (1 - beta2) * (dw * dw)
        step = np.sqrt(v)
        step /= c2
        step += eps
        np.divide(m, step, out=step)
        step *= -lr_t
        if decay:  # decoupled weight decay on the weights before the step, as PyTorch's AdamW
            step -= decay * w
        np.add(w, step, out=out)

    in_place = out is not None
    m, v = _state(config, "m", w, in_place), _state(config, "v", w, in_place)
    return _update(kernel, w, dw, out, m, v), config


def adam(w, dw, config=None, out=None):
    """Adam with bias-corrected first and second moment estimates.

    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8); state: m and v of
    w's shape, and t, the number of steps taken (incremented before use).
    """
    return _adam(w, dw, _config("adam", config), out)


def adamw(w, dw, config=None, out=None):
    """AdamW: Adam with decoupled weight decay, ``w * (1 - learning_rate * weight_decay)`` before
    the Adam step, as PyTorch's AdamW.

    config: as adam, plus weight_decay (1e-2); state: as adam.
    """
    config = _config("adamw", config)
    return _adam(w, dw, config, out, *_floats(config, "weight_decay"))
