"""A run killed (kill -9) or stopped by a signal at every moment of its life outside training, then
resumed: it ends as one FINISHED MLflow run with each metric row once, one READY model and no
PENDING one, and the real training time.

Each moment is chosen, not waited for: the run goes in a process of its own whose nnplug has one
function wrapped to kill the process where that function is called (the process is the point).
"""
import json
import signal
import subprocess
import sys
import textwrap
from collections import Counter

import pytest
from app_runner import check, run_nnplug

from nnplug.core import checkpoint
from nnplug.tracking import models

pytestmark = pytest.mark.slow  # a process per moment

OVERRIDES = ["solver.num_epochs=2", "solver.verbose=false"]

# name: (what the killed process wraps, the module and attribute it replaces, the signal)
MOMENTS = {
    "right after the MLflow run is created": ("after", "nnplug.tracking.runs", "create_run", "SIGKILL"),
    "while run.json claims the folder": ("record", 1, None, "SIGKILL"),
    "while run.json records the run": ("record", 2, None, "SIGKILL"),
    "while the artifacts are written": ("before", "nnplug.tracking.listener.MlflowTracker", "log_artifacts", "SIGKILL"),
    "while the model is written": ("before", "mlflow.tracking.MlflowClient", "log_model_artifacts", "SIGKILL"),
    "after the model, before the run ends": ("before", "nnplug.tracking.runs", "end_run", "SIGKILL"),
    "a signal while the artifacts are written": ("before", "nnplug.tracking.listener.MlflowTracker",
                                                 "log_artifacts", "SIGTERM"),
}

SCRIPT = """\
import importlib, os, signal, sys

how, where, name, signum = {moment!r}
signum = getattr(signal, signum)


def stop():
    os.kill(os.getpid(), signum)


if how == "record":  # the n-th write of run.json: its bytes written beside it, then the kill, as a kill mid-write
    from nnplug.core import checkpoint

    original, writes = checkpoint.atomic_write, []

    def atomic_write(path, write):
        if str(path).endswith("run.json"):
            writes.append(path)
            if len(writes) == where:
                with open(os.path.join(os.path.dirname(path), ".run.json.killed.tmp"), "wb") as f:
                    write(f)
                stop()
        return original(path, write)

    checkpoint.atomic_write = atomic_write
else:
    module, _, cls = where.rpartition(".") if where.endswith(("Tracker", "Client")) else (where, "", None)
    owner = getattr(importlib.import_module(module), cls) if cls else importlib.import_module(module)
    original = getattr(owner, name)

    def wrapped(*args, **kwargs):
        if how == "before":
            stop()
        result = original(*args, **kwargs)
        if how == "after":
            stop()
        return result

    setattr(owner, name, wrapped)

from nnplug.app.cli import console

sys.argv = ["nnplug", *sys.argv[1:]]
console()
"""


def killed_at(moment, cwd, overrides):
    """Run ``nnplug OVERRIDES`` in a process of its own that is stopped at ``moment``; the process."""
    script = cwd / "killed_at.py"
    script.write_text(SCRIPT.format(moment=moment))
    return subprocess.run([sys.executable, str(script), *overrides], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS.keys())
def test_a_run_stopped_at_any_moment_resumes_into_one_finished_run(tmp_path, new_store, moment):
    from mlflow import MlflowClient

    store = new_store(tmp_path / "store")
    folder = tmp_path / "run"
    overrides = [*OVERRIDES, f"tracking.uri={store}", f"hydra.run.dir={folder}"]

    stopped = killed_at(moment, tmp_path, overrides)
    expected = -signal.SIGKILL if moment[-1] == "SIGKILL" else 128 + signal.SIGTERM
    assert stopped.returncode == expected, stopped.stderr
    trained = checkpoint.load(checkpoint.path_in(folder / "checkpoint"))["train_seconds"] \
        if checkpoint.exists(folder / "checkpoint") else 0.0

    resumed = check(run_nnplug(tmp_path, *overrides, "solver.resume=true"))

    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("nnplug").experiment_id
    [run] = client.search_runs([experiment], f"tags.`nnplug.output_dir` = '{folder}'")
    assert run.info.status == "FINISHED" and "nnplug.failure" not in run.data.tags, resumed.stderr
    assert json.loads((folder / "checkpoint" / "run.json").read_text())["run_id"] == run.info.run_id
    for key in run.data.metrics:  # each row once: no step stored twice
        steps = Counter(m.step for m in client.get_metric_history(run.info.run_id, key))
        assert max(steps.values()) == 1, (key, steps)
    assert run.data.metrics["train_seconds"] >= trained > 0 or trained == 0.0
    assert run.data.metrics["train_seconds"] > 0.01  # the training's, not a replay of nothing
    logged = client.search_logged_models(experiment_ids=[experiment])
    assert [(m.source_run_id, str(m.status)) for m in logged] == [(run.info.run_id, "READY")]
    assert logged[0].name == models.logged_model_name(run.info.run_name)
    assert {m.key for m in logged[0].metrics} == {"best_val_acc", "test_acc", "train_seconds"}
    found = models.open_model(f"runs:/{run.info.run_id}/model", store)
    assert found.model_id == logged[0].model_id
    assert not list((folder / "checkpoint").glob(".*.tmp"))
