"""Parameter groups: rules select parameters by layer, path, kind and name; every update rule gets their
learning-rate multipliers, decay and freezing the same way; they are checkpointed and resumed."""
import numpy as np
import pytest

from nnplug.contract.registry import default_registry
from nnplug.core import param_groups
from nnplug.core.network import Network
from nnplug.core.solver import Solver
from solver_listeners import Stop, StopAt

RULES = ("sgd", "sgd_momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
GROUPS = [{"kinds": ["bias", "shift"], "lr_mult": 3.0, "decay": False},   # no decay on biases and shifts
          {"kinds": ["scale"], "trainable": False},                          # batch-norm scales fixed at 1
          {"layers": ["residual2"], "lr_mult": 0.5}]                         # a block at half the rate


def residual_net(seed=0, dtype=np.float64):
    return Network(layers=[{"affine": {"units": 6}}, {"residual": {"layers": [{"affine": {"units": 6}}, "batchnorm",
                                                                              "tanh", {"affine": {"units": 6}}]}},
                           "batchnorm", "tanh", "affine"], input_dim=4, num_classes=3, seed=seed, dtype=dtype,
                   reg=0.1)


def data(n=1, seed=0):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((n, 4)), rng.integers(0, 3, n)
    return {"X_train": X, "y_train": y, "X_val": X, "y_val": y}


def test_rules_select_by_position_path_plugin_kind_and_name():
    net = residual_net()
    settings = param_groups.resolve([{"layers": [1], "lr_mult": 2.0}, {"layers": ["batchnorm"], "decay": True},
                                     {"params": ["residual2.b2"], "trainable": False},
                                     {"layers": ["residual2"], "kinds": ["weight"], "lr_mult": 0.1}], net)
    assert {n for n, s in settings.items() if s.lr_mult == 2.0} == {"W1", "b1"}
    assert {n for n, s in settings.items() if s.decay} == {"gamma1", "beta1", "residual2.gamma1", "residual2.beta1"}
    assert {n for n, s in settings.items() if not s.trainable} == {"residual2.b2"}
    assert {n for n, s in settings.items() if s.lr_mult == 0.1} == {"residual2.W1", "residual2.W2"}


def test_a_rule_that_matches_nothing_or_has_an_unknown_key_is_refused():
    with pytest.raises(ValueError, match=r"param_groups\[0\]=.*matches no parameter of the model"):
        param_groups.resolve([{"layers": ["resdiual2"], "lr_mult": 0.5}], residual_net())
    assert param_groups.problems([{"kinds": ["norm"], "decay": False}]) == [
        "solver.param_groups[0].kinds: 'norm' is no kind of parameter (kinds: weight, bias, scale, shift)"]
    assert param_groups.problems([{"layers": [2]}]) == [
        "solver.param_groups[0]: sets nothing (give it lr_mult, decay, decay_mult, trainable or train_epochs)"]
    assert param_groups.problems([{"layers": [2], "decay_mult": -1, "train_epochs": 1.5}]) == [
        "solver.param_groups[0].decay_mult=-1: expected a number >= 0",
        "solver.param_groups[0].train_epochs=1.5: expected a whole number >= 0"]


@pytest.mark.parametrize("rule", RULES)
def test_every_update_rule_honours_the_groups(rule):
    net = residual_net()
    solver = Solver(net, data(), update_rule=rule, optim_config={"learning_rate": 0.1}, batch_size=1, num_epochs=1,
                    verbose=False, seed=0, param_groups=GROUPS)
    before = {n: w.copy() for n, w in net.params.items()}
    X, y = data()["X_train"], data()["y_train"]
    _, grads = residual_net().loss(X, y)  # the same network, seed and batch: the gradients of the step
    solver._step()

    update = default_registry().get("optimizers", rule).fn
    base = {**default_registry().get("optimizers", rule).defaults, "learning_rate": 0.1}
    for name, w in net.params.items():
        kind = net.param_info[name].kind
        if kind == "scale":  # frozen: unchanged, and no optimizer state
            assert np.array_equal(w, before[name]) and name not in solver.optim_configs
            continue
        mult = (3.0 if kind in ("bias", "shift") else 1.0) * (0.5 if name.startswith("residual2.") else 1.0)
        config = {**base, "learning_rate": 0.1 * mult}
        if kind in ("bias", "shift") and "weight_decay" in config:
            config["weight_decay"] = 0.0
        expected, _ = update(before[name].copy(), grads[name], config)
        np.testing.assert_allclose(w, expected, rtol=1e-12, atol=1e-15, err_msg=name)
    if rule == "sgd":  # by hand: w - lr * mult * dw
        np.testing.assert_allclose(net.params["b1"], before["b1"] - 0.3 * grads["b1"], rtol=1e-12)
        np.testing.assert_allclose(net.params["residual2.W1"], before["residual2.W1"] - 0.05 * grads["residual2.W1"],
                                   rtol=1e-12)


def test_decay_groups_decide_what_l2_reaches():
    net = residual_net()
    assert set(net.regularized) == {"W1", "residual2.W1", "residual2.W2", "W2"}
    Solver(net, data(), verbose=False, param_groups=[{"layers": ["residual2"], "decay": False},
                                                      {"params": ["b1"], "decay": True}])
    assert set(net.regularized) == {"W1", "W2", "b1"}


def test_a_schedule_keeps_each_groups_multiplier():
    net = residual_net()
    solver = Solver(net, data(20), optim_config={"learning_rate": 0.2}, lr_schedule="cosine", batch_size=10,
                    num_epochs=4, verbose=False, seed=0, param_groups=GROUPS)
    solver.train()
    lr = solver.learning_rate
    assert lr < 0.2
    assert solver.optim_configs["b1"]["learning_rate"] == pytest.approx(3 * lr)
    assert solver.optim_configs["residual2.b1"]["learning_rate"] == pytest.approx(1.5 * lr)
    assert solver.optim_configs["W1"]["learning_rate"] == pytest.approx(lr)


# the first layer trained in epochs 0 and 1 only: frozen after the checkpoint the run resumes from
TIMED = GROUPS + [{"layers": [1], "train_epochs": 2}, {"kinds": ["shift"], "decay_mult": 0.5}]


@pytest.mark.parametrize("groups, update_rule", [(GROUPS, "adam"), (TIMED, "adamw")], ids=["groups", "timed"])
def test_a_run_with_groups_stopped_and_resumed_ends_bit_identical(tmp_path, groups, update_rule):
    def solver(folder, listeners=()):
        return Solver(residual_net(), data(40), update_rule=update_rule, batch_size=8, num_epochs=3, verbose=False,
                      seed=1, checkpoint_dir=folder, param_groups=groups, listeners=listeners)

    whole = solver(tmp_path / "whole")
    whole.train()
    stopped = solver(tmp_path / "stopped", listeners=[StopAt(7)])
    with pytest.raises(Stop):  # as a crash in epoch 2: the last checkpoint is epoch 1's
        stopped.train()
    resumed = solver(tmp_path / "stopped")
    resumed.restore()
    resumed.train()
    assert all(np.array_equal(whole.model.params[n], resumed.model.params[n]) for n in whole.model.params)
    assert whole.loss_history == resumed.loss_history and set(resumed.optim_configs) == set(whole.optim_configs)
    assert "gamma1" not in resumed.optim_configs

    other = Solver(residual_net(), data(40), batch_size=8, num_epochs=3, verbose=False, seed=1,
                   checkpoint_dir=tmp_path / "stopped", update_rule=update_rule, param_groups=GROUPS[:1])
    with pytest.raises(Exception, match="param_groups"):
        other.restore()


def test_a_groups_decay_multiplier_is_pytorchs_per_group_weight_decay_step_for_step():
    torch = pytest.importorskip("torch", reason="the PyTorch reference needs torch (pip install torch)")
    net = residual_net()
    before = {n: w.copy() for n, w in net.params.items()}
    grads, after = [], {}

    class Record:
        def on_gradients(self, solver, iteration, g):
            grads.append({n: v.copy() for n, v in g.items()})

        def on_iteration(self, solver, iteration, loss):  # the weights of the last step, not the best kept
            after.update({n: w.copy() for n, w in solver.model.params.items()})

    groups = [{"kinds": ["shift"], "lr_mult": 4.0, "decay_mult": 0.25}]
    Solver(net, data(), update_rule="nesterov", optim_config={"learning_rate": 0.1, "momentum": 0.85,
                                                              "weight_decay": 0.05},
           batch_size=1, num_epochs=3, verbose=False, seed=0, param_groups=groups, listeners=[Record()]).train()

    shifts = [n for n in net.params if net.param_info[n].kind == "shift"]
    others = [n for n in net.params if n not in shifts]
    tensors = {n: torch.nn.Parameter(torch.tensor(w)) for n, w in before.items()}
    optimizer = torch.optim.SGD([{"params": [tensors[n] for n in shifts], "lr": 0.4, "weight_decay": 0.0125},
                                 {"params": [tensors[n] for n in others]}],
                                lr=0.1, momentum=0.85, nesterov=True, weight_decay=0.05)
    for g in grads:
        for n, t in tensors.items():
            t.grad = torch.tensor(g[n])
        optimizer.step()
    assert len(grads) == 3 and shifts
    for n, t in tensors.items():
        np.testing.assert_allclose(after[n], t.detach().numpy(), rtol=1e-12, atol=1e-15, err_msg=n)


def test_train_epochs_updates_a_group_in_its_first_epochs_only():
    net = residual_net()
    seen = []

    class Watch:
        def on_epoch_end(self, solver, epoch, train_acc, val_acc, lr):
            seen.append({n: w.copy() for n, w in solver.model.params.items()})

    Solver(net, data(8), optim_config={"learning_rate": 0.1}, batch_size=4, num_epochs=4, verbose=False, seed=0,
           param_groups=[{"layers": [1], "train_epochs": 2}], listeners=[Watch()]).train()
    start, *ends = seen  # the check after the first step, then the ends of epochs 0-3
    assert not np.array_equal(ends[1]["W1"], start["W1"])                  # trained in epochs 0 and 1
    assert np.array_equal(ends[3]["W1"], ends[1]["W1"])                     # then frozen
    assert not np.array_equal(ends[3]["residual2.W1"], ends[1]["residual2.W1"])  # the rest trains on
