"""Update rules work on large parameters block by block: the blocks must add up to the whole step."""
import numpy as np
import pytest

from nnplug.contract.registry import default_registry
from nnplug_std.classic import optim

RULES = default_registry().names("optimizers")


def trajectory(rule, w, grads, config, in_place):
    for g in grads:
        w, config = rule(w, g, config, out=w if in_place else None)
    return w, config


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocked_update_equals_the_whole_array_update(name, in_place, dtype, monkeypatch):
    rule = default_registry().get("optimizers", name)
    rng = np.random.default_rng(0)
    shape = (3 * optim.BLOCK // 100 + 7, 100)  # several blocks and a ragged last one
    w0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
    blocked, blocked_config = trajectory(rule, w0.copy(), grads, {}, in_place)
    monkeypatch.setattr(optim, "BLOCK", w0.size)  # one block: the plain whole-array arithmetic
    whole, whole_config = trajectory(rule, w0.copy(), grads, {}, in_place)
    assert blocked.dtype == dtype
    np.testing.assert_array_equal(blocked, whole)
    for key, value in whole_config.items():
        np.testing.assert_array_equal(blocked_config[key], value)


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("in_place", [False, True])
def test_an_f_ordered_parameter_is_updated_in_f_order_to_the_same_values(name, in_place):
    # float64 affine weights are F-ordered (nnplug_std.kernels.products.weight_order), their gradients too
    rule = default_registry().get("optimizers", name)
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((3 * optim.BLOCK // 100 + 7, 100))
    grads = [rng.standard_normal(w0.shape) for _ in range(3)]
    expected, expected_config = trajectory(rule, w0.copy(), grads, {}, in_place)
    w = np.asfortranarray(w0)
    updated, config = trajectory(rule, w, [np.asfortranarray(g) for g in grads], {}, in_place)
    assert (updated is w) == in_place
    assert updated.flags.f_contiguous and not updated.flags.c_contiguous
    np.testing.assert_array_equal(updated, expected)  # elementwise: the layout cannot change a bit
    for key, value in expected_config.items():
        if isinstance(value, np.ndarray):
            assert config[key].flags.f_contiguous and not config[key].flags.c_contiguous, key
            np.testing.assert_array_equal(config[key], value)


def _calls(w, dw, states=()):
    """How many blocks ``_update`` cuts these arrays into (the kernel's calls)."""
    calls = []
    optim._update(lambda *blocks: calls.append(blocks[0].size), w, dw, np.empty_like(w), *states)
    return len(calls)


def test_arrays_of_one_layout_are_updated_in_blocks_and_a_mix_whole():
    shape = (3 * optim.BLOCK // 100 + 7, 100)  # 4 blocks
    c, f = np.zeros(shape), np.zeros(shape, order="F")
    assert _calls(c, c.copy(), [c.copy()]) == 4
    assert _calls(f, f.copy(order="K"), [f.copy(order="K")]) == 4
    assert _calls(f, c) == 1 and _calls(c, f) == 1 and _calls(f, f.copy(order="K"), [c]) == 1
    assert _calls(c[:, ::2], c[:, ::2]) == 1  # strided views


@pytest.mark.parametrize("name", RULES)
def test_a_mix_of_layouts_still_gives_the_right_values(name):
    # a classic caller's C-ordered gradient for an F-ordered weight: slower, never wrong
    rule = default_registry().get("optimizers", name)
    rng = np.random.default_rng(4)
    w = np.asfortranarray(rng.standard_normal((optim.BLOCK // 50, 100)))
    g = rng.standard_normal(w.shape)
    expected, _ = rule(np.ascontiguousarray(w), g, {})
    updated, _ = rule(w, g, {}, out=w)
    assert updated is w
    np.testing.assert_array_equal(w, expected)


@pytest.mark.parametrize("name", RULES)
def test_numpy_float64_hyperparameters_compute_in_float32(name):
    # np.float64 scalars (a random search's 10 ** np.random.uniform(...)) must not pull float32
    # parameters through float64 arithmetic: the result is bitwise the Python-float one
    rule = default_registry().get("optimizers", name)
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((40, 30)).astype(np.float32)
    grads = [rng.standard_normal(w0.shape).astype(np.float32) for _ in range(3)]
    defaults = {**rule.defaults, "learning_rate": 0.0123}
    as_python, _ = trajectory(rule, w0.copy(), grads, dict(defaults), True)
    as_numpy, config = trajectory(rule, w0.copy(), grads, {k: np.float64(v) for k, v in defaults.items()}, True)
    assert as_numpy.dtype == np.float32
    assert all(v.dtype == np.float32 for v in config.values() if isinstance(v, np.ndarray))
    np.testing.assert_array_equal(as_numpy, as_python)
