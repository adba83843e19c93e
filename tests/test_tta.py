"""Test-time augmentation: the views against hand-made ones, and as users meet it: ``solver.tta`` logs
``test_acc_tta`` beside ``test_acc``, the logged model predicts it from raw samples with
``params={"tta": ...}``, and ``nnplug evaluate --tta`` reproduces it."""
import json
from pathlib import Path

import numpy as np
import pytest
from app_runner import check, default_store, run_nnplug, runs

from nnplug.core import tta
from nnplug.core.trained_model import predict_scores
from nnplug.data import load_raw


class Linear:
    """Scores linear in the input, so that averaged scores are the scores of the averaged views."""

    def __init__(self, d, classes=4, seed=0):
        self.W = np.random.default_rng(seed).standard_normal((d, classes))
        self.num_classes, self.dtype = classes, np.float64
        self.calls = []

    def loss(self, X):
        self.calls.append(X.shape)
        return X.reshape(len(X), -1) @ self.W


def shifted(x, dy, dx):
    """Each image moved by (dy, dx) pixels, its border reflected without repeating the edge pixel."""
    _, _, h, w = x.shape
    reflect = lambda i, n: -i if i < 0 else 2 * (n - 1) - i if i >= n else i  # noqa: E731
    rows = [reflect(i - dy, h) for i in range(h)]
    cols = [reflect(j - dx, w) for j in range(w)]
    return x[:, :, rows][:, :, :, cols]


IMAGES = np.random.default_rng(1).standard_normal((7, 2, 5, 4))


def test_flip_averages_the_image_and_its_mirror():
    model = Linear(40)
    got = tta.scores(model, IMAGES, "flip", (2, 5, 4), batch_size=3)
    expected = 0.5 * model.loss(IMAGES) + 0.5 * model.loss(IMAGES[..., ::-1].copy())
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_flip_shift_weighs_the_mirror_pair_half_and_each_shifted_pair_a_quarter():
    model = Linear(40)
    got = tta.scores(model, IMAGES, "flip_shift", (2, 5, 4), batch_size=100)
    pair = lambda x: 0.5 * model.loss(x) + 0.5 * model.loss(x[..., ::-1].copy())  # noqa: E731
    expected = 0.5 * pair(IMAGES) + 0.25 * pair(shifted(IMAGES, 1, 1)) + 0.25 * pair(shifted(IMAGES, -1, -1))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert len(model.calls) == 6 * 2  # six views of the batch, each in one call (2: the references')


def test_flattened_samples_are_viewed_as_the_images_they_came_from():
    model = Linear(40)
    flat = IMAGES.reshape(len(IMAGES), -1)
    np.testing.assert_array_equal(tta.scores(model, flat, "flip", (2, 5, 4), batch_size=4),
                                  tta.scores(model, IMAGES, "flip", (2, 5, 4), batch_size=4))


def test_none_is_the_models_own_scores_to_the_bit():
    model = Linear(40)
    np.testing.assert_array_equal(tta.scores(model, IMAGES, "none", (2, 5, 4), batch_size=3),
                                  predict_scores(model, IMAGES, batch_size=3))


@pytest.mark.parametrize("mode, shape, message", [
    ("flip", (40,), r"tta=flip: test-time augmentation mirrors \(C, H, W\) images, not samples of shape \(40,\)"),
    ("flip_shift", (3, 1, 8), r"tta=flip_shift: shifting by a reflected pixel needs images at least 2 x 2"),
    ("mirror", (3, 8, 8), r"tta='mirror': expected one of none, flip, flip_shift"),
])
def test_views_that_do_not_fit_are_refused(mode, shape, message):
    with pytest.raises(ValueError, match=message):
        tta.check(mode, shape)


# --- as users meet it ---------------------------------------------------------------------------

# The record recipes' techniques at once, on a small conv net and the digits (images of (1, 8, 8)).
RECIPE = ["model=cnn", "model.width=8", "model.hidden=32",
          "augment.transforms=[alternating_flip,{random_crop:{padding:1,padding_mode:reflect}}]",
          "solver.lr_schedule=linear", "solver.lr_warmup=0.23", "solver.lr_warmup_start=0.2", "solver.lr_min=0.001",
          "optim=nesterov", "optim.weight_decay=5e-4", "optim.decoupled_weight_decay=true", "loss.smoothing=0.2",
          "solver.average=lookahead", "solver.average_every=5", "solver.average_decay=0.77", "solver.average_ramp=3",
          "solver.tta=flip_shift", "solver.num_epochs=3", "solver.verbose=false"]


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory, new_store):
    folder = tmp_path_factory.mktemp("recipe")
    new_store(folder / "outputs")
    process = check(run_nnplug(folder, *RECIPE))
    client, (run,) = runs(default_store(folder))
    return folder, client, run, process


