"""MLflow tracking: one training job becomes one MLflow run; a sweep becomes a parent run.

This is the only module that imports mlflow, and it does so inside functions: importing mlflow
takes about three seconds, which ``python -m nnplug --help`` must not pay.

It talks to MLflow through ``MlflowClient`` with explicit run ids, never through the fluent
``mlflow.start_run`` stack: the joblib launcher reuses worker processes, and a process-wide
"active run" left over from one job must not leak into the next.

The default store is embedded: ``sqlite:///<cwd>/outputs/mlflow.db`` by absolute path, its
artifacts beside it in ``outputs/mlartifacts``. The same rule (artifacts in ``mlartifacts/``
next to the database file) applies to any ``sqlite:`` URI; a server decides for itself.

A tracking server is asked ``/health`` once, briefly, before anything is logged to it: the MLflow
client retries an unreachable server for minutes, and a run must learn that before its data
loads and it trains, not after.
"""
import http.client
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)

STORE_DIR = "outputs"
DATABASE = "mlflow.db"
ARTIFACTS = "mlartifacts"
PARENT_RUN_TAG = "mlflow.parentRunId"  # what mlflow.start_run(parent_run_id=...) sets
FAILURE_TAG = "nnplug.failure"
BEST_METRIC = "best_val_acc"
HEALTH_TIMEOUT = 5  # seconds; a server that is up answers /health in milliseconds
# Stored inline, a batch costs about 6 ms on SQLite beyond 60 us per row: an epoch-end flush of a
# 40-step MNIST-1D epoch would spend 0.6 s of a 9 s run on it. Epochs shorter than this share one.
INLINE_FLUSH_SECONDS = 2.0
# The writer process gets the losses at least this often, so that it stores them while the epoch
# goes on: handed over only at the epoch's end, a long epoch's rows (or the only epoch's) would all
# be stored after it, with training waiting at the end of the run.
SEND_SECONDS = 0.25


class TrackingUnavailable(ValueError):
    """No MLflow tracking server answers at the configured URI."""


def tracking_uri(configured=None, cwd=None):
    """The store to log to: the configured URI, else $MLFLOW_TRACKING_URI, else the local default."""
    if configured:
        return str(configured)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    database = Path(cwd or os.getcwd()).resolve() / STORE_DIR / DATABASE
    return f"sqlite:///{database}"


def sqlite_path(uri):
    """The database file of a ``sqlite:`` URI (``sqlite:////abs`` or ``sqlite:///rel``), else None."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix):]).resolve() if uri.startswith(prefix) else None


def ui_hint(uri, experiment_id=None, run_id=None):
    """How to see the runs of ``uri`` in the MLflow UI: a server's page, or the command to start one."""
    if uri.startswith(("http://", "https://")):
        page = f"{uri.rstrip('/')}/#/experiments/{experiment_id}" if experiment_id else uri
        return f"{page}/runs/{run_id}" if experiment_id and run_id else page
    # One worker starts in seconds; mlflow ui's default pool of workers takes much longer.
    return f"mlflow ui --backend-store-uri {uri} --workers 1"


def check_server(uri):
    """Raise ``TrackingUnavailable`` unless the server at an ``http(s):`` URI answers ``/health``.

    One request, a short timeout, no retries. A client error (401, 404) still means a server
    answers, and MLflow's own error will then say more; a 5xx means a proxy whose server is down,
    which MLflow would retry for minutes. Other URIs are local stores: nothing to ask.
    """
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=HEALTH_TIMEOUT):
            return
    except urllib.error.HTTPError as exc:
        if exc.code < 500:
            return
        reason = f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:  # refused, unknown host, connect timeout
        reason = str(exc.reason)
    except (OSError, http.client.HTTPException) as exc:  # read timeout, reset, not speaking HTTP
        reason = str(exc) or type(exc).__name__
    raise TrackingUnavailable(
        f"tracking.uri={uri}: no MLflow server answers ({reason}); start it, or log locally with "
        f"tracking.uri=null (and unset MLFLOW_TRACKING_URI)")


