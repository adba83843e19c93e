"""A Solver's complete training state, as a checkpoint holds it: taken, checked and restored.

The state is a nested dict of arrays and plain values (``nnplug.core.checkpoint`` writes it). Its
``fingerprint`` names what a restored state must agree on (options, parameter and data shapes), so
that a checkpoint of another run is refused instead of silently continued.
"""
import copy
import json
import time

import numpy as np

from nnplug.core.nested import MISSING, differences

SOLVER_OPTIONS = ("update_rule_name", "optim_config", "lr_decay", "lr_schedule", "lr_step_size", "lr_gamma",
                  "lr_min", "lr_warmup", "lr_warmup_start", "batch_size", "sampling", "micro_batch", "num_epochs",
                  "num_train_samples", "num_val_samples", "seed", "param_groups", "average", "average_decay",
                  "average_every", "average_ramp")
COUNTERS = ("epoch", "iteration")
# Options a checkpoint written before they existed was trained with the defaults of.
OPTIONS_ADDED_LATER = {"sampling": "replacement", "micro_batch": None}


class Clock:
    """The seconds a Solver spent training (``with clock:`` around each ``train()``), its checkpoint's
    ``train_seconds``: across a stop and a restore, the time the training of the run took."""

    def __init__(self):
        self.before, self.since = 0.0, None

    def __enter__(self):
        self.since = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.before, self.since = self.seconds, None

    @property
    def seconds(self):
        """Seconds of every ``train()`` so far, the one running included."""
        return self.before + (0.0 if self.since is None else time.perf_counter() - self.since)


def fingerprint(solver):
    """What a checkpoint must agree on to continue ``solver``'s run: a JSON-like dict."""
    arrays = {"X_train": solver.X_train, "y_train": solver.y_train, "X_val": solver.X_val, "y_val": solver.y_val}
    found = {
        "solver": {name: getattr(solver, name) for name in SOLVER_OPTIONS},
        "model": type(solver.model).__name__,
        "params": {name: [list(w.shape), str(w.dtype)] for name, w in solver.model.params.items()},
        "data": {name: [list(a.shape), str(a.dtype)] for name, a in arrays.items()},
        "transforms": [[t.name, {key: getattr(t, key) for key in t.options}] for t in solver.transforms],
    }
    # through JSON once, so it compares equal to what a checkpoint file gives back
    return json.loads(json.dumps(found, default=str))


def get_state(solver):
    """Everything ``solver.train()`` reads and changes, as a nested dict."""
    get_model_state = getattr(solver.model, "get_state", None)
    return {
        "fingerprint": fingerprint(solver),
        "epoch": solver.epoch,
        "iteration": solver.iteration,
        "best_val_acc": solver.best_val_acc,
        "loss_history": [float(loss) for loss in solver.loss_history],
        "train_acc_history": list(solver.train_acc_history),
        "val_acc_history": list(solver.val_acc_history),
        "lr_history": list(solver.lr_history),
        "train_seconds": solver.clock.seconds,
        "rng": solver.rng.bit_generator.state,
        "order": solver.order,
        "params": dict(solver.model.params),
        "best_params": dict(solver.best_params),
        "optim_configs": solver.optim_configs,
        "model_state": get_model_state() if get_model_state else None,
        "transforms": [t.get_state() for t in solver.transforms],
        "averaging": solver.averaging.get_state() if solver.averaging is not None else None,
    }


def set_state(solver, state):
    """Restore what ``get_state`` returned, all or nothing.

    Raises ValueError naming the difference when the state belongs to another run or does not fit
    the model; the Solver and model then keep their previous state.
    """
    found, expected = state["fingerprint"], fingerprint(solver)
    for key, default in OPTIONS_ADDED_LATER.items():  # checkpoints from before these options
        found["solver"].setdefault(key, default)
    if found != expected:
        raise ValueError("it was written by a different run: " + "; ".join(
            f"{key}: checkpoint has {_value(a)}, this run has {_value(b)}" for key, a, b in differences(found, expected)))
    backup = copy.deepcopy(get_state(solver))
    try:
        _apply(solver, state)
    except Exception:
        _apply(solver, backup)
        raise


