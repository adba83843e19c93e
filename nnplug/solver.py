"""The Solver: CS231n's training loop, emitting events that trackers and displays listen to."""
import numpy as np

from nnplug.registry import UnknownPluginError, default_registry
from nnplug.schedules import SCHEDULES, learning_rate

EVENTS = ("on_train_start", "on_iteration", "on_epoch_end", "on_new_best", "on_train_end")


class DivergenceError(RuntimeError):
    """The loss stopped being a finite number."""


class Solver:
    """Trains any model with ``params`` and ``loss(X, y=None)`` on ``data`` (X_train, y_train, X_val, y_val).

    Options (CS231n's and more): update_rule, optim_config, lr_decay, lr_schedule ('exponential',
    'step', 'cosine') with lr_step_size, lr_gamma, lr_min; batch_size, num_epochs, print_every,
    verbose, num_train_samples, num_val_samples, seed, listeners.

    Listeners are objects with any of the methods named in ``EVENTS``; the Solver knows nothing else
    about them.
    """

    def __init__(self, model, data, **kwargs):
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

        self.update_rule_name = kwargs.pop("update_rule", "sgd")
        self.optim_config = dict(kwargs.pop("optim_config", {}))
        self.lr_decay = kwargs.pop("lr_decay", 1.0)
        self.lr_schedule = kwargs.pop("lr_schedule", "exponential")
        self.lr_step_size = kwargs.pop("lr_step_size", 1)
        self.lr_gamma = kwargs.pop("lr_gamma", 0.1)
        self.lr_min = kwargs.pop("lr_min", 0.0)
        self.batch_size = kwargs.pop("batch_size", 100)
        self.num_epochs = kwargs.pop("num_epochs", 10)
        self.print_every = kwargs.pop("print_every", 10)
        self.verbose = kwargs.pop("verbose", True)
        self.num_train_samples = kwargs.pop("num_train_samples", 1000)
        self.num_val_samples = kwargs.pop("num_val_samples", None)
        self.seed = kwargs.pop("seed", None)
        self.registry = kwargs.pop("registry", None) or default_registry()
        listeners = list(kwargs.pop("listeners", ()))
        if kwargs:
            raise ValueError("Unrecognized arguments %s" % ", ".join('"%s"' % k for k in kwargs))
        try:
            self.update_rule = self.registry.get("optimizers", self.update_rule_name)
        except UnknownPluginError as exc:
            raise ValueError(f'Invalid update_rule "{self.update_rule_name}": {exc}') from None
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"Invalid lr_schedule {self.lr_schedule!r}: expected one of {', '.join(SCHEDULES)}")
        if int(self.batch_size) < 1:
            raise ValueError(f"Invalid batch_size {self.batch_size!r}: expected an integer >= 1")

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
        self.rng = np.random.default_rng(self.seed)
        base = {**self.update_rule.defaults, **self.optim_config}
        self.base_learning_rate = base.get("learning_rate")
        self.optim_configs = {p: dict(base) for p in self.model.params}

    @property
    def learning_rate(self):
        """The learning rate now in force (the same for every parameter)."""
        return next(iter(self.optim_configs.values()), {}).get("learning_rate")

    @property
    def iterations_per_epoch(self):
        return max(self.X_train.shape[0] // self.batch_size, 1)

    @property
    def num_iterations(self):
        return self.num_epochs * self.iterations_per_epoch

    def _step(self):
        idx = self.rng.integers(0, self.X_train.shape[0], self.batch_size)
        loss, grads = self.model.loss(self.X_train[idx], self.y_train[idx])
        if not np.isfinite(loss):
            raise DivergenceError(
                f"loss became {loss} at iteration {self.iteration + 1} (epoch {self.epoch}) "
                f"with learning rate {self.learning_rate:g}; try a smaller learning rate")
        self.loss_history.append(loss)
        params = self.model.params
        for p, w in params.items():
            params[p], self.optim_configs[p] = self.update_rule(w, grads[p], self.optim_configs[p], out=w)
        return loss

    def _end_epoch(self):
        self.epoch += 1
        if self.lr_schedule == "exponential":
            for config in self.optim_configs.values():
                config["learning_rate"] *= self.lr_decay
            return
        lr = learning_rate(self.lr_schedule, self.base_learning_rate, self.epoch,
                           step_size=self.lr_step_size, gamma=self.lr_gamma,
                           num_epochs=self.num_epochs, min_lr=self.lr_min)
        for config in self.optim_configs.values():
            config["learning_rate"] = lr

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
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self.lr_history.append(self.learning_rate)
        if self.verbose:
            print("(Epoch %d / %d) train acc: %f; val_acc: %f"
                  % (self.epoch, self.num_epochs, train_acc, val_acc))
        self._emit("on_epoch_end", self.epoch, train_acc, val_acc, self.learning_rate)
        if val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
            self._emit("on_new_best", self.epoch, val_acc)

    def train(self):
        """Run the remaining iterations (all of them, unless restored from a checkpoint)."""
        num_iterations = self.num_iterations
        self._emit("on_train_start")
        while self.iteration < num_iterations:
            t = self.iteration
            loss = self._step()
            self.iteration += 1
            if self.verbose and t % self.print_every == 0:
                print("(Iteration %d / %d) loss: %f" % (t + 1, num_iterations, loss))
            self._emit("on_iteration", t, loss)
            epoch_end = self.iteration % self.iterations_per_epoch == 0
            if epoch_end:
                self._end_epoch()
            if t == 0 or epoch_end or self.iteration == num_iterations:
                self._check()
        if self.best_params:
            self.model.params = self.best_params
        self._emit("on_train_end")
