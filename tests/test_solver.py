"""The Solver keeps CS231n's semantics and emits events to listeners."""
import numpy as np
import pytest

from nnplug.core.classic_models import FullyConnectedNet
from nnplug.core.schedules import learning_rate, step_learning_rate
from nnplug.core.solver import DivergenceError, Solver


def small_data(n_train=200, n_val=50, dim=20, classes=4, seed=0):
    # linearly separable-ish blobs so a short run learns something real
    rng = np.random.default_rng(seed)
    centers = 3 * rng.standard_normal((classes, dim))
    y = rng.integers(0, classes, n_train + n_val)
    X = centers[y] + rng.standard_normal((n_train + n_val, dim))
    return {"X_train": X[:n_train], "y_train": y[:n_train], "X_val": X[n_train:], "y_val": y[n_train:]}


def make(**kwargs):
    np.random.seed(0)  # CS231n's classes draw their weights from numpy's global generator
    model = FullyConnectedNet([16], input_dim=20, num_classes=4, weight_scale=1e-1)
    options = {"num_epochs": 3, "batch_size": 50, "verbose": False, "seed": 0,
               "optim_config": {"learning_rate": 0.05}, **kwargs}
    return Solver(model, small_data(), **options)


def test_histories_follow_cs231n():
    solver = make()
    solver.train()
    assert len(solver.loss_history) == 3 * (200 // 50)
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 3 + 1  # first iteration + epochs
    assert solver.epoch == 3
    assert solver.best_val_acc == max(solver.val_acc_history) > 0.9
    assert all(np.array_equal(solver.model.params[k], solver.best_params[k]) for k in solver.best_params)


def test_unknown_option_and_update_rule():
    with pytest.raises(ValueError, match='Unrecognized arguments "bogus"'):
        make(bogus=1)
    with pytest.raises(ValueError, match='Invalid update_rule "adma".*adam'):
        make(update_rule="adma")


def test_same_seed_same_run_and_different_seed_different_run():
    a, b, c = make(), make(), make(seed=1)
    for s in (a, b, c):
        s.train()
    assert a.loss_history == b.loss_history
    assert a.loss_history != c.loss_history


def test_lr_decay_multiplies_each_epoch():
    solver = make(lr_decay=0.5)
    solver.train()
    assert all(cfg["learning_rate"] == pytest.approx(0.05 * 0.5 ** 3) for cfg in solver.optim_configs.values())


@pytest.mark.parametrize("schedule,expected", [
    ("step", [0.05, 0.05, 0.005, 0.005]),
    ("cosine", [0.05 * 0.5 * (1 + np.cos(np.pi * e / 3)) for e in range(4)]),
])
def test_schedules(schedule, expected):
    solver = make(lr_schedule=schedule, lr_step_size=2, lr_gamma=0.1)
    solver.train()
    assert solver.lr_history == pytest.approx(expected)


def test_learning_rate_function_rejects_unknown_schedule():
    with pytest.raises(ValueError, match="'polynomial'"):
        learning_rate("polynomial", 1.0, 1)


# airbench94's: from 0.2 of the rate up to all of it over the first 23% of the steps, then down to 0.07
WARMUP = {"warmup": 0.23, "warmup_start": 0.2, "min_lr": 0.07 * 2.0}


@pytest.mark.parametrize("step, expected", [
    (0, 2.0 * 0.2),                                     # the warm-up's start
    (10, 2.0 * (0.2 * (1 - 10 / 23) + 10 / 23)),        # 10 of its int(0.23 * 100) = 23 steps
    (22, 2.0 * (0.2 * (1 - 22 / 23) + 22 / 23)),
    (23, 2.0),                                          # the peak
    (50, 2.0 * (1 - 27 / 77) + 0.14 * 27 / 77),         # 27 of the 77 decay steps
    (99, 2.0 * (1 - 76 / 77) + 0.14 * 76 / 77),         # the last step
    (100, 0.14),                                        # where the decay ends: the floor
])
def test_linear_schedule_values_at_given_steps(step, expected):
    assert step_learning_rate(2.0, step, 100, **WARMUP) == pytest.approx(expected, rel=1e-14)


def test_linear_schedule_without_warm_up_decays_from_the_first_step_and_stays_above_its_floor():
    rates = [step_learning_rate(1.0, t, 10, min_lr=0.1) for t in range(12)]
    assert rates[0] == 1.0 and rates[5] == pytest.approx(0.55) and rates[10:] == [0.1, 0.1]
    assert all(a > b for a, b in zip(rates[:10], rates[1:10]))


class RateAtEachStep:
    def __init__(self):
        self.rates, self.bias_rates = [], []

    def on_gradients(self, solver, iteration, grads):  # before the update: the rate the step uses
        self.rates.append(solver.optim_configs["W1"]["learning_rate"])
        self.bias_rates.append(solver.optim_configs["b1"]["learning_rate"])


def test_the_solver_sets_a_per_step_schedules_rate_before_every_step():
    seen = RateAtEachStep()
    solver = make(lr_schedule="linear", lr_warmup=0.25, lr_warmup_start=0.5, lr_min=0.001, listeners=[seen],
                  param_groups=[{"params": ["b1"], "lr_mult": 4.0}])
    solver.train()
    steps = solver.num_iterations  # 3 epochs of 4
    expected = [step_learning_rate(0.05, t, steps, warmup=0.25, warmup_start=0.5, min_lr=0.001) for t in range(steps)]
    assert seen.rates == expected
    assert seen.bias_rates == [4.0 * rate for rate in expected]  # a group's multiplier on the scheduled rate
    assert seen.rates[0] == 0.025 and seen.rates[3] == 0.05  # int(0.25 * 12) = 3 warm-up steps
    assert solver.lr_history[-1] == 0.001  # after the last step: where the schedule ends


class Recorder:
    def __init__(self):
        self.events = []

    def on_train_start(self, solver):
        self.events.append("start")

    def on_iteration(self, solver, iteration, loss):
        self.events.append(("it", iteration))

    def on_epoch_end(self, solver, epoch, train_acc, val_acc, learning_rate):
        self.events.append(("epoch", epoch))

    def on_new_best(self, solver, epoch, val_acc):
        self.events.append(("best", epoch))

    def on_train_end(self, solver):
        self.events.append("end")


def test_events_reach_listeners_in_order():
    recorder = Recorder()
    solver = make(num_epochs=2, listeners=[recorder])
    solver.train()
    events = recorder.events
    assert events[0] == "start" and events[-1] == "end"
    assert [e for e in events if e[0] == "it"] == [("it", t) for t in range(8)]
    assert [e for e in events if e[0] == "epoch"] == [("epoch", 0), ("epoch", 1), ("epoch", 2)]
    assert events.index(("epoch", 0)) == events.index(("it", 0)) + 1
    assert ("best", 0) in events


def test_divergence_stops_with_iteration_and_learning_rate():
    solver = make(optim_config={"learning_rate": 1e6}, num_epochs=20)
    with pytest.raises(DivergenceError, match=r"iteration \d+ .*learning rate 1e\+06"):
        solver.train()


def test_check_accuracy_in_batches_and_samples():
    solver = make()
    data = small_data()
    full = solver.check_accuracy(data["X_val"], data["y_val"], batch_size=7)
    assert full == solver.check_accuracy(data["X_val"], data["y_val"], batch_size=50)
    assert 0 <= solver.check_accuracy(data["X_train"], data["y_train"], num_samples=10) <= 1


# --- memory layout: float64 weights with a large fan-in are F-ordered (nnplug_std.kernels.products.weight_order)

STATE_KEYS = ("velocity", "momentum_buffer", "cache", "m", "v")


def layout(a):
    return "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else None


class LayoutWatch:
    """After every step: each parameter is the same array in the same layout, its state in that layout too."""

    def __init__(self):
        self.steps = 0

    def on_train_start(self, solver):
        self.arrays = dict(solver.model.params)
        self.layouts = {name: layout(w) for name, w in self.arrays.items()}

    def on_iteration(self, solver, iteration, loss):
        self.steps += 1
        for name, w in solver.model.params.items():
            assert w is self.arrays[name], f"{name} was replaced, not updated in place"
            assert layout(w) == self.layouts[name], name
            for key in STATE_KEYS:
                if key in solver.optim_configs[name]:
                    state = solver.optim_configs[name][key]
                    assert layout(state) == layout(w), f"{name}.{key} is {layout(state)}, {name} is {layout(w)}"


@pytest.mark.parametrize("update_rule", ["sgd", "sgd_momentum", "adam", "rmsprop"])
@pytest.mark.parametrize("use_batchnorm", [False, True])
def test_parameters_and_state_keep_their_layout_through_training(update_rule, use_batchnorm):
    model = FullyConnectedNet([16, 8], input_dim=600, num_classes=4, weight_scale=5e-2, reg=1e-3,
                              use_batchnorm=use_batchnorm, seed=0, dtype=np.float64)
    layouts = {name: layout(w) for name, w in model.params.items()}
    assert layouts["W1"] == "F" and layouts["W2"] == "C"  # a mix, so a mix-up would show
    watch = LayoutWatch()
    solver = Solver(model, small_data(dim=600), update_rule=update_rule, num_epochs=2, batch_size=50,
                    verbose=False, seed=0, optim_config={"learning_rate": 1e-3}, listeners=[watch])
    solver.train()
    assert watch.steps == 8
    assert {name: layout(w) for name, w in solver.best_params.items()} == layouts
    assert {name: layout(w) for name, w in model.params.items()} == layouts  # now the best parameters


class RowRecorder:
    """A model that learns nothing and records which training rows (X[:, 0] holds the row's number)
    each forward and backward pass saw."""

    def __init__(self):
        self.params, self.passes = {"w": np.zeros(1)}, []

    def loss(self, X, y=None):
        if y is None:
            return np.zeros((X.shape[0], 2))
        self.passes.append(X[:, 0].astype(int).tolist())
        return 0.5, {"w": np.zeros(1)}


def numbered_rows(n):
    X = np.arange(n, dtype=float)[:, None]
    return {"X_train": X, "y_train": np.zeros(n, int), "X_val": X[:4], "y_val": np.zeros(4, int)}


def test_shuffle_sees_every_row_once_an_epoch_in_a_fresh_order_and_leaves_out_the_last_partial_batch():
    model = RowRecorder()
    solver = Solver(model, numbered_rows(23), sampling="shuffle", batch_size=5, num_epochs=3, verbose=False, seed=0)
    solver.train()
    assert all(len(rows) == 5 for rows in model.passes) and len(model.passes) == 3 * 4
    epochs = [sum(model.passes[4 * e:4 * e + 4], []) for e in range(3)]
    for rows in epochs:
        assert len(set(rows)) == 20 and set(rows) <= set(range(23))  # 20 distinct rows of 23: no repeats
    assert epochs[0] != epochs[1] != epochs[2]

    again = RowRecorder()
    Solver(again, numbered_rows(23), sampling="shuffle", batch_size=5, num_epochs=3, verbose=False, seed=0).train()
    assert again.passes == model.passes


def test_replacement_draws_rows_with_repeats_as_cs231n():
    model = RowRecorder()
    Solver(model, numbered_rows(23), batch_size=20, num_epochs=3, verbose=False, seed=0).train()
    assert any(len(set(rows)) < len(rows) for rows in model.passes)


def test_micro_batches_split_each_batch_in_order_into_passes_of_at_most_that_many_rows():
    model = RowRecorder()
    solver = Solver(model, numbered_rows(23), sampling="shuffle", batch_size=10, micro_batch=4, num_epochs=1,
                    verbose=False, seed=0)
    solver.train()
    assert [len(rows) for rows in model.passes] == [4, 4, 2, 4, 4, 2]
    assert sum(model.passes[:3], []) == solver.order[:10].tolist()


@pytest.mark.parametrize("bad, message", [
    ({"sampling": "random"}, "Invalid sampling 'random': expected one of replacement, shuffle"),
    ({"micro_batch": 0}, "Invalid micro_batch 0: expected an integer >= 1"),
])
def test_bad_sampling_options_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        make(**bad)


def test_micro_batches_without_batch_norm_give_the_whole_batchs_update():
    def solver(**options):
        np.random.seed(0)
        model = FullyConnectedNet([16], input_dim=20, num_classes=4, weight_scale=1e-1, reg=0.1, dtype=np.float64)
        return Solver(model, small_data(), batch_size=60, num_epochs=2, verbose=False, seed=0,
                      optim_config={"learning_rate": 0.05}, **options)

    whole, split = solver(), solver(micro_batch=25)  # 25, 25 and 10 rows: unequal shares
    whole.train()
    split.train()
    np.testing.assert_allclose(split.loss_history, whole.loss_history, rtol=1e-12)
    for name, w in whole.model.params.items():
        np.testing.assert_allclose(split.model.params[name], w, rtol=1e-10, atol=1e-14)


def test_micro_batches_with_batch_norm_average_each_micro_batchs_own_gradients():
    import copy

    from nnplug.core.network import Network

    data = small_data(n_train=60)
    model = Network([16], input_dim=20, num_classes=4, block=["affine", "batchnorm", "relu"], dtype="float64", seed=1)
    before = copy.deepcopy(model)
    seen = {}

    class Gradients:
        def on_gradients(self, solver, iteration, grads):
            if iteration == 0:
                seen.update({name: g.copy() for name, g in grads.items()}, rows=solver.order[:60].copy())

    Solver(model, data, sampling="shuffle", batch_size=60, micro_batch=20, num_epochs=1, verbose=False, seed=0,
           listeners=[Gradients()]).train()
    X, y = data["X_train"][seen["rows"]], data["y_train"][seen["rows"]]
    parts = [before.loss(X[i:i + 20], y[i:i + 20])[1] for i in (0, 20, 40)]
    whole = before.loss(X, y)[1]
    for name in model.params:
        expected = sum(part[name] for part in parts) / 3
        np.testing.assert_allclose(seen[name], expected, rtol=1e-10, atol=1e-14)
    # and batch norm made it differ from the whole batch's gradient
    assert not np.allclose(seen["W1"], whole["W1"], rtol=1e-6)
