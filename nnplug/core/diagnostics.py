"""Training diagnostics per parameterised layer, per epoch: what CS231n teaches to watch while a net trains.

For every layer with parameters (named by its first parameter: ``W1``, ``gamma1``, ``W2``, ...;
inside a composite layer each child is measured, ``residual4.W1``):

- ``update_ratio``: ||W after the step - W before|| / ||W before|| of the layer's first parameter
  that trains (a frozen one never moves: batch norm with its scale frozen is measured on its
  shift, a layer whose parameters are all frozen has no ratio nor gradient norm). CS231n's rule
  of thumb is about 1e-3: much higher and the learning rate is likely too high, much lower and it
  is likely too low. The actual step, whatever the update rule (momentum, Adam), not lr * grad;
- ``grad_norm``: ||dW|| of that step's minibatch;
- ``activation_mean``, ``activation_std``: of what the layer's block hands on (the output of the
  last layer before the next parameterised one: after the ReLU of ``affine - relu``);
- ``dead_fraction`` (blocks with a ReLU-like layer, ``Layer.rectifier``): the fraction of its units
  that are <= 0 for every sample of the probe batch, so pass no gradient.

When: the update and gradient are measured on the steps after which the Solver checks accuracy
(the first step and each epoch's last), so each epoch's values sit beside its ``val_acc``; a
copy of the weights before those steps is all it keeps. Measuring every step would cost a tiny
net (the default digits run) a large part of its step time; one step an epoch costs nothing
measurable (``bench/diagnostics.py``).

Activations are measured on a fixed probe batch (the first ``PROBE_ROWS`` training rows, test
mode) at each check rather than on the epoch's minibatches: the same inputs every epoch, so a
change is the network's and not the batch's; no work inside the training steps (fused layers
never expose the activations between them); and "never fired on 256 samples" is a count that
means the same in every epoch, where minibatches drawn with replacement would leave it to chance
which samples an epoch saw. The probe runs in test mode and restores every layer's state after
it: training is bit-identical with diagnostics on or off.
"""
import copy
import logging

import numpy as np

PROBE_ROWS = 256
# Two orders of magnitude either side of CS231n's 1e-3: "far off", worth one warning line.
HIGH_RATIO = 1e-1
LOW_RATIO = 1e-5
METRICS = ("update_ratio", "grad_norm", "activation_mean", "activation_std", "dead_fraction")

log = logging.getLogger(__name__)


class Diagnostics:
    """A Solver listener that measures the diagnostics above at every accuracy check.

    Inputs:
    - sinks: objects with ``on_diagnostics(epoch, record)``, called at each check with
      ``record = {layer name: {metric: value}}`` (the MLflow tracker logs them as
      ``watch.<layer>.<metric>``);
    - probe_rows: how many training rows the activations are measured on.

    ``history`` holds ``(epoch, record)`` of every check of this ``train()``. One warning line
    (logged, once a run) names the layers whose update ratio is above ``HIGH_RATIO`` at a check;
    another at the end of training those whose median ratio over the epochs is below ``LOW_RATIO``.
    Models that are no ``Network`` (no tree of layers, ``root``) are left alone.
    """

    def __init__(self, sinks=(), probe_rows=PROBE_ROWS):
        self.sinks = list(sinks)
        self.probe_rows = probe_rows
        self.history = []
        self.warned = False
        self._blocks = None
        self._measured = set()
        self._before = None  # the weights before the step being measured, by parameter name
        self._step = {}  # that step's gradient norms and update ratios, by layer name

    # Solver events

    def on_train_start(self, solver):
        trainable = getattr(solver, "optim_configs", None)  # the parameters the update rule moves
        self._blocks = blocks(solver.model, trainable) if hasattr(solver.model, "root") else None
        self.history = []
        per_epoch, total = solver.iterations_per_epoch, solver.num_iterations
        self._measured = {0, total - 1, *range(per_epoch - 1, total, per_epoch)}  # the steps the Solver checks after
        self._keep_weights(solver, solver.iteration)

    def on_gradients(self, solver, iteration, grads):
        if self._before is not None:
            for name, block in self._moving():
                self._step[name] = {"grad_norm": _norm(grads[block.param])}

    def on_iteration(self, solver, iteration, loss):
        if self._before is not None:
            settings = getattr(solver, "param_settings", {})
            for name, block in self._moving():
                if block.param in settings and not settings[block.param].trains_in(solver.epoch):
                    continue  # a group's train_epochs are over: standing still is what it asked for
                before = self._before[block.param]
                scale = _norm(before)
                ratio = _norm(solver.model.params[block.param] - before) / scale if scale > 0 else float("nan")
                self._step.setdefault(name, {})["update_ratio"] = ratio
            self._before = None
        self._keep_weights(solver, iteration + 1)

    def on_epoch_end(self, solver, epoch, train_acc, val_acc, learning_rate):
        if self._blocks is None:
            return
        record = activations(solver.model, self._blocks, solver.X_train[:self.probe_rows])
        for name, measured in self._step.items():
            record[name].update(measured)
        self._step = {}
        self.history.append((epoch, record))
        too_high = [name for name, values in record.items() if values.get("update_ratio", 0) > HIGH_RATIO]
        if too_high and not self.warned:
            self.warned = True
            log.warning(ratio_warning(too_high, record, "above", HIGH_RATIO, f"at epoch {epoch}", self._blocks))
        for sink in self.sinks:
            sink.on_diagnostics(epoch, record)

    def on_train_end(self, solver):
        ratios = {}
        for epoch, record in self.history:
            for name, values in record.items():
                if epoch >= 1 and "update_ratio" in values:  # the first step of momentum or Adam is no guide
                    ratios.setdefault(name, []).append(values["update_ratio"])
        medians = {name: {"update_ratio": float(np.median(values))} for name, values in ratios.items()}
        too_low = [name for name, values in medians.items() if values["update_ratio"] < LOW_RATIO]
        if too_low:
            log.warning(ratio_warning(too_low, medians, "below", LOW_RATIO, "over the epochs (median)", self._blocks))

    def _keep_weights(self, solver, iteration):
        """Copy the weights if the step ``iteration`` is one the Solver checks after."""
        if self._blocks is not None and iteration in self._measured:
            self._before = {block.param: solver.model.params[block.param].copy() for _, block in self._moving()}

    def _moving(self):
        return [(name, block) for name, block in self._blocks.items() if block.param is not None]


