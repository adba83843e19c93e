"""A run's trained model in MLflow: logged as an MLflow Model, registered, found again by URI.

Every run logs its best model as MLflow 3 logs models: a LoggedModel named after the run, whose
source run is the run (the run's page lists it, and its page shows the run's end metrics and
params), holding an MLflow Model folder (``nnplug.tracking.model_folder``) with the
``python_function`` flavor (``nnplug.tracking.pyfunc_model``), a signature, an input example and
the nnplug folder of ``nnplug.core.trained_model`` under ``data/``. The same folder is in the
run's artifacts at ``model``, where MLflow's own loaders (``mlflow.pyfunc.load_model``, ``mlflow
models serve``) look for ``runs:/<run id>/model``: they find a LoggedModel of a run by its name.
Everything goes through ``MlflowClient`` with explicit ids, never the fluent run stack
(``nnplug.tracking``); MLflow is imported inside the functions.

A model URI is ``runs:/<id>/model``, ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
``models:/<model id>`` (resolved in the store a command names: ``nnplug.tracking.model_uris``), or
a local folder (an MLflow Model folder, or the nnplug folder inside it).
"""
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nnplug.core.trained_model import TrainedModel
from nnplug.tracking import model_folder, model_uris
from nnplug.tracking.store import connect, describe, sqlite_path, tracking_uri

ARTIFACT_PATH = model_uris.RUN_MODEL  # where a run's model is among its artifacts: runs:/<run id>/model
LOADER_MODULE = "nnplug.tracking.pyfunc_model"
DATA_DIR = model_folder.OWN_FILES  # what save_model copies to the Model folder's data/
MODEL_ID_TAG = model_uris.RUN_MODEL_TAG


class ModelNotFound(ValueError):
    """A model URI that resolves to nothing usable; the message names the URI and the store."""


def run_model_uri(run_id):
    return f"runs:/{run_id}/{ARTIFACT_PATH}"


def log_model(client, experiment_id, run_id, trained, example, step=0, name=None):
    """Log ``trained`` (a ``TrainedModel``) as run ``run_id``'s model: ``start_model``, then
    ``write_model``; returns the LoggedModel's id."""
    model_id = start_model(client, experiment_id, run_id, name)
    write_model(client, model_id, run_id, trained, example, step)
    return model_id


def logged_model_name(run_name):
    """A run's name as a LoggedModel may be named (without / : . % " '): ``digits-affine-relu-adam #3``."""
    return "".join("-" if c in "/:.%\"'" else c for c in run_name or "").strip() or ARTIFACT_PATH


def start_model(client, experiment_id, run_id, name=None):
    """The id of the LoggedModel that holds run ``run_id``'s model, named after the run (``name``:
    another name), PENDING until ``write_model`` finishes it; the run's tag ``nnplug.model_id`` names it.

    A run has one: when it has begun one already (a run resumed after a stop while its model was
    written), that one is taken again, whatever its status, rather than a second begun.
    """
    found = client.search_logged_models(experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'",
                                        max_results=1)
    if found:
        model_id = found[0].model_id
    else:
        name = name or logged_model_name(client.get_run(run_id).info.run_name)
        model_id = client.create_logged_model(experiment_id, name=name, source_run_id=run_id,
                                              model_type="nnplug").model_id
    client.set_tag(run_id, MODEL_ID_TAG, model_id)
    return model_id


