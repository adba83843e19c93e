"""The app as users run it: ``nnplug [overrides]`` in a folder of its own, read back from MLflow (in this
process; in a new one where the process is the point)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from app_runner import QUICK, check, default_store, run_nnplug, run_process, runs

pytestmark = pytest.mark.slow  # every case runs the command

ITERATIONS_PER_EPOCH = 1297 // 50  # digits' training split / the default batch size


def metric_steps(client, run_id, key):
    return {m.step: m.value for m in client.get_metric_history(run_id, key)}


def test_a_run_is_logged_to_the_default_store_with_params_metrics_and_artifacts(tmp_path):  # the first run: a new store
    process = check(run_nnplug(tmp_path, "layer=bn", "optim=sgd_momentum", *QUICK))

    client, found = runs(default_store(tmp_path))
    assert len(found) == 1
    run = found[0]
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "digits:affine-batchnorm-relu:sgd_momentum"
    params = run.data.params
    assert params["optim.name"] == "sgd_momentum"
    assert params["optim.momentum"] == "0.9"
    assert params["layer.block"] == "['affine', 'batchnorm', 'relu']"
    assert params["model.hidden_dims"] == "[100, 100]"
    assert params["solver.num_epochs"] == "2"
    assert params["data.name"] == "digits"
    tags = run.data.tags
    assert tags["nnplug.layer"] == "affine-batchnorm-relu"
    assert tags["nnplug.plugin.layers.batchnorm"].startswith("nnplug ")
    assert tags["nnplug.plugin.optimizers.sgd_momentum"].startswith("nnplug ")

    # per epoch, with the epoch as step: the check after the first iteration, then epochs 1 and 2
    val_acc = metric_steps(client, run.info.run_id, "val_acc")
    assert sorted(val_acc) == [0, 1, 2]
    assert sorted(metric_steps(client, run.info.run_id, "train_acc")) == [0, 1, 2]
    assert sorted(metric_steps(client, run.info.run_id, "learning_rate")) == [0, 1, 2]
    # the loss every tracking.log_every_n_steps (10) steps, and each epoch's mean over all its steps
    assert sorted(metric_steps(client, run.info.run_id, "loss")) == list(range(0, 2 * ITERATIONS_PER_EPOCH, 10))
    assert sorted(metric_steps(client, run.info.run_id, "epoch_loss")) == [1, 2]
    assert run.data.metrics["best_val_acc"] == max(val_acc.values())
    assert 0.5 < run.data.metrics["test_acc"] <= 1.0

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"best_params.npz", "config.yaml", "curves.png", "confusion_matrix.png", "misclassified.png",
            "first_layer_weights.png"} <= artifacts
    downloaded = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / "download")))
    with np.load(downloaded / "best_params.npz", allow_pickle=False) as best:
        assert {"W1", "b1", "gamma1", "beta1", "W3", "b3"} <= set(best.files)
        assert best["W1"].shape == (64, 100)
    config = yaml.safe_load((downloaded / "config.yaml").read_text())
    assert config["layer"]["block"] == ["affine", "batchnorm", "relu"]
    assert config["optim"] == {"name": "sgd_momentum", "learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0,
                               "decoupled_weight_decay": False}
    assert (downloaded / "curves.png").read_bytes().startswith(b"\x89PNG")

    # Hydra's run folder holds the composed config, the log (named after the job, not __main__)
    # and the same artifacts
    output_dir = Path(tags["nnplug.output_dir"])
    assert output_dir.parent.parent == tmp_path / "outputs" / "runs"
    assert {"nnplug.log", "best_params.npz", "config.yaml", "curves.png"} <= {p.name for p in output_dir.iterdir()}
    assert (output_dir / ".hydra" / "config.yaml").is_file()
    assert (output_dir / "best_params.npz").read_bytes() == (downloaded / "best_params.npz").read_bytes()
    assert run.info.run_id in (output_dir / "nnplug.log").read_text()

    assert "best val acc" in process.stdout
    assert f"mlflow ui --backend-store-uri {default_store(tmp_path)}" in process.stdout


def test_the_default_experiment_trains_digits_well_and_says_where_it_logged(workdir):
    process = check(run_nnplug(workdir))

    _, (run,) = runs(default_store(workdir))
    assert run.data.metrics["best_val_acc"] >= 0.95
    assert run.data.metrics["test_acc"] >= 0.93
    assert f"MLflow run {run.info.run_id}" in process.stdout
    assert f"Open the UI: mlflow ui --backend-store-uri {default_store(workdir)}" in process.stdout


@pytest.mark.parametrize("override, expected", [
    ("optim=rmsprob", "optim=rmsprob: no such option in group 'optim'; did you mean 'rmsprop'? (available: adagrad,"),
    ("model.width=3", "model.width: no such key in the config"),
    ("solver.batch_size=many", "solver.batch_size='many': expected a whole number"),
    ("optim.learning_rate=-0.1", "optim.learning_rate=-0.1: expected a finite number > 0"),
    ("layer.block=[affine,relu6]", "layer.block[1]='relu6': unknown layer 'relu6'; did you mean 'relu'?"),
    ("model.dropout=1.0", "model.dropout=1.0: expected a number >= 0 and < 1"),
    ("+solver.momentum=0.9", "solver.momentum: unknown key (known: num_epochs,"),
])
def test_a_bad_override_stops_before_training_with_one_line(tmp_path, override, expected):
    process = run_nnplug(tmp_path, override)

    assert process.returncode != 0
    assert process.stderr.splitlines() == [process.stderr.strip()], process.stderr
    assert process.stderr.startswith("nnplug: error: " + expected), process.stderr
    assert "Epoch" not in process.stdout and "Iteration" not in process.stdout
    assert not (tmp_path / "outputs").exists()  # no run folder, no store


def test_a_diverging_run_ends_failed_in_mlflow_with_the_reason(workdir):
    process = run_nnplug(workdir, "optim.learning_rate=1e6", *QUICK)

    assert process.returncode == 1
    errors = [line for line in process.stderr.splitlines() if line.startswith("nnplug: error:")]
    assert len(errors) == 1 and "learning rate 1e+06" in errors[0], process.stderr
    assert "Traceback" not in process.stderr
    assert "RuntimeWarning" not in process.stderr  # numpy's overflow on the way to NaN is not news
    _, (run,) = runs(default_store(workdir))
    assert run.info.status == "FAILED"
    assert run.data.tags["nnplug.failure"].startswith("DivergenceError: loss became")


def test_help_lists_the_config_groups_without_importing_hydra_mlflow_or_numpy():
    probe = ("import sys; from nnplug.app.cli import main; main(['--help']); "
             "print(sorted({'hydra', 'mlflow', 'numpy', 'omegaconf'} & set(sys.modules)))")
    process = check(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True))

    assert process.stdout.splitlines()[-1] == "[]"
    assert "  optim           adagrad, adam, adamw, nesterov, rmsprop, sgd, [sgd_momentum]" in process.stdout
    assert "  data            cifar10, [digits]," in process.stdout
    assert "  layer           [affine], bn," in process.stdout


def test_the_console_script_is_the_same_app(tmp_path):
    script = Path(sys.executable).parent / "nnplug"
    assert script.is_file(), "the nnplug console script is not installed (pip install -e .)"
    as_script = check(subprocess.run([str(script), "--cfg", "job", "layer=ln"], cwd=tmp_path,
                                     capture_output=True, text=True))
    as_module = check(run_process(tmp_path, "--cfg", "job", "layer=ln"))

    assert as_script.stdout == as_module.stdout
    assert yaml.safe_load(as_script.stdout)["layer"]["block"] == ["affine", "layernorm", "relu"]


@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_run_uses_the_blas_threads_the_environment_sets_and_records_them(workdir, threads):
    check(run_process(workdir, *QUICK, env={"OPENBLAS_NUM_THREADS": threads}))

    _, (run,) = runs(default_store(workdir))
    assert run.data.tags["nnplug.blas_threads"] == threads


def test_without_a_setting_a_run_uses_every_core(workdir):
    unset = {name: None for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    check(run_process(workdir, *QUICK, env=unset))

    _, (run,) = runs(default_store(workdir))
    assert run.data.tags["nnplug.blas_threads"] == str(len(os.sched_getaffinity(0)))


def test_the_default_run_starts_near_log_10_and_logs_its_first_loss(workdir):
    check(run_nnplug(workdir, *QUICK))

    client, (run,) = runs(default_store(workdir))
    first = metric_steps(client, run.info.run_id, "loss")[0]  # one minibatch's: noisy, and it started at 10.4
    assert abs(first - np.log(10)) < 0.5, first


def test_the_defaults_train_fashion_mnist_to_87_percent(workdir):
    from system import require_debian_package

    require_debian_package(Path("/usr/share/datasets/fashion-mnist").is_dir(), "dataset-fashion-mnist")
    check(run_nnplug(workdir, "data=fashion_mnist", "solver.verbose=false"))

    _, (run,) = runs(default_store(workdir))
    assert run.data.metrics["test_acc"] >= 0.87  # on all 10,000 test images, defaults only


def test_unnormalised_inputs_are_named_as_the_likely_cause_of_a_diverging_loss(workdir):
    rng = np.random.default_rng(0)
    # values up to 2.5 million, left as they are: the first steps overflow to NaN
    pixels = {"X_train": rng.integers(0, 256, (300, 1, 8, 8)) * 1e4, "y_train": rng.integers(0, 10, 300),
              "X_test": rng.integers(0, 256, (50, 1, 8, 8)) * 1e4, "y_test": rng.integers(0, 10, 50)}
    np.savez(workdir / "pixels.npz", **pixels)
    process = run_nnplug(workdir, "data=npz", f"data.path={workdir / 'pixels.npz'}", "data.normalize=none",
                         "optim.learning_rate=1", *QUICK)

    assert process.returncode == 1
    assert "the inputs' standard deviation is" in process.stdout + process.stderr  # the warning, before training
    (error,) = [line for line in process.stderr.splitlines() if line.startswith("nnplug: error:")]
    assert "unnormalised inputs are the likely cause" in error and "loss became" in error


def one_class_npz(folder):
    rng = np.random.default_rng(0)
    np.savez(folder / "one_class.npz", X_train=rng.standard_normal((60, 8)), y_train=np.zeros(60, np.int64),
             X_test=rng.standard_normal((10, 8)), y_test=np.zeros(10, np.int64))
    return ["data=npz", f"data.path={folder / 'one_class.npz'}"]


@pytest.mark.parametrize("make", [lambda folder: ["optim.learning_rate=1e-30"],
                                  lambda folder: ["solver.batch_size=1", "layer=bn"], one_class_npz],
                         ids=["a learning rate of 1e-30", "batch norm on batches of one", "one class"])
def test_a_run_whose_updates_are_all_zero_finishes_with_its_model_and_pictures(workdir, make):
    process = run_nnplug(workdir, *QUICK, *make(workdir))

    assert process.returncode == 0 and "Traceback" not in process.stderr, process.stderr
    client, (run,) = runs(default_store(workdir))
    assert run.info.status == "FINISHED" and "nnplug.model_id" in run.data.tags
    assert "diagnostics.png" in {a.path for a in client.list_artifacts(run.info.run_id)}
