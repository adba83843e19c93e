"""The shared preparation in nnplug.data: settings, splits, statistics, memory, plugin options."""
import tracemalloc
import types

import numpy as np
import pytest

from nnplug import data
from nnplug.contract.hookspecs import hookimpl
from nnplug.contract.kinds import Dataset
from nnplug.contract.registry import Registry, UnknownPluginError


def raw_images(n_train=100, n_test=20, seed=0, **extra):
    rng = np.random.default_rng(seed)
    return {"X_train": rng.integers(0, 256, (n_train, 3, 4, 4), dtype=np.uint8), "y_train": rng.integers(0, 3, n_train),
            "X_test": rng.integers(0, 256, (n_test, 3, 4, 4), dtype=np.uint8), "y_test": rng.integers(0, 3, n_test),
            "class_names": ["a", "b", "c"], **extra}


@pytest.mark.parametrize("key, value, allowed", [
    ("val_size", 0, "null or a whole number >= 1"),
    ("val_size", 2.5, "null or a whole number >= 1"),
    ("val_size", True, "null or a whole number >= 1"),
    ("limit", -3, "null or a whole number >= 1"),
    ("normalize", "meanimage", "one of auto, per_channel, per_feature, mean_image, none"),
    ("dtype", "float16", "one of float32, float64"),
    ("dtype", "nonsense", "one of float32, float64"),
    ("flatten", "yes", "true or false"),
])
def test_bad_settings_name_the_key_the_value_and_what_is_allowed(key, value, allowed):
    with pytest.raises(ValueError) as error:
        data.prepare(raw_images(), **{key: value})
    assert str(error.value) == f"{key}={value!r}: expected {allowed}"


def test_settings_are_checked_before_the_data_set_loads():
    calls = []
    registry = _registry_with(Dataset("toy", lambda: calls.append(1) or raw_images()))
    with pytest.raises(ValueError, match="normalize="):
        data.load("toy", normalize="zca", registry=registry)
    assert calls == []


def test_validation_larger_than_train_is_refused():
    with pytest.raises(ValueError, match=r"val_size=100 is not allowed: the training split has 100 rows, expected 1 to 99"):
        data.prepare(raw_images(), val_size=100)


def test_limit_larger_than_train_is_refused():
    with pytest.raises(ValueError, match=r"limit=95 is not allowed: only 90 training rows"):
        data.prepare(raw_images(), val_size=10, limit=95)


def test_default_validation_is_a_tenth_of_train_at_most_1000():
    assert len(data.prepare(raw_images(n_train=100))["X_val"]) == 10
    assert len(data.prepare(raw_images(n_train=20000))["X_val"]) == 1000


def test_a_data_set_with_its_own_validation_split_keeps_it():
    own = raw_images(X_val=np.zeros((7, 3, 4, 4), np.uint8), y_val=np.ones(7, np.int64))
    d = data.prepare(own, normalize="none")
    assert len(d["X_train"]) == 100 and len(d["X_val"]) == 7 and (d["y_val"] == 1).all()
    with pytest.raises(ValueError, match=r"val_size=5 is not allowed: this data set has its own validation split \(7 rows\)"):
        data.prepare(own, val_size=5)


def test_labels_outside_the_class_names_are_refused_by_key():
    raw = raw_images()
    raw["y_test"][3] = 3
    with pytest.raises(ValueError, match=r"y_test has labels from 0 to 3: expected 0 to 2 for the 3 class names"):
        data.prepare(raw)


def test_a_plugin_returning_too_little_is_named():
    raw = raw_images()
    del raw["y_test"]
    with pytest.raises(ValueError, match=r"the data set returned no y_test"):
        data.prepare(raw)


def test_sequences_are_normalised_per_position_and_the_raw_arrays_are_not_touched():
    rng = np.random.default_rng(1)
    raw = {"X_train": rng.normal(5, 2, (50, 40)), "y_train": rng.integers(0, 2, 50),
           "X_test": rng.normal(5, 2, (10, 40)), "y_test": rng.integers(0, 2, 10), "class_names": ["x", "y"]}
    before = raw["X_train"].copy()
    d = data.prepare(raw, val_size=10, dtype="float64")  # the default: per feature for non-images
    np.testing.assert_array_equal(raw["X_train"], before)
    np.testing.assert_allclose(d["X_train"].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(d["X_train"].std(axis=0), 1, rtol=1e-9)
    mean, std = before[:40].mean(axis=0), before[:40].std(axis=0)
    np.testing.assert_allclose(d["X_test"], (raw["X_test"] - mean) / std, atol=1e-12)
    np.testing.assert_allclose(d["mean"], mean[None], atol=1e-12)  # kept, to prepare new inputs alike
    assert d["image_shape"] is None and d["input_dim"] == 40


def test_a_constant_channel_is_centred_not_divided_by_zero():
    raw = raw_images()
    raw["X_train"][:, 1] = 7
    d = data.prepare(raw, normalize="per_channel")
    assert np.isfinite(d["X_train"]).all() and (d["X_train"][:, 1] == 0).all()


def test_preparation_makes_no_temporary_as_large_as_the_output():
    # 4,000 CIFAR-sized images: raw 12 MB uint8, output 49 MB float32
    rng = np.random.default_rng(0)
    raw = {"X_train": rng.integers(0, 256, (4000, 3, 32, 32), dtype=np.uint8), "y_train": rng.integers(0, 10, 4000),
           "X_test": rng.integers(0, 256, (10, 3, 32, 32), dtype=np.uint8), "y_test": rng.integers(0, 10, 10),
           "class_names": list("0123456789")}
    for normalize in ("mean_image", "per_channel"):
        tracemalloc.start()
        d = data.prepare(raw, val_size=100, normalize=normalize)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        final = sum(v.nbytes for v in d.values() if isinstance(v, np.ndarray))
        # the outputs plus the 16 MB statistics block and a little; one extra float copy would be +49 MB
        assert peak < final + (20 << 20), (normalize, peak / final)
        del d


def _registry_with(*datasets):
    plugin = types.SimpleNamespace(nnplug_datasets=hookimpl(lambda: list(datasets)))
    registry = Registry(autoload=False, modules=[])
    registry.register(plugin, dist="tests", version="0")
    return registry


def test_options_reach_the_plugin_and_unset_ones_keep_its_defaults():
    seen = {}

    def load(root=None, seed=3, size=2):
        seen.update(root=root, seed=seed, size=size)
        return raw_images()

    registry = _registry_with(Dataset("toy", load, options={"root": None, "seed": 3, "size": 2}))
    data.load("toy", registry=registry)
    assert seen == {"root": None, "seed": 3, "size": 2}
    data.load("toy", root="/data", seed=0, size=5, registry=registry)
    assert seen == {"root": "/data", "seed": 0, "size": 5}


def test_options_a_data_set_does_not_take_are_refused_except_seed():
    registry = _registry_with(Dataset("fixed", lambda: raw_images(), options={}))
    assert data.load("fixed", seed=5, registry=registry)["X_train"].shape == (90, 3, 4, 4)
    with pytest.raises(ValueError, match=r"url='http://x' is not allowed: data set 'fixed' takes no url \(its options: none\)"):
        data.load("fixed", url="http://x", registry=registry)
    with pytest.raises(ValueError, match=r"size=5 is not allowed: data set 'fixed' has no option 'size'"):
        data.load("fixed", size=5, registry=registry)


def test_an_unknown_data_set_lists_the_installed_ones():
    with pytest.raises(UnknownPluginError, match=r"unknown data set 'cifar100'; did you mean 'cifar10'\?.*digits"):
        data.load("cifar100")
