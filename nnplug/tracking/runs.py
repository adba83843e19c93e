"""One MLflow run's life: created with its params and tags, reopened to resume, ended with a status.

MLflow is imported inside the functions: importing it takes seconds (``nnplug.tracking``).
"""
import getpass
import time

from nnplug.tracking.store import TrackingUnavailable, describe

PARENT_RUN_TAG = "mlflow.parentRunId"  # what mlflow.start_run(parent_run_id=...) sets
FAILURE_TAG = "nnplug.failure"
# A run carries the token its folder's run record names from before the run exists: a process killed
# between creating the run and recording its id leaves a run that a resume finds again by it.
TOKEN_TAG = "nnplug.run_token"
JOB_TAG = "nnplug.job"  # a sweep job's number, Hydra's (an Optuna trial's): the sweep's own order


def now_ms():
    return time.time_ns() // 1_000_000


def clip(text, limit):
    """``text`` cut to ``limit`` characters, marked with '...' where it was cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def context_tags():
    """The tags the MLflow UI shows for who ran a run and from where (user, source, source type).

    Set here rather than by MLflow's context probes, which look for notebooks (importing IPython
    where it is installed), Databricks and a git checkout around the program's main file: none
    of that describes an nnplug run, whose code is nnplug and the plugins it records by version.
    """
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's user)
        user = "unknown"
    return {"mlflow.user": user, "mlflow.source.name": "nnplug", "mlflow.source.type": "LOCAL"}


def create_run(client, experiment_id, run_name, params=None, tags=None, parent_run_id=None):
    """A new run with the context tags (``context_tags``) under ``tags``; its id.

    Param values are stored as strings clipped to MLflow's limit (the full config is an artifact).
    """
    from mlflow.entities import Param
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    tags = {**context_tags(), **(tags or {})}
    if parent_run_id:
        tags[PARENT_RUN_TAG] = parent_run_id
    run_id = client.create_run(experiment_id, tags=tags, run_name=run_name).info.run_id
    if params:
        client.log_batch(run_id, params=[Param(key, clip(str(value), MAX_PARAM_VAL_LENGTH))
                                          for key, value in params.items()])
    return run_id


def existing_run(client, run_id):
    """Run ``run_id``; a ValueError saying so when the store does not have it (deleted, another store),
    ``TrackingUnavailable`` in one line when the store does not answer."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise TrackingUnavailable(f"cannot resume MLflow run {run_id}: its store {client.tracking_uri} "
                                      f"(recorded in its run folder): {describe(exc)}") from None
        raise ValueError(f"cannot resume MLflow run {run_id}: {client.tracking_uri} has no such run") from None
    except Exception as exc:  # noqa: BLE001  a server gone, a database that cannot be opened
        raise TrackingUnavailable(f"cannot resume MLflow run {run_id}: its store {client.tracking_uri} "
                                  f"(recorded in its run folder): {describe(exc)}") from None


def find_run(client, experiment_id, token):
    """The id of the run of ``experiment_id`` tagged with ``token`` (``TOKEN_TAG``), or None."""
    found = client.search_runs([experiment_id], filter_string=f"tags.`{TOKEN_TAG}` = '{token}'", max_results=1)
    return found[0].info.run_id if found else None


def reopen_run(client, run_id, params=None):
    """Set run ``run_id`` RUNNING again, without the failure of its last attempt; the ``Run`` as it was.

    ``params`` the run does not hold yet are logged (a process killed as it created the run may not
    have logged them); those it holds stay as they are.
    """
    from mlflow.entities import Param
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    run = existing_run(client, run_id)
    if FAILURE_TAG in run.data.tags:
        client.delete_tag(run_id, FAILURE_TAG)
    missing = [Param(key, clip(str(value), MAX_PARAM_VAL_LENGTH)) for key, value in (params or {}).items()
               if key not in run.data.params]
    if missing:
        client.log_batch(run_id, params=missing)
    client.update_run(run_id, status="RUNNING")
    return run


def end_run(client, run_id, failure=None):
    """End the run FINISHED, or KILLED (a KeyboardInterrupt) or FAILED with ``failure``'s reason as a tag."""
    from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

    status = "FINISHED"
    if failure is not None:
        status = "KILLED" if isinstance(failure, KeyboardInterrupt) else "FAILED"
        try:
            client.set_tag(run_id, FAILURE_TAG, clip(f"{type(failure).__name__}: {failure}", MAX_TAG_VAL_LENGTH))
        finally:
            client.set_terminated(run_id, status)
        return status
    client.set_terminated(run_id, status)
    return status


def last_step(client, run_id, key):
    """The highest step of metric ``key`` that run ``run_id`` holds; -1 when it holds none."""
    return max((metric.step for metric in client.get_metric_history(run_id, key)), default=-1)


def finished_metrics(client, run_id):
    """The metrics of run ``run_id`` (latest values) if it FINISHED, else None: it can go on."""
    run = existing_run(client, run_id)
    return dict(run.data.metrics) if run.info.status == "FINISHED" else None
