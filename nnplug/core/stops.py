"""How training ends early: a loss that stopped being a number, or a signal between two steps.

Both are exceptions the Solver raises; the command line turns them into one line (and, for a
signal, the command that resumes the run).
"""
import signal

import numpy as np

# Inputs spread this much wider than standardised ones (std 1) are the likely cause of a diverging
# loss: raw pixels of 0-255 have a standard deviation near 80.
UNNORMALISED_SCALE = 10.0


class DivergenceError(RuntimeError):
    """The loss stopped being a finite number."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training; the state at that iteration is in ``checkpoint``.

    A KeyboardInterrupt, so that ``except Exception`` does not swallow it and trackers treat the
    run as killed rather than failed. ``exit_code`` is the shell's 128 + signal number.
    """

    def __init__(self, signum, checkpoint_path=None):
        name = signal.Signals(signum).name
        saved = f"; resume from {checkpoint_path}" if checkpoint_path else ""
        super().__init__(f"training stopped by {name}{saved}")
        self.signum = signum
        self.checkpoint = checkpoint_path
        self.exit_code = 128 + signum

    def __reduce__(self):  # a parallel sweep job sends it back to the Hydra process pickled
        return type(self), (self.signum, self.checkpoint)


def input_scale(X):
    """The standard deviation of (up to 1,000 of) the rows of ``X``; standardised inputs have 1."""
    return float(np.std(X[:1000], dtype=np.float64))


def likely_cause(X):
    """What to change when the loss diverges on training inputs ``X``: unnormalised inputs, when they
    are, else the learning rate."""
    scale = input_scale(X)
    if scale > UNNORMALISED_SCALE:
        return (f"the inputs' standard deviation is {scale:.3g}, far from the 1 of standardised inputs: "
                f"unnormalised inputs are the likely cause (standardise them), else try a smaller learning rate")
    return "try a smaller learning rate"
