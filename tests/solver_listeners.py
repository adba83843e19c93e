"""Solver listeners the tests share."""


class Stop(Exception):
    """Raised by ``StopAt``: training ended where a test wanted it to, as a crash would end it."""


class StopAt:
    """Stops training by raising ``Stop`` after the step ``iteration`` (0-based)."""

    def __init__(self, iteration):
        self.iteration = iteration

    def on_iteration(self, solver, iteration, loss):
        if iteration == self.iteration:
            raise Stop
