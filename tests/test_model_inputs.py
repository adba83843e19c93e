"""What a logged model takes, as users bring it: scikit-learn's digits as floats, flat or shaped, a
Keras MNIST array without a channel axis; through ``nnplug predict``, ``mlflow.pyfunc`` and the data
set path alike. NaN, infinities and booleans are refused in one line."""
import numpy as np
import pytest
from app_runner import QUICK, check, default_store, run_nnplug, runs
from sklearn.datasets import load_digits

from nnplug.data import load_raw

pytestmark = pytest.mark.slow  # every case runs the command

KERAS_SHAPE = (12, 12)  # a small grey image without a channel axis, as keras.datasets.mnist gives (N, 28, 28)


def keras_like_npz(path, n_train=300, n_test=40):
    """An npz with Keras's lower-case keys and (N, H, W) uint8 images whose class is their brightest quarter."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, (n_train + n_test, *KERAS_SHAPE), dtype=np.uint8)
    y = rng.integers(0, 4, n_train + n_test)
    for quarter in range(4):
        rows, cols = divmod(quarter, 2)
        x[y == quarter, rows * 6:rows * 6 + 6, cols * 6:cols * 6 + 6] += 150
    np.savez(path, x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:], y_test=y[n_train:])
    return x[n_train:], y[n_train:]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, new_store):
    """The default MLP on digits: (folder, its model's URI, the model's classes of the raw test split)."""
    folder = tmp_path_factory.mktemp("digits")
    new_store(folder / "outputs")
    check(run_nnplug(folder, *QUICK))
    client, (run,) = runs(default_store(folder))
    with np.load(client.download_artifacts(run.info.run_id, "test_predictions.npz", str(folder))) as saved:
        return folder, f"runs:/{run.info.run_id}/model", saved["y_pred"]


@pytest.fixture(scope="module")
def conv_run(tmp_path_factory, new_store):
    """A conv net trained through the command on a Keras-shaped npz: (folder, model URI, test images, labels)."""
    folder = tmp_path_factory.mktemp("keras")
    new_store(folder / "outputs")
    x_test, y_test = keras_like_npz(folder / "mnist.npz")
    check(run_nnplug(folder, "data=npz", f"data.path={folder / 'mnist.npz'}", "model=cnn", "model.width=4",
                     "model.hidden=16", "solver.num_epochs=3", "solver.verbose=false"))
    _, (run,) = runs(default_store(folder))
    return folder, f"runs:/{run.info.run_id}/model", x_test, y_test, run


def predict(folder, uri, samples, name="samples.npy"):
    """``nnplug predict URI FILE`` on ``samples``; (the finished command, the predictions or None)."""
    path = folder / name
    np.save(path, samples)
    output = folder / f"{path.stem}_predictions.npz"
    output.unlink(missing_ok=True)
    done = run_nnplug(folder, "predict", uri, str(path))
    if not output.exists():
        return done, None
    with np.load(output) as written:
        return done, written["predictions"]


def sklearn_forms():
    """nnplug's digits test split (the last 250 after its seeded shuffle) as scikit-learn gives it, in every
    form users hand it in."""
    digits = load_digits()
    test = np.random.default_rng(0).permutation(len(digits.target))[-250:]
    images, flat = digits.images[test], digits.data[test]
    return {"float64 (N, 8, 8)": images, "float64 (N, 64)": flat, "float32 (N, 8, 8)": images.astype(np.float32),
            "float64 (N, 1, 8, 8)": images[:, None], "int64 (N, 64)": flat.astype(np.int64)}


def test_the_digits_model_takes_sklearns_digits_in_any_real_dtype_shaped_or_flat(digits_run, monkeypatch):
    import mlflow.pyfunc

    folder, uri, y_pred = digits_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", default_store(folder))
    model = mlflow.pyfunc.load_model(uri)
    assert np.array_equal(sklearn_forms()["float64 (N, 1, 8, 8)"], load_raw("digits")["X_test"])  # the same samples

    for form, samples in sklearn_forms().items():
        assert np.array_equal(model.predict(samples), y_pred), form
        done, predicted = predict(folder, uri, samples)
        assert done.returncode == 0, (form, done.stderr)
        assert np.array_equal(predicted, y_pred), form


def test_the_signature_declares_no_tensor_mlflow_would_refuse_and_the_metadata_says_what_it_takes(digits_run,
                                                                                                    monkeypatch):
    import mlflow.models

    folder, uri, _ = digits_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", default_store(folder))
    info = mlflow.models.get_model_info(uri)

    assert info.signature.inputs is None
    assert info.signature.outputs.to_dict() == [{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": (-1,)}}]
    assert info.metadata["input"] == "(1, 8, 8), (8, 8) or (64,) samples of finite real numbers"


@pytest.mark.parametrize("samples, expected", [
    (np.full((2, 8, 8), np.nan), "samples holding NaN or infinite values, not the model's (1, 8, 8), (8, 8) or "
                                 "(64,) samples of finite real numbers"),
    (np.full((2, 64), np.inf), "samples holding NaN or infinite values"),
    (np.ones((2, 1, 8, 8), bool), "samples of dtype bool, not the model's (1, 8, 8), (8, 8) or (64,) samples"),
    (np.zeros((2, 7, 7)), "samples of shape (7, 7) (float64), not the model's (1, 8, 8), (8, 8) or (64,) samples"),
], ids=["nan", "inf", "bool", "shape"])
def test_predict_refuses_nan_inf_and_bool_samples_in_one_line_and_writes_nothing(digits_run, monkeypatch, samples,
                                                                                 expected):
    import mlflow.pyfunc

    folder, uri, _ = digits_run
    done, predicted = predict(folder, uri, samples, name="bad.npy")

    assert done.returncode == 1 and predicted is None
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"nnplug: error: {folder / 'bad.npy'}: the array holds ") and expected in line, line
    monkeypatch.setenv("MLFLOW_TRACKING_URI", default_store(folder))
    with pytest.raises(Exception, match=expected.replace("(", r"\(").replace(")", r"\)")):
        mlflow.pyfunc.load_model(uri).predict(samples)


def test_a_conv_net_trains_on_grey_images_without_a_channel_axis_and_takes_them_with_or_without_one(conv_run):
    folder, uri, x_test, y_test, run = conv_run
    assert run.info.status == "FINISHED" and run.data.metrics["test_acc"] > 0.5  # it learned the quarters

    _, without = predict(folder, uri, x_test)
    done, with_axis = predict(folder, uri, x_test[:, None].astype(np.float64), name="with_axis.npy")
    flat, refused = predict(folder, uri, x_test.reshape(len(x_test), -1), name="flat.npy")

    assert np.mean(without == y_test) == run.data.metrics["test_acc"]
    assert done.returncode == 0 and np.array_equal(with_axis, without)
    assert refused is None and "samples of shape (144,) (uint8), not the model's (12, 12) or (1, 12, 12)" in flat.stderr


def test_evaluate_takes_a_data_set_of_images_with_a_channel_axis_for_a_model_trained_without(conv_run):
    folder, uri, x_test, y_test, run = conv_run
    np.savez(folder / "with_axis.npz", X_train=x_test[:, None], y_train=y_test, X_test=x_test[:, None], y_test=y_test)

    done = check(run_nnplug(folder, "evaluate", uri, "data=npz", f"data.path={folder / 'with_axis.npz'}",
                            "-o", str(folder / "evaluation")))

    assert f"test accuracy {run.data.metrics['test_acc']:.4f} " in done.stdout
