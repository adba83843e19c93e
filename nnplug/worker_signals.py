"""How a joblib sweep stops on SIGINT or SIGTERM: its jobs stop between two steps, then the sweep.

A single run or a basic sweep trains in the process the signal reaches, and its Solver stops
after the step it arrives in. A joblib sweep trains in loky workers, and two things get in the way:

- ``kill`` and batch systems signal the sweep process alone: its workers went on with the rest of
  the sweep unseen, holding its output open, and then idled forever;
- on Ctrl-C the sweep process stopped waiting at once, and joblib killed every worker (as loky
  does whenever one worker dies) whatever it was doing: a job still ending its run KILLED left it
  RUNNING.

So the sweep process is the workers' one source of signals, and a signal never kills a worker:

- the workers are in a process group of their own (``nnplug.forkserver_preload``), so a
  terminal's Ctrl-C reaches the sweep process alone, like ``kill``; ``StopOnSignal`` passes it on
  to each worker once;
- in a worker, the Solver stops after its step and its run ends KILLED with a checkpoint; a signal
  outside training stops the job where it is, as Ctrl-C would, and a job that starts after it stops
  before doing anything (``job``). Every job of the sweep thus returns promptly, none dies;
- once loky holds no job, the sweep process prints the one line that resumes the sweep and stops
  with ``TrainingInterrupted`` (exit status 128 + the signal number); joblib then ends the idle
  workers.

A second signal is passed on as well: the Solvers stop at once, keeping their last checkpoint. A
third stops waiting for the workers; joblib kills them.
"""
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager, suppress

from hydra.experimental.callback import Callback

from nnplug.workers import JOBLIB_LAUNCHER

SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL_SECONDS = 0.05

_in_a_worker = False
_stop_signal = None  # in a worker: the first signal the sweep passed on
_job_running = False


# --- in the workers -----------------------------------------------------------------------------

def catch_signals_in_workers():
    """Called where the workers are forked from: they turn signals into a stop, never an exit."""
    global _in_a_worker
    _in_a_worker = True
    for signum in SIGNALS:
        signal.signal(signum, _on_signal_in_a_worker)


def in_a_worker():
    """Whether this process is a joblib sweep's worker, which leaves reporting a stop to the sweep."""
    return _in_a_worker


def _on_signal_in_a_worker(signum, frame):
    from nnplug.solver import TrainingInterrupted

    global _stop_signal
    _stop_signal = _stop_signal or signum
    if _job_running:  # outside training (the Solver catches its own): stop here, as Ctrl-C would
        raise TrainingInterrupted(signum)


@contextmanager
def job():
    """Around a sweep job: once the sweep stopped, this worker's jobs stop, this one and every next."""
    from nnplug.solver import TrainingInterrupted

    global _job_running, _stop_signal
    if _stop_signal is not None:
        raise TrainingInterrupted(_stop_signal)
    _job_running = True
    try:
        yield
    except TrainingInterrupted as interrupted:
        _stop_signal = _stop_signal or interrupted.signum
        raise
    finally:
        _job_running = False


# --- in the sweep process -----------------------------------------------------------------------

class StopOnSignal(Callback):
    """Passes SIGINT and SIGTERM on to a joblib sweep's workers and stops the sweep once they stopped."""

    def __init__(self):
        self._config = None
        self._signals = []

    def on_multirun_start(self, config, **kwargs):
        if config.hydra.launcher._target_ != JOBLIB_LAUNCHER:
            return
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may handle signals
        self._config = config
        for signum in SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame):
        from nnplug.app import stopped_line
        from nnplug.solver import TrainingInterrupted

        self._signals.append(signum)
        if len(self._signals) > 2:
            raise TrainingInterrupted(self._signals[0])
        workers = _worker_pids()
        for pid in workers:
            with suppress(ProcessLookupError):
                os.kill(pid, signum)
        if len(self._signals) > 1:
            return  # the first signal's handler is still waiting for the jobs
        if not workers:  # before the launch, or jobs in this process (n_jobs=1): stop here
            raise TrainingInterrupted(signum)
        while _jobs_in_loky():  # a later signal runs its handler in here
            time.sleep(POLL_SECONDS)
        print(stopped_line(signum, self._config, self._config.hydra, sweeping=True), file=sys.stderr)
        raise TrainingInterrupted(signum)


def _executor():
    """Loky's executor, which the joblib launcher runs its jobs in (None before the launch)."""
    if "joblib" not in sys.modules:
        return None
    from joblib.externals.loky import reusable_executor

    return reusable_executor._executor


def _worker_pids():
    executor = _executor()
    # loky's private table of its worker processes; copied, since loky's thread changes it
    return [] if executor is None else list(dict(executor._processes))


def _jobs_in_loky():
    """Whether a job handed to loky has not returned yet (loky's private table of them)."""
    executor = _executor()
    return executor is not None and bool(executor._pending_work_items)
