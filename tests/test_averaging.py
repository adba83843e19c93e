"""Weight averaging (``solver.average``): the average after k steps against a hand computation, for an
exponential moving average and for Lookahead; the average is what is validated, kept as best and
left in the model."""
import numpy as np
import pytest

from nnplug.core.averaging import WeightAverage
from nnplug.core.network import Network
from nnplug.core.solver import Solver


class Quadratic:
    """A model whose gradient is known in closed form: loss 0.5 * |W - T|^2, scores X @ W.

    Every step of plain SGD is then ``W - lr * (W - T)`` whatever the batch, so a trajectory can be
    written down by hand.
    """

    def __init__(self, target):
        self.target = target
        self.params = {"W": np.zeros_like(target)}

    def loss(self, X, y=None):
        if y is None:
            return X @ self.params["W"]
        diff = self.params["W"] - self.target
        return 0.5 * float(np.sum(diff * diff)), {"W": diff.copy()}


def data(n=40, dim=3, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim))
    y = rng.integers(0, classes, n)
    return {"X_train": X, "y_train": y, "X_val": X[:10], "y_val": y[:10]}


LR = 0.3
TARGET = np.arange(6.0).reshape(3, 2) - 2.0


def quadratic_solver(**options):
    return Solver(Quadratic(TARGET), data(), update_rule="sgd", optim_config={"learning_rate": LR},
                  batch_size=10, num_epochs=3, verbose=False, seed=0, **options)  # 12 steps


def test_an_ema_after_k_steps_is_the_hand_computed_average_of_the_trajectory():
    solver = quadratic_solver(average="ema", average_decay=0.8, average_every=2, average_ramp=1.0)
    solver.train()
    w, average = np.zeros_like(TARGET), np.zeros_like(TARGET)  # the average starts at the initial weights
    steps = solver.num_iterations
    for t in range(1, steps + 1):
        w = w - LR * (w - TARGET)  # training goes on undisturbed by the average
        if t % 2 == 0:
            decay = 0.8 * (t / steps) ** 1.0
            average = decay * average + (1 - decay) * w
    np.testing.assert_allclose(solver.averaging.params["W"], average, rtol=1e-13)
    assert not np.allclose(average, w)  # an average, not the last weights


def test_lookahead_after_k_steps_is_the_hand_computed_slow_weights():
    solver = quadratic_solver(average="lookahead", average_decay=0.5, average_every=3)
    solver.train()
    slow = fast = np.zeros_like(TARGET)
    for t in range(1, solver.num_iterations + 1):
        fast = fast - LR * (fast - TARGET)
        if t % 3 == 0:  # k = 3 fast steps, then slow += alpha (fast - slow), alpha = 1 - decay; fast = slow
            slow = slow + 0.5 * (fast - slow)
            fast = slow
    # (without the fast weights set back to the slow ones at each sync, the later slow weights would differ)
    np.testing.assert_allclose(solver.averaging.params["W"], slow, rtol=1e-13)


def test_a_decay_of_zero_is_no_averaging_and_a_decay_of_one_keeps_the_start():
    for decay, expected in ((0.0, "last"), (1.0, "start")):
        solver = quadratic_solver(average="ema", average_decay=decay)
        last = {}
        solver.subscribe(type("Last", (), {"on_iteration": lambda self, s, t, loss: last.update(W=s.model.params["W"].copy())})())
        solver.train()
        np.testing.assert_array_equal(solver.averaging.params["W"],
                                      last["W"] if expected == "last" else np.zeros_like(TARGET))


def blobs(n_train=120, n_val=60, dim=10, classes=3):
    rng = np.random.default_rng(1)
    centers = 1.5 * rng.standard_normal((classes, dim))
    y = rng.integers(0, classes, n_train + n_val)
    X = centers[y] + rng.standard_normal((n_train + n_val, dim))
    return {"X_train": X[:n_train], "y_train": y[:n_train], "X_val": X[n_train:], "y_val": y[n_train:]}


