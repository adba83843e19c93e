"""Run the nnplug command as users do and read back what it logged to MLflow.

``run_nnplug`` runs the command in the test's own process as a new process would
(``nnplug.testing.command``): most tests are about what the command does, and a new interpreter
importing Hydra, MLflow and matplotlib costs seconds each time. ``run_process`` and
``start_nnplug`` start a real process, for the tests where the process is the point: signals,
kill -9, the console script, output to a pipe or a full device, an interpreter that cannot import
a package or is given BLAS threads, launchers with worker processes, processes started together.
"""
import os
import subprocess
import sys
from pathlib import Path

from nnplug.testing.command import run_command

# Small, fast runs: digits and a couple of epochs are enough to check what is logged.
QUICK = ["solver.num_epochs=2", "solver.verbose=false"]
# The caller's tracking server or Hydra error mode must not leak into a test.
UNSET = {"MLFLOW_TRACKING_URI": None, "HYDRA_FULL_ERROR": None}


def run_nnplug(cwd, *overrides, env=None):
    """``nnplug OVERRIDES`` run in this process from the folder ``cwd`` (``nnplug.testing.command``):
    a ``CompletedProcess`` with its exit status and output. ``env`` sets variables (None unsets one)."""
    return run_command(overrides, cwd, env={**UNSET, **(env or {})})


def run_process(cwd, *overrides, env=None, timeout=300, python=sys.executable):
    """``python -m nnplug OVERRIDES`` as a new process in ``cwd``; the completed process, output as text."""
    return subprocess.run([python, "-m", "nnplug", *overrides], cwd=cwd, env=_environment(env),
                          capture_output=True, text=True, timeout=timeout)


def start_nnplug(cwd, *overrides, own_group=False):
    """``python -m nnplug OVERRIDES`` started in ``cwd``, to be signalled or waited for; output as text.

    ``own_group``: in a process group of its own, which ``os.killpg`` signals as a terminal's Ctrl-C does.
    """
    return subprocess.Popen([sys.executable, "-m", "nnplug", *overrides], cwd=cwd, env=_environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=own_group)


def _environment(env=None):
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **UNSET, **(env or {})}
    return {name: value for name, value in environment.items() if value is not None}  # None: unset


def check(process):
    """The process, after asserting it succeeded (showing its output when it did not)."""
    assert process.returncode == 0, f"exit {process.returncode}\n{process.stdout}\n{process.stderr}"
    return process


def default_store(cwd):
    return f"sqlite:///{Path(cwd).resolve() / 'outputs' / 'mlflow.db'}"


def runs(uri, experiment="nnplug"):
    """Every run of ``experiment`` in the store at ``uri``."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r} in {uri}"
    return client, client.search_runs([found.experiment_id], max_results=1000)
