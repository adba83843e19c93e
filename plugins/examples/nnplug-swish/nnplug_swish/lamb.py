"""LAMB (You et al., 2019): Adam's step, rescaled per tensor so it is a fixed fraction of the weights.

nnplug keeps one config dict per parameter tensor, so the "layer-wise" trust ratio of the paper is
simply computed from the tensor the rule is given.
"""
import numpy as np

from nnplug import UpdateRule, hookimpl

DEFAULTS = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-6, "weight_decay": 0.0}


def lamb(w, dw, config=None, out=None):
    config = {**DEFAULTS, **(config or {})}
    b1, b2, lr = config["beta1"], config["beta2"], config["learning_rate"]
    t = config.get("t", 0) + 1
    # new arrays, never updates of the given ones: a caller's state stays as it was
    m = b1 * config.get("m", 0) + (1 - b1) * dw
    v = b2 * config.get("v", 0) + (1 - b2) * dw * dw
    step = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + config["epsilon"])
    step += config["weight_decay"] * w
    w_norm, step_norm = np.linalg.norm(w), np.linalg.norm(step)
    # the trust ratio; a tensor of zeros (a fresh bias) takes a plain Adam step
    trust = w_norm / step_norm if w_norm > 0 and step_norm > 0 else 1.0
    config.update(t=t, m=m, v=v)
    return np.subtract(w, lr * trust * step, out=out), config


@hookimpl
def nnplug_optimizers():
    return [UpdateRule("lamb", lamb, DEFAULTS, "LAMB: Adam with a per-tensor trust ratio")]
