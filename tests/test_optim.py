"""Every update rule against a step computed by hand, state included, over several steps."""
import numpy as np
import pytest

from nnplug.core.gradcheck import rel_error
from nnplug.contract.registry import default_registry

RULES = default_registry().names("optimizers")


def by_hand(name, w, grads, cfg):
    """Reference trajectories written straight from each rule's documented formula (and PyTorch's docs), no shared code."""
    lr = cfg["learning_rate"]
    w = w.copy()
    state = {"v": np.zeros_like(w), "c": np.zeros_like(w), "m": np.zeros_like(w), "s": np.zeros_like(w), "buf": None}
    for t, g in enumerate(grads, 1):
        if name == "sgd":
            w = w - lr * g
        elif name == "sgd_momentum":
            state["v"] = cfg["momentum"] * state["v"] - lr * g
            w = w + state["v"]
        elif name == "nesterov":  # PyTorch: buf = mu * buf + g; w -= lr * (g + mu * buf)
            buf = g.copy() if state["buf"] is None else cfg["momentum"] * state["buf"] + g
            state["buf"] = buf
            w = w - lr * (g + cfg["momentum"] * buf)
        elif name == "adagrad":
            state["c"] = state["c"] + g ** 2
            w = w - lr * g / (np.sqrt(state["c"]) + cfg["epsilon"])
        elif name == "rmsprop":
            d = cfg["decay_rate"]
            state["c"] = d * state["c"] + (1 - d) * g ** 2
            w = w - lr * g / (np.sqrt(state["c"]) + cfg["epsilon"])
        elif name in ("adam", "adamw"):
            b1, b2 = cfg["beta1"], cfg["beta2"]
            if name == "adamw":
                w = w * (1 - lr * cfg["weight_decay"])
            state["m"] = b1 * state["m"] + (1 - b1) * g
            state["s"] = b2 * state["s"] + (1 - b2) * g ** 2
            mhat, vhat = state["m"] / (1 - b1 ** t), state["s"] / (1 - b2 ** t)
            w = w - lr * mhat / (np.sqrt(vhat) + cfg["epsilon"])
    return w, state


HYPER = {
    "sgd": {"learning_rate": 0.1},
    "sgd_momentum": {"learning_rate": 0.1, "momentum": 0.8},
    "nesterov": {"learning_rate": 0.1, "momentum": 0.8},
    "adagrad": {"learning_rate": 0.1, "epsilon": 1e-8},
    "rmsprop": {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-8},
    "adam": {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-8},
    "adamw": {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-8, "weight_decay": 0.1},
}


@pytest.mark.parametrize("name", sorted(HYPER))
@pytest.mark.parametrize("in_place", [False, True])
def test_rule_follows_the_hand_computed_trajectory(name, in_place):
    rule = default_registry().get("optimizers", name)
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 5))
    grads = [rng.standard_normal((4, 5)) for _ in range(5)]
    w, config = w0.copy(), dict(HYPER[name])
    for g in grads:
        w, config = rule(w, g, config, out=w if in_place else None)
    expected, state = by_hand(name, w0, grads, HYPER[name])
    assert rel_error(w, expected) < 1e-10
    if name in ("adam", "adamw"):
        assert config["t"] == 5
        assert rel_error(config["m"], state["m"]) < 1e-12 and rel_error(config["v"], state["s"]) < 1e-12
    elif name == "sgd_momentum":
        assert rel_error(config["velocity"], state["v"]) < 1e-12
    elif name == "nesterov":  # PyTorch's buffer, under PyTorch's name
        assert rel_error(config["momentum_buffer"], state["buf"]) < 1e-12
    elif name in ("adagrad", "rmsprop"):
        assert rel_error(config["cache"], state["c"]) < 1e-12


@pytest.mark.parametrize("name", sorted(HYPER))
def test_classic_calls_change_neither_w_nor_the_given_state(name):
    rule = default_registry().get("optimizers", name)
    rng = np.random.default_rng(1)
    w, dw = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    _, config = rule(w.copy(), dw, dict(HYPER[name]))
    snapshot = {k: np.copy(v) for k, v in config.items()}
    w_before = w.copy()
    rule(w, dw, config)
    assert np.array_equal(w, w_before)
    for key in STATE_KEYS:
        if key in snapshot:
            assert not np.array_equal(config[key], snapshot[key])  # the rule returns new state


