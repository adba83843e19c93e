"""An evaluation of a logged model as an MLflow run of its own (``nnplug evaluate --log``).

The run is tagged ``nnplug.evaluation`` with the model's URI and the run that trained it, and
takes the model as its input (MLflow 3's ``LoggedModelInput``), so the model's page lists it.
MLflow is imported inside the functions (``nnplug.tracking``).
"""
from nnplug.tracking import runs

EVALUATION_TAG = "nnplug.evaluation"


def log_evaluation(client, experiment_id, found, params, metrics, files):
    """One FINISHED run with ``params``, ``metrics`` (at step 0) and ``files`` as artifacts; returns its id.

    Inputs:
    - found: the evaluated model, a ``nnplug.tracking.models.FoundModel``;
    - params, metrics: flat dicts; files: paths of what the evaluation wrote.

    A failure while logging ends the run FAILED with the reason, and propagates.
    """
    from mlflow.entities import LoggedModelInput, Metric

    tags = {EVALUATION_TAG: found.uri, "nnplug.evaluated_run_id": found.run_id or "",
            "nnplug.evaluated_model_id": found.model_id or ""}
    run_id = runs.create_run(client, experiment_id, f"evaluate {found.uri}", params, tags)
    try:
        now = runs.now_ms()
        client.log_batch(run_id, metrics=[Metric(key, float(value), now, 0) for key, value in metrics.items()])
        if found.model_id:
            client.log_inputs(run_id, models=[LoggedModelInput(found.model_id)])
        for path in files:
            client.log_artifact(run_id, str(path))
    except BaseException as exc:
        runs.end_run(client, run_id, exc)
        raise
    runs.end_run(client, run_id)
    return run_id
