"""The standard update rules: ``rule(w, dw, config=None, out=None) -> (next_w, config)``.

Called as in CS231n (no ``out``) a rule changes neither ``w`` nor the state arrays it was given
and returns new ones. The Solver passes ``out=w``: the parameter and the rule's state (velocity,
cache, m, v) are then updated in place, so a training step allocates no new parameter arrays.
"""
import numpy as np

from nnplug.hookspecs import hookimpl
from nnplug.kinds import UpdateRule

DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "nesterov": {"learning_rate": 1e-2, "momentum": 0.9},
    "adagrad": {"learning_rate": 1e-2, "epsilon": 1e-8},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    "adamw": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
              "weight_decay": 1e-2},
}


def _config(name, config):
    config = {} if config is None else config
    for key, value in DEFAULTS[name].items():
        config.setdefault(key, value)
    return config


def _state(config, key, w, in_place):
    """The rule's state array ``key``: updated in place by the Solver, copied for classic calls."""
    state = config.get(key)
    if state is None:
        state = np.zeros_like(w)
    elif not in_place:
        state = state.copy()
    config[key] = state
    return state


def _apply(w, step, out):
    return np.add(w, step, out=out)


def sgd(w, dw, config=None, out=None):
    config = _config("sgd", config)
    return _apply(w, -config["learning_rate"] * dw, out), config


def sgd_momentum(w, dw, config=None, out=None):
    config = _config("sgd_momentum", config)
    v = _state(config, "velocity", w, out is not None)
    v *= config["momentum"]
    v -= config["learning_rate"] * dw
    return _apply(w, v, out), config


def nesterov(w, dw, config=None, out=None):
    config = _config("nesterov", config)
    mu = config["momentum"]
    v = _state(config, "velocity", w, out is not None)
    step = -mu * v
    v *= mu
    v -= config["learning_rate"] * dw
    step += (1 + mu) * v
    return _apply(w, step, out), config


def adagrad(w, dw, config=None, out=None):
    config = _config("adagrad", config)
    cache = _state(config, "cache", w, out is not None)
    cache += dw * dw
    step = dw / (np.sqrt(cache) + config["epsilon"])
    step *= -config["learning_rate"]
    return _apply(w, step, out), config


def rmsprop(w, dw, config=None, out=None):
    config = _config("rmsprop", config)
    decay = config["decay_rate"]
    cache = _state(config, "cache", w, out is not None)
    cache *= decay
    cache += (1 - decay) * (dw * dw)
    step = dw / (np.sqrt(cache) + config["epsilon"])
    step *= -config["learning_rate"]
    return _apply(w, step, out), config


def _adam_step(w, dw, config, in_place):
    beta1, beta2 = config["beta1"], config["beta2"]
    m = _state(config, "m", w, in_place)
    v = _state(config, "v", w, in_place)
    config["t"] = t = config.get("t", 0) + 1
    m *= beta1
    m += (1 - beta1) * dw
    v *= beta2
    v += (1 - beta2) * (dw * dw)
    # bias correction folded into two scalars: lr_t * m / (sqrt(v) + eps_t)
    # equals lr * m_hat / (sqrt(v_hat) + eps) exactly in real arithmetic
    denom = np.sqrt(v)
    denom /= np.sqrt(1 - beta2 ** t)
    denom += config["epsilon"]
    step = m / denom
    step *= -config["learning_rate"] / (1 - beta1 ** t)
    return step


def adam(w, dw, config=None, out=None):
    config = _config("adam", config)
    return _apply(w, _adam_step(w, dw, config, out is not None), out), config


def adamw(w, dw, config=None, out=None):
    config = _config("adamw", config)
    step = _adam_step(w, dw, config, out is not None)
    # decoupled weight decay on the weights before the Adam step, as PyTorch's AdamW
    step -= (config["learning_rate"] * config["weight_decay"]) * w
    return _apply(w, step, out), config


@hookimpl
def nnplug_optimizers():
    described = {
        sgd: "Vanilla stochastic gradient descent",
        sgd_momentum: "SGD with momentum (velocity)",
        nesterov: "SGD with Nesterov momentum, PyTorch's trajectory",
        adagrad: "Adagrad: per-parameter rates from the sum of squared gradients",
        rmsprop: "RMSProp: a moving average of squared gradients",
        adam: "Adam with bias correction",
        adamw: "Adam with decoupled weight decay (AdamW)",
    }
    return [UpdateRule(fn.__name__, fn, DEFAULTS[fn.__name__], text) for fn, text in described.items()]