def _value(value):
    return "no value" if value is MISSING else repr(value)


def _apply(solver, state):
    params = solver.model.params
    expected = {"params": set(params), "best_params": set(params), "optim_configs": set(solver.optim_configs)}
    for group, names in expected.items():
        extra = set(state[group]) - names
        if extra or (group != "best_params" and set(state[group]) != names):
            raise ValueError(f"its {group} do not name the same parameters as the model"
                             + (" trains" if group == "optim_configs" else ""))
    for group in ("params", "best_params"):
        for name, value in state[group].items():
            w = params[name]
            if not isinstance(value, np.ndarray) or value.shape != w.shape or value.dtype != w.dtype:
                raise ValueError(f"its {group} {name!r} is not a {w.dtype} array of shape {w.shape}")
    for counter in COUNTERS:
        value = state[counter]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"its {counter} is {value!r}: expected a whole number >= 0")
    per_epoch = solver.iterations_per_epoch
    if state["iteration"] > solver.num_iterations or state["epoch"] != state["iteration"] // per_epoch:
        raise ValueError(f"its counters (epoch {state['epoch']}, iteration {state['iteration']}) are impossible "
                         f"for this run's {solver.num_epochs} epochs of {per_epoch} iterations")
    order = state.get("order")
    n = solver.X_train.shape[0]
    if order is not None and not (isinstance(order, np.ndarray) and order.dtype.kind == "i" and order.shape == (n,)):
        raise ValueError(f"its order is not an integer array of the {n} training rows")
    if state["model_state"] is not None:
        _check_like(state["model_state"], solver.model.get_state(), "model_state")
    _check_like(state["transforms"], [t.get_state() for t in solver.transforms], "transforms")
    averaging = solver.averaging.get_state() if solver.averaging is not None else None
    _check_like(state.get("averaging"), averaging, "averaging")
    for name, value in state["params"].items():
        np.copyto(params[name], value)
    # in the layout of the model's own parameters, whatever layout the checkpoint stored
    solver.best_params = {name: _copy_like(params[name], value) for name, value in state["best_params"].items()}
    solver.optim_configs = {name: dict(config) for name, config in state["optim_configs"].items()}
    if state["model_state"] is not None:
        solver.model.set_state(state["model_state"])
    solver.rng.bit_generator.state = state["rng"]
    solver.order = order
    for transform, transform_state in zip(solver.transforms, state["transforms"]):
        transform.set_state(transform_state)
    if averaging is not None:
        solver.averaging.set_state(state["averaging"])
    solver.epoch = state["epoch"]
    solver.iteration = state["iteration"]
    solver.best_val_acc = state["best_val_acc"]
    solver.loss_history = list(state["loss_history"])
    solver.train_acc_history = list(state["train_acc_history"])
    solver.val_acc_history = list(state["val_acc_history"])
    solver.lr_history = list(state["lr_history"])
    solver.clock.before = float(state.get("train_seconds", 0.0))  # checkpoints written before it was kept: 0


def _copy_like(like, value):
    """A copy of ``value`` with the shape, dtype and memory layout of ``like``."""
    out = np.empty_like(like)
    np.copyto(out, value)
    return out


def _check_like(found, expected, where):
    """ValueError unless ``found`` has ``expected``'s keys, lengths, array shapes and dtypes."""
    if isinstance(expected, dict):
        if not isinstance(found, dict) or set(found) != set(expected):
            raise ValueError(f"its {where} does not have the keys {sorted(expected)}")
        for key in expected:
            _check_like(found[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        if not isinstance(found, (list, tuple)) or len(found) != len(expected):
            raise ValueError(f"its {where} does not have {len(expected)} entries")
        for i, (f, e) in enumerate(zip(found, expected)):
            _check_like(f, e, f"{where}[{i}]")
    elif isinstance(expected, np.ndarray):
        if not isinstance(found, np.ndarray) or found.shape != expected.shape or found.dtype != expected.dtype:
            raise ValueError(f"its {where} is not a {expected.dtype} array of shape {expected.shape}")
