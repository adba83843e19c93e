"""nnplug's pytest plugin, registered through pytest's ``pytest11`` entry point as ``pytester`` is:
every test suite of a project where nnplug is installed gets the ``nnplug_app`` fixture.

    def test_my_layer_trains(nnplug_app):
        run = nnplug_app.run("layer.block=[affine,my_layer]", "solver.num_epochs=2")
        assert run.status == "FINISHED" and run.metrics["best_val_acc"] > 0.9

Each run is ``nnplug OVERRIDES`` in the test's folder, with its own local MLflow store, run in the
test's own process as a new process would run it (``nnplug.testing.command``: a new interpreter
would spend seconds importing MLflow); the result is read back from that store.
``nnplug_app.run(..., env={"PYTHONPATH": ...})`` and other variables an interpreter reads only as
it starts run it as a new process instead.
"""
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class AppRun:
    """One ``python -m nnplug`` command: its exit status and output, and the MLflow run it logged."""

    returncode: int
    stdout: str
    stderr: str
    run_id: str | None = None
    status: str | None = None
    metrics: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)


class App:
    """Runs the nnplug command in ``folder`` (a test's ``tmp_path``)."""

    def __init__(self, folder):
        self.folder = Path(folder)

    @property
    def store(self):
        return f"sqlite:///{self.folder / 'outputs' / 'mlflow.db'}"

    def run(self, *overrides, check=True, timeout=600, env=None):
        """``nnplug OVERRIDES``; with ``check`` an exit status other than 0 fails the test. ``timeout``
        (seconds) bounds a run in a new process."""
        from nnplug.testing.command import AT_START, run_command

        unset = {"MLFLOW_TRACKING_URI": None, "HYDRA_FULL_ERROR": None}  # the caller's server, Hydra's error mode
        args = ["solver.verbose=false", *overrides]
        if set(env or ()) & set(AT_START) or any(a.startswith("hydra/launcher=") for a in overrides):
            environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **unset, **(env or {})}
            done = subprocess.run([sys.executable, "-m", "nnplug", *args], cwd=self.folder, capture_output=True,
                                  env={k: v for k, v in environment.items() if v is not None}, text=True,
                                  timeout=timeout)
        else:
            done = run_command(args, self.folder, env={**unset, **(env or {})})
        if check and done.returncode != 0:
            pytest.fail(f"nnplug exited with {done.returncode}:\n{done.stderr[-3000:]}")
        run = AppRun(done.returncode, done.stdout, done.stderr)
        newest = self._newest_run()
        if newest is not None:
            run.run_id, run.status = newest.info.run_id, newest.info.status
            run.metrics, run.params, run.tags = dict(newest.data.metrics), dict(newest.data.params), dict(newest.data.tags)
        return run

    def _newest_run(self):
        if not (self.folder / "outputs" / "mlflow.db").exists():
            return None
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.store)
        experiments = [e.experiment_id for e in client.search_experiments()]
        found = client.search_runs(experiments, order_by=["attributes.start_time DESC"], max_results=1)
        return found[0] if found else None


@pytest.fixture
def nnplug_app(tmp_path):
    """An ``App`` whose runs happen in this test's ``tmp_path``."""
    return App(tmp_path)
