"""numpy's global generator (``np.random``) behind the methods nnplug draws with, for CS231n's code.

CS231n's notebooks seed numpy's global generator (``np.random.seed(231)``) and everything random in
its code draws from it: the weights, the Solver's minibatches (``np.random.choice``), its 1,000-sample
train accuracy, dropout's masks (``np.random.seed(seed)`` when dropout has a seed). nnplug draws from
generators of its own, so that a run is reproducible whatever else the process draws. The classic
front door (``nnplug_std.classic``) hands ``NumpyGlobal`` to its Solver and layers instead, so that
the notebooks' seeds fix their numbers exactly as they do in CS231n.
"""
import numpy as np


class NumpyGlobal:
    """A stand-in for a ``numpy.random.Generator`` that draws from numpy's global generator.

    ``integers(0, n, size)`` and ``choice(n, size)`` are ``np.random.choice(n, size)``, CS231n's
    minibatch and accuracy-subsample draw; ``random(size, dtype)`` is ``np.random.rand``;
    ``seed(seed)`` is ``np.random.seed``; ``bit_generator.state`` is the global state
    (``np.random.get_state``), so that a checkpoint keeps and restores it.
    """

    def integers(self, low, high=None, size=None):
        if high is None:
            low, high = 0, low
        if low != 0:
            return low + np.random.choice(high - low, size)
        return np.random.choice(high, size)

    def choice(self, a, size=None, replace=True, p=None):
        return np.random.choice(a, size, replace, p)

    def random(self, size=None, dtype=np.float64):
        return np.random.random_sample(size).astype(dtype, copy=False)

    def seed(self, seed):
        np.random.seed(seed)

    @property
    def bit_generator(self):
        return self

    @property
    def state(self):
        return np.random.get_state(legacy=False)

    @state.setter
    def state(self, value):
        np.random.set_state(value)
