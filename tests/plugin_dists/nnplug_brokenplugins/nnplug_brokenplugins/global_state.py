"""An update rule that keeps its velocity in a module global instead of the config dict: a checkpoint misses it."""
import numpy as np

from nnplug import UpdateRule, hookimpl

_VELOCITY = {}


def leaky_momentum(w, dw, config=None, out=None):
    config = {} if config is None else config
    v = _VELOCITY.setdefault(w.shape, np.zeros_like(w))
    v *= 0.9
    v -= 0.01 * dw
    return np.add(w, v, out=out), config


@hookimpl
def nnplug_optimizers():
    return [UpdateRule("leaky_momentum", leaky_momentum, {"learning_rate": 0.01},
                       "momentum kept in a global")]
