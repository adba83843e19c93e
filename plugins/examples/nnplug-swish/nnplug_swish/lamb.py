"""LAMB (You et al., 2019): Adam's step, rescaled per tensor so it is a fixed fraction of the weights.

nnplug keeps one config dict per parameter tensor, so the "layer-wise" trust ratio of the paper is
simply computed from the tensor the rule is given.

The contract every update rule keeps (``nnplug plugins --check`` and nnplug's suite check it):
the state lives in ``config`` (a checkpoint saves it), takes ``w``'s dtype and memory layout, is
updated in place when the Solver passes ``out=w`` and copied when the rule is called the classic
way, so that a caller's arrays never change; float32 stays float32.
"""
import numpy as np

from nnplug import UpdateRule, hookimpl

DEFAULTS = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-6, "weight_decay": 0.0}


def lamb(w, dw, config=None, out=None):
    config = {} if config is None else config
    for key, value in DEFAULTS.items():
        config.setdefault(key, value)
    # Python floats: numpy float64 hyperparameters would pull float32 arrays through float64 arithmetic
    b1, b2, lr, eps, decay = (float(config[key]) for key in ("beta1", "beta2", "learning_rate", "epsilon",
                                                            "weight_decay"))
    t = config.get("t", 0) + 1
    m, v = (_state(config.get(key), w, in_place=out is not None) for key in ("m", "v"))
    m *= b1
    m += (1 - b1) * dw
    v *= b2
    v += (1 - b2) * (dw * dw)
    step = np.sqrt(v / (1 - b2 ** t))
    step += eps
    np.divide(m / (1 - b1 ** t), step, out=step)
    step += decay * w
    # norms over C order whatever w's layout, so an F-ordered weight gets the very same step
    w_norm, step_norm = float(np.linalg.norm(w.ravel(order="C"))), float(np.linalg.norm(step.ravel(order="C")))
    # the trust ratio; a tensor of zeros (a fresh bias) takes a plain Adam step
    trust = w_norm / step_norm if w_norm > 0 and step_norm > 0 else 1.0
    config.update(t=t, m=m, v=v)
    return np.subtract(w, (lr * trust) * step, out=out), config


def _state(state, w, in_place):
    """A moment estimate in w's dtype and layout: the given array when updated in place, else a copy."""
    if state is not None and in_place and state.dtype == w.dtype and state.strides == w.strides:
        return state
    fresh = np.zeros_like(w)  # w's dtype and layout
    if state is not None:
        np.copyto(fresh, state)
    return fresh


@hookimpl
def nnplug_optimizers():
    return [UpdateRule("lamb", lamb, DEFAULTS, "LAMB: Adam with a per-tensor trust ratio")]
