"""Scale-out on existing engines: a shared MLflow tracking server whose store is PostgreSQL.

A throwaway PostgreSQL cluster (Debian's packages, on 127.0.0.1) sits behind ``mlflow server``;
several processes log runs into it at once, and every run is read back whole.
"""
import subprocess
import sys

import pytest

from servers import mlflow_server, postgres_cluster

WRITERS = 4
EPOCHS = 5

WRITER = """
import sys
from mlflow import MlflowClient
url, experiment_id, index, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
client = MlflowClient(tracking_uri=url)
run_id = client.create_run(experiment_id, run_name=f"job {index}").info.run_id
client.log_param(run_id, "job", index)
for epoch in range(epochs):
    client.log_metric(run_id, "val_acc", index / 10 + epoch / 100, step=epoch)
client.set_terminated(run_id)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with postgres_cluster() as database:
        with mlflow_server(database, tmp_path_factory.mktemp("artifacts")) as url:
            yield url


def test_parallel_writers_lose_no_run_on_a_postgres_backed_server(server):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=server)
    experiment_id = client.create_experiment("parallel")
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, server, experiment_id, str(i), str(EPOCHS)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(WRITERS)]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err

    runs = client.search_runs([experiment_id], max_results=100)
    assert sorted(run.data.params["job"] for run in runs) == [str(i) for i in range(WRITERS)]
    for run in runs:
        assert run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "val_acc")
        assert sorted(m.step for m in history) == list(range(EPOCHS))
