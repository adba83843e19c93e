"""A trained network with its preprocessing, as a folder of JSON and npz files, and warm starts from one.

In process and numpy only: no MLflow here (``test_model_tracking.py`` logs these folders as MLflow models).
"""
import json
import zipfile

import numpy as np
import pytest

from nnplug import Layer, Network, Registry, Solver
from nnplug.contract.registry import default_registry
from nnplug.core.trained_model import MissingPluginError, ModelFileError, TrainedModel, predict_classes
from nnplug.core.warm_start import copy_weights
from nnplug.data import load, load_raw, prepare

BN = ["affine", "batchnorm", "relu"]


def trained(block, epochs=2, dropout=0.0, **data_options):
    data = load("digits", **data_options)
    model = Network([32, 32], input_dim=data["preprocessing"].sample_shape, num_classes=10, block=block,
                    init="he", dtype=np.float32, seed=0, dropout=dropout)
    Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3}, num_epochs=epochs,
           batch_size=50, seed=0, verbose=False).train()
    return model, data


@pytest.mark.parametrize("options", [{}, {"flatten": True}, {"normalize": "mean_image", "dtype": "float64"},
                                     {"normalize": "none"}, {"normalize": "per_feature"}])
def test_the_fitted_preprocessing_turns_raw_samples_into_exactly_the_prepared_ones(options):
    raw = load_raw("digits")
    data = prepare(raw, val_size=250, **options)

    again = data["preprocessing"].apply(raw["X_test"])

    assert again.dtype == data["X_test"].dtype and again.shape == data["X_test"].shape
    assert np.array_equal(again, data["X_test"])  # bit for bit, not approximately


@pytest.mark.parametrize("block, dropout", [(["affine", "relu"], 0.0), (BN, 0.2)])
def test_a_saved_model_predicts_on_raw_samples_exactly_what_the_trained_network_did(tmp_path, block, dropout):
    model, data = trained(block, dropout=dropout)
    expected = predict_classes(model, data["X_test"])
    TrainedModel.from_network(model, data["preprocessing"], data["class_names"]).save(tmp_path)

    back = TrainedModel.load(tmp_path)
    raw = load_raw("digits")["X_test"]

    assert np.array_equal(back.predict(raw), expected)
    assert back.class_names == [str(d) for d in range(10)]
    probabilities = back.probabilities(raw[:7])
    assert probabilities.shape == (7, 10) and np.allclose(probabilities.sum(axis=1), 1)
    assert np.array_equal(probabilities.argmax(axis=1), expected[:7])


def test_batch_norm_running_statistics_and_parameters_come_back(tmp_path):
    model, data = trained(BN)
    TrainedModel.from_network(model, data["preprocessing"], data["class_names"]).save(tmp_path)

    back = TrainedModel.load(tmp_path).network

    bn, bn_back = model.layers[1][0], back.layers[1][0]
    assert np.array_equal(bn_back.bn_param["running_mean"], bn.bn_param["running_mean"])
    assert np.array_equal(bn_back.bn_param["running_var"], bn.bn_param["running_var"])
    assert np.any(bn.bn_param["running_var"] != 0)  # trained: not the initial zeros
    assert all(np.array_equal(back.params[name], w) and back.params[name].dtype == w.dtype
               for name, w in model.params.items())


def test_the_folder_holds_json_and_arrays_only_never_a_pickle(tmp_path):
    model, data = trained(BN, epochs=1)
    TrainedModel.from_network(model, data["preprocessing"], data["class_names"]).save(tmp_path)

    files = sorted(p.name for p in tmp_path.iterdir())
    description = json.loads((tmp_path / "model.json").read_text())

    assert files == ["layer_state.npz", "model.json", "params.npz", "preprocessing.npz"]
    assert description["architecture"] == model.architecture()
    assert {(p["kind"], p["name"], p["distribution"]) for p in description["plugins"]} == {
        ("layers", "affine", "nnplug"), ("layers", "batchnorm", "nnplug"), ("layers", "relu", "nnplug"),
        ("losses", "softmax", "nnplug")}
    for name in files:
        if name.endswith(".npz"):
            with zipfile.ZipFile(tmp_path / name) as archive:
                for member in archive.namelist():
                    with archive.open(member) as f:
                        if member.endswith(".npy"):
                            assert np.lib.format.read_array(f, allow_pickle=False).dtype != object
                        else:
                            assert member == "state.json" and isinstance(json.load(f), dict)


class Cube(Layer):
    name = "cube_by_hand"
    description = "x ** 3, registered by hand"

    def forward(self, x, params, mode):
        return x ** 3, x

    def backward(self, dout, cache):
        return 3 * cache ** 2 * dout, {}


def test_a_model_whose_plugin_is_missing_says_where_it_came_from(tmp_path):
    registry = Registry()
    registry.register(Cube)
    model = Network([16], input_dim=(1, 8, 8), num_classes=10, block=["affine", "cube_by_hand"], registry=registry)
    data = load("digits")
    TrainedModel.from_network(model, data["preprocessing"], data["class_names"], registry).save(tmp_path)

    with pytest.raises(MissingPluginError) as error:
        TrainedModel.load(tmp_path, registry=default_registry())
    assert str(error.value).startswith("the model needs the layer 'cube_by_hand', which is not installed")
    assert TrainedModel.load(tmp_path, registry=registry).network.architecture() == model.architecture()


