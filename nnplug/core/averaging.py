"""Weight averaging: an exponential moving average of the weights (``ema``) or Lookahead (``lookahead``).

Both keep an average of the model's parameters and of the floating-point arrays of its layers'
state (batch-norm running statistics), updated every ``every`` steps:
``average += (1 - decay_t) * (current - average)``. ``lookahead`` then sets the model back to the
average, so that training goes on from it (Zhang et al., 2019; airbench94 runs it every 5 steps);
``ema`` leaves training alone. The decay may grow over the run, ``decay_t = decay * (t / T) ** ramp``
at step t of T (``ramp=0``: constant), so that early averages do not hold on to the random start.

The Solver validates the average, keeps it as the best parameters and ends training with it in the
model, so the averaged weights are the ones tested, logged and served. Its arrays are part of the
checkpoint (``get_state``), so a resumed run averages exactly as an uninterrupted one.
"""
import contextlib
import copy

import numpy as np

KINDS = ("none", "ema", "lookahead")
OPTIONS = {"average": "none", "average_decay": 0.99, "average_every": 1, "average_ramp": 0.0}  # the Solver's


def start(model, average="none", average_decay=0.99, average_every=1, average_ramp=0.0):
    """The ``WeightAverage`` a Solver's options ask for, started on ``model``; None for ``none``."""
    if average == "none":
        return None
    averaging = WeightAverage(average, average_decay, average_every, average_ramp)
    averaging.start(model)
    return averaging


def float_arrays(tree):
    """The floating-point arrays of a nested dict/list ``tree``, in a fixed order (dict order, then list order)."""
    if isinstance(tree, dict):
        return [a for value in tree.values() for a in float_arrays(value)]
    if isinstance(tree, (list, tuple)):
        return [a for value in tree for a in float_arrays(value)]
    if isinstance(tree, np.ndarray) and np.issubdtype(tree.dtype, np.floating):
        return [tree]
    return []


def with_float_arrays(tree, arrays):
    """A copy of ``tree`` whose floating-point arrays are taken, in ``float_arrays`` order, from the
    iterator ``arrays`` (copied)."""
    if isinstance(tree, dict):
        return {key: with_float_arrays(value, arrays) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(with_float_arrays(value, arrays) for value in tree)
    if isinstance(tree, np.ndarray) and np.issubdtype(tree.dtype, np.floating):
        return next(arrays).copy(order="K")
    return copy.deepcopy(tree)


class WeightAverage:
    """The running average of a model's weights.

    Inputs:
    - kind: ``ema`` or ``lookahead``
    - decay: the weight of the old average at each update, in [0, 1]
    - every: update every this many steps (Lookahead's k)
    - ramp: the exponent of the decay's growth over the run (0: constant decay)

    ``start(model)`` takes the first average (the model as it starts); the Solver calls
    ``update(model, step, num_steps)`` after each step, checks the model inside ``swapped_in(model)``
    and ends with ``apply(model)``.
    """

    def __init__(self, kind, decay, every=1, ramp=0.0):
        if kind not in KINDS[1:]:
            raise ValueError(f"Invalid average {kind!r}: expected one of {', '.join(KINDS)}")
        if not 0 <= decay <= 1:
            raise ValueError(f"Invalid average_decay {decay!r}: expected a number in [0, 1]")
        if int(every) != every or every < 1:
            raise ValueError(f"Invalid average_every {every!r}: expected a whole number >= 1")
        if ramp < 0:
            raise ValueError(f"Invalid average_ramp {ramp!r}: expected a number >= 0")
        self.kind, self.decay, self.every, self.ramp = kind, float(decay), int(every), float(ramp)
        self.params = {}
        self.state = []  # the averaged floating-point arrays of the model's layer state

    def start(self, model):
        # copies in each parameter's layout: averaging arrays of different layouts would be a strided pass
        self.params = {name: w.copy(order="K") for name, w in model.params.items()}
        self.state = [a.copy(order="K") for a in float_arrays(_model_state(model))]

    def decay_at(self, step, num_steps):
        """The decay of the update after step ``step`` (1-based) of ``num_steps``."""
        return self.decay * (step / max(num_steps, 1)) ** self.ramp

    def update(self, model, step, num_steps):
        """After step ``step`` (1-based): move the average towards the model, every ``every`` steps;
        Lookahead then sets the model to the average."""
        if step % self.every:
            return
        weight = 1.0 - self.decay_at(step, num_steps)
        for name, average in self.params.items():
            _towards(average, model.params[name], weight)
        state = _model_state(model)
        for average, current in zip(self.state, float_arrays(state)):
            _towards(average, current, weight)
        if self.kind == "lookahead":
            self._copy_into(model, state)

    @contextlib.contextmanager
    def swapped_in(self, model):
        """The averaged weights in ``model`` for the duration; its training weights back afterwards."""
        params = {name: w.copy(order="K") for name, w in model.params.items()}
        state = copy.deepcopy(_model_state(model))
        self._copy_into(model, state)
        try:
            yield
        finally:
            for name, w in params.items():
                np.copyto(model.params[name], w)
            if state is not None:
                model.set_state(state)

    def apply(self, model):
        """Put the averaged weights in ``model`` for good (the end of training)."""
        self._copy_into(model, _model_state(model))

    def _copy_into(self, model, state):
        for name, average in self.params.items():
            np.copyto(model.params[name], average)  # into the arrays the layers laid out
        if state is not None and self.state:
            model.set_state(with_float_arrays(state, iter(self.state)))

    def get_state(self):
        """The averages, for a checkpoint."""
        return {"params": dict(self.params), "state": list(self.state)}

    def set_state(self, state):
        """Restore what ``get_state`` returned (arrays in the layout of the current averages)."""
        for name, value in state["params"].items():
            np.copyto(self.params[name], value)
        for average, value in zip(self.state, state["state"]):
            np.copyto(average, value)


def swapped_in(averaging, model):
    """``averaging.swapped_in(model)``, or a context that changes nothing when ``averaging`` is None."""
    return contextlib.nullcontext() if averaging is None else averaging.swapped_in(model)


def _model_state(model):
    get_state = getattr(model, "get_state", None)  # CS231n's model classes have no layer state
    return get_state() if get_state is not None else None


def _towards(average, current, weight):
    """``average += weight * (current - average)`` in place (torch's ``lerp_``)."""
    step = np.subtract(current, average)
    step *= weight
    average += step
