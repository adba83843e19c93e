"""Which MLflow store a run logs to, and a client for it that fails in seconds, in one line.

The default store is embedded: ``sqlite:///<cwd>/outputs/mlflow.db`` by absolute path, its
artifacts beside it in ``outputs/mlartifacts``. The same rule (artifacts in ``mlartifacts/`` next
to the database file) applies to any ``sqlite:`` URI; a server decides for itself. MLflow is
imported inside the functions (``nnplug.tracking``).
"""
import logging
import os
from pathlib import Path

from nnplug.tracking.sqlite_store import StoreError, ensure_store

STORE_DIR = "outputs"
DATABASE = "mlflow.db"
ARTIFACTS = "mlartifacts"
# What the command line sets in its own process unless the user did. MLflow's HTTP client retries
# an unreachable server for minutes by default; a command must learn in seconds. And nnplug says
# in one line what the store refused: MLflow's own log of it (a traceback of the error it then
# raises) would come twice. Its progress bars for downloading a model's few small files are noise.
COMMAND_ENVIRONMENT = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                       "MLFLOW_HTTP_REQUEST_TIMEOUT": "20", "MLFLOW_LOGGING_LEVEL": "CRITICAL",
                       "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


# The MLflow UI opens an experiment of this kind on its runs and their charts (model training),
# not on its GenAI view of traces.
EXPERIMENT_KIND, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"


def use_command_environment():
    """Set ``COMMAND_ENVIRONMENT`` in this process where the user has not set the variables: for commands.

    And urllib3's warning per retry of an unreachable server is left out: the command says in one
    line that no server answers once MLflow's retries are spent.
    """
    for name, value in COMMAND_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


class TrackingUnavailable(ValueError):
    """The tracking store cannot be used; the message says why in one line and what would work."""


def tracking_uri(configured=None, cwd=None):
    """The store to log to: the configured URI, else $MLFLOW_TRACKING_URI, else the local default.

    Inputs:
    - configured: ``tracking.uri`` of the config, or None.
    - cwd: the folder the local default lives under (default: the current one).
    Returns a tracking URI string.
    """
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


def is_server(uri):
    return uri.startswith(("http://", "https://"))


# MLflow's UI opens an experiment in its GenAI view (traces) or its model-training view (runs) as its
# own switch says, GenAI until the user flips it; a page whose address names the view opens in it.
TRAINING_VIEW = "?workflowType=machine_learning"
UI_PORT = 5000  # mlflow ui's


def run_url(uri, experiment_id, run_id=None):
    """The page of a run (or of an experiment's runs) on a tracking server, in the UI's model-training
    view; None for a local store."""
    if not is_server(uri):
        return None
    return experiment_page(uri, experiment_id, run_id)


def experiment_page(origin, experiment_id, run_id=None):
    """The MLflow UI's page at ``origin`` of an experiment's runs (or of one run), in its model-training view."""
    page = f"{origin.rstrip('/')}/#/experiments/{experiment_id}/runs"
    return f"{page}/{run_id}{TRAINING_VIEW}" if run_id else f"{page}{TRAINING_VIEW}"


def ui_hint(uri, experiment_id=None, run_id=None):
    """How to see the runs of ``uri`` in the MLflow UI: a server's page, or the command that starts one on a
    local store and the page to open in it (the experiment's runs, in the UI's model-training view)."""
    if is_server(uri):
        return run_url(uri, experiment_id, run_id) if experiment_id else uri
    # One worker starts in seconds; mlflow ui's default pool of workers takes much longer.
    command = f"mlflow ui --backend-store-uri {uri} --workers 1"
    origin = f"http://127.0.0.1:{UI_PORT}"
    return f"{command}, then open {experiment_page(origin, experiment_id) if experiment_id else origin}"


def connect(uri):
    """An ``MlflowClient`` for ``uri``; ``TrackingUnavailable`` for a URI no MLflow store understands."""
    from mlflow import MlflowClient

    try:
        return MlflowClient(tracking_uri=uri)
    except Exception as exc:  # noqa: BLE001  an unsupported scheme, a malformed URI
        raise TrackingUnavailable(f"tracking.uri={uri}: {describe(exc)}") from None


def open_experiment(uri, name):
    """A client for ``uri`` and the id of experiment ``name``, creating store and experiment if new, and
    marked as a model-training experiment (``EXPERIMENT_KIND``) for the MLflow UI.

    Returns ``(client, experiment_id)``. Raises ``TrackingUnavailable`` in one line when the store
    does not answer, refuses, or the experiment was deleted.
    """
    from mlflow.exceptions import MlflowException

    database = sqlite_path(uri)
    if database is not None:
        try:  # created whole under a lock, or recognised as damaged, before MLflow touches it
            ensure_store(database, database.parent / ARTIFACTS)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001  a full disk, a folder it may not write: nothing was left
            raise TrackingUnavailable(f"tracking.uri={uri}: cannot create the store: {describe(exc)}") from None
    client = connect(uri)
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            location = (database.parent / ARTIFACTS).as_uri() if database is not None else None
            try:
                client.create_experiment(name, artifact_location=location)
            except MlflowException:  # another process created it after we looked
                pass
            experiment = client.get_experiment_by_name(name)
        if experiment.lifecycle_stage == "deleted":
            raise TrackingUnavailable(
                f"tracking.experiment={name}: the experiment is deleted in {uri}; restore it "
                f"(mlflow experiments restore --experiment-id {experiment.experiment_id}) or pick another name")
        if experiment.tags.get(EXPERIMENT_KIND) != MODEL_TRAINING:
            try:
                client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
            except MlflowException:  # another process tagged it after we looked (SQLite: a UNIQUE clash)
                tags = client.get_experiment(experiment.experiment_id).tags
                if tags.get(EXPERIMENT_KIND) != MODEL_TRAINING:
                    raise
        return client, experiment.experiment_id
    except TrackingUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001  MLflow, SQLAlchemy, requests and OS errors alike
        raise TrackingUnavailable(f"tracking.uri={uri}: {describe(exc)}{_fallback(uri)}") from None


def describe(exc):
    """The gist of a store's error in one line, without MLflow's long request preamble."""
    outer = " ".join(str(exc).split())
    inner = _innermost(exc)
    if isinstance(inner, ConnectionRefusedError) or "Connection refused" in outer:
        return "no MLflow server answers (connection refused)"
    if isinstance(inner, TimeoutError) or "Max retries exceeded" in outer or "timed out" in outer.lower():
        return "no MLflow server answers (it did not respond)"
    if isinstance(inner, OSError) and inner.strerror:
        return f"{inner.strerror}: {inner.filename}" if inner.filename else inner.strerror
    text = " ".join(str(inner).splitlines()[0].split()) if str(inner) else type(inner).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _innermost(exc):
    """The database's own error under MLflow's and SQLAlchemy's wrappers ("database or disk is full")."""
    seen = exc
    while seen is not None:
        original = getattr(seen, "orig", None)  # SQLAlchemy keeps the driver's exception here
        if isinstance(original, Exception):
            return original
        if isinstance(seen, OSError) and seen.strerror:
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _fallback(uri):
    if is_server(uri):
        return "; start it, or log locally with tracking.uri=null (and unset MLFLOW_TRACKING_URI)"
    return ""
