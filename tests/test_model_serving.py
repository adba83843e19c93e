"""A run's model behind real servers: ``mlflow models serve`` answering ``/invocations``, and the Model
Registry of an ``mlflow server`` that runs log to, register in and are evaluated from."""
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from app_runner import QUICK, check, default_store, run_nnplug, runs
from servers import mlflow_server, tracking_server

from nnplug.data import load_raw

pytestmark = pytest.mark.slow  # servers and subprocesses


def post(url, payload):
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.fixture
def serving_path(tmp_path, monkeypatch):
    """``mlflow models serve`` execs ``uvicorn`` from PATH: it must be this interpreter's, which has nnplug."""
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "uvicorn").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m uvicorn "$@"\n')
    (shims / "uvicorn").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_request():
    """The request the README sends a served model, and the answer it says comes back."""
    text = README.read_text()
    request = text[text.index("/invocations -d '") + len("/invocations -d '"):]
    request, answer = request.split("'", 1)
    return json.loads(request), json.loads(answer.split("# -> ", 1)[1].splitlines()[0])


def test_mlflow_models_serve_answers_invocations_with_the_runs_predictions(workdir, monkeypatch, serving_path):
    check(run_nnplug(workdir, *QUICK))
    client, (run,) = runs(default_store(workdir))
    with np.load(client.download_artifacts(run.info.run_id, "test_predictions.npz", str(workdir))) as saved:
        y_pred = saved["y_pred"]
    raw = load_raw("digits")["X_test"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", default_store(workdir))

    with mlflow_server(["mlflow", "models", "serve", "-m", f"runs:/{run.info.run_id}/model",
                        "--env-manager", "local"], workdir) as url:
        classes = post(f"{url}/invocations", {"inputs": raw.tolist()})
        probabilities = post(f"{url}/invocations", {"inputs": raw[:3].tolist(), "params": {"output": "probabilities"}})
        # the same digits as scikit-learn's floats: without the channel axis, and flat
        images = post(f"{url}/invocations", {"inputs": (raw[:, 0] / 1.0).tolist()})
        flat = post(f"{url}/invocations", {"inputs": raw.reshape(len(raw), -1).tolist()})
        with pytest.raises(urllib.error.HTTPError) as refused:
            post(f"{url}/invocations", {"inputs": raw[:2].astype(bool).tolist()})
        message = json.loads(refused.value.read())["message"]
        request, answer = readme_request()
        assert post(f"{url}/invocations", request) == answer  # the README's example, as written

    assert classes["predictions"] == images["predictions"] == flat["predictions"] == y_pred.tolist()
    assert "samples of dtype bool, not the model's (1, 8, 8), (8, 8) or (64,) samples" in message
    assert np.allclose(np.sum(probabilities["predictions"], axis=1), 1)
    assert np.argmax(probabilities["predictions"], axis=1).tolist() == y_pred[:3].tolist()


def test_a_tracking_servers_registry_takes_the_runs_model_and_evaluate_reads_it_back(tmp_path):
    backend = f"sqlite:///{tmp_path / 'server.db'}"
    np.save(tmp_path / "x.npy", load_raw("digits")["X_test"])
    with tracking_server(backend, tmp_path) as url:
        check(run_nnplug(tmp_path, f"tracking.uri={url}", "tracking.register=served", *QUICK))
        client, (run,) = runs(url)
        [version] = client.search_model_versions("name = 'served'")

        evaluated = check(run_nnplug(tmp_path, "evaluate", "models:/served/1", "--tracking-uri", url))
        predicted = check(run_nnplug(tmp_path, "predict", "models:/served/1", "x.npy", "--tracking-uri", url))

    assert version.run_id == run.info.run_id and run.data.tags["nnplug.registered_version"] == "1"
    assert f"test accuracy {run.data.metrics['test_acc']:.4f} " in evaluated.stdout
    assert "250 predictions by models:/served/1 written to x_predictions.npz" in predicted.stdout
    assert not (tmp_path / "outputs" / "mlflow.db").exists()  # everything went to the server