class Averages:
    """The average and the training weights at every check, as the Solver holds them then."""

    def __init__(self):
        self.averages, self.weights = [], []

    def on_epoch_end(self, solver, epoch, train_acc, val_acc, learning_rate):
        self.averages.append({k: v.copy() for k, v in solver.averaging.params.items()})
        self.weights.append({k: v.copy() for k, v in solver.model.params.items()})


def network(block=("affine", "relu")):
    return Network([16], input_dim=10, num_classes=3, block=list(block), weight_scale=0.3, seed=2)


def accuracy_of(params, data):
    model = network()
    for name, w in params.items():
        np.copyto(model.params[name], w)
    return float(np.mean(np.argmax(model.loss(data["X_val"]), axis=1) == data["y_val"]))


@pytest.mark.parametrize("kind", ["ema", "lookahead"])
def test_the_average_is_validated_kept_as_best_and_left_in_the_model(kind):
    seen = Averages()
    solver = Solver(network(), blobs(), update_rule="sgd_momentum", optim_config={"learning_rate": 0.2},
                    batch_size=20, num_epochs=6, verbose=False, seed=0, average=kind, average_decay=0.9,
                    average_every=2, listeners=[seen])
    solver.train()
    data = blobs()
    # each check scored the average, and the training weights around it were left as they were
    assert solver.val_acc_history == [accuracy_of(a, data) for a in seen.averages]
    if kind == "ema":
        assert any(not np.array_equal(a["W1"], w["W1"]) for a, w in zip(seen.averages, seen.weights))
    best = solver.val_acc_history.index(solver.best_val_acc)
    for name, w in solver.model.params.items():
        np.testing.assert_array_equal(w, seen.averages[best][name])


def test_batch_norm_running_statistics_are_averaged_with_the_weights():
    model = network(("affine", "batchnorm", "relu"))
    states = []
    recorder = type("States", (), {"on_iteration": lambda self, s, t, loss: states.append(
        {k: v.copy() for k, v in s.model.get_state()[1].items() if k.startswith("running")})})()
    solver = Solver(model, blobs(), update_rule="sgd", optim_config={"learning_rate": 0.1}, batch_size=20,
                    num_epochs=2, verbose=False, seed=0, average="ema", average_decay=0.7, listeners=[recorder])
    start = {k: v.copy() for k, v in model.get_state()[1].items() if k.startswith("running")}
    solver.train()
    for key in ("running_mean", "running_var"):
        average = start[key]
        for state in states:
            average = 0.7 * average + 0.3 * state[key]
        np.testing.assert_allclose(solver.averaging.state[["running_mean", "running_var"].index(key)], average,
                                   rtol=1e-12)
        np.testing.assert_allclose(solver.model.get_state()[1][key], average, rtol=1e-12)  # the model's, at the end


@pytest.mark.parametrize("options, message", [
    ({"average": "swa"}, "Invalid average 'swa': expected one of none, ema, lookahead"),
    ({"average": "ema", "average_decay": 1.5}, "Invalid average_decay 1.5"),
    ({"average": "lookahead", "average_every": 0}, "Invalid average_every 0"),
])
def test_bad_averaging_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        quadratic_solver(**options)


def test_the_average_survives_a_checkpoint_round_trip():
    average = WeightAverage("ema", 0.5)
    model = Quadratic(TARGET)
    average.start(model)
    model.params["W"] += 1.0
    average.update(model, 1, 10)
    state = average.get_state()
    other = WeightAverage("ema", 0.5)
    other.start(Quadratic(TARGET))
    other.set_state(state)
    np.testing.assert_array_equal(other.params["W"], np.full_like(TARGET, 0.5))


def test_the_average_starts_from_the_weights_training_starts_from_also_when_set_after_the_solver_was_built():
    solver = quadratic_solver(average="ema", average_decay=1.0)  # a decay of 1 keeps the start
    solver.model.params["W"][...] = 7.0  # a warm start (model.init_from) sets weights after building
    solver.train()
    np.testing.assert_array_equal(solver.averaging.params["W"], np.full_like(TARGET, 7.0))