def write_model(client, model_id, run_id, trained, example, step=0):
    """Write the MLflow Model folder of ``trained`` into LoggedModel ``model_id`` (and into run ``run_id``'s
    artifacts at ``model``, where MLflow's own loaders look for ``runs:/<run id>/model``), give the
    model the run's params, and finish it READY as the run's output at ``step``.

    Inputs:
    - example: a few raw samples ``(k, *sample_shape)``: the input example;
    - step: the step the run's model is logged at.

    The signature's output is the predicted class (int64); its params schema has ``output``
    (default ``classes``; ``probabilities`` gives the softmax) and ``tta`` (default ``none``; ``flip``,
    ``flip_shift``: test-time augmentation, ``nnplug.core.tta``). The model's requirements are nnplug
    and the plugin distributions the architecture uses, at their versions. Done again for a model
    written before (a resumed run), it rewrites the same files and adds nothing twice.
    """
    from mlflow.entities import LoggedModelOutput
    from mlflow.models import Model, infer_signature

    from nnplug.tracking.pyfunc_model import DEFAULT_OUTPUT, DEFAULT_TTA

    logged = client.get_logged_model(model_id)
    try:
        with tempfile.TemporaryDirectory(prefix="nnplug-model-") as scratch:
            folder = Path(scratch) / ARTIFACT_PATH
            signature = model_signature(infer_signature(example, trained.predict(example),
                                                        params={"output": DEFAULT_OUTPUT, "tta": DEFAULT_TTA}))
            description = Model(artifact_path=logged.artifact_location, run_id=run_id, model_id=model_id,
                                model_uuid=model_id, signature=signature, metadata=metadata(trained))
            model_folder.write(folder, description, LOADER_MODULE, (DATA_DIR, trained.save), requirements(trained),
                               example)
            client.log_model_artifacts(model_id, str(folder))
            client.log_artifacts(run_id, str(folder), ARTIFACT_PATH)
        params = {key: value for key, value in client.get_run(run_id).data.params.items() if key not in logged.params}
        if params:
            client.log_model_params(model_id, params)
    except BaseException:
        client.finalize_logged_model(model_id, "FAILED")
        raise
    client.finalize_logged_model(model_id, "READY")
    outputs = client.get_run(run_id).outputs
    if model_id not in {output.model_id for output in (outputs.model_outputs if outputs else [])}:
        client.log_outputs(run_id, [LoggedModelOutput(model_id, step)])


def model_signature(inferred):
    """The signature MLflow enforces: the output and the params, without an input schema.

    The model takes any real dtype (it casts), its data set's sample shape with or without a
    channel axis of 1, and flat samples when its network starts flat: more than one shape and any
    dtype, which an MLflow tensor spec (one dtype, one rank) cannot say, and would refuse. The
    model checks its input itself (``TrainedModel.inputs``); the MLmodel's metadata ``input``
    describes it.
    """
    from mlflow.models import ModelSignature

    return ModelSignature(inputs=None, outputs=inferred.outputs, params=inferred.params)


def requirements(trained):
    """``dist==version`` of nnplug, numpy and every plugin distribution the model's architecture uses."""
    from importlib.metadata import version

    found = {"nnplug": trained.nnplug_version, "numpy": version("numpy")}
    found.update({p["distribution"]: p["version"] for p in trained.plugins if p["distribution"] != "?"})
    return [f"{dist}=={found[dist]}" for dist in sorted(found)]


def metadata(trained):
    """What the MLmodel file says about the model besides MLflow's own keys."""
    return {"nnplug_version": trained.nnplug_version, "class_names": trained.class_names,
            "input": trained.describe_input(),
            "plugins": [f"{p['kind']}:{p['name']} ({p['distribution']} {p['version']})" for p in trained.plugins]}


