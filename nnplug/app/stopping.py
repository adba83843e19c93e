"""How SIGINT and SIGTERM stop a run or a sweep: between two steps, with a line that resumes it.

During training the Solver catches the signal, finishes its step, checkpoints and raises
``TrainingInterrupted``; the MLflow run ends KILLED. Around that, a job here:

- turns ``TrainingInterrupted`` into ``RunStopped``, an ``Exception``, so that a launcher records
  the job as failed instead of losing its worker process, and remembers the stop: every later job
  of the same process ends with ``RunStopped`` before it creates anything (jobs waiting for a
  worker never start);
- outside training, a signal stops the job where it is, as Ctrl-C would;
- in a worker process of a launcher (the joblib launcher's loky workers), the handler stays after
  the job: a signal between two jobs must stop the next one, not kill the worker, which would make
  joblib kill its busy siblings before their runs are ended.

The sweep process passes SIGTERM on to its worker processes (``multiprocessing.active_children``,
where loky's workers are): ``kill`` and batch systems signal it alone. A terminal's Ctrl-C reaches
every process of the command already, so SIGINT is passed on only from the second one. A second
signal makes the Solvers stop at once, from their last checkpoint; a third stops the sweep process
from waiting for its workers.

The command line prints one line saying what stopped and how to resume, and exits with
128 + the signal number.
"""
import multiprocessing
import os
import shlex
import signal
import sys
import threading
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from nnplug.core.solver import TrainingInterrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class Stop:
    """What stopped, and where it resumes: ``folder_key`` is hydra.run.dir or hydra.sweep.dir."""

    signum: int
    folder_key: str
    folder: str
    resumable: bool

    @property
    def exit_code(self):
        return 128 + self.signum


class RunStopped(Exception):
    """A signal stopped this job (or kept it from starting); ``stop`` says how to resume."""

    def __init__(self, stop):
        super().__init__(f"training stopped by {signal.Signals(stop.signum).name}")
        self.stop = stop

    def __reduce__(self):  # a worker's job sends it back to the sweep process pickled
        return type(self), (self.stop,)


_signals = []  # the signals this process received while it ran jobs or watched a sweep
_where = None  # (folder_key, folder, resumable) of what this process runs
_job_running = False


def stopped():
    """The ``Stop`` this process received a signal for, or None."""
    return Stop(_signals[0], *_where) if _signals and _where else None


def watch_sweep(folder, resumable):
    """In the sweep process, before its jobs start: signals stop the sweep as a whole."""
    global _where
    _where = ("hydra.sweep.dir", str(folder), resumable)
    _install()


@contextmanager
def job(folder_key, folder, resumable):
    """Around one training job: a signal stops it cleanly, and stops every later job of this process."""
    global _where, _job_running
    _where = (folder_key, str(folder), resumable)
    if _signals:
        raise RunStopped(stopped())
    previous = _install()
    _job_running = True
    try:
        yield
    except TrainingInterrupted as interrupted:
        if not _signals:
            _signals.append(interrupted.signum)
        raise RunStopped(stopped()) from None
    finally:
        _job_running = False
        if multiprocessing.parent_process() is None:  # a worker keeps the handler between jobs
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _install():
    if threading.current_thread() is not threading.main_thread():
        return {}  # only the main thread may handle signals
    return {signum: signal.signal(signum, _on_signal) for signum in SIGNALS}


def _on_signal(signum, frame):
    _signals.append(signum)
    if multiprocessing.parent_process() is None:  # the sweep process, or a single run
        if signum == signal.SIGTERM or len(_signals) > 1:
            for worker in multiprocessing.active_children():
                with suppress(ProcessLookupError):
                    os.kill(worker.pid, signum)
        if len(_signals) > 2:
            raise TrainingInterrupted(_signals[0])
    if _job_running:  # outside training (the Solver catches its own): stop here
        raise TrainingInterrupted(signum)


class _WithoutStoppedJobs:
    """stderr without the line Hydra writes for each job that ended by raising (``JobReturn.return_value``)
    once this process was stopped: the command says what stopped in one line of its own."""

    HYDRA_LINE = "Error executing job with overrides:"

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        if stopped() is not None and text.startswith(self.HYDRA_LINE):
            return len(text)
        return self.stream.write(text)

    def __getattr__(self, name):  # flush, fileno, isatty, ...: the real stream's
        return getattr(self.stream, name)


@contextmanager
def one_line_for_a_stop():
    """For the block (Hydra's run of the jobs): a stopped sweep's jobs leave no line of Hydra's on stderr."""
    original = sys.stderr
    sys.stderr = _WithoutStoppedJobs(original)
    try:
        yield
    finally:
        sys.stderr = original


def stopped_line(stop):
    """What stopped training, and the command that resumes it (when checkpoints were kept)."""
    then = (f"resume with: {resume_command(stop)}" if stop.resumable
            else "solver.checkpoint=false, so it cannot be resumed")
    return f"nnplug: training stopped by {signal.Signals(stop.signum).name}; {then}"


def resume_command(stop, argv=None):
    """The command line the user typed, set to resume the stopped run (or sweep) in its own folder."""
    argv = sys.argv if argv is None else argv
    program = ["python", "-m", "nnplug"] if os.path.basename(argv[0]) == "__main__.py" else ["nnplug"]
    kept = [arg for arg in argv[1:] if arg.lstrip("+~").split("=", 1)[0] not in ("solver.resume", stop.folder_key)]
    return shlex.join([*program, *kept, "solver.resume=true", f"{stop.folder_key}={stop.folder}"])