class Block:
    """A parameterised layer and the parameter-free layers after it in its branch (nodes of ``Network.nodes``)."""

    def __init__(self, param, nodes, rectifier):
        self.param = param  # the global name of the layer's first trainable parameter, or None
        self.nodes = nodes
        self.rectifier = rectifier  # its ReLU-like node, or None


def blocks(network, trainable=None):
    """``{layer name: Block}`` in order, one per layer with parameters, walking the network's tree: a
    block ends with its branch or at a composite layer (whose children form blocks of their own);
    layers before the first parameterised one of a branch have none. A layer is named by its first
    parameter and measured on its first one in ``trainable`` (default: every parameter)."""
    found = {}

    def visit(branch):
        current = None
        for node in branch.nodes:
            if node.branches:  # a composite: its children are measured, not it
                current = None
                for child in node.branches:
                    visit(child)
            elif node.names:
                first = next(iter(node.names.values()))
                moving = next((g for g in node.names.values() if trainable is None or g in trainable), None)
                current = found[first] = Block(moving, [node], None)
            elif current is not None:
                current.nodes.append(node)
                if getattr(node.layer, "rectifier", False) and current.rectifier is None:
                    current.rectifier = node

    visit(network.root)
    return found


def activations(network, layer_blocks, X):
    """``{layer name: {activation_mean, activation_std[, dead_fraction]}}`` on ``X`` in test mode.

    The layers run one by one (fused runners would not show what passes between them); every
    layer's state is restored afterwards, whatever a plugin does in test mode.
    """
    state = copy.deepcopy(network.get_state())
    ends = {id(block.nodes[-1]): name for name, block in layer_blocks.items()}
    rectifiers = {id(block.rectifier): name for name, block in layer_blocks.items() if block.rectifier is not None}
    record = {name: {} for name in layer_blocks}

    def observe(node, out):
        if id(node) in rectifiers:
            fired = (out.reshape(len(out), -1) > 0).any(axis=0)
            record[rectifiers[id(node)]]["dead_fraction"] = float(1.0 - fired.mean())
        if id(node) in ends:  # accumulated in float64 whatever the network computes in
            record[ends[id(node)]].update(activation_mean=float(out.mean(dtype=np.float64)),
                                          activation_std=float(out.std(dtype=np.float64)))

    try:
        network.root.forward(X if X.dtype == network.dtype else X.astype(network.dtype), "test", observe=observe)
    finally:
        network.set_state(state)
    return record


def ratio_warning(names, record, side, bound, when, layer_blocks=None):
    """One line naming the layers whose update/weight ratio is far off, with their values; a layer
    measured on another parameter than the one it is named by says which (batch norm with its scale
    frozen: ``gamma3 (beta3)``)."""
    def label(name):
        measured = layer_blocks[name].param if layer_blocks else name
        return name if measured == name else f"{name} ({measured})"

    values = ", ".join(f"{label(name)} {record[name]['update_ratio']:.1e}" for name in names)
    cause = "too high (the loss may diverge)" if side == "above" else "too low (training crawls)"
    return (f"update/weight ratio {side} {bound:g} {when}: {values}; CS231n's rule of thumb is ~1e-3, so the "
            f"learning rate is likely {cause}")


def _norm(a):
    flat = a.ravel(order="K")  # a view in either memory layout
    return float(np.sqrt(np.dot(flat, flat)))
