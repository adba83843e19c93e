"""Training diagnostics: what they measure, that training is the same with them, and when they warn."""
import logging

import numpy as np
import pytest

from nnplug import Network, Solver
from nnplug.core.diagnostics import HIGH_RATIO, Diagnostics, blocks, ratio_warning
from nnplug.data import load
from nnplug.display.plots import training_diagnostics

BN = ["affine", "batchnorm", "relu"]


@pytest.fixture(scope="module")
def data():
    return load("digits")


class Records:
    """A sink that keeps what the diagnostics deliver."""

    def __init__(self):
        self.checks = []

    def on_diagnostics(self, epoch, record):
        self.checks.append((epoch, record))


class Steps:
    """The weights before and after every step and each step's gradients, measured apart from the diagnostics."""

    def __init__(self):
        self.before, self.after, self.grads = [], [], []

    def on_train_start(self, solver):
        self.before.append({k: v.copy() for k, v in solver.model.params.items()})

    def on_gradients(self, solver, iteration, grads):
        self.grads.append({k: v.copy() for k, v in grads.items()})

    def on_iteration(self, solver, iteration, loss):
        self.after.append({k: v.copy() for k, v in solver.model.params.items()})
        self.before.append(self.after[-1])


def train(data, block=("affine", "relu"), learning_rate=1e-2, epochs=3, listeners=(), dropout=0.0, rule="sgd_momentum",
          param_groups=None):
    model = Network([40, 40], input_dim=data["preprocessing"].sample_shape, num_classes=10, block=list(block),
                    init="he", dtype=np.float32, seed=0, dropout=dropout)
    solver = Solver(model, data, update_rule=rule, optim_config={"learning_rate": learning_rate}, num_epochs=epochs,
                    batch_size=50, seed=0, verbose=False, listeners=list(listeners), param_groups=param_groups)
    solver.train()
    return solver


def test_each_check_delivers_every_parameterised_layer_with_its_measures(data):
    sink = Records()
    solver = train(data, block=BN, listeners=[Diagnostics([sink])])

    assert [epoch for epoch, _ in sink.checks] == [0, 1, 2, 3]
    epoch, record = sink.checks[-1]
    assert list(record) == ["W1", "gamma1", "W2", "gamma2", "W3"]
    assert set(record["gamma1"]) == {"update_ratio", "grad_norm", "activation_mean", "activation_std", "dead_fraction"}
    assert "dead_fraction" not in record["W1"]  # its block ends before the ReLU: batchnorm has parameters
    assert all(np.isfinite(v) for values in record.values() for v in values.values())
    assert len(solver.loss_history) == 3 * solver.iterations_per_epoch


def test_the_update_ratio_and_gradient_norm_are_those_of_the_step_before_each_check(data):
    sink, steps = Records(), Steps()
    solver = train(data, listeners=[Diagnostics([sink]), steps])
    per_epoch = solver.iterations_per_epoch

    for epoch, record in sink.checks:
        step = 0 if epoch == 0 else epoch * per_epoch - 1
        for name in ("W1", "W2", "W3"):
            before, after = steps.before[step][name], steps.after[step][name]
            ratio = np.linalg.norm(after - before) / np.linalg.norm(before)
            assert record[name]["update_ratio"] == pytest.approx(ratio, rel=1e-4)
            assert record[name]["grad_norm"] == pytest.approx(np.linalg.norm(steps.grads[step][name]), rel=1e-4)


def test_activations_and_dead_units_are_measured_on_the_probe_batch(data):
    sink = Records()
    solver = train(data, epochs=1, listeners=[Diagnostics([sink], probe_rows=100)])
    model, probe = solver.model, data["X_train"][:100]
    hidden = np.maximum(probe.reshape(100, -1) @ model.params["W1"] + model.params["b1"], 0)

    last = dict(sink.checks)[1]["W1"]

    assert last["activation_mean"] == pytest.approx(hidden.mean(), rel=1e-4)
    assert last["activation_std"] == pytest.approx(hidden.std(), rel=1e-4)
    assert last["dead_fraction"] == pytest.approx(np.mean(~(hidden > 0).any(axis=0)))


def test_units_that_never_fire_are_counted(data):
    model = Network([40], input_dim=(1, 8, 8), num_classes=10, dtype=np.float32, seed=0)
    model.params["b1"][:10] = -1e3  # ten units no input can switch on
    sink = Records()
    solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 1e-3}, num_epochs=1,
                    batch_size=50, seed=0, verbose=False, listeners=[Diagnostics([sink])])
    solver.train()

    assert sink.checks[-1][1]["W1"]["dead_fraction"] == pytest.approx(10 / 40)