def register(client, name, run_id):
    """A new version of registered model ``name`` (created when new) whose source is run ``run_id``'s model."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

    run = client.get_run(run_id)
    model_id = run.data.tags.get(MODEL_ID_TAG)
    if model_id is None:
        raise ModelNotFound(f"run {run_id} logged no model to register")
    already = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if already:  # registered before a stop cut the run short: the version it made
        return already[0]
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    # The source is where the model's files are, not models:/<model id>: MLflow's SQL registry store
    # would look that up through the process-wide tracking URI instead of this client's.
    logged = client.get_logged_model(model_id)
    version = client.create_model_version(name, source=logged.artifact_location, run_id=run_id, model_id=model_id)
    # what mlflow.register_model records, so that the model's page lists its versions
    listed = json.loads(logged.tags.get(MLFLOW_MODEL_VERSIONS, "[]"))
    client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(
        [*listed, {"name": version.name, "version": version.version}])})
    return version


@dataclass(frozen=True)
class FoundModel:
    """A model read back: the ``TrainedModel``, the URI it was asked for, and the run and LoggedModel
    that logged it (None for a folder that was never logged)."""

    trained: TrainedModel
    uri: str
    run_id: str | None = None
    model_id: str | None = None


def open_model(uri, store=None, registry=None):
    """The model at ``uri`` as a ``FoundModel``, built from the plugins in ``registry``.

    ``store`` is the tracking (and registry) URI that ``runs:/`` and ``models:/`` URIs are looked
    up in (default: ``nnplug.tracking.store.tracking_uri()``). Raises ``ModelNotFound`` in one line
    when nothing is there or it is not an nnplug model, ``MissingPluginError`` naming the
    distribution to install when a plugin it needs is not installed.
    """
    with tempfile.TemporaryDirectory(prefix="nnplug-model-") as scratch:
        folder = download(uri, store, destination=scratch)
        data, logged = nnplug_folder(folder, uri)
        trained = TrainedModel.load(data, registry=registry)
    return FoundModel(trained, uri, getattr(logged, "run_id", None), getattr(logged, "model_id", None))


def load_model(uri, store=None, registry=None):
    """The ``Network`` of model ``uri``, its best parameters and layer state set: ready for ``loss(X)``
    on inputs prepared as the run prepared them (``open_model(uri).trained.inputs(raw)``).

    Inputs:
    - uri: ``runs:/<run id>/model``, ``models:/<name>/<version>``, ``models:/<name>@<alias>``, or a
      local folder;
    - store: the tracking URI to look URIs up in (default: ``$MLFLOW_TRACKING_URI``, else
      ``outputs/mlflow.db`` under the current folder);
    - registry: the plugins to build it from (default: the installed ones).
    """
    return open_model(uri, store, registry).trained.network


def download(uri, store=None, destination=None):
    """The local folder of model ``uri``: the folder itself when local, else downloaded into ``destination``."""
    if os.path.isdir(uri):
        return Path(uri)
    if ":/" not in uri:
        raise ModelNotFound(f"{uri}: no such folder, and not a model URI ({model_uris.FORMS})")
    if not uri.startswith(model_uris.SCHEMES):  # said before any store is looked for
        raise ModelNotFound(f"{uri}: not a model URI nnplug reads (expected {model_uris.FORMS}, or a local folder)")
    import mlflow.artifacts

    store = store or tracking_uri()
    database = sqlite_path(store)
    if database is not None and not database.is_file():  # MLflow would create an empty store there
        raise ModelNotFound(f"{uri}: there is no MLflow store at {store} (name the store the model was "
                            f"logged to with --tracking-uri or $MLFLOW_TRACKING_URI)")
    try:
        location = model_uris.artifact_location(connect(store), uri)
        path = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=destination, tracking_uri=store)
    except ValueError as exc:
        raise ModelNotFound(str(exc)) from None
    except Exception as exc:  # noqa: BLE001  MLflow's not-found errors, a server gone
        raise ModelNotFound(f"{uri}: {describe(exc)} (in {store})") from None
    return Path(path)


def run_config(run_id, store=None):
    """The resolved config the run ``run_id`` logged (its ``config.yaml``), a dict; None when it logged none.

    ``nnplug evaluate`` takes the data set a model was trained on from it.
    """
    import mlflow.artifacts
    import yaml

    with tempfile.TemporaryDirectory(prefix="nnplug-config-") as scratch:
        try:
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="config.yaml", dst_path=scratch,
                                                       tracking_uri=store or tracking_uri())
        except Exception:  # noqa: BLE001  MLflow's not-found errors: a run that logged no config
            return None
        return yaml.safe_load(Path(path).read_text())


def nnplug_folder(folder, uri):
    """``(nnplug folder, mlflow Model or None)`` of an MLflow Model folder, or of the nnplug folder itself.

    The MLmodel file is read as YAML without tags (``yaml.safe_load``), and the data folder it names
    must lie inside ``folder``: a model is loaded only from its own files.
    """
    import yaml

    from nnplug.core.trained_model import MODEL_FILE

    if (folder / MODEL_FILE).is_file():
        return folder, None
    mlmodel = folder / "MLmodel"
    if not mlmodel.is_file():
        raise ModelNotFound(f"{uri}: not an MLflow model (no MLmodel file in it)")
    from mlflow.models import Model

    try:
        logged = Model.load(str(mlmodel))
    except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError) as exc:
        problem = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelNotFound(f"{uri}: its MLmodel file is not an MLflow model description ({problem})") from None
    flavor = logged.flavors.get("python_function", {})
    if flavor.get("loader_module") != LOADER_MODULE:
        raise ModelNotFound(f"{uri}: not an nnplug model (its python_function flavor is loaded by "
                            f"{flavor.get('loader_module') or 'nothing'}, not {LOADER_MODULE})")
    data = folder / str(flavor.get("data", ""))
    if not data.resolve().is_relative_to(folder.resolve()):
        raise ModelNotFound(f"{uri}: its MLmodel file puts the model's data at {flavor.get('data')!r}, outside "
                            f"the model's folder; expected {model_folder.DATA}/{DATA_DIR}")
    return data, logged
