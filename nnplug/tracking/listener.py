"""``MlflowTracker``: logs one training job as one MLflow run, as a Solver listener.

What it logs, following PyTorch Lightning's convention for how often:
- ``loss``: the training loss of every ``log_every_n_steps``-th step (step 0 included, so the
  curve starts at the initial loss), with the iteration as its step; 1 logs every step. The
  Solver keeps every step's loss in ``loss_history``, and the run's curves picture shows them all.
- per accuracy check (after the first step and at every epoch end), with the epoch as step:
  ``train_acc``, ``val_acc``, ``learning_rate`` and ``epoch_loss`` (the mean training loss of the
  epoch that just ended: every step counts, whatever the logging interval).
- per check too, from the training diagnostics (``nnplug.core.diagnostics``, which call
  ``on_diagnostics``): ``watch.<layer>.<metric>``, e.g. ``watch.W1.update_ratio``. The MLflow UI
  puts a metric named with a "/" into a section of its own, shown before all others, and sorts the
  rest by name: these names keep the per-layer charts after accuracy and loss.
Rows are buffered and stored with one ``log_batch`` at each epoch end (the check after the first
step waits for the first epoch's): a row costs the SQLite store far less than a call does. MLflow is imported inside the methods (``nnplug.tracking``).
"""
from nnplug.tracking import runs
from nnplug.tracking.store import TrackingUnavailable, connect, describe, open_experiment

DEFAULT_LOG_EVERY_N_STEPS = 10
DIAGNOSTICS = "watch"  # the diagnostics' prefix: sorts after val_acc, the last of a run's own metrics


class MetricsRefused(TrackingUnavailable):
    """The store would not take the run's metrics; the message says why in one line."""


