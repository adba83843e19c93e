"""The plugin's own tests, written with nnplug's public tools. Run them after installing the plugin:

    pip install ./plugins/examples/nnplug-swish && python -m pytest plugins/examples/nnplug-swish
"""
import numpy as np

from nnplug import Network, Solver
from nnplug.data import load
from nnplug.core.gradcheck import assert_gradients_ok, check_layer
from nnplug.contract.registry import default_registry
from nnplug_swish.lamb import lamb
from nnplug_swish.swish import Swish


def test_nnplug_finds_both_plugins_through_the_entry_points():
    registry = default_registry()
    assert registry.get("layers", "swish") is Swish
    assert registry.info("optimizers", "lamb").dist == "nnplug-swish"


def test_swish_gradients_pass_the_numeric_check():
    assert_gradients_ok(check_layer("swish"))
    assert_gradients_ok(check_layer("swish", options={"beta": 2.5}))


def test_swish_is_x_times_sigmoid_of_beta_x():
    x = np.array([[-30.0, -1.0, 0.0, 1.0, 30.0]])
    out, _ = Swish(5, beta=2.0).forward(x, {}, "train")
    np.testing.assert_allclose(out, x / (1 + np.exp(-2.0 * x)), atol=1e-12)


def test_lamb_moves_every_tensor_by_the_learning_rate_times_its_norm():
    rng = np.random.default_rng(0)
    w, config = rng.standard_normal((20, 10)), {"learning_rate": 0.01}
    for _ in range(5):
        next_w, config = lamb(w, rng.standard_normal(w.shape), config)
        np.testing.assert_allclose(np.linalg.norm(next_w - w), 0.01 * np.linalg.norm(w))
        w = next_w


def test_lamb_in_place_matches_the_classic_call_and_leaves_callers_state_alone():
    rng = np.random.default_rng(1)
    w, dw = rng.standard_normal(7), rng.standard_normal(7)
    _, state = lamb(w, dw)
    w_before, m_before = w.copy(), state["m"].copy()
    classic, _ = lamb(w, dw, dict(state))
    np.testing.assert_array_equal(w, w_before)
    np.testing.assert_array_equal(state["m"], m_before)
    in_place, _ = lamb(w, dw, dict(state), out=w)
    assert in_place is w
    np.testing.assert_array_equal(in_place, classic)


def test_a_swish_network_learns_digits_with_lamb():
    data = load("digits", seed=0)
    model = Network([64], input_dim=data["input_dim"], num_classes=data["num_classes"],
                    block=["affine", "swish"], init="he", seed=0)
    solver = Solver(model, data, update_rule="lamb", optim_config={"learning_rate": 0.02},
                    num_epochs=8, batch_size=50, verbose=False, seed=0)
    solver.train()
    assert solver.best_val_acc > 0.9