def connect(uri):
    """An ``MlflowClient`` for ``uri``, once a server there is known to answer."""
    check_server(uri)
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def open_experiment(uri, name):
    """A client for ``uri`` and the id of experiment ``name``, creating store and experiment if new.

    Creating a SQLite store migrates its schema, which crashes when several processes do it at
    once: a sweep calls this once in the Hydra process before any job starts.
    """
    from mlflow.exceptions import MlflowException

    database = sqlite_path(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    client = connect(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return client, experiment.experiment_id
    location = (database.parent / ARTIFACTS).as_uri() if database is not None else None
    try:
        return client, client.create_experiment(name, artifact_location=location)
    except MlflowException:  # another process created it after we looked
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return client, experiment.experiment_id


class MlflowTracker:
    """Logs one training job as one MLflow run: a Solver listener and a context manager.

    Entering creates the run (a child when ``parent_run_id`` is given) and logs params and tags;
    leaving ends it FINISHED, or FAILED with the reason in the ``nnplug.failure`` tag when an
    exception escapes. Per-iteration losses are buffered and sent in batches (one ``log_metric``
    per step costs 10-25 ms on SQLite). With ``background`` (the default) a batch goes to this
    process's metric writer (``nnplug.metric_sender``) at every epoch end and every
    ``SEND_SECONDS`` within one, and the writer stores it on another core while training goes on;
    leaving waits for what it still holds. Without, the tracker stores each epoch's batch itself
    before training goes on, which is what jobs that already keep every core busy should do, and
    then at most every ``INLINE_FLUSH_SECONDS``: epochs shorter than that go in one batch.

    With ``resume_run_id`` it continues that run instead (its params and tags stay as they are).
    A resumed Solver replays from its last checkpoint. Steps the run already holds are left out
    (the replay is exact: they are the same values); steps it lacks from before the checkpoint
    (their batch was still on its way to the store when the job was killed) are sent from the
    Solver's restored history when training starts.
    """

    def __init__(self, uri, experiment, *, run_name, params, tags, parent_run_id=None, resume_run_id=None,
                 background=True):
        self.uri = uri
        self.experiment = experiment
        self.run_name = run_name
        self.params = params
        self.tags = tags
        self.parent_run_id = parent_run_id
        self.resume_run_id = resume_run_id
        self.background = background
        self.run_id = None
        self.experiment_id = None
        self._client = None
        self._sender = None
        self._metrics = []  # (key, value, timestamp, step) waiting for the next batch
        self._batch_limit = None
        self._flushed_at = time.monotonic()
        self._last_iteration = self._last_epoch = -1  # the steps the run already holds

    def __enter__(self):
        if self.background:
            from nnplug import metric_sender

            self._sender = metric_sender.sender()  # first: it starts up while the run is created
        if self.resume_run_id:
            self._client = connect(self.uri)
            self.experiment_id = reopen_run(self._client, self.resume_run_id)
            self.run_id = self.resume_run_id
            self._last_iteration = last_step(self._client, self.run_id, "loss")
            self._last_epoch = last_step(self._client, self.run_id, "val_acc")
        else:
            self._start_run()
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH

        self._batch_limit = MAX_METRICS_PER_BATCH
        return self

    def _start_run(self):
        from mlflow.entities import Param

        self._client, self.experiment_id = open_experiment(self.uri, self.experiment)
        tags = dict(self.tags)
        if self.parent_run_id:
            tags[PARENT_RUN_TAG] = self.parent_run_id
        run = self._client.create_run(self.experiment_id, tags=context_tags(tags), run_name=self.run_name)
        self.run_id = run.info.run_id
        self._send(params=[Param(key, value) for key, value in param_values(self.params).items()])

    def __exit__(self, exc_type, exc, traceback):
        from mlflow.entities import RunTag
        from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

        unstored = None
        try:
            self.sync()
        except Exception as error:  # noqa: BLE001  the store refused the metrics: the run failed
            unstored = error
        failure = exc or unstored
        status, tags = "FINISHED", []
        if failure is not None:
            status = "KILLED" if isinstance(failure, KeyboardInterrupt) else "FAILED"
            tags.append(RunTag(FAILURE_TAG, _clip(f"{type(failure).__name__}: {failure}", MAX_TAG_VAL_LENGTH)))
        try:
            self._send(tags=tags)
        finally:
            self._client.set_terminated(self.run_id, status)
        if exc is None and unstored is not None:  # the job's only failure: it must not look done
            raise unstored
        return False

    # Solver events

    def on_train_start(self, solver):
        now = _now_ms()
        self._metrics += [("loss", float(loss), now, step)
                          for step, loss in enumerate(solver.loss_history) if step > self._last_iteration]
        for epoch, values in enumerate(zip(solver.train_acc_history, solver.val_acc_history, solver.lr_history)):
            if epoch > self._last_epoch:
                self._metrics += [(key, float(value), now, epoch)
                                  for key, value in zip(("train_acc", "val_acc", "learning_rate"), values)]
        self._last_iteration = max(self._last_iteration, len(solver.loss_history) - 1)
        self._last_epoch = max(self._last_epoch, len(solver.val_acc_history) - 1)

    def on_iteration(self, solver, iteration, loss):
        if iteration <= self._last_iteration:
            return
        self._metrics.append(("loss", float(loss), _now_ms(), int(iteration)))  # cheap: every step
        if len(self._metrics) >= self._batch_limit or (
                self._sender is not None and time.monotonic() - self._flushed_at >= SEND_SECONDS):
            self.flush()

    def on_epoch_end(self, solver, epoch, train_acc, val_acc, learning_rate):
        if epoch <= self._last_epoch:
            return
        now = _now_ms()
        self._metrics += [("train_acc", float(train_acc), now, int(epoch)),
                          ("val_acc", float(val_acc), now, int(epoch)),
                          ("learning_rate", float(learning_rate), now, int(epoch))]
        if self._sender is not None or time.monotonic() - self._flushed_at >= INLINE_FLUSH_SECONDS:
            self.flush()

    def on_train_end(self, solver):
        self.flush()

    # Results

    def log_metrics(self, values, step=0):
        now = _now_ms()
        self._metrics += [(key, float(value), now, int(step)) for key, value in values.items()]
        self.flush()

    def set_tags(self, tags):
        from mlflow.entities import RunTag

        self._send(tags=[RunTag(key, str(value)) for key, value in tags.items()])

    def sync(self):
        """Return once every metric logged so far is stored."""
        self.flush()
        if self._sender is not None:
            self._sender.sync()

    def write_inline(self):
        """Store metrics on this thread from now on, not through the writer process."""
        if self._sender is not None:
            self.sync()
            self._sender = None

    def log_artifacts(self, paths):
        for path in paths:
            self._client.log_artifact(self.run_id, str(path))

    def flush(self):
        """Store the buffered metrics, or hand them to the writer process, which stores them soon."""
        if not self._metrics:
            return
        metrics, self._metrics = self._metrics, []
        self._flushed_at = time.monotonic()
        if self._sender is not None:
            self._sender.send(self.uri, self.run_id, metrics)
        else:
            from mlflow.entities import Metric

            send_batches(self._client, self.run_id, metrics=[Metric(*metric) for metric in metrics])

    def _send(self, params=(), tags=()):
        send_batches(self._client, self.run_id, params=params, tags=tags)


def send_batches(client, run_id, metrics=(), params=(), tags=()):
    """``log_batch`` in pieces small enough for MLflow's per-request limits."""
    from mlflow.utils.validation import MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH

    metrics, params, tags = list(metrics), list(params), list(tags)
    while metrics or params or tags:
        room = MAX_PARAMS_TAGS_PER_BATCH
        batch_params, params = params[:room], params[room:]
        room -= len(batch_params)
        batch_tags, tags = tags[:room], tags[room:]
        batch_metrics, metrics = metrics[:MAX_METRICS_PER_BATCH], metrics[MAX_METRICS_PER_BATCH:]
        client.log_batch(run_id, metrics=batch_metrics, params=batch_params, tags=batch_tags)


def param_values(params):
    """Params as MLflow stores them: strings no longer than its limit (the full config is an artifact)."""
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    return {key: _clip(str(value), MAX_PARAM_VAL_LENGTH) for key, value in params.items()}


def existing_run(client, run_id):
    """Run ``run_id``; a ValueError saying so when the store does not have it (deleted, another store)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise ValueError(f"cannot resume MLflow run {run_id}: {client.tracking_uri} has no such run") from None


def reopen_run(client, run_id):
    """Set run ``run_id`` RUNNING again, without the failure of its last attempt; its experiment id."""
    run = existing_run(client, run_id)
    if FAILURE_TAG in run.data.tags:
        client.delete_tag(run_id, FAILURE_TAG)
    client.update_run(run_id, status="RUNNING")
    return run.info.experiment_id


def last_step(client, run_id, key):
    """The highest step of metric ``key`` that run ``run_id`` holds; -1 when it holds none."""
    return max((metric.step for metric in client.get_metric_history(run_id, key)), default=-1)


def finished_metrics(uri, run_id):
    """The metrics of run ``run_id`` (latest values) if it FINISHED, else None: it can go on."""
    run = existing_run(connect(uri), run_id)
    return dict(run.data.metrics) if run.info.status == "FINISHED" else None


def resume_sweep_run(uri, run_id):
    """Reopen the parent run of a stopped sweep that is resumed."""
    reopen_run(connect(uri), run_id)


def start_sweep_run(uri, experiment, run_name, tags):
    """Create the parent run of a sweep and return its id; the jobs become its children."""
    client, experiment_id = open_experiment(uri, experiment)
    return client.create_run(experiment_id, tags=context_tags(tags), run_name=run_name).info.run_id


def context_tags(tags):
    """``tags`` over MLflow's context tags (user, source, git commit), as ``mlflow.start_run`` sets them.

    MLflow's notebook, Databricks job, command and repo providers look for a running IPython
    shell (Databricks keeps its dbutils in the shell's namespace) and import IPython to ask: 0.3 s
    of every run. Without IPython loaded there is no shell, and without Databricks' runtime
    (``dbruntime``) no other way in: they are skipped then, as they would find nothing.
    """
    import importlib.util

    from mlflow.tracking.context.registry import resolve_tags

    if "IPython" in sys.modules or importlib.util.find_spec("dbruntime") is not None:
        return resolve_tags(tags)
    from mlflow.tracking.context.databricks_command_context import DatabricksCommandRunContext
    from mlflow.tracking.context.databricks_job_context import DatabricksJobRunContext
    from mlflow.tracking.context.databricks_notebook_context import DatabricksNotebookRunContext
    from mlflow.tracking.context.databricks_repo_context import DatabricksRepoRunContext
    from mlflow.tracking.context.jupyter_notebook_context import JupyterNotebookRunContext

    return resolve_tags(tags, ignore=[JupyterNotebookRunContext, DatabricksNotebookRunContext, DatabricksJobRunContext,
                                      DatabricksCommandRunContext, DatabricksRepoRunContext])


def finish_sweep_run(uri, parent_run_id, completed=True):
    """Give the parent run its best child's params, metrics and name, end it, and return that child.

    Returns ``(best_child_run or None, children, number_failed)``: the children as
    ``sweep_children`` finds them. The parent ends FAILED when the sweep did not complete or no
    child finished.
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(tracking_uri=uri)
    children = sweep_children(uri, parent_run_id)
    finished = [c for c in children if c.info.status == "FINISHED" and BEST_METRIC in c.data.metrics]
    failed = sum(c.info.status == "FAILED" for c in children)
    tags = [RunTag("nnplug.children", str(len(children))), RunTag("nnplug.children_failed", str(failed))]
    if not completed:
        tags.append(RunTag(FAILURE_TAG, f"the sweep ended with an error; {failed} of {len(children)} runs failed"))
    best = max(finished, key=lambda c: c.data.metrics[BEST_METRIC], default=None)
    metrics, params = [], []
    if best is not None:
        now = _now_ms()
        metrics = [Metric(key, value, now, 0) for key, value in best.data.metrics.items()
                   if key in (BEST_METRIC, "test_acc")]
        params = [Param(key, value) for key, value in best.data.params.items()]
        tags += [RunTag("nnplug.best_child_run_id", best.info.run_id),
                 RunTag("nnplug.best_child_run_name", best.info.run_name or "")]
    try:
        send_batches(client, parent_run_id, metrics=metrics, params=params, tags=tags)
    finally:
        client.set_terminated(parent_run_id, "FINISHED" if completed and best is not None else "FAILED")
    return best, children, failed


def sweep_children(uri, parent_run_id):
    """The runs of a sweep's jobs: the children of its parent run."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(parent_run_id)
    return client.search_runs([parent.info.experiment_id],
                              filter_string=f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'", max_results=50000)


def log_sweep_curves(uri, parent_run_id, children, path):
    """One picture of every job's validation curve, written to ``path`` and logged on the parent run."""
    from mlflow import MlflowClient

    from nnplug.plots import sweep_curves

    client = MlflowClient(tracking_uri=uri)
    curves = {child.info.run_name: [m.value for m in sorted(client.get_metric_history(child.info.run_id, "val_acc"),
                                                            key=lambda m: m.step)]
              for child in children}
    client.log_artifact(parent_run_id, str(sweep_curves(curves, path)))


def _now_ms():
    return time.time_ns() // 1_000_000


def _clip(text, limit):
    return text if len(text) <= limit else text[: limit - 3] + "..."
