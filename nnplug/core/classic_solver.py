"""CS231n's Solver: nnplug's ``Solver``, drawing its randomness from numpy's global generator.

In CS231n's notebooks ``np.random.seed(231)`` fixes everything a run draws, the Solver's included:
its minibatches (``np.random.choice(num_train, batch_size)``) and its train-accuracy subsample
(``np.random.choice(N, 1000)``). nnplug's own ``Solver`` draws them from a generator of its own
(``seed``); this one draws them where CS231n's does, so that a notebook run twice prints the same
numbers. Everything else (update rules, schedules, listeners, checkpoints) is nnplug's ``Solver``.
"""
from nnplug.core.global_random import NumpyGlobal
from nnplug.core.solver import Solver


class ClassicSolver(Solver):
    """``Solver(model, data, **options)`` as CS231n's: the same options (``seed`` has no effect: numpy's
    global generator, seeded by the notebook, decides the minibatches and accuracy subsamples)."""

    def _reset(self):
        super()._reset()
        self.rng = NumpyGlobal()