@pytest.mark.slow
def test_a_run_logs_the_test_accuracy_with_test_time_augmentation_beside_the_plain_one(recipe_run):
    _, _, run, process = recipe_run
    metrics = run.data.metrics
    assert {"test_acc", "test_acc_tta"} <= set(metrics) and metrics["test_acc_tta"] != metrics["test_acc"]
    assert run.data.params["solver.tta"] == "flip_shift" and run.data.params["solver.average"] == "lookahead"
    assert f"test acc {metrics['test_acc']:.4f} ({metrics['test_acc_tta']:.4f} with test-time augmentation)" \
        in process.stdout


@pytest.mark.slow
def test_the_logged_model_predicts_with_test_time_augmentation_as_the_run_scored(recipe_run, monkeypatch):
    import mlflow.pyfunc

    folder, _, run, _ = recipe_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", default_store(folder))
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    raw = load_raw("digits")

    plain = model.predict(raw["X_test"])
    augmented = model.predict(raw["X_test"], params={"tta": "flip_shift"})

    assert np.mean(plain == raw["y_test"]) == run.data.metrics["test_acc"]
    assert np.mean(augmented == raw["y_test"]) == run.data.metrics["test_acc_tta"]
    assert np.mean(model.predict(raw["X_test"], params={"tta": "flip"}) == raw["y_test"]) > 0
    with pytest.raises(Exception, match="tta"):
        model.predict(raw["X_test"], params={"tta": "mirror"})


@pytest.mark.slow
def test_evaluate_with_tta_reproduces_and_logs_the_runs_figure(recipe_run):
    folder, client, run, _ = recipe_run
    done = check(run_nnplug(folder, "evaluate", f"runs:/{run.info.run_id}/model", "--tta", "flip_shift", "--log"))

    figure = run.data.metrics["test_acc_tta"]
    assert f"test accuracy {figure:.4f} with test-time augmentation (flip_shift)" in done.stdout
    summary = json.loads((folder / Path(done.stdout.split("Outputs: ")[1].strip()) / "evaluation.json").read_text())
    assert summary["tta"] == "flip_shift" and summary["test_acc_tta"] == figure
    evaluations = [r for r in runs(default_store(folder))[1] if "nnplug.evaluation" in r.data.tags]
    assert [r.data.metrics["test_acc_tta"] for r in evaluations] == [figure]


@pytest.mark.slow
def test_tta_on_samples_that_are_no_images_is_one_line_and_leaves_nothing(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "vectors.npz"
    np.savez(path, X_train=rng.standard_normal((60, 5)), y_train=rng.integers(0, 2, 60),
             X_test=rng.standard_normal((20, 5)), y_test=rng.integers(0, 2, 20))
    done = run_nnplug(tmp_path, "data=npz", f"data.path={path}", "solver.tta=flip", "solver.verbose=false")

    assert done.returncode == 1
    assert done.stderr.strip() == ("nnplug: error: solver.tta=flip: test-time augmentation mirrors (C, H, W) "
                                   "images, not samples of shape (5,)")
    assert not (tmp_path / "outputs" / "runs").exists()

    check(run_nnplug(tmp_path, "data=npz", f"data.path={path}", "solver.num_epochs=1", "solver.verbose=false"))
    _, (run,) = runs(default_store(tmp_path))
    uri = f"runs:/{run.info.run_id}/model"
    # the overrides after the options, as well as before them
    refused = run_nnplug(tmp_path, "evaluate", uri, "data=npz", "--tta", "flip", f"data.path={path}", "--log")
    assert refused.returncode == 1
    assert refused.stderr.strip() == ("nnplug: error: --tta=flip: test-time augmentation mirrors (C, H, W) images, "
                                      f"not samples of shape (5,) ({uri})")
    assert not (tmp_path / "outputs" / "evaluate").exists() and len(runs(default_store(tmp_path))[1]) == 1
