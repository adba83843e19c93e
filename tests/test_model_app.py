"""Each run's model and diagnostics, as users get them: ``nnplug`` in a folder of its own, then
``mlflow.pyfunc``, ``nnplug evaluate`` and ``nnplug predict`` on what it logged (a real SQLite store)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from app_runner import QUICK, check, default_store, run_nnplug, run_process, runs
from model_files import assert_no_pickle

from nnplug.data import load_raw
from nnplug.tracking import models

pytestmark = pytest.mark.slow  # every case runs the command

DISTS = Path(__file__).parent / "plugin_dists"


def only_run(folder):
    client, (run,) = runs(default_store(folder))
    return client, run


def run_test_predictions(client, run, folder):
    """The run's own predicted classes of its test split (its test_predictions.npz artifact)."""
    path = client.download_artifacts(run.info.run_id, "test_predictions.npz", str(folder))
    with np.load(path, allow_pickle=False) as saved:
        return saved["y_pred"], saved["y_true"]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, new_store):
    """``nnplug`` as it comes: its folder, client and run."""
    folder = tmp_path_factory.mktemp("default")
    new_store(folder / "outputs")
    process = check(run_nnplug(folder, "solver.verbose=false"))
    return (folder, *only_run(folder), process)


def assert_pyfunc_reproduces_the_test_predictions(folder, client, run, monkeypatch):
    import mlflow.pyfunc

    y_pred, y_true = run_test_predictions(client, run, folder / "download")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", default_store(folder))  # where MLflow users name their store

    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    raw = load_raw("digits")  # the data set's own uint8 pixels, before any preparation

    assert np.array_equal(model.predict(raw["X_test"]), y_pred)
    assert np.array_equal(y_true, raw["y_test"])
    assert np.mean(y_pred == y_true) == run.data.metrics["test_acc"]


def test_mlflow_pyfunc_reproduces_the_default_runs_test_predictions_from_raw_inputs(default_run, monkeypatch):
    folder, client, run, _ = default_run
    assert_pyfunc_reproduces_the_test_predictions(folder, client, run, monkeypatch)


def test_mlflow_pyfunc_reproduces_a_batch_norm_runs_test_predictions_from_raw_inputs(workdir, monkeypatch):
    check(run_nnplug(workdir, "layer=bn", "solver.verbose=false"))
    assert_pyfunc_reproduces_the_test_predictions(workdir, *only_run(workdir), monkeypatch)


def test_the_runs_model_artifact_holds_no_pickle(default_run, tmp_path):
    folder, client, run, _ = default_run
    model_id = run.data.tags["nnplug.model_id"]

    files = assert_no_pickle(models.download(f"runs:/{run.info.run_id}/model", default_store(folder), tmp_path))

    assert {"MLmodel", "data/nnplug/params.npz", "data/nnplug/layer_state.npz"} <= set(files)
    assert client.get_logged_model(model_id).source_run_id == run.info.run_id
    assert [output.model_id for output in client.get_run(run.info.run_id).outputs.model_outputs] == [model_id]


