"""The app under bad input and divergence: ``python -m nnplug`` stops with one line, leaves no
half-written file and no open MLflow run, and one diverging job does not take a sweep down."""
from pathlib import Path

import numpy as np
import pytest
from app_runner import QUICK, default_store, run_nnplug, runs

pytestmark = pytest.mark.slow

# Files nnplug itself writes into a run folder; Hydra's own (.hydra/, the log) are not nnplug's.
HYDRA_FILES = {".hydra", "nnplug.log"}


class Payload:
    """Unpickling this creates ``marker``: proof that a loader executed code from a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def arrays(**changes):
    rng = np.random.default_rng(0)
    data = {"X_train": rng.standard_normal((60, 8)).astype(np.float32), "y_train": rng.integers(0, 3, 60),
            "X_test": rng.standard_normal((20, 8)).astype(np.float32), "y_test": rng.integers(0, 3, 20)}
    data["y_train"][:3] = [0, 1, 2]
    return {**data, **changes}


def npz_file(folder, **changes):
    path = folder / "data.npz"
    np.savez(path, **arrays(**changes))
    return ["data=npz", f"data.path={path}"]


def pickled_object(folder):
    return npz_file(folder, X_train=np.array([Payload(folder / "payload-ran")] * 60, dtype=object))


def negative_label(folder):
    y = arrays()["y_train"].copy()
    y[5] = -1
    return npz_file(folder, y_train=y)


def label_beyond_class_names(folder):
    return npz_file(folder, class_names=np.array(["a", "b"]))  # labels go up to 2


BAD_CONFIGS = [
    (["optim.learning_rate=0"], "optim.learning_rate=0: expected a number > 0"),
    (["optim.learning_rate=-1e-3"], "optim.learning_rate=-0.001: expected a number > 0"),
    (["model.dropout=1"], "model.dropout=1: expected a number >= 0 and < 1"),
    (["model.dropout=-0.2"], "model.dropout=-0.2: expected a number >= 0 and < 1"),
    (["solver.batch_size=0"], "solver.batch_size=0: expected an integer >= 1"),
    (["model.hidden_dims=[100,0]"], "model.hidden_dims=[100, 0]: expected a list of integers >= 1"),
    (["solver.num_epochs=ten"], "solver.num_epochs='ten': expected an integer >= 0"),
    (["model.dtype=float16"], "model.dtype='float16': expected one of float32, float64"),
    (["solver.lr_schedule=linear"], "solver.lr_schedule='linear': expected one of exponential, step, cosine"),
    (["optim=adam", "optim.beta1=high"], "optim.beta1='high': expected a number"),
    (["layer.block=[affine,relu7]"], "layer.block[1]='relu7': unknown layer 'relu7'; did you mean 'relu'?"),
    (["loss.name=hinge"], "loss.name='hinge': unknown"),
    (["optim=adamm"], "optim=adamm: no such option in group 'optim'"),
    (["data=cifar100"], "data=cifar100: no such option in group 'data'"),
]

BAD_DATA = {
    "missing_file": (lambda folder: ["data=npz", f"data.path={folder / 'absent.npz'}"], "No such file or directory"),
    "pickled_object": (pickled_object, "key 'X_train' cannot be read without pickle"),
    "negative_label": (negative_label, "key 'y_train' has label -1, expected labels from 0"),
    "input_size_mismatch": (lambda folder: npz_file(folder, X_test=np.zeros((20, 7), np.float32)),
                            "key 'X_test' has samples of shape (7,), expected (8,) like X_train"),
    "nan_values": (lambda folder: npz_file(folder, X_train=np.full((60, 8), np.nan, np.float32)),
                   "key 'X_train' holds NaN or infinite values"),
    "label_out_of_range": (label_beyond_class_names,
                           "y_train has labels from 0 to 2: expected 0 to 1 for the 2 class names"),
}


def assert_one_line_failure(process, expected):
    assert process.returncode != 0
    assert process.stderr.strip().splitlines() == [process.stderr.strip()], process.stderr
    assert process.stderr.startswith("nnplug: error: ") and expected in process.stderr, process.stderr


def files_written_by_nnplug(folder):
    """Every file under ``folder/outputs`` except the MLflow store and Hydra's own."""
    outputs = folder / "outputs"
    return [p for p in outputs.rglob("*") if p.is_file()
            and not HYDRA_FILES & set(p.relative_to(outputs).parts)
            and p.name != "mlflow.db"]


@pytest.mark.parametrize("overrides,expected", BAD_CONFIGS, ids=[o[-1] for o, _ in BAD_CONFIGS])
def test_a_bad_config_exits_with_one_line_before_anything_is_written(tmp_path, overrides, expected):
    process = run_nnplug(tmp_path, *QUICK, *overrides)

    assert_one_line_failure(process, expected)
    assert not (tmp_path / "outputs" / "mlflow.db").exists()  # no run was even started
    assert not (tmp_path / "outputs").exists() or files_written_by_nnplug(tmp_path) == []


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One MLflow store for the data rows, created and migrated once (4 s a store)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    MlflowClient(uri).create_experiment("nnplug")
    return uri


@pytest.mark.parametrize("make,expected", BAD_DATA.values(), ids=BAD_DATA.keys())
def test_a_bad_data_file_exits_with_one_line_and_leaves_no_open_run(tmp_path, store, make, expected):
    process = run_nnplug(tmp_path, *QUICK, *make(tmp_path), f"tracking.uri={store}")

    assert_one_line_failure(process, expected)
    assert files_written_by_nnplug(tmp_path) == []
    assert not (tmp_path / "payload-ran").exists()
    _, found = runs(store)
    assert all(run.info.status != "RUNNING" for run in found)
    assert found[0].info.status == "FAILED"  # the newest: this row's run, with the reason
    assert expected in found[0].data.tags["nnplug.failure"]


def test_a_diverging_job_fails_its_run_and_the_other_two_finish(tmp_path):
    process = run_nnplug(tmp_path, "-m", "optim.learning_rate=1e-3,1e6,3e-3", *QUICK)

    assert process.returncode != 0  # the sweep reports that a job failed ...
    errors = [line for line in process.stderr.splitlines() if line.startswith("nnplug: error:")]
    assert len(errors) == 1 and "learning rate 1e+06" in errors[0], process.stderr
    _, found = runs(default_store(tmp_path))
    children = {run.data.params["optim.learning_rate"]: run for run in found
                if "mlflow.parentRunId" in run.data.tags}
    assert set(children) == {"0.001", "1000000.0", "0.003"}
    failed = children.pop("1000000.0")
    assert failed.info.status == "FAILED"
    assert failed.data.tags["nnplug.failure"].startswith("DivergenceError: loss became nan at iteration")
    for run in children.values():  # ... after the other two trained to the end
        assert run.info.status == "FINISHED" and run.data.metrics["best_val_acc"] > 0.5
    assert all(run.info.status != "RUNNING" for run in found)
    job_folders = {p.parent for p in Path(tmp_path, "outputs", "multirun").rglob(".hydra")}
    with_params = [f for f in job_folders if (f / "best_params.npz").exists()]
    assert len(job_folders) == 3 and len(with_params) == 2