class MlflowTracker:
    """A context manager and Solver listener around one MLflow run.

    Entering creates the run (a child when ``parent_run_id`` is given) with ``params`` and ``tags``;
    leaving ends it FINISHED, or KILLED/FAILED with the reason in the ``nnplug.failure`` tag when an
    exception escapes.

    With ``resume_run_id`` it continues that run instead (its params and tags stay as they are;
    params it lacks are added). A resumed Solver replays from its last checkpoint: steps the run
    already holds are left out (the replay is exact, they are the same values) and steps it lacks
    from before the checkpoint are sent from the Solver's restored history when training starts.
    The metrics of a run's end (``log_metrics``) are stored once: a resume after a stop that came
    after them keeps the values already there.
    """

    def __init__(self, uri, experiment, *, run_name, params, tags, parent_run_id=None, resume_run_id=None,
                 log_every_n_steps=DEFAULT_LOG_EVERY_N_STEPS):
        if not (isinstance(log_every_n_steps, int) and log_every_n_steps >= 1):
            raise ValueError(f"log_every_n_steps={log_every_n_steps!r}: expected a whole number >= 1")
        self.uri = uri
        self.experiment = experiment
        self.run_name = run_name
        self.params = params
        self.tags = tags
        self.parent_run_id = parent_run_id
        self.resume_run_id = resume_run_id
        self.every = log_every_n_steps
        self.client = None
        self.run_id = None
        self.experiment_id = None
        self._rows = []  # (key, value, timestamp, step[, model id]) waiting for the next batch
        self._last_iteration = self._last_epoch = -1  # the steps the run already holds
        self._stored = set()  # the metrics a resumed run holds already

    def connect(self):
        """Open the store (and the experiment), so that a store that cannot be used says so now.

        Entering connects too; a caller connects first to learn about the store before it loads
        data, and creates the run only once everything the run needs is there.
        """
        if self.client is None:
            if self.resume_run_id:
                self.client = connect(self.uri)
            else:
                self.client, self.experiment_id = open_experiment(self.uri, self.experiment)
        return self

    def __enter__(self):
        self.connect()
        if self.resume_run_id:
            run = runs.reopen_run(self.client, self.resume_run_id, self.params)
            self.experiment_id, self.run_id = run.info.experiment_id, self.resume_run_id
            self._stored = set(run.data.metrics)
            self._last_iteration = runs.last_step(self.client, self.run_id, "loss")
            self._last_epoch = runs.last_step(self.client, self.run_id, "val_acc")
        else:
            self.run_id = runs.create_run(self.client, self.experiment_id, self.run_name, self.params, self.tags,
                                          self.parent_run_id)
        return self

    def __exit__(self, exc_type, exc, traceback):
        failure = exc
        try:
            self.flush()
        except Exception as error:  # noqa: BLE001  the store refused the metrics: the run failed
            failure = failure or error
        try:
            runs.end_run(self.client, self.run_id, failure)
        except Exception:  # noqa: BLE001  a store that refused the metrics may refuse this too
            if failure is None:
                raise
        if exc is None and failure is not None:  # the job's only failure: it must not look done
            raise failure
        return False

    # Solver events

    def on_train_start(self, solver):
        now = runs.now_ms()
        self._rows += [("loss", float(loss), now, step) for step, loss in enumerate(solver.loss_history)
                       if step > self._last_iteration and step % self.every == 0]
        for epoch in range(self._last_epoch + 1, len(solver.val_acc_history)):
            self._rows += self._epoch_rows(solver, epoch, solver.train_acc_history[epoch],
                                           solver.val_acc_history[epoch], solver.lr_history[epoch], now)
        self._last_iteration = max(self._last_iteration, len(solver.loss_history) - 1)
        self._last_epoch = max(self._last_epoch, len(solver.val_acc_history) - 1)

    def on_iteration(self, solver, iteration, loss):
        if iteration % self.every == 0 and iteration > self._last_iteration:
            self._rows.append(("loss", float(loss), runs.now_ms(), int(iteration)))

    def on_epoch_end(self, solver, epoch, train_acc, val_acc, learning_rate):
        if epoch > self._last_epoch:
            self._rows += self._epoch_rows(solver, epoch, train_acc, val_acc, learning_rate, runs.now_ms())
            if epoch >= 1:  # the check after the first step (epoch 0) waits for the first epoch's rows
                self.flush()

    def on_train_end(self, solver):
        self.flush()

    def on_diagnostics(self, epoch, record):
        """Buffer a check's diagnostics (``{layer: {metric: value}}``) as ``watch.<layer>.<metric>`` at step ``epoch``."""
        if epoch > self._last_epoch:
            now = runs.now_ms()
            self._rows += [(f"{DIAGNOSTICS}.{layer}.{metric}", float(value), now, int(epoch))
                           for layer, values in record.items() for metric, value in values.items()]

    @staticmethod
    def _epoch_rows(solver, epoch, train_acc, val_acc, learning_rate, now):
        rows = [("train_acc", float(train_acc), now, epoch), ("val_acc", float(val_acc), now, epoch),
                ("learning_rate", float(learning_rate), now, epoch)]
        per_epoch = solver.iterations_per_epoch
        losses = solver.loss_history[(epoch - 1) * per_epoch:epoch * per_epoch] if epoch >= 1 else []
        if losses:
            rows.append(("epoch_loss", sum(losses) / len(losses), now, epoch))
        return rows

    # Results

    def log_metrics(self, values, step=0, model_id=None):
        """Store the run's end metrics ``values`` (name -> number) at ``step`` now, with whatever is
        buffered; linked to the LoggedModel ``model_id`` when given. A metric the resumed run holds
        already is left as it is: each is stored once."""
        now = runs.now_ms()
        self._rows += [(key, float(value), now, int(step), model_id) for key, value in values.items()
                       if key not in self._stored]
        self.flush()

    def set_tags(self, tags):
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(key, str(value)) for key, value in tags.items()])

    def log_artifacts(self, paths):
        for path in paths:
            self.client.log_artifact(self.run_id, str(path))

    def flush(self):
        """Store the buffered rows in one ``log_batch`` (MLflow splits it to its request limits)."""
        if not self._rows or self.client is None:
            return
        from mlflow.entities import Metric

        rows, self._rows = self._rows, []
        try:
            self.client.log_batch(self.run_id, metrics=[Metric(*row) for row in rows])
        except Exception as exc:  # noqa: BLE001  a full disk, a server gone: the run cannot go on
            raise MetricsRefused(f"the store {self.uri} refused the run's metrics: {describe(exc)}") from exc