def test_a_run_logs_diagnostics_per_layer_and_epoch_and_their_picture(default_run):
    _, client, run, process = default_run
    epochs = int(run.data.params["solver.num_epochs"])

    for layer in ("W1", "W2", "W3"):
        for metric in ("update_ratio", "grad_norm", "activation_mean", "activation_std"):
            history = client.get_metric_history(run.info.run_id, f"watch.{layer}.{metric}")
            assert sorted(m.step for m in history) == list(range(epochs + 1)), (layer, metric)
    assert "watch.W1.dead_fraction" in run.data.metrics and "watch.W3.dead_fraction" not in run.data.metrics
    assert {"diagnostics.png", "test_predictions.npz"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "update/weight ratio" not in process.stdout + process.stderr  # the defaults are sound


def test_a_learning_rate_a_hundred_times_too_high_gets_one_warning_naming_the_layer(workdir):
    process = check(run_nnplug(workdir, "optim.learning_rate=1.0", *QUICK))  # the default's 0.01 x 100

    warnings = [line for line in (process.stdout + process.stderr).splitlines() if "update/weight ratio" in line]
    assert len(warnings) == 1, process.stdout + process.stderr
    assert "[WARNING]" in warnings[0] and "above 0.1 at epoch 0: W3 " in warnings[0]


def test_diagnostics_turn_off(workdir):
    check(run_nnplug(workdir, "tracking.diagnostics=false", *QUICK))
    client, run = only_run(workdir)

    assert not any(key.startswith("watch.") for key in run.data.metrics)
    assert "diagnostics.png" not in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_a_sweep_registers_its_best_childs_model_and_evaluate_reproduces_its_test_accuracy(workdir):
    check(run_nnplug(workdir, "-m", "optim=sgd,adam", "tracking.register=digits-best", *QUICK))
    client, found = runs(default_store(workdir))
    parent = next(r for r in found if r.data.tags.get("nnplug.sweep") == "parent")
    children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    best = max(children, key=lambda r: r.data.metrics["best_val_acc"])

    [version] = client.search_model_versions("name = 'digits-best'")
    assert str(version.version) == "1" and version.run_id == best.info.run_id
    assert parent.data.tags["nnplug.best_child_run_id"] == best.info.run_id
    assert (parent.data.tags["nnplug.registered_model"], parent.data.tags["nnplug.registered_version"]) == (
        "digits-best", "1")
    assert not any("nnplug.registered_model" in child.data.tags for child in children)  # only the sweep registers

    evaluated = check(run_nnplug(workdir, "evaluate", "models:/digits-best/1", "data=digits", "--log"))
    assert f"test accuracy {best.data.metrics['test_acc']:.4f} " in evaluated.stdout
    _, after = runs(default_store(workdir))
    [evaluation] = [r for r in after if "nnplug.evaluation" in r.data.tags]
    assert evaluation.data.metrics["test_acc"] == best.data.metrics["test_acc"]
    assert evaluation.data.tags["nnplug.evaluated_run_id"] == best.info.run_id
    outputs = Path(evaluated.stdout.split("Outputs: ")[1].strip())
    assert {p.name for p in (workdir / outputs).iterdir()} == {"confusion_matrix.png", "confusion.csv",
                                                                "predictions.npz", "evaluation.json"}


def test_evaluate_defaults_to_the_data_set_the_models_run_trained_on(workdir):
    # generated with a seed of its own: neither the config's default data set (digits) nor mnist1d's default seed
    check(run_nnplug(workdir, "data=mnist1d", "data.seed=7", "tracking.register=waves", *QUICK))
    _, run = only_run(workdir)

    for uri in (f"runs:/{run.info.run_id}/model", "models:/waves/1"):
        evaluated = check(run_nnplug(workdir, "evaluate", uri, "--log"))
        assert evaluated.stdout.startswith(f"test accuracy {run.data.metrics['test_acc']:.4f} (")
        assert evaluated.stdout.split("\n")[0].endswith(f"of {uri} on mnist1d")
    _, after = runs(default_store(workdir))
    evaluations = [r for r in after if "nnplug.evaluation" in r.data.tags]
    assert [r.data.params["data.seed"] for r in evaluations] == ["7", "7"]


def test_predict_writes_the_models_classes_for_the_raw_samples_of_a_file(default_run, tmp_path):
    folder, client, run, _ = default_run
    y_pred, _ = run_test_predictions(client, run, tmp_path)
    np.savez(tmp_path / "samples.npz", X=load_raw("digits")["X_test"])
    output = tmp_path / "out.npz"

    done = check(run_nnplug(folder, "predict", f"runs:/{run.info.run_id}/model", str(tmp_path / "samples.npz"),
                            "-o", str(output), "--probabilities"))

    with np.load(output, allow_pickle=False) as written:
        assert np.array_equal(written["predictions"], y_pred)
        assert written["class_names"].tolist() == [str(d) for d in range(10)]
        assert written["probabilities"].shape == (250, 10)
    assert f"250 predictions by runs:/{run.info.run_id}/model written to {output}" in done.stdout


def test_a_model_whose_plugin_distribution_is_not_installed_names_it(workdir):
    plugins = workdir / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(plugins), str(DISTS / "nnplug_testplugin")], check=True, capture_output=True)
    check(run_process(workdir, "layer.block=[affine,relu,cube]", "model.hidden_dims=[32]", *QUICK,
                      env={"PYTHONPATH": str(plugins)}))
    _, run = only_run(workdir)

    done = run_nnplug(workdir, "evaluate", f"runs:/{run.info.run_id}/model")  # the plugin's folder not on the path

    assert done.returncode == 1 and done.stderr.strip() == (
        "nnplug: error: the model needs the layer 'cube', which is not installed; it came from the distribution "
        "nnplug-testplugin 0.3.0: pip install 'nnplug-testplugin==0.3.0'")


def test_a_run_starts_from_a_logged_model(default_run, tmp_path):
    folder, client, source, _ = default_run
    uri = f"runs:/{source.info.run_id}/model"

    check(run_nnplug(folder, f"model.init_from={uri}", "solver.num_epochs=1", "solver.verbose=false"))
    _, found = runs(default_store(folder))
    [run] = [r for r in found if r.data.tags.get("nnplug.init_from") == uri]

    first_loss = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "loss")}[0]
    assert first_loss < 0.5  # a fresh net starts near log(10) = 2.3
    assert run.data.tags["nnplug.init_from_run_id"] == source.info.run_id
    assert {m.step: m.value for m in client.get_metric_history(run.info.run_id, "val_acc")}[0] > 0.9


def test_fine_tuning_on_other_classes_gets_a_new_output_layer(default_run, tmp_path):
    folder, _, source, _ = default_run
    raw = load_raw("digits")
    train, test = raw["y_train"] < 5, raw["y_test"] < 5
    np.savez(tmp_path / "five.npz", X_train=raw["X_train"][train], y_train=raw["y_train"][train],
             X_test=raw["X_test"][test], y_test=raw["y_test"][test])

    done = check(run_nnplug(tmp_path, "data=npz", f"data.path={tmp_path / 'five.npz'}", *QUICK,
                            f"model.init_from=runs:/{source.info.run_id}/model",
                            f"tracking.uri={default_store(folder)}"))

    assert "a new output layer (W3, b3) for 5 classes, the model had 10" in done.stdout + done.stderr
    _, found = runs(default_store(folder))
    [run] = [r for r in found if r.data.params.get("data.name") == "npz"]
    assert run.data.metrics["test_acc"] > 0.9


def test_a_logged_model_of_another_architecture_is_refused_before_any_run(default_run):
    folder, _, source, _ = default_run
    _, before = runs(default_store(folder))
    folders = set((folder / "outputs" / "runs").glob("*/*"))

    done = run_nnplug(folder, "layer=bn", f"model.init_from=runs:/{source.info.run_id}/model", *QUICK)

    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"nnplug: error: model.init_from=runs:/{source.info.run_id}/model: its layers are affine 100 - relu - "
        f"affine 100 - relu - affine 10, this run builds affine 100 - batchnorm 100 - relu - affine 100 - "
        f"batchnorm 100 - relu - affine 10: expected the same")
    _, after = runs(default_store(folder))
    assert len(after) == len(before) and set((folder / "outputs" / "runs").glob("*/*")) == folders
