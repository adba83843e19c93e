"""Where a model URI's files are, looked up in one named store.

MLflow's own resolution of ``models:/`` URIs (and of ``runs:/`` URIs that lead to a LoggedModel)
asks the process-wide tracking and registry URIs whatever store it is handed, so a command that
names its store would read another one. Here each URI is resolved with an ``MlflowClient`` of
the given store, to the artifact location ``mlflow.artifacts.download_artifacts`` then fetches:

- ``runs:/<run id>/<name>``: the LoggedModel of that name whose source run is the run (what
  MLflow 3 logs), else the run's own artifacts at that path (what MLflow 2 logged);
- ``models:/<name>/<version>`` and ``models:/<name>@<alias>``: a registered model version;
- ``models:/<model id>``: a LoggedModel.
"""
import re

LOGGED_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
RUN_MODEL = "model"  # what runs:/<run id>/model names: the run's own model
RUN_MODEL_TAG = "nnplug.model_id"  # the run's tag naming the LoggedModel that holds it
SCHEMES = ("runs:/", "models:/")
FORMS = "runs:/<run id>/model, models:/<name>/<version>, models:/<name>@<alias>, models:/<model id>"


def artifact_location(client, uri):
    """The artifact URI of the files of model ``uri``; ValueError in one line for a form it is not.

    MLflow's errors (no such run, registered model or version) propagate.
    """
    if uri.startswith("runs:/"):
        run_id, _, path = uri[len("runs:/"):].strip("/").partition("/")
        if not run_id or not path:
            raise ValueError(f"{uri}: a runs:/ URI names a run and a path (runs:/<run id>/model)")
        return run_model_location(client, run_id, path)
    if uri.startswith("models:/"):
        rest = uri[len("models:/"):].strip("/")
        if LOGGED_MODEL_ID.match(rest):
            return client.get_logged_model(rest).artifact_location
        if "@" in rest:
            name, alias = rest.rsplit("@", 1)
            version = client.get_model_version_by_alias(name, alias).version
            return client.get_model_version_download_uri(name, version)
        name, _, version = rest.rpartition("/")
        if name and version.isdigit():
            return client.get_model_version_download_uri(name, version)
    raise ValueError(f"{uri}: not a model URI nnplug reads (expected {FORMS}, or a local folder)")


def run_model_location(client, run_id, name):
    """The files of run ``run_id``'s model ``name``: for ``model``, the LoggedModel the run's
    ``nnplug.model_id`` tag names (nnplug names it after the run); else the LoggedModel of that name
    among the run's outputs (the one logged at the highest step); else the run's own artifacts at ``name``."""
    run = client.get_run(run_id)
    if name == RUN_MODEL and RUN_MODEL_TAG in run.data.tags:
        return client.get_logged_model(run.data.tags[RUN_MODEL_TAG]).artifact_location
    outputs = run.outputs.model_outputs if run.outputs is not None else []
    logged = [(output.step, client.get_logged_model(output.model_id)) for output in outputs]
    named = [(step, model) for step, model in logged if model.name == name]
    if named:
        return max(named, key=lambda pair: pair[0])[1].artifact_location
    return f"{run.info.artifact_uri.rstrip('/')}/{name}"
