"""A trained model as an MLflow Model in a real SQLite store: logged, loaded by mlflow.pyfunc, registered,
found again by every URI form, and refused in one line when it cannot be found."""
from pathlib import Path

import numpy as np
import pytest
from model_files import assert_no_pickle

from nnplug import Network, Solver
from nnplug.core.trained_model import TrainedModel, predict_classes
from nnplug.data import load, load_raw
from nnplug.tracking import models, runs
from nnplug.tracking import store as stores
from nnplug.tracking.models import ModelNotFound


@pytest.fixture(scope="module")
def store(tmp_path_factory, new_store):
    return new_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def logged(store):
    """A batch-norm net trained briefly, logged as the model of a finished run: (client, run id, its test predictions)."""
    data = load("digits")
    model = Network([32, 32], input_dim=data["preprocessing"].sample_shape, num_classes=10,
                    block=["affine", "batchnorm", "relu"], init="he", dtype=np.float32, seed=0)
    Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3}, num_epochs=2, batch_size=50,
           seed=0, verbose=False).train()
    client, experiment_id = stores.open_experiment(store, "models")
    run_id = runs.create_run(client, experiment_id, "digits:affine-batchnorm-relu:adam")
    trained = TrainedModel.from_network(model, data["preprocessing"], data["class_names"])
    models.log_model(client, experiment_id, run_id, trained, data["raw_examples"], step=2)
    runs.end_run(client, run_id)
    return client, run_id, predict_classes(model, data["X_test"])


@pytest.fixture
def tracking_uri(store, monkeypatch):
    """mlflow.pyfunc.load_model finds runs:/ URIs in the process-wide store, as MLflow users set it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    return store


def test_mlflow_pyfunc_predicts_the_runs_own_test_classes_from_raw_samples(logged, tracking_uri):
    import mlflow.pyfunc

    _, run_id, expected = logged
    raw = load_raw("digits")["X_test"]

    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")

    assert np.array_equal(model.predict(raw), expected)
    probabilities = model.predict(raw[:5], params={"output": "probabilities"})
    assert probabilities.shape == (5, 10) and np.allclose(probabilities.sum(axis=1), 1)
    assert isinstance(model.get_raw_model(), TrainedModel)
    with pytest.raises(Exception, match="output='scores': expected one of classes, probabilities"):
        model.predict(raw[:1], params={"output": "scores"})


def test_the_model_has_a_signature_an_input_example_and_its_requirements(logged, tracking_uri):
    import mlflow.models

    _, run_id, _ = logged
    info = mlflow.models.get_model_info(f"runs:/{run_id}/model")

    assert info.flavors["python_function"]["loader_module"] == "nnplug.tracking.pyfunc_model"
    # any real dtype, shaped or flat: more than one MLflow tensor spec can say, so the model checks it itself
    assert info.signature.inputs is None
    assert info.signature.outputs.to_dict() == [{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": (-1,)}}]
    assert info.signature.params.to_dict() == [{"name": "output", "type": "string", "default": "classes",
                                                 "shape": None},
                                                {"name": "tta", "type": "string", "default": "none", "shape": None}]
    assert info.saved_input_example_info["type"] == "ndarray"
    assert info.run_id == run_id
    assert info.metadata["input"] == "(1, 8, 8), (8, 8) or (64,) samples of finite real numbers"


def test_every_file_of_the_model_opens_and_none_is_a_pickle(logged, store, tmp_path):
    _, run_id, _ = logged
    folder = models.download(f"runs:/{run_id}/model", store, destination=tmp_path)
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}

    assert files >= {
        "MLmodel", "requirements.txt", "input_example.json", "data/nnplug/model.json", "data/nnplug/params.npz",
        "data/nnplug/layer_state.npz", "data/nnplug/preprocessing.npz"}
    assert_no_pickle(folder)
    assert "nnplug==" in (folder / "requirements.txt").read_text()


def test_registered_versions_are_found_by_number_alias_and_id(logged, store):
    client, run_id, expected = logged
    version = models.register(client, "digits-bn", run_id)
    client.set_registered_model_alias("digits-bn", "champion", version.version)
    raw = load_raw("digits")["X_test"]

    assert client.get_model_version("digits-bn", version.version).run_id == run_id
    for uri in (f"models:/digits-bn/{version.version}", "models:/digits-bn@champion", f"runs:/{run_id}/model"):
        found = models.open_model(uri, store)
        assert found.run_id == run_id and found.model_id == client.get_run(run_id).data.tags["nnplug.model_id"]
        assert np.array_equal(found.trained.predict(raw), expected), uri
    assert np.array_equal(predict_classes(models.load_model(f"models:/{found.model_id}", store),
                                          load("digits")["X_test"]), expected)


def test_a_local_model_folder_loads_as_well(logged, store, tmp_path):
    _, run_id, expected = logged
    folder = models.download(f"runs:/{run_id}/model", store, destination=tmp_path)

    for local in (folder, folder / "data" / "nnplug"):
        assert np.array_equal(models.open_model(str(local)).trained.predict(load_raw("digits")["X_test"]), expected)


@pytest.mark.parametrize("uri, expected", [
    ("runs:/0123456789abcdef0123456789abcdef/model", "Run with id=0123456789abcdef0123456789abcdef not found"),
    ("models:/no-such-model/1", "Registered Model with name=no-such-model not found"),
    ("models:/digits-bn", "not a model URI nnplug reads"),
    ("runs:/abc", "a runs:/ URI names a run and a path"),
    ("no/such/folder", "no/such/folder: no such folder, and not a model URI"),
])
def test_a_uri_that_finds_nothing_says_so_in_one_line(logged, store, uri, expected):
    with pytest.raises(ModelNotFound) as error:
        models.open_model(uri, store)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_a_store_that_does_not_exist_is_not_created_by_looking(tmp_path):
    missing = tmp_path / "nowhere" / "mlflow.db"

    with pytest.raises(ModelNotFound, match="there is no MLflow store at"):
        models.open_model("models:/digits/1", f"sqlite:///{missing}")
    assert not missing.parent.exists() and list(Path.cwd().glob("mlflow.db")) == []


def point_data_at(folder, target):
    """Rewrite ``folder``'s MLmodel so that its python_function data is ``target``."""
    mlmodel = folder / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("data: data/nnplug", f"data: {target}"))


