"""How training ends early: a loss that stopped being a number, or a signal between two steps.

Both are exceptions the Solver raises; the command line turns them into one line (and, for a
signal, the command that resumes the run).
"""
import signal


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
