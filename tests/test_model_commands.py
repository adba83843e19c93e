"""``nnplug evaluate`` and ``nnplug predict`` given what does not fit: one line naming the value and what would
be right, exit status 1, and nothing written (no output folder or file, no MLflow run, no store)."""
import subprocess
import sys

import numpy as np
import pytest
from app_runner import QUICK, check, default_store, run_nnplug, runs

pytestmark = pytest.mark.slow  # every case runs the command


@pytest.fixture(scope="module")
def logged(tmp_path_factory, new_store):
    """A folder whose store holds one quick default run; (folder, its model's URI)."""
    folder = tmp_path_factory.mktemp("logged")
    new_store(folder / "outputs")
    check(run_nnplug(folder, *QUICK))
    _, (run,) = runs(default_store(folder))
    return folder, f"runs:/{run.info.run_id}/model"


def assert_one_line(process, expected):
    assert process.returncode == 1, process.stdout
    assert process.stderr.strip() == f"nnplug: error: {expected}", process.stderr


def snapshot(folder):
    """Every file under ``folder`` with its size: what a refused command must leave as it was."""
    return {p: p.stat().st_size for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("arguments, expected", [
    (["data=mnist1d"], "data=mnist1d: its test split has samples of shape (40,) (float64), not the model's "
                       "(1, 8, 8), (8, 8) or (64,) samples of finite real numbers ({uri})"),
    (["optim=adam"], "optim=adam: nnplug evaluate takes only the data set's overrides (data=NAME, data.KEY=VALUE)"),
    (["data=digitz"], "data=digitz: no such option in group 'data'; did you mean 'digits'? (available: cifar10, "
                      "digits, fashion_mnist, mnist, mnist1d, npz)"),
    (["data.test_size=0"], "data.test_size=0: expected a number >= 1 and <= 1795"),
])
def test_evaluate_refuses_a_data_set_the_model_does_not_fit(logged, arguments, expected):
    folder, uri = logged
    before = snapshot(folder)

    done = run_nnplug(folder, "evaluate", uri, *arguments, "--log")

    assert_one_line(done, expected.format(uri=uri))
    assert snapshot(folder) == before


@pytest.mark.parametrize("uri, expected", [
    ("models:/nothing/1", "models:/nothing/1: Registered Model with name=nothing not found (in {store})"),
    ("runs:/0123456789abcdef0123456789abcdef/model",
     "runs:/0123456789abcdef0123456789abcdef/model: Run with id=0123456789abcdef0123456789abcdef not found "
     "(in {store})"),
    ("models:/nothing", "models:/nothing: not a model URI nnplug reads (expected runs:/<run id>/model, "
                        "models:/<name>/<version>, models:/<name>@<alias>, models:/<model id>, or a local folder)"),
])
def test_a_model_uri_that_finds_nothing_is_one_line(logged, uri, expected):
    folder, _ = logged
    before = snapshot(folder)

    for command in (["evaluate", uri], ["predict", uri, "samples.npz"]):
        np.savez(folder / "samples.npz", X=np.zeros((2, 1, 8, 8), np.uint8))
        before = snapshot(folder)
        assert_one_line(run_nnplug(folder, *command), expected.format(store=default_store(folder)))
        assert snapshot(folder) == before


def test_no_store_is_created_where_none_was(tmp_path):
    done = run_nnplug(tmp_path, "evaluate", "models:/digits/1")

    assert_one_line(done, f"models:/digits/1: there is no MLflow store at {default_store(tmp_path)} (name the store "
                          f"the model was logged to with --tracking-uri or $MLFLOW_TRACKING_URI)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make, expected", [
    (lambda path: np.savez(path, X=np.zeros((3, 7, 7))),
     "{file}: X holds samples of shape (7, 7) (float64), not the model's (1, 8, 8), (8, 8) or (64,) samples of "
     "finite real numbers ({uri})"),
    (lambda path: np.savez(path, images=np.zeros((3, 1, 8, 8)), labels=np.zeros(3)),
     "{file}: no array named X or X_test (it holds images, labels); name one with --key"),
    (lambda path: path.write_text("not numpy"), "{file}: not a .npz or .npy file of numeric arrays (pickles are not read)"),
    (lambda path: None, "{file}: no such file"),
])
def test_predict_refuses_a_file_it_cannot_read_or_the_model_does_not_fit(logged, tmp_path, make, expected):
    folder, uri = logged
    path = tmp_path / "samples.npz"
    make(path)
    before = snapshot(folder), snapshot(tmp_path)

    done = run_nnplug(folder, "predict", uri, str(path))

    assert_one_line(done, expected.format(file=path, uri=uri))
    assert (snapshot(folder), snapshot(tmp_path)) == before


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_help_answers_without_importing_hydra_mlflow_or_numpy(command):
    probe = (f"import sys\nfrom nnplug.app.cli import main\ntry:\n    main(['{command}', '--help'])\n"
             "except SystemExit:\n    pass\nprint(sorted({'hydra', 'mlflow', 'numpy', 'omegaconf'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    assert f"usage: nnplug {command} [-h]" in done.stdout


def tampered_data_path(folder, other):
    mlmodel = folder / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("data: data/nnplug", f"data: {other}/data/nnplug"))
    return "its MLmodel file puts the model's data at"


def tampered_widths(folder, other):
    import json

    description = folder / "data" / "nnplug" / "model.json"
    loaded = json.loads(description.read_text())
    for entry in loaded["architecture"]["layers"]:
        if entry["width"] == 100:
            entry["width"] = 50_000  # W2 alone would be 9.3 GiB of float32
    description.write_text(json.dumps(loaded))
    return "layer 1 'affine' of width 50000: no stored parameter has an axis of that length"


@pytest.mark.parametrize("tamper", [tampered_data_path, tampered_widths])
def test_a_tampered_model_folder_is_one_line(logged, tmp_path, tamper):
    from nnplug.tracking import models

    folder, uri = logged
    model = models.download(uri, default_store(folder), tmp_path / "model")
    other = models.download(uri, default_store(folder), tmp_path / "other")
    expected = tamper(model, other)
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8)))

    done = run_nnplug(tmp_path, "predict", str(model), str(tmp_path / "x.npy"))

    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("nnplug: error: ") and expected in done.stderr
    assert not (tmp_path / "x_predictions.npz").exists()