def test_raw_samples_of_another_shape_are_refused_in_one_line(tmp_path):
    model, data = trained(["affine", "relu"], epochs=1)
    back = TrainedModel.from_network(model, data["preprocessing"], data["class_names"])

    with pytest.raises(ValueError) as error:
        back.predict(np.zeros((3, 63)))
    assert str(error.value) == ("samples of shape (63,) (float64), not the model's (1, 8, 8), (8, 8) or (64,) "
                                "samples of finite real numbers")


def test_a_damaged_or_foreign_folder_is_named(tmp_path):
    model, data = trained(["affine", "relu"], epochs=1)
    TrainedModel.from_network(model, data["preprocessing"], data["class_names"]).save(tmp_path / "model")
    (tmp_path / "model" / "params.npz").write_bytes(b"not a zip")

    with pytest.raises(ModelFileError, match="params.npz: not a readable part of an nnplug model"):
        TrainedModel.load(tmp_path / "model")
    with pytest.raises(ModelFileError, match="not an nnplug model"):
        TrainedModel.load(tmp_path)


@pytest.fixture
def saved(tmp_path):
    """A batch-norm model's folder (the trained model itself is not needed again)."""
    model, data = trained(BN, epochs=1)
    TrainedModel.from_network(model, data["preprocessing"], data["class_names"]).save(tmp_path / "model")
    return tmp_path / "model"


def loading_peak(folder):
    """``(the error TrainedModel.load raised, the peak of memory numpy and Python took meanwhile)``."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as error:
            TrainedModel.load(folder)
        return str(error.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_widths_the_stored_weights_do_not_have_are_refused_before_the_network_is_built(saved):
    description = json.loads((saved / "model.json").read_text())
    description["architecture"]["layers"][0]["width"] = 3000  # a 3000 x 3000 float32 W2 is 36 MB
    description["architecture"]["layers"][3]["width"] = 3000
    (saved / "model.json").write_text(json.dumps(description))

    message, peak = loading_peak(saved)

    assert message.startswith(f"{saved / 'model.json'}: layer 1 'affine' of width 3000: no stored parameter has "
                              f"an axis of that length (they are W1 (64, 32), W2 (32, 32), W3 (32, 10), ")
    assert peak < 4 << 20  # nothing of the size the description asked for was made


def test_a_layer_state_naming_one_member_again_and_again_is_refused(saved):
    path = saved / "layer_state.npz"
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    state = json.loads(members["state.json"])
    state["state"]["layers"] = [{"copy": {"__ndarray__": "layers/1/running_mean"}} for _ in range(2000)]
    members["state.json"] = json.dumps(state).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)

    message, _ = loading_peak(saved)

    assert "layer_state.npz: unreadable or corrupt (ValueError: the state names member 'layers/1/running_mean' " \
           "more than once)" in message


@pytest.mark.parametrize("damage, expected", [
    ("compressed", "member W1.npy is compressed; nnplug writes its archives uncompressed"),
    ("symlink", "leads out of the model's folder"),
])
def test_archives_not_as_nnplug_writes_them_and_files_outside_the_folder_are_refused(saved, tmp_path, damage,
                                                                                     expected):
    path = saved / "params.npz"
    if damage == "compressed":  # a member that could unpack to far more than the file holds
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
    else:  # another model's weights
        path.rename(tmp_path / "elsewhere.npz")
        path.symlink_to(tmp_path / "elsewhere.npz")

    message, _ = loading_peak(saved)

    assert message.startswith(f"{path}: not a readable part of an nnplug model") and expected in message, message


def test_a_warm_start_takes_every_weight_and_the_running_statistics(tmp_path):
    source, data = trained(BN)
    target = Network([32, 32], input_dim=(1, 8, 8), num_classes=10, block=BN, init="he", dtype=np.float32, seed=5)

    copied, fresh = copy_weights(target, source)

    assert fresh == [] and sorted(copied) == sorted(source.params)
    assert np.array_equal(predict_classes(target, data["X_test"]), predict_classes(source, data["X_test"]))


def test_fine_tuning_for_other_classes_keeps_a_new_output_layer():
    source, _ = trained(BN)
    target = Network([32, 32], input_dim=(1, 8, 8), num_classes=4, block=BN, init="he", dtype=np.float32, seed=5)
    initial = {name: w.copy() for name, w in target.params.items()}

    copied, fresh = copy_weights(target, source)

    assert fresh == ["W3", "b3"] and target.params["W3"].shape == (32, 4)
    assert np.array_equal(target.params["W3"], initial["W3"])
    assert all(np.array_equal(target.params[name], source.params[name]) for name in copied)


@pytest.mark.parametrize("other, expected", [
    (dict(hidden_dims=[16, 32]), "only the output layer may differ"),
    (dict(block=["affine", "relu"]), "its layers are affine 32 - batchnorm 32 - relu - affine 32"),
    (dict(input_dim=(64,)), "it takes samples of shape (1, 8, 8), this run's are (64,)"),
])
def test_a_warm_start_from_another_architecture_says_where_they_differ(other, expected):
    source, _ = trained(BN, epochs=1)
    options = dict(hidden_dims=[32, 32], input_dim=(1, 8, 8), num_classes=10, block=BN, dtype=np.float32, seed=1)

    with pytest.raises(ValueError) as error:
        copy_weights(Network(**{**options, **other}), source)
    assert expected in str(error.value)
