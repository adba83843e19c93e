"""The Solver: CS231n's training loop, emitting events that trackers and displays listen to."""
import math
import signal
import threading

import numpy as np

from nnplug.contract.registry import UnknownPluginError, default_registry
from nnplug.core import averaging, checkpoint, minibatches, param_groups, schedules, stops, training_state
from nnplug.core.checkpoint import CheckpointError
from nnplug.core.stops import DivergenceError, TrainingInterrupted

EVENTS = ("on_train_start", "on_gradients", "on_iteration", "on_epoch_end", "on_new_best", "on_train_end")


class Solver:
    """Trains any model with ``params`` and ``loss(X, y=None)`` on ``data`` (X_train, y_train, X_val, y_val).

    Options (CS231n's and more): update_rule, optim_config, lr_decay, lr_schedule ('exponential',
    'step', 'cosine' per epoch; 'linear' per step, see ``nnplug.core.schedules``) with lr_step_size,
    lr_gamma, lr_min, lr_warmup, lr_warmup_start; batch_size, num_epochs, print_every, verbose,
    num_train_samples, num_val_samples, seed, listeners, checkpoint_dir; sampling ('replacement',
    CS231n's, or 'shuffle') and micro_batch (gradient accumulation), see ``nnplug.core.minibatches``;
    transforms: Transform
    plugins applied in order to every training minibatch (data augmentation, see
    ``nnplug.core.augmentation``), never to the accuracy checks; param_groups: rules giving
    parameters learning-rate multipliers, weight decay on or off, or freezing them
    (``nnplug.core.param_groups``): every update rule gets them the same way, through each
    parameter's own config, and frozen parameters get no update and no optimizer state; average
    ('none', 'ema', 'lookahead') with average_decay, average_every, average_ramp: an average of the
    weights that the checks validate and training ends with (``nnplug.core.averaging``).

    Listeners are objects with any of the methods named in ``EVENTS``; the Solver knows nothing else
    about them.

    SIGINT or SIGTERM during ``train()`` (in the main thread) ends training after the iteration it
    arrives in with ``TrainingInterrupted``, a KeyboardInterrupt, so that listeners see the run
    end (the MLflow tracker records it KILLED) instead of the process vanishing; a second signal
    stops at once. With ``checkpoint_dir`` set, the complete training state is saved there
    (``nnplug.checkpoint``) at every epoch end and before that exception; ``restore()`` loads it so
    that ``train()`` continues exactly where it stopped: same parameters, histories and random
    draws as a run never interrupted.
    """

    def __init__(self, model, data, **kwargs):
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

        self.update_rule_name = kwargs.pop("update_rule", "sgd")
        self.optim_config = dict(kwargs.pop("optim_config", {}))
        for key, default in {**schedules.OPTIONS, **averaging.OPTIONS}.items():  # lr_decay, ..., average, ...
            setattr(self, key, kwargs.pop(key, default))
        self.batch_size = kwargs.pop("batch_size", 100)
        self.sampling = kwargs.pop("sampling", "replacement")
        self.micro_batch = kwargs.pop("micro_batch", None)
        self.num_epochs = kwargs.pop("num_epochs", 10)
        self.print_every = kwargs.pop("print_every", 10)
        self.verbose = kwargs.pop("verbose", True)
        self.num_train_samples = kwargs.pop("num_train_samples", 1000)
        self.num_val_samples = kwargs.pop("num_val_samples", None)
        self.seed = kwargs.pop("seed", None)
        self.registry = kwargs.pop("registry", None) or default_registry()
        listeners = list(kwargs.pop("listeners", ()))
        self.checkpoint_dir = kwargs.pop("checkpoint_dir", None)
        self.transforms = list(kwargs.pop("transforms", ()))
        self.param_groups = kwargs.pop("param_groups", None)
        if kwargs:
            raise ValueError("Unrecognized arguments %s" % ", ".join('"%s"' % k for k in kwargs))
        try:
            self.update_rule = self.registry.get("optimizers", self.update_rule_name)
        except UnknownPluginError as exc:
            raise ValueError(f'Invalid update_rule "{self.update_rule_name}": {exc}') from None
        if self.lr_schedule not in schedules.SCHEDULES:
            raise ValueError(f"Invalid lr_schedule {self.lr_schedule!r}: expected one of {', '.join(schedules.SCHEDULES)}")
        if int(self.batch_size) < 1:
            raise ValueError(f"Invalid batch_size {self.batch_size!r}: expected an integer >= 1")
        minibatches.check(self.sampling, self.micro_batch)

        try:
            self.param_settings = param_groups.resolve(self.param_groups, self.model)
        except ValueError as exc:
            raise ValueError(f"Invalid param_groups: {exc}") from None
        decayed = param_groups.decayed(self.param_settings, getattr(self.model, "regularized", None))
        if decayed is not None:  # the model's L2 term follows the groups' decay
            self.model.regularized = decayed

        self._signal = None  # set by the handler, acted on between iterations
        self._listeners = {event: [] for event in EVENTS}
        for listener in listeners:
            self.subscribe(listener)
        self._reset()

    def subscribe(self, listener):
        """Call ``listener``'s ``on_*`` methods (any subset of ``EVENTS``) as training goes on."""
        for event in EVENTS:
            method = getattr(listener, event, None)
            if method is not None:
                self._listeners[event].append(method)

    def _emit(self, event, *args):
        for method in self._listeners[event]:
            method(self, *args)

    def _reset(self):
        self.epoch = 0
        self.iteration = 0
        self.best_val_acc = 0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.lr_history = []
        self.clock = training_state.Clock()  # the seconds train() took, over a stop and a restore too
        self.rng = np.random.default_rng(self.seed)
        self.order = None  # this epoch's permutation of the training rows (sampling='shuffle')
        base = {**self.update_rule.defaults, **self.optim_config}
        self.base_learning_rate = base.get("learning_rate")
        self.optim_configs = {p: param_groups.optimizer_config(base, setting)
                              for p, setting in self.param_settings.items() if setting.trainable}
        self._schedule()
        self.averaging = averaging.start(self.model, **{key: getattr(self, key) for key in averaging.OPTIONS})

    @property
    def learning_rate(self):
        """The learning rate now in force, before any group's multiplier."""
        for p, config in self.optim_configs.items():
            mult = self.param_settings[p].lr_mult
            if mult > 0 and config.get("learning_rate") is not None:
                return config["learning_rate"] / mult
        return self.base_learning_rate

    def _set_learning_rate(self, lr):
        """Every trainable parameter's learning rate: ``lr`` times its group's multiplier."""
        for p, config in self.optim_configs.items():
            config["learning_rate"] = lr * self.param_settings[p].lr_mult

    @property
    def iterations_per_epoch(self):
        return max(self.X_train.shape[0] // self.batch_size, 1)

    @property
    def num_iterations(self):
        return self.num_epochs * self.iterations_per_epoch

    def _step(self):
        """One update on the next minibatch (``sampling``); returns its loss."""
        idx, self.order = minibatches.draw_rows(self.sampling, self.rng, self.X_train.shape[0], self.batch_size,
                                                self.iteration % self.iterations_per_epoch, self.order)
        X_batch, y_batch = self.X_train[idx], self.y_train[idx]
        for transform in self.transforms:  # X_batch is a fresh copy: a transform may work in place
            transform.set_epoch(self.epoch)
            X_batch = transform(X_batch)
        loss, grads = minibatches.loss_and_gradients(self.model, X_batch, y_batch, self.micro_batch)
        if not math.isfinite(loss):  # a Python or numpy float: math's test is the cheap one
            raise DivergenceError(
                f"loss became {loss} at iteration {self.iteration + 1} (epoch {self.epoch}) "
                f"with learning rate {self.learning_rate:g}; {stops.likely_cause(self.X_train)}")
        self.loss_history.append(loss)
        self._emit("on_gradients", self.iteration, grads)  # before the update: diagnostics see both sides
        params, configs, update = self.model.params, self.optim_configs, self.update_rule.fn
        for p, config in configs.items():  # frozen parameters have none
            if self.param_settings[p].trains_in(self.epoch):
                w = params[p]
                params[p], configs[p] = update(w, grads[p], config, out=w)
        if self.averaging is not None:
            self.averaging.update(self.model, self.iteration + 1, self.num_iterations)
        return loss

    def _schedule(self, epoch_end=False):
        """Set the rate of the next step, after a step or an epoch end (``nnplug.core.schedules``)."""
        if epoch_end and self.lr_schedule == "exponential":
            for config in self.optim_configs.values():
                config["learning_rate"] *= self.lr_decay
        elif (rate := schedules.next_rate(self, epoch_end)) is not None:
            self._set_learning_rate(rate)

    def _end_epoch(self):
        self.epoch += 1
        self._schedule(epoch_end=True)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Accuracy on ``num_samples`` random rows of X (all of them by default), predicted in batches."""
        n = X.shape[0]
        if num_samples is not None and n > num_samples:
            idx = self.rng.choice(n, num_samples)
            X, y, n = X[idx], y[idx], num_samples
        predictions = np.empty(n, dtype=np.int64)
        for start in range(0, n, batch_size):
            scores = self.model.loss(X[start:start + batch_size])
            predictions[start:start + batch_size] = np.argmax(scores, axis=1)
        return float(np.mean(predictions == y))

    def _check(self):
        with averaging.swapped_in(self.averaging, self.model):  # the average is what is checked and kept
            train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
            val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
            # copies in each parameter's layout (ndarray.copy() would make F-ordered weights C):
            # the model trains on with these after train() and must stay as fast
            best = ({k: v.copy(order="K") for k, v in self.model.params.items()}
                    if val_acc > self.best_val_acc else None)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self.lr_history.append(self.learning_rate)
        if self.verbose:
            print("(Epoch %d / %d) train acc: %f; val_acc: %f"
                  % (self.epoch, self.num_epochs, train_acc, val_acc))
        self._emit("on_epoch_end", self.epoch, train_acc, val_acc, self.learning_rate)
        if best is not None:
            self.best_val_acc = val_acc
            self.best_params = best
            self._emit("on_new_best", self.epoch, val_acc)

    def train(self):
        """Run the remaining iterations (all of them, unless restored from a checkpoint)."""
        previous = self._catch_signals()
        try:
            # A diverging run overflows to inf and NaN on its way to the loss check, which stops it
            # with one DivergenceError naming the iteration and learning rate (and no checkpoint
            # keeps non-finite parameters): numpy's warnings along the way would only bury it.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"), self.clock:
                self._train()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if self._signal is not None:  # arrived after the last iteration: still a stop (any checkpoint is complete)
            raise TrainingInterrupted(self._signal, self.checkpoint_path)

    def _train(self):
        if self.averaging is not None and self.iteration == 0:  # a warm start sets weights after __init__
            self.averaging.start(self.model)
        self._emit("on_train_start")
        self._iterate(self.num_iterations, self.iterations_per_epoch)
        if self.averaging is not None:  # the averaged layer state goes with the averaged best parameters
            self.averaging.apply(self.model)
        if self.best_params:
            self.model.params = self.best_params
        self._emit("on_train_end")

    def _iterate(self, num_iterations, per_epoch):
        while self.iteration < num_iterations:
            t = self.iteration
            epoch_end = (t + 1) % per_epoch == 0
            check = t == 0 or epoch_end or t + 1 == num_iterations
            loss = self._step()
            self.iteration += 1
            self._schedule()  # a per-step schedule's next rate
            if self.verbose and t % self.print_every == 0:
                print("(Iteration %d / %d) loss: %f" % (t + 1, num_iterations, loss))
            self._emit("on_iteration", t, loss)
            if epoch_end:
                self._end_epoch()
            if check:
                self._check()
            if epoch_end and self.checkpoint_dir is not None:
                self.save_checkpoint()
            if self._signal is not None:
                if not epoch_end and self.checkpoint_dir is not None:
                    self.save_checkpoint()
                raise TrainingInterrupted(self._signal, self.checkpoint_path)

    # --- checkpoints ----------------------------------------------------------------------------

    @property
    def checkpoint_path(self):
        return None if self.checkpoint_dir is None else checkpoint.path_in(self.checkpoint_dir)

    def _catch_signals(self):
        """Turn SIGINT/SIGTERM into a flag the loop checks: training stops between steps, never in one."""
        self._signal = None
        if threading.current_thread() is not threading.main_thread():
            return {}  # Python only lets the main thread install handlers
        return {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}

    def _on_signal(self, signum, frame):
        if self._signal is not None:  # asked twice: stop now; the last checkpoint (if any) is intact
            raise TrainingInterrupted(signum)
        self._signal = signum

    def fingerprint(self):
        """What a checkpoint must agree on to continue this run: options, parameter and data shapes."""
        return training_state.fingerprint(self)

    def get_state(self):
        """The complete training state: everything ``train()`` reads and changes."""
        return training_state.get_state(self)

    def set_state(self, state):
        """Restore what ``get_state`` returned; ValueError when it belongs to a different run.

        All or nothing: when a part does not fit, the Solver and model keep their previous state.
        """
        training_state.set_state(self, state)

    def save_checkpoint(self, path=None):
        """Write the training state to ``path`` (default: the checkpoint in ``checkpoint_dir``)."""
        path = path or self.checkpoint_path
        bad = [name for name, w in self.model.params.items() if not np.all(np.isfinite(w))]
        if bad:  # a checkpoint must be a state worth resuming from
            raise DivergenceError(
                f"parameters {', '.join(bad)} became non-finite by iteration {self.iteration} "
                f"(epoch {self.epoch}) with learning rate {self.learning_rate:g}; not saving a "
                f"checkpoint; {stops.likely_cause(self.X_train)}")
        checkpoint.save(path, self.get_state())
        return path

    def restore(self, checkpoint_dir=None):
        """Load the checkpoint in ``checkpoint_dir`` (default: this Solver's) so ``train()`` continues.

        Returns the iteration training continues from. Raises ``CheckpointError`` naming the file
        when it is missing, damaged, or written by a run with other options or shapes.
        """
        directory = checkpoint_dir or self.checkpoint_dir
        if directory is None:
            raise ValueError("restore() needs a checkpoint_dir: none was given here or to the Solver")
        path = checkpoint.path_in(directory)
        state = checkpoint.load(path)
        try:
            self.set_state(state)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            reason = str(exc) if isinstance(exc, ValueError) else f"malformed state ({type(exc).__name__}: {exc})"
            raise CheckpointError(path, reason) from None
        return self.iteration
