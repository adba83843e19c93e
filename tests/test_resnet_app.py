"""Residual networks from the command line: the ResNet config as a sweep, parameter groups, a kill and a
resume that end bit-identical, a logged model a fresh process loads, and errors that point inside blocks."""
import subprocess
import sys

import numpy as np
import pytest
from app_runner import check, default_store, run_nnplug, runs, start_nnplug
from test_reliability_app import LOGGED, assert_same, checkpoint_epoch, history, recorded_run_id, wait_for_checkpoint

from nnplug.core import checkpoint

pytestmark = pytest.mark.slow  # every case runs the command

# a ResNet small enough for digits' 8x8 images: three stages of one block at 4, 8 and 8 filters
SMALL = ["model=resnet", "model.n=1", "model.widths=[4,8,8]", "solver.verbose=false"]
# batch-norm scales frozen at 1; biases and shifts at twice the learning rate and without decay
GROUPS = "solver.param_groups=[{kinds:[scale],trainable:false},{kinds:[bias,shift],lr_mult:2.0,decay:false}]"


def test_the_resnet_config_is_a_sweep_over_its_depth(workdir):
    check(run_nnplug(workdir, "-m", *SMALL, "model.n=1,2", "solver.num_epochs=1"))

    _, found = runs(default_store(workdir))
    children = sorted((r for r in found if "mlflow.parentRunId" in r.data.tags), key=lambda r: r.data.params["model.n"])
    assert [(r.data.params["model.n"], r.info.status) for r in children] == [("1", "FINISHED"), ("2", "FINISHED")]
    assert children[0].info.run_name.startswith("digits:resnet:")
    assert children[1].data.tags["nnplug.plugin.layers.residual"].startswith("nnplug ")


def test_a_residual_net_with_groups_killed_and_resumed_ends_bit_identical_and_its_model_loads_elsewhere(
        tmp_path, new_store):
    from mlflow import MlflowClient

    store = new_store(tmp_path / "store")
    overrides = [*SMALL, GROUPS, "solver.num_epochs=4", "tracking.log_every_n_steps=1", f"tracking.uri={store}"]
    killed_dir, whole_dir = tmp_path / "killed", tmp_path / "whole"
    whole = start_nnplug(tmp_path, *overrides, f"hydra.run.dir={whole_dir}")
    killed = start_nnplug(tmp_path, *overrides, f"hydra.run.dir={killed_dir}")
    try:
        wait_for_checkpoint(killed, killed_dir, epoch=2)
        killed.kill()
        killed.communicate(timeout=60)
        assert checkpoint_epoch(killed_dir) == 2
        check(run_nnplug(tmp_path, *overrides, "solver.resume=true", f"hydra.run.dir={killed_dir}"))
        _, whole_err = whole.communicate(timeout=300)
        assert whole.returncode == 0, whole_err
    finally:
        for process in (killed, whole):
            if process.poll() is None:
                process.kill()
                process.communicate()

    client = MlflowClient(tracking_uri=store)
    run_id, uninterrupted = recorded_run_id(killed_dir), recorded_run_id(whole_dir)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["solver.param_groups"].startswith("[{'kinds': ['scale'], 'trainable': False}")
    for key in LOGGED:
        assert history(client, run_id, key) == history(client, uninterrupted, key), key
    resumed_state = checkpoint.load(checkpoint.path_in(killed_dir / "checkpoint"))
    assert_same(resumed_state, checkpoint.load(checkpoint.path_in(whole_dir / "checkpoint")))
    scales = [name for name in resumed_state["params"] if name.rsplit(".", 1)[-1].startswith("gamma")]
    assert scales and all(np.all(resumed_state["params"][n] == 1) for n in scales)  # frozen at their 1
    assert not set(scales) & set(resumed_state["optim_configs"])

    probe = ("import sys, numpy as np, mlflow.pyfunc\n"
             "from nnplug.data import load_raw\n"
             "raw = load_raw('digits')\n"
             "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
             "print(float(np.mean(model.predict(raw['X_test']) == raw['y_test'])))\n")
    done = subprocess.run([sys.executable, "-c", probe, f"runs:/{run_id}/model"], capture_output=True, text=True,
                          env={"MLFLOW_TRACKING_URI": store, "PATH": "/usr/bin:/bin"}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) == run.data.metrics["test_acc"]


def test_a_shape_that_does_not_fit_inside_a_block_is_one_line_naming_its_path(tmp_path):
    process = run_nnplug(tmp_path, "model.layers=[{conv:{filters:4}},{residual:{layers:[{max_pool:{size:9}}]}},affine]")

    assert process.returncode == 1
    assert process.stderr.splitlines() == [process.stderr.strip()], process.stderr
    assert process.stderr.startswith("nnplug: error: layer 2 residual > 1 'max_pool' (nnplug "), process.stderr
    assert "max_pool windows of 9 do not fit samples of shape (4, 8, 8)" in process.stderr
    assert not (tmp_path / "outputs").exists()  # no run folder, no store, no run


def test_a_layer_list_given_on_the_command_line_names_the_run_after_its_layers(workdir):
    check(run_nnplug(workdir, "model.layers=[{conv:{filters:4}},relu,affine]", "solver.num_epochs=1",
                     "solver.verbose=false"))

    _, (run,) = runs(default_store(workdir))
    assert run.info.run_name == "digits:conv-relu-affine:sgd_momentum"
    assert run.data.tags["nnplug.layer"] == "conv-relu-affine"


def test_a_run_hands_a_whitening_layer_its_training_images_and_never_trains_its_filters(workdir):
    check(run_nnplug(workdir, "model.layers=[whiten,gelu,flatten,affine]", "solver.num_epochs=1",
                     "solver.verbose=false"))

    (folder,) = (workdir / "outputs" / "runs").glob("*/*")
    w = np.load(folder / "best_params.npz")["W1"].reshape(8, 4)
    without_data = np.concatenate([np.eye(4), -np.eye(4)]) / np.sqrt(1 + 5e-4)  # what it is given no images
    assert w.shape == (8, 4) and not np.allclose(w, without_data, atol=1e-3)
    assert np.allclose(w[4:], -w[:4])
