"""The pictures: each function returns a figure whose PNG decodes, with the content it promises."""
import numpy as np
import pytest

from nnplug import Network, Solver
from nnplug.display import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(figure, path):
    from matplotlib.image import imread

    path = plots.save(figure, path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return imread(path)


def test_training_curves(tmp_path):
    rng = np.random.default_rng(0)
    loss = 2.3 * np.exp(-np.arange(400) / 100) + 0.05 * rng.random(400)
    image = read_png(plots.training_curves(loss, np.linspace(0.1, 0.9, 6), np.linspace(0.1, 0.8, 6)), tmp_path / "c.png")
    assert image.shape[1] > image.shape[0] > 300  # two panels side by side
    assert image[..., :3].std() > 0.05  # drawn on, not blank


def test_confusion_counts_rows_are_true_classes():
    counts = plots.confusion_counts([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_confusion_matrix(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 300)
    figure = plots.confusion_matrix(y, np.where(rng.random(300) < 0.8, y, (y + 1) % 10), [f"class {i}" for i in range(10)])
    assert read_png(figure, tmp_path / "cm.png").shape[0] > 400


def test_misclassified_grid_shows_only_the_mistakes(tmp_path):
    """Mistakes are dark images, correct ones light: the picture holds exactly three dark tiles."""
    y_true = np.arange(12) % 3
    y_pred = y_true.copy()
    y_pred[[2, 5, 7]] = (y_true[[2, 5, 7]] + 1) % 3
    images = np.ones((12, 1, 6, 6))
    images[[2, 5, 7]] = 0.0
    images[:, 0, 0, 0] = 0.5  # each image needs a range for its own scaling
    image = read_png(plots.misclassified_grid(images, y_true, y_pred, ["a", "b", "c"]), tmp_path / "m.png")
    assert image.shape[1] < 600  # one row of three tiles, not nine of twelve
    dark = image[..., :3].mean(axis=2) < 0.05
    tall = dark.sum(axis=0) > 40  # tile columns; the labels' letters are far shorter
    assert int(np.sum(tall[1:] & ~tall[:-1]) + tall[0]) == 3


def test_misclassified_grid_with_no_mistakes_still_writes_a_picture(tmp_path):
    y = np.array([0, 1, 2])
    read_png(plots.misclassified_grid(np.ones((3, 3, 4, 4)), y, y, ["a", "b", "c"]), tmp_path / "none.png")


def test_sweep_curves(tmp_path):
    curves = {f"optim={name}": np.linspace(0.1, top, 8) for name, top in [("sgd", 0.7), ("adam", 0.9)]}
    assert read_png(plots.sweep_curves(curves), tmp_path / "sweep.png").shape[1] > 600


def test_first_layer_weights_one_tile_per_hidden_unit(tmp_path):
    W = np.random.default_rng(2).standard_normal((3 * 8 * 8, 25))  # 25 RGB 8x8 filters
    image = read_png(plots.first_layer_weights(W, (3, 8, 8)), tmp_path / "w.png")
    assert image.shape[2] in (3, 4)
    rgb = image[..., :3]
    assert (np.abs(rgb[..., 0] - rgb[..., 1]) > 0.1).any()  # colour filters stay in colour


def test_run_pictures_for_an_image_data_set(tmp_path):
    from nnplug.data import load

    data = load("digits", seed=0, limit=400)
    model = Network([32], input_dim=data["input_dim"], num_classes=data["num_classes"], seed=0)
    solver = Solver(model, data, update_rule="adam", num_epochs=2, verbose=False, seed=0)
    solver.train()
    pictures = plots.run_pictures(solver, data)
    assert list(pictures) == ["curves.png", "confusion_matrix.png", "misclassified.png", "first_layer_weights.png"]
    for name, figure in pictures.items():
        read_png(figure, tmp_path / name)


@pytest.mark.parametrize("with_test", [True, False])
def test_run_pictures_without_images_draw_no_image_grids(tmp_path, with_test):
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((120, 5)), rng.integers(0, 3, 120)
    data = {"X_train": X[:80], "y_train": y[:80], "X_val": X[80:100], "y_val": y[80:100],
            "image_shape": None, "class_names": ["a", "b", "c"]}
    if with_test:
        data.update(X_test=X[100:], y_test=y[100:])
    solver = Solver(Network([8], input_dim=5, num_classes=3, seed=0), data, num_epochs=1,
                    batch_size=20, verbose=False, seed=0)
    solver.train()
    names = list(plots.run_pictures(solver, data))
    assert names == (["curves.png", "confusion_matrix.png"] if with_test else ["curves.png"])
