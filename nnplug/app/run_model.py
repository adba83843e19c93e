"""What a run does with its model besides training it: where it starts (``model.init_from``), what it
watches while it trains (``tracking.diagnostics``), and what it leaves behind (an MLflow Model,
registered under ``tracking.register``).

``nnplug.app.experiment`` calls these at the points of a run they belong to; each is a no-op when
its setting is off.
"""
import logging

import numpy as np

from nnplug.core.diagnostics import Diagnostics
from nnplug.core.trained_model import TrainedModel
from nnplug.core.warm_start import copy_weights
from nnplug.display.plots import save, training_diagnostics
from nnplug.tracking import models
from nnplug.tracking.models import ModelNotFound

log = logging.getLogger(__name__)

PREDICTIONS_FILE = "test_predictions.npz"
DIAGNOSTICS_FILE = "diagnostics.png"


def diagnostics(settings, tracker):
    """The diagnostics listener, delivering to ``tracker``; None with ``tracking.diagnostics=false``.

    It goes before the tracker among the Solver's listeners, so that a check's diagnostics are
    stored in the same batch as its accuracies.
    """
    return Diagnostics(sinks=[tracker]) if settings["tracking"]["diagnostics"] else None


def start_from(network, settings, tracker, registry):
    """Set ``network``'s weights from the model ``model.init_from`` names, if it names one.

    The model is looked up in the run's own store. ``ValueError`` in one line naming the key when
    the URI finds nothing or the architectures differ; called before the MLflow run exists, so a
    mistake leaves no run behind. The run gets the tags ``nnplug.init_from`` (and the source run).
    """
    uri = settings["model"].get("init_from")
    if not uri:
        return
    try:
        found = models.open_model(uri, tracker.uri, registry)
        copied, fresh = copy_weights(network, found.trained.network)
    except (ModelNotFound, ValueError) as exc:
        raise ValueError(f"model.init_from={uri}: {_without_uri(exc, uri)}") from None
    new = (f"; a new output layer ({', '.join(fresh)}) for {network.num_classes} classes, the model had "
           f"{found.trained.network.num_classes}") if fresh else ""
    log.info(f"model.init_from={uri}: starts from its {', '.join(copied)}{new}")
    tracker.tags.update({"nnplug.init_from": uri, **({"nnplug.init_from_run_id": found.run_id} if found.run_id else {})})


def begin(tracker):
    """The id of the LoggedModel that will hold the run's model (``models.start_model``): it exists
    before the run's end metrics, so that they are linked to it as they are stored."""
    return models.start_model(tracker.client, tracker.experiment_id, tracker.run_id)


def keep(output_dir, tracker, solver, data, registry, watcher, y_pred, model_id, register=None):
    """Leave the trained model behind: the test predictions, the diagnostics picture, the MLflow Model
    in LoggedModel ``model_id`` (``runs:/<run id>/model``) and, with ``register`` (a registered model
    name), a version of it.

    Inputs:
    - watcher: the run's ``Diagnostics`` listener, or None;
    - y_pred: the run's predicted classes of ``data["X_test"]``, which the logged model reproduces
      from the raw test samples.
    """
    predictions = output_dir / PREDICTIONS_FILE
    np.savez(predictions, y_pred=y_pred, y_true=data["y_test"])
    files = [predictions]
    if watcher is not None and watcher.history:
        files.append(save(training_diagnostics(watcher.history), output_dir / DIAGNOSTICS_FILE))
    tracker.log_artifacts(files)
    trained = TrainedModel.from_network(solver.model, data["preprocessing"], data["class_names"], registry)
    models.write_model(tracker.client, model_id, tracker.run_id, trained, data["raw_examples"], step=solver.epoch)
    log.info(f"MLflow model {models.run_model_uri(tracker.run_id)}")
    if register:
        version = models.register(tracker.client, register, tracker.run_id)
        tracker.set_tags({"nnplug.registered_model": register, "nnplug.registered_version": version.version})
        log.info(f"Registered as models:/{register}/{version.version}")


def _without_uri(exc, uri):
    """The message of ``exc`` without the URI it starts with (the caller names it once)."""
    text = str(exc)
    return text[len(uri) + 2:] if text.startswith(f"{uri}: ") else text