def test_training_is_bit_identical_with_and_without_diagnostics(data):
    plain = train(data, block=BN, dropout=0.1)
    watched = train(data, block=BN, dropout=0.1, listeners=[Diagnostics([Records()])])

    assert watched.loss_history == plain.loss_history
    assert all(np.array_equal(watched.model.params[k], w) for k, w in plain.model.params.items())
    assert watched.model.layers[1][0].bn_param["running_mean"].tolist() == \
        plain.model.layers[1][0].bn_param["running_mean"].tolist()


def test_a_learning_rate_a_hundred_times_too_high_warns_once_naming_the_layer(data, caplog):
    with caplog.at_level(logging.WARNING, logger="nnplug.core.diagnostics"):
        train(data, learning_rate=1.0, listeners=[Diagnostics()])

    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(f"update/weight ratio above {HIGH_RATIO:g} at epoch 0: W3 ")
    assert "learning rate is likely too high" in warning


def test_a_learning_rate_far_too_low_warns_at_the_end(data, caplog):
    with caplog.at_level(logging.WARNING, logger="nnplug.core.diagnostics"):
        train(data, learning_rate=1e-6, rule="sgd", listeners=[Diagnostics()])

    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith("update/weight ratio below 1e-05 over the epochs (median): W1 ")
    assert "too low" in warning


def test_a_warning_names_the_parameter_a_layer_was_measured_on_where_it_is_not_the_layers_name():
    net = Network([8], input_dim=5, num_classes=3, block=BN)
    layer_blocks = blocks(net, trainable={"W1", "beta1", "W2"})  # batch norm's scale frozen
    record = {name: {"update_ratio": 0.5} for name in layer_blocks}
    line = ratio_warning(list(record), record, "above", HIGH_RATIO, "at epoch 1", layer_blocks)
    assert line.startswith(f"update/weight ratio above {HIGH_RATIO:g} at epoch 1: W1 5.0e-01, gamma1 (beta1) "
                           "5.0e-01, W2 5.0e-01;")


def test_frozen_parameters_are_not_measured_and_draw_no_warning(data, caplog):
    sink, steps = Records(), Steps()
    with caplog.at_level(logging.WARNING, logger="nnplug.core.diagnostics"):
        train(data, block=BN, listeners=[Diagnostics([sink]), steps],
              param_groups=[{"kinds": ["scale"], "trainable": False}, {"layers": ["affine"], "trainable": False}])

    assert caplog.records == []  # never moving is what a frozen parameter is for
    _, record = sink.checks[-1]
    assert list(record) == ["W1", "gamma1", "W2", "gamma2", "W3"]  # every layer still named by its first
    assert "update_ratio" not in record["W1"] and "grad_norm" not in record["W3"]
    last = len(steps.after) - 1  # the step before the last check: batch norm moves by its shift
    before, after = steps.before[last]["beta1"], steps.after[last]["beta1"]
    assert record["gamma1"]["update_ratio"] == pytest.approx(np.linalg.norm(after - before) / np.linalg.norm(before),
                                                             rel=1e-4)


def test_parameters_past_their_train_epochs_are_not_measured_and_draw_no_warning(data, caplog):
    sink = Records()
    with caplog.at_level(logging.WARNING, logger="nnplug.core.diagnostics"):
        train(data, epochs=6, listeners=[Diagnostics([sink])], param_groups=[{"params": ["W1", "b1"], "train_epochs": 1}])

    assert caplog.records == []
    measured = [epoch for epoch, record in sink.checks if "update_ratio" in record["W1"]]
    assert measured == [0, 1] and "update_ratio" in sink.checks[-1][1]["W2"]  # the checks after epoch 0's steps


def test_the_default_learning_rate_draws_no_warning(data, caplog):
    with caplog.at_level(logging.WARNING, logger="nnplug.core.diagnostics"):
        train(data, listeners=[Diagnostics()])
    assert caplog.records == []


def test_the_picture_has_a_line_per_layer_in_each_panel(data):
    watcher = Diagnostics()
    train(data, block=BN, epochs=2, listeners=[watcher])

    figure = training_diagnostics(watcher.history)

    ratio, grad, activation, dead = figure.axes
    assert [line.get_label() for line in ratio.lines] == ["W1", "gamma1", "W2", "gamma2", "W3", "~1e-3 (CS231n)"]
    assert ratio.get_yscale() == "log" and len(grad.lines) == 5 and len(activation.lines) == 5
    assert [line.get_label() for line in dead.lines] == ["gamma1", "gamma2"]
    assert list(ratio.lines[0].get_xdata()) == [0, 1, 2]