@pytest.mark.parametrize("target", ["../../other/artifacts/data/nnplug", "{other}/data/nnplug",
                                    "data/../../../other/artifacts/data/nnplug"], ids=["relative", "absolute", "inner"])
def test_a_model_folder_whose_mlmodel_points_elsewhere_is_refused(logged, store, tmp_path, target):
    import mlflow.pyfunc

    _, run_id, _ = logged
    folder = models.download(f"runs:/{run_id}/model", store, destination=tmp_path / "model")
    other = models.download(f"runs:/{run_id}/model", store, destination=tmp_path / "other")
    target = target.format(other=other)
    point_data_at(folder, target)
    assert (folder / target).resolve() == (other / "data" / "nnplug").resolve()  # another model's files

    with pytest.raises(ModelNotFound, match="outside the model's folder; expected data/nnplug"):
        models.load_model(str(folder))
    if not target.startswith("/"):  # MLflow joins an absolute path before the loader module sees it
        with pytest.raises(Exception, match="an nnplug model's data is its folder's data/nnplug"):
            mlflow.pyfunc.load_model(str(folder))


def test_an_mlmodel_with_a_python_tag_is_refused_in_one_line_without_running_it(logged, store, tmp_path):
    _, run_id, _ = logged
    folder = models.download(f"runs:/{run_id}/model", store, destination=tmp_path)
    marker = tmp_path / "ran"
    mlmodel = folder / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace(f"run_id: {run_id}",
                                                   f"run_id: !!python/object/apply:os.system ['touch {marker}']"))

    with pytest.raises(ModelNotFound) as error:
        models.open_model(str(folder))
    assert "its MLmodel file is not an MLflow model description (could not determine a constructor" in str(error.value)
    assert "\n" not in str(error.value) and not marker.exists()
