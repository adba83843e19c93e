"""A run logged over HTTP to a real ``mlflow server`` (SQLite backend, temporary folder) and read back."""
import numpy as np
import pytest
from app_runner import QUICK, check, run_nnplug
from servers import tracking_server

pytestmark = pytest.mark.slow  # subprocesses, servers or a browser


def test_a_run_logged_to_a_tracking_server_reads_back_whole(tmp_path):
    from mlflow import MlflowClient

    folder = tmp_path / "server"
    folder.mkdir()
    with tracking_server(f"sqlite:///{folder / 'mlflow.db'}", folder) as url:
        process = check(run_nnplug(tmp_path, f"tracking.uri={url}", "tracking.experiment=served", *QUICK))

        client = MlflowClient(tracking_uri=url)
        experiment = client.get_experiment_by_name("served")
        (run,) = client.search_runs([experiment.experiment_id])
        assert run.info.status == "FINISHED"
        assert run.data.params["tracking.uri"] == url
        assert run.data.params["optim.name"] == "sgd_momentum"
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "val_acc")) == [0, 1, 2]
        assert len(client.get_metric_history(run.info.run_id, "loss")) == len(range(0, 2 * (1297 // 50), 10))
        downloaded = client.download_artifacts(run.info.run_id, "best_params.npz", str(tmp_path / "download"))
        with np.load(downloaded, allow_pickle=False) as best:
            assert best["W1"].shape == (64, 100)
        assert f"Open the UI: {url}/#/experiments/{experiment.experiment_id}/runs/{run.info.run_id}" in process.stdout

    assert not (tmp_path / "outputs" / "mlflow.db").exists()  # nothing went to the local store