def test_a_truncated_samples_file_and_an_output_that_is_a_folder_are_one_line(logged, tmp_path):
    folder, uri = logged
    np.savez(tmp_path / "whole.npz", X=np.zeros((3, 1, 8, 8)))
    (tmp_path / "cut.npz").write_bytes((tmp_path / "whole.npz").read_bytes()[:300])
    (tmp_path / "out").mkdir()
    before = snapshot(tmp_path)

    cut = run_nnplug(tmp_path, "predict", uri, "cut.npz", "--tracking-uri", default_store(folder))
    into_folder = run_nnplug(tmp_path, "predict", uri, "whole.npz", "-o", "out", "--tracking-uri",
                             default_store(folder))

    assert_one_line(cut, "cut.npz: not a readable .npz or .npy file (File is not a zip file)")
    assert_one_line(into_folder, "--output out: is a folder; expected the name of the .npz file to write")
    assert snapshot(tmp_path) == before


def test_evaluate_into_a_file_and_a_uri_of_no_store_are_one_line(logged, tmp_path):
    folder, uri = logged
    (tmp_path / "taken").write_text("mine")

    into_file = run_nnplug(folder, "evaluate", uri, "-o", str(tmp_path / "taken"), "--log")
    ftp = run_nnplug(tmp_path, "evaluate", "ftp://host/model")

    assert_one_line(into_file, f"--output {tmp_path / 'taken'}: is a file; expected a folder to write "
                               f"confusion_matrix.png, confusion.csv, predictions.npz, evaluation.json into")
    assert_one_line(ftp, "ftp://host/model: not a model URI nnplug reads (expected runs:/<run id>/model, "
                         "models:/<name>/<version>, models:/<name>@<alias>, models:/<model id>, or a local folder)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no store was looked for, or made
