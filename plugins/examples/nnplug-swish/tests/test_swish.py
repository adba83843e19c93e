"""The plugin's own tests, written with nnplug's kit for plugin authors (``nnplug.testing``). Run
them after installing the plugin:

    pip install ./plugins/examples/nnplug-swish && python -m pytest plugins/examples/nnplug-swish
"""
import numpy as np

from nnplug import default_registry
from nnplug.testing import assert_layer_ok, assert_update_rule_ok
from nnplug_swish.lamb import lamb
from nnplug_swish.swish import Swish


def test_nnplug_finds_both_plugins_through_the_entry_points():
    assert default_registry().get("layers", "swish") is Swish
    assert default_registry().info("optimizers", "lamb").dist == "nnplug-swish"


def test_swish_keeps_the_layer_contract():
    assert_layer_ok(Swish)  # shapes, train and test mode, float32, gradients; and its check_cases


def test_lamb_keeps_the_update_rule_contract():
    assert_update_rule_ok("lamb")  # the caller's state, a checkpoint round trip, out=w, float32


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


def test_a_swish_network_with_lamb_learns_digits_from_the_command_line(nnplug_app):
    run = nnplug_app.run("layer=swish", "optim=lamb", "optim.learning_rate=0.02", "solver.num_epochs=8")
    assert run.status == "FINISHED" and run.metrics["best_val_acc"] > 0.9
    assert run.tags["nnplug.plugin.layers.swish"].startswith("nnplug-swish ")


def test_a_wrong_option_type_stops_before_anything_runs(nnplug_app):
    run = nnplug_app.run("layer=swish", "layer.options.swish.beta=abc", check=False)
    assert run.returncode == 1 and run.run_id is None
    assert run.stderr.strip() == "nnplug: error: layer.options.swish.beta='abc': expected a number"
