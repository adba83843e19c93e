"""Run the nnplug app as users do, in a subprocess, and read back what it logged to MLflow."""
import os
import subprocess
import sys
from pathlib import Path

# Small, fast runs: digits and a couple of epochs are enough to check what is logged.
QUICK = ["solver.num_epochs=2", "solver.verbose=false"]


def run_nnplug(cwd, *overrides, env=None, timeout=300, python=sys.executable):
    """``python -m nnplug OVERRIDES`` in ``cwd``; the completed process, output as text."""
    return subprocess.run([python, "-m", "nnplug", *overrides], cwd=cwd, env=_environment(env),
                          capture_output=True, text=True, timeout=timeout)


def start_nnplug(cwd, *overrides, own_group=False):
    """``python -m nnplug OVERRIDES`` started in ``cwd``, to be signalled or waited for; output as text.

    ``own_group``: in a process group of its own, which ``os.killpg`` signals as a terminal's Ctrl-C does.
    """
    return subprocess.Popen([sys.executable, "-m", "nnplug", *overrides], cwd=cwd, env=_environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=own_group)


def _environment(env=None):
    # The caller's tracking server or Hydra error mode must not leak into a test.
    environment = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "HYDRA_FULL_ERROR")}
    environment.update({"OPENBLAS_NUM_THREADS": "1", **(env or {})})
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