def test_defaults_follow_spec():
    registry = default_registry()
    expected = {"sgd": {"learning_rate": 1e-2}, "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999,
                                                         "epsilon": 1e-8}}
    for name, defaults in expected.items():
        _, config = registry.get("optimizers", name)(np.zeros(2), np.zeros(2))
        for key, value in defaults.items():
            assert config[key] == value
    _, config = registry.get("optimizers", "adam")(np.zeros(2), np.zeros(2))
    assert config["t"] == 1


def test_cs231n_sgd_momentum_expected_values():
    from nnplug_std.classic import sgd_momentum

    N, D = 4, 5
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    v = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    next_w, config = sgd_momentum(w, dw, {"learning_rate": 1e-3, "velocity": v})
    expected_next_w = np.asarray([
        [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
        [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
        [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
        [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]])
    assert rel_error(next_w, expected_next_w) < 1e-8


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", RULES)
def test_rules_keep_float32(name, dtype):
    rule = default_registry().get("optimizers", name)
    w = np.ones((3, 2), dtype=dtype)
    next_w, config = rule(w, np.ones_like(w), {}, out=w)
    assert next_w.dtype == dtype and next_w is w


STATE_KEYS = ("velocity", "momentum_buffer", "cache", "m", "v")


def _layout(a):
    return "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else None


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("in_place", [False, True])
def test_the_result_and_the_state_take_the_layout_of_w(name, layout, in_place):
    rule = default_registry().get("optimizers", name)
    rng = np.random.default_rng(2)
    w = np.asarray(rng.standard_normal((6, 4)), order=layout)
    config = {}
    for _ in range(2):  # the first call creates the state, the second updates (or copies) it
        dw = np.asarray(rng.standard_normal(w.shape), order=layout)
        next_w, config = rule(w, dw, config, out=w if in_place else None)
        assert _layout(next_w) == layout and (next_w is w) == in_place
        assert all(_layout(config[k]) == layout for k in STATE_KEYS if k in config)
        w = next_w


@pytest.mark.parametrize("name", [n for n in RULES if n != "sgd"])
def test_a_state_in_the_other_layout_is_laid_out_like_w_once_with_its_values(name):
    # e.g. a C-ordered state restored from a checkpoint of C-ordered weights into an F-ordered one
    rule = default_registry().get("optimizers", name)
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((6, 4))
    dws = [rng.standard_normal(w0.shape) for _ in range(3)]
    w, config = w0.copy(), {}
    for dw in dws[:2]:
        w, config = rule(w, dw, config, out=w)
    expected, expected_config = rule(w.copy(), dws[2], {k: np.copy(v) if isinstance(v, np.ndarray) else v
                                                         for k, v in config.items()}, out=None)
    w_f = np.asfortranarray(w)
    next_w, config = rule(w_f, np.asfortranarray(dws[2]), config, out=w_f)  # C state, F weight
    assert next_w is w_f
    np.testing.assert_array_equal(next_w, expected)
    for key in STATE_KEYS:
        if key in config:
            assert _layout(config[key]) == "F", key
            np.testing.assert_array_equal(config[key], expected_config[key])


# --- weight decay, coupled and decoupled, under a learning rate that changes every step

RATES = [0.1, 0.3, 0.05, 0.2, 0.15, 0.4]  # as a per-step schedule sets them


def torch_sgd_trajectory(w0, grads, rates, **options):
    """torch.optim.SGD's weights after each step, in float64, its learning rate set before each step."""
    torch = pytest.importorskip("torch", reason="the PyTorch reference needs torch (pip install torch)")
    w = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    optimizer = torch.optim.SGD([w], lr=rates[0], **options)
    for g, lr in zip(grads, rates):
        optimizer.param_groups[0]["lr"] = lr
        w.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
    return w.detach().numpy(), optimizer.state[w]["momentum_buffer"].numpy()


def run_rule(name, w0, grads, rates, in_place, **hyper):
    rule = default_registry().get("optimizers", name)
    w, config = w0.copy(), dict(hyper)
    for g, lr in zip(grads, rates):
        config["learning_rate"] = lr
        w, config = rule(w, g, config, out=w if in_place else None)
    return w, config


def trajectory_inputs(shape=(5, 7)):
    rng = np.random.default_rng(4)
    return rng.standard_normal(shape), [rng.standard_normal(shape) for _ in RATES]


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_nesterov_with_coupled_weight_decay_is_pytorchs_sgd_step_for_step(in_place, weight_decay):
    w0, grads = trajectory_inputs()
    expected, buffer = torch_sgd_trajectory(w0, grads, RATES, momentum=0.85, nesterov=True,
                                            weight_decay=weight_decay)
    w, config = run_rule("nesterov", w0, grads, RATES, in_place, momentum=0.85, weight_decay=weight_decay)
    assert rel_error(w, expected) < 1e-12
    assert rel_error(config["momentum_buffer"], buffer) < 1e-12


def test_sgd_momentum_with_coupled_weight_decay_is_pytorchs_sgd_at_a_constant_rate():
    # CS231n's velocity holds lr times PyTorch's buffer: the same steps while the rate stays put
    w0, grads = trajectory_inputs()
    rates = [0.1] * len(RATES)
    expected, buffer = torch_sgd_trajectory(w0, grads, rates, momentum=0.9, weight_decay=0.05)
    w, config = run_rule("sgd_momentum", w0, grads, rates, True, momentum=0.9, weight_decay=0.05)
    assert rel_error(w, expected) < 1e-12
    assert rel_error(config["velocity"], -0.1 * buffer) < 1e-12


@pytest.mark.parametrize("in_place", [False, True])
def test_nesterov_with_decoupled_weight_decay_shrinks_the_weights_by_lr_times_decay(in_place):
    w0, grads = trajectory_inputs()
    mu, wd = 0.85, 0.05
    w, buf = w0.copy(), np.zeros_like(w0)  # by hand, every step written out
    for g, lr in zip(grads, RATES):
        buf = mu * buf + g  # the gradient alone: no decay in the buffer
        w = w - lr * wd * w - lr * (g + mu * buf)
    got, config = run_rule("nesterov", w0, grads, RATES, in_place, momentum=mu, weight_decay=wd,
                           decoupled_weight_decay=True)
    assert rel_error(got, w) < 1e-12 and rel_error(config["momentum_buffer"], buf) < 1e-12
    # a single step from zero momentum, as numbers: 2 - 0.1 * 0.5 * 2 - 0.1 * (1 + 0.9 * 1) = 1.71
    one, _ = default_registry().get("optimizers", "nesterov")(
        np.array([2.0]), np.array([1.0]), {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.5,
                                           "decoupled_weight_decay": True})
    assert one[0] == pytest.approx(1.71, abs=1e-15)


def test_sgd_momentum_with_decoupled_weight_decay_keeps_it_out_of_the_velocity():
    w0, grads = trajectory_inputs()
    mu, wd = 0.9, 0.05
    w, v = w0.copy(), np.zeros_like(w0)
    for g, lr in zip(grads, RATES):
        v = mu * v - lr * g
        w = w - lr * wd * w + v
    got, config = run_rule("sgd_momentum", w0, grads, RATES, True, momentum=mu, weight_decay=wd,
                           decoupled_weight_decay=True)
    assert rel_error(got, w) < 1e-12 and rel_error(config["velocity"], v) < 1e-12


@pytest.mark.parametrize("name", ["sgd_momentum", "nesterov"])
@pytest.mark.parametrize("decoupled", [False, True])
def test_a_group_without_decay_keeps_weight_decay_off_its_parameters(name, decoupled):
    from nnplug.core.network import Network
    from nnplug.core.solver import Solver

    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    model = Network([4], input_dim=3, num_classes=2, seed=0)

    class ZeroGradients:  # only the decay moves the parameters
        def on_gradients(self, solver, iteration, grads):
            for g in grads.values():
                g[...] = 0

    solver = Solver(model, {"X_train": X, "y_train": y, "X_val": X, "y_val": y}, update_rule=name,
                    optim_config={"learning_rate": 0.1, "weight_decay": 0.5, "decoupled_weight_decay": decoupled},
                    param_groups=[{"kinds": ["bias"], "decay": False}], batch_size=40, num_epochs=1,
                    verbose=False, seed=0, listeners=[ZeroGradients()])
    before = {k: v.copy() for k, v in model.params.items()}
    solver._step()
    np.testing.assert_array_equal(model.params["b1"], before["b1"])
    # one step from zero momentum: the weights shrink by lr * decay (times 1 + momentum for coupled nesterov)
    shrink = 0.1 * 0.5 * (1 + 0.9 if name == "nesterov" and not decoupled else 1)
    np.testing.assert_allclose(model.params["W1"], before["W1"] * (1 - shrink), rtol=1e-6)
