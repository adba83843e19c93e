"""Scale-out on existing engines, for real: Hydra's submitit launcher (the SLURM code path, in its
local mode) and Hydra's joblib launcher logging into a shared MLflow server backed by PostgreSQL.

Every sweep is ``python -m nnplug -m ...`` as a user types it; every check reads what the tracking
store holds afterwards.
"""
import subprocess
import sys

import pytest

from servers import postgres_bin, postgres_cluster, tracking_server
from system import require_debian_package

pytestmark = pytest.mark.slow  # subprocesses, servers or a browser

TINY = ["solver.num_epochs=2", "solver.verbose=false"]


def sweep(cwd, *overrides):
    result = subprocess.run([sys.executable, "-m", "nnplug", "-m", *overrides, *TINY], cwd=cwd,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def sweep_runs(uri):
    """The sweep's parent run and its children, from the store at ``uri``."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("nnplug")
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [r for r in runs if r.data.tags.get("nnplug.sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == len(children) + 1
    return client, parent, children


def assert_complete(client, parent, children, optimizers):
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["nnplug.children"] == str(len(optimizers))
    assert sorted(r.data.tags["nnplug.optim"] for r in children) == sorted(optimizers)
    for run in children:
        assert run.info.status == "FINISHED"
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "val_acc")) == [0, 1, 2]
        assert {"best_val_acc", "test_acc"} <= set(run.data.metrics)
        assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"curves.png", "best_params.npz"}
    best = max(children, key=lambda r: r.data.metrics["best_val_acc"])
    assert parent.data.tags["nnplug.best_child_run_id"] == best.info.run_id


def test_a_sweep_through_the_submitit_launcher_runs_each_job_as_a_submitit_job(tmp_path):
    sweep(tmp_path, "hydra/launcher=submitit_local", "optim=sgd,adam")
    client, parent, children = sweep_runs(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    assert parent.data.tags["nnplug.launcher"] == "LocalLauncher"  # hydra_plugins.hydra_submitit_launcher
    assert_complete(client, parent, children, ["sgd", "adam"])
    # each job ran inside submitit's job wrapper, which logged it to the job's own folder
    logs = [p.read_text() for p in (tmp_path / "outputs" / "multirun").glob("*/*/.submitit/*/*_log.out")]
    for run in children:
        [log] = [text for text in logs if run.info.run_id in text]
        assert "Job completed successfully" in log


@pytest.fixture(scope="module")
def postgres():
    require_debian_package(postgres_bin("initdb") is not None, "postgresql")
    with postgres_cluster() as database:
        yield database


def test_a_parallel_sweep_logs_every_run_into_a_postgres_backed_server(postgres, tmp_path):
    optimizers = ["sgd", "sgd_momentum", "adam", "rmsprop"]
    with tracking_server(postgres, tmp_path) as url:
        sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"optim={','.join(optimizers)}",
              f"tracking.uri={url}")
        client, parent, children = sweep_runs(url)
        assert parent.data.tags["nnplug.launcher"] == "JoblibLauncher"
        assert_complete(client, parent, children, optimizers)
        artifact = client.download_artifacts(children[0].info.run_id, "curves.png", str(tmp_path))
        assert open(artifact, "rb").read(8) == b"\x89PNG\r\n\x1a\n"  # through the server's artifact proxy
    assert not (tmp_path / "outputs" / "mlflow.db").exists()  # nothing went to a local store

    import psycopg2

    with psycopg2.connect(postgres.replace("+psycopg2", "")) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT name, status FROM runs ORDER BY name")
        rows = cursor.fetchall()
    connection.close()
    assert sorted(name for name, _ in rows) == sorted([parent.info.run_name] + [r.info.run_name for r in children])
    assert {status for _, status in rows} == {"FINISHED"}
