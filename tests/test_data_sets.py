"""digits, mnist1d and npz through nnplug.data, and the conf/data configs that select them."""
import inspect
import os
import pathlib
import random
import subprocess
import sys

import numpy as np
import pytest
from omegaconf import OmegaConf
from sklearn.datasets import load_digits

from nnplug import data
from nnplug.contract.registry import default_registry

CONF = pathlib.Path(__file__).resolve().parents[1] / "conf" / "data"


def test_digits_is_split_1297_250_250_with_a_seeded_shuffle():
    cfg = OmegaConf.load(CONF / "digits.yaml")
    d = data.load(**cfg)
    assert [len(d[f"X_{p}"]) for p in ("train", "val", "test")] == [1297, 250, 250]
    assert d["X_train"].shape[1:] == (1, 8, 8) and d["num_classes"] == 10
    again = data.load(**cfg)
    np.testing.assert_array_equal(d["y_test"], again["y_test"])
    other = data.load(**{**cfg, "seed": 1})
    assert not np.array_equal(d["y_test"], other["y_test"])
    # the three splits partition the whole set
    labels = np.concatenate([d["y_train"], d["y_val"], d["y_test"]])
    np.testing.assert_array_equal(np.bincount(labels), np.bincount(load_digits().target))


@pytest.mark.slow
def test_digits_are_scikit_learns_read_without_importing_it():
    from nnplug_std.datasets import digits

    d = digits.load(seed=3, test_size=100)
    reference = load_digits()
    order = np.random.default_rng(3).permutation(len(reference.target))
    np.testing.assert_array_equal(d["X_train"], reference.images.astype(np.uint8)[order][:-100, None])
    np.testing.assert_array_equal(d["y_test"], reference.target[order][-100:])
    assert d["y_train"].dtype == reference.target.dtype

    imported = subprocess.run(
        [sys.executable, "-c", "import sys; from nnplug_std.datasets import digits; digits.load(); "
                               "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))"],
        capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"  # a second of imports per process, for a 500 KB file


def test_digits_refuses_a_test_size_that_leaves_no_training_rows():
    with pytest.raises(ValueError, match=r"test_size=1796 is not allowed: expected a whole number from 1 to 1795"):
        data.load("digits", test_size=1796)


@pytest.mark.slow
def test_mnist1d_is_generated_offline_with_the_paper_arguments_and_leaves_global_rngs_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty cache: generated here
    np.random.seed(123)
    random.seed(123)
    expected_numpy, expected_python = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    d = data.load(**OmegaConf.load(CONF / "mnist1d.yaml"))
    assert (np.random.rand(), random.random()) == (expected_numpy, expected_python)
    assert [d[f"X_{p}"].shape for p in ("train", "val", "test")] == [(3600, 40), (400, 40), (1000, 40)]
    assert d["X_train"].dtype == np.float32 and d["image_shape"] is None and d["input_dim"] == 40
    assert np.bincount(np.concatenate([d["y_train"], d["y_val"], d["y_test"]])).tolist() == [500] * 10


@pytest.mark.slow
def test_mnist1d_is_kept_in_the_cache_and_generated_again_when_the_file_is_damaged(tmp_path, monkeypatch):
    from nnplug_std.datasets import mnist1d

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    generated = mnist1d.load()
    path = mnist1d.cache_path(mnist1d.PAPER_SEED)
    assert path.parent == tmp_path / "nnplug" / "mnist1d" and path.is_file()

    marked = {key: value + 1 for key, value in generated.items() if key in mnist1d.ARRAYS}
    np.savez(path, **marked)
    assert np.array_equal(mnist1d.load()["X_train"], marked["X_train"])  # read, not generated

    path.write_bytes(b"not an npz file")
    again = mnist1d.load()
    for key in mnist1d.ARRAYS:
        np.testing.assert_array_equal(again[key], generated[key])
    with np.load(path) as stored:  # the damaged file was replaced by a good one
        np.testing.assert_array_equal(stored["y_test"], generated["y_test"])
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def write_npz(path, **overrides):
    rng = np.random.default_rng(0)
    arrays = {"X_train": rng.normal(size=(20, 5)), "y_train": rng.integers(0, 3, 20),
              "X_test": rng.normal(size=(6, 5)), "y_test": rng.integers(0, 3, 6)}
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return str(path)


def test_npz_loads_the_users_arrays(tmp_path):
    path = write_npz(tmp_path / "mine.npz", X_val=np.ones((4, 5)), y_val=np.array([0, 1, 2, 2]),
                     class_names=np.array(["cat", "dog", "eel"]))
    d = data.load("npz", path=path)
    assert [len(d[f"X_{p}"]) for p in ("train", "val", "test")] == [20, 4, 6]
    assert d["class_names"] == ["cat", "dog", "eel"] and d["X_train"].dtype == np.float32


@pytest.mark.parametrize("overrides, message", [
    ({"y_test": None}, r"missing key y_test"),
    ({"X_val": np.ones((2, 5))}, r"missing key y_val"),
    ({"X_train": np.ones((20, 5), dtype=complex)}, r"key 'X_train' has dtype complex128, expected integers or floats"),
    ({"X_test": np.ones((6, 4))}, r"key 'X_test' has samples of shape \(4,\), expected \(5,\) like X_train"),
    ({"X_train": np.ones(20)}, r"key 'X_train' has shape \(20,\), expected \(N, features...\)"),
    ({"X_test": np.full((6, 5), np.nan)}, r"key 'X_test' holds NaN or infinite values"),
    ({"y_train": np.zeros(19, np.int64)}, r"key 'y_train' has shape \(19,\), expected \(20,\) to match X_train"),
    ({"y_train": np.zeros(20)}, r"key 'y_train' has dtype float64, expected integer class labels"),
    ({"y_test": np.array([0, 1, -1, 0, 0, 0])}, r"key 'y_test' has label -1, expected labels from 0"),
    ({"features": np.ones((2, 5))}, r"unexpected key 'features'"),
    ({"x_test": np.ones((20, 8))}, r"holds both 'X_test' and 'x_test'; keep one"),
    ({"class_names": np.array([1, 2, 3])}, r"key 'class_names' has dtype int64 and shape \(3,\), expected a 1-D array of strings"),
    ({"X_train": np.array([[{}]] * 20, dtype=object)}, r"key 'X_train' holds Python objects, not numbers"),
])
def test_npz_validation_names_the_key(tmp_path, overrides, message):
    path = write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(ValueError, match=message):
        data.load("npz", path=path)


def test_npz_labels_beyond_the_class_names_are_refused(tmp_path):
    path = write_npz(tmp_path / "bad.npz", class_names=np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"y_train has labels from 0 to 2: expected 0 to 1 for the 2 class names"):
        data.load("npz", path=path)


@pytest.mark.parametrize("conf", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_data_config_has_the_shared_keys_and_only_options_its_data_set_takes(conf):
    cfg = OmegaConf.load(conf)
    shared = [p for p in inspect.signature(data.load).parameters if p not in ("registry", "dataset_options")]
    assert list(cfg)[:1] == ["name"] and set(shared) <= set(cfg)
    dataset = default_registry().get("datasets", cfg.name)
    assert set(cfg) - set(shared) <= set(dataset.options)
    assert cfg.name == conf.stem


def test_npz_that_is_truncated_is_one_error_naming_the_file(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, X_train=np.zeros((5, 2)), y_train=np.zeros(5, int), X_test=np.zeros((2, 2)), y_test=np.zeros(2, int))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=rf"{path}: not a readable .npz file"):
        data.load("npz", path=str(path))


def test_npz_takes_the_lower_case_keys_keras_and_mnist1d_write(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "keras.npz"
    np.savez(path, x_train=rng.standard_normal((20, 5)), y_train=rng.integers(0, 3, 20),
             x_test=rng.standard_normal((6, 5)), y_test=rng.integers(0, 3, 6),
             x_val=rng.standard_normal((4, 5)), y_val=rng.integers(0, 3, 4))
    d = data.load("npz", path=str(path))
    assert [len(d[f"X_{p}"]) for p in ("train", "val", "test")] == [20, 4, 6]


@pytest.mark.parametrize("content", [os.urandom(3000), b""], ids=["random bytes", "empty"])
def test_npz_that_is_not_an_npz_is_named_and_never_loaded_unsafely(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError) as error:
        data.load("npz", path=str(path))
    assert str(path) in str(error.value) and "allow_pickle" not in str(error.value)


def test_every_data_set_has_one_default_normalisation_the_same_as_the_python_api():
    default = inspect.signature(data.prepare).parameters["normalize"].default
    assert default == inspect.signature(data.load).parameters["normalize"].default == "auto"
    assert {conf.stem: OmegaConf.load(conf).normalize for conf in CONF.glob("*.yaml")} == {
        conf.stem: default for conf in CONF.glob("*.yaml")}


def test_the_python_api_and_the_command_line_split_digits_alike():
    d = data.load("digits")
    assert [len(d[f"X_{p}"]) for p in ("train", "val", "test")] == [1297, 250, 250]
