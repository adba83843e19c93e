"""The ``nnplug`` command run inside a test's own process, as if it were a new one.

A new interpreter importing Hydra, MLflow and matplotlib costs seconds; a test about what the
command does needs the command, not the interpreter. ``run_command`` calls what the console
script calls (``nnplug.app.cli.main``) with the folder, environment, arguments, warning filters,
output streams and logging a new process would have, and puts everything back afterwards, as
pytest's own ``runpytest_inprocess`` does. What only a new process can show (signals, exit
handlers, variables an interpreter reads as it starts: ``PYTHONPATH``, BLAS threads) needs one.
"""
import contextlib
import io
import logging
import os
import subprocess
import sys
import traceback
import warnings

# Read once, when an interpreter or numpy starts: a command run in this process cannot be given them.
AT_START = ("PYTHONPATH", "PYTHONHOME", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# A new interpreter's warning filters (no -W option, code not in __main__): Python's documented defaults.
DEFAULT_FILTERS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def run_command(args, cwd, env=None):
    """``nnplug ARGS`` run in this process from the folder ``cwd``.

    Inputs:
    - args: the command's arguments (overrides, or a subcommand and its arguments);
    - cwd: the folder it runs in (where ``outputs/`` goes);
    - env: the environment it sees: this process's, with these variables set (None unsets one).

    Returns a ``subprocess.CompletedProcess`` with the exit status and what the command wrote to
    stdout and stderr; an exception nothing caught ends it as an interpreter would, its traceback
    on stderr and status 1. ValueError for a variable of ``AT_START`` in ``env`` or a launcher with
    worker processes (they would outlive the command in this process).
    """
    late = sorted(set(env or ()) & set(AT_START))
    if late:
        raise ValueError(f"{', '.join(late)} take effect when a process starts: run the command as a new process")
    if any(arg.startswith("hydra/launcher=") and arg != "hydra/launcher=basic" for arg in args):
        raise ValueError("a launcher's worker processes would outlive the command in this process: "
                         "run the command as a new process")
    stdout, stderr = io.StringIO(), io.StringIO()
    with fresh_process(cwd, env), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        from nnplug.app.cli import main

        try:
            status = main(list(args))
        except SystemExit as end:
            status = end.code if isinstance(end.code, int) else int(end.code is not None)
            if end.code is not None and not isinstance(end.code, int):
                print(end.code, file=sys.stderr)
        except Exception:  # noqa: BLE001  what an interpreter prints before it exits 1
            traceback.print_exc()
            status = 1
    return subprocess.CompletedProcess(["nnplug", *args], status, stdout.getvalue(), stderr.getvalue())


@contextlib.contextmanager
def fresh_process(cwd, env=None):
    """This process as a new ``nnplug`` process started in ``cwd`` would be, for the block: environment,
    folder, ``sys.argv``, warning filters, logging, Hydra's global state and the plugin registry."""
    from hydra.core.global_hydra import GlobalHydra

    from nnplug.contract import registry

    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), list(sys.argv)
    loggers = _logging_state()
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for category in DEFAULT_FILTERS:
            warnings.simplefilter("ignore", category)
        warnings.showwarning = _show_warning  # on stderr, as an interpreter shows them
        os.environ.update({name: value for name, value in (env or {}).items() if value is not None})
        for name in [name for name, value in (env or {}).items() if value is None]:
            os.environ.pop(name, None)
        os.chdir(cwd)
        sys.argv = ["nnplug"]
        GlobalHydra.instance().clear()
        registry.reset()  # the environment may leave plugins out (NNPLUG_BLOCK); an install may have changed
        try:
            yield
        finally:
            GlobalHydra.instance().clear()
            registry.reset()
            _restore_logging(loggers)
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
            sys.argv = saved_argv


def _logging_state():
    every = [logging.getLogger(), *(logger for logger in logging.root.manager.loggerDict.values()
                                    if isinstance(logger, logging.Logger))]
    return {logger: (logger.level, logger.disabled, list(logger.handlers), logger.propagate) for logger in every}


def _restore_logging(saved):
    """Put every logger back as it was; close the handlers the command added (Hydra's log file, its
    stream handler)."""
    for logger in [logging.getLogger(), *logging.root.manager.loggerDict.values()]:
        if not isinstance(logger, logging.Logger):
            continue
        level, disabled, handlers, propagate = saved.get(logger, (logging.NOTSET, False, [], True))
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.level, logger.disabled, logger.handlers[:], logger.propagate = level, disabled, handlers, propagate


def _show_warning(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
