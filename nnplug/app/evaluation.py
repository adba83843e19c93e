"""The steps of ``nnplug evaluate``: which data set, whether the model fits it, what is written and logged."""
import contextlib
import datetime
import json
import os
import sys

import numpy as np
from omegaconf import OmegaConf

from nnplug.app import schema
from nnplug.app.errors import ConfigError, hydra_one_line
from nnplug.app.validate import validate
from nnplug.contract.registry import default_registry
from nnplug.core import tta
from nnplug.data import load_raw
from nnplug.data.prepare import SETTINGS
from nnplug.display.plots import confusion_counts, confusion_matrix, save
from nnplug.tracking import evaluation_runs

FILES = ("confusion_matrix.png", "confusion.csv", "predictions.npz", "evaluation.json")


def data_settings(overrides, trained_on=None):
    """The ``data`` section composed from nnplug's config tree with ``overrides`` (``data=...``, ``data.KEY=...``).

    Hydra composes and nnplug validates it as for training; ``ConfigError`` in one line for an
    override that is not about the data, or a value that is not allowed. With no overrides,
    ``trained_on`` (the ``data`` section of the config a model was trained with, or None) is the data
    set: its name chooses the config, and its values replace the config's.
    """
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException

    from nnplug.app import plugin_configs

    others = [o for o in overrides if not o.lstrip("+~").split("=", 1)[0].split(".", 1)[0] == "data"]
    if others:
        raise ConfigError([f"{others[0]}: nnplug evaluate takes only the data set's overrides "
                           f"(data=NAME, data.KEY=VALUE)"])
    schema.register()
    plugin_configs.register()
    trained_on = None if overrides else trained_on
    try:
        with initialize_config_module("nnplug.conf", version_base="1.3"):
            cfg = compose("config", overrides=list(overrides) or ([f"data={trained_on['name']}"] if trained_on else []))
    except HydraException as error:
        raise ConfigError([hydra_one_line(error)]) from None
    if trained_on:
        cfg.data = OmegaConf.merge(cfg.data, {key: value for key, value in trained_on.items() if key in cfg.data})
    return validate(cfg, default_registry())["data"]


def trained_on(found, store=None):
    """The ``data`` section of the config the run that logged model ``found`` trained with; None for a
    model folder (its run, if any, is in a store nobody named) or a run that logged no config."""
    from nnplug.tracking.models import run_config

    config = None if found.run_id is None or os.path.isdir(found.uri) else run_config(found.run_id, store)
    return (config or {}).get("data")


def test_split(data, found):
    """The raw ``X_test``, ``y_test`` (and ``class_names``) of the data set ``data`` names, after checking
    that the model ``found`` takes its samples and knows its classes; ValueError in one line otherwise."""
    options = {key: value for key, value in data.items() if key not in (*SETTINGS, "name")}
    raw = load_raw(data["name"], **options)
    X, y = np.asarray(raw["X_test"]), np.asarray(raw["y_test"])
    trained = found.trained
    try:
        trained.check(X)
    except ValueError as exc:
        raise ValueError(f"data={data['name']}: its test split has {exc} ({found.uri})") from None
    classes = len(trained.class_names)
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise ValueError(f"data={data['name']}: its test labels go from {y.min()} to {y.max()}; {found.uri} "
                         f"knows {classes} classes (0 to {classes - 1})")
    names = [str(c) for c in raw.get("class_names", [])]
    if names and names != trained.class_names[:len(names)]:
        print(f"nnplug: warning: data={data['name']} names its classes {', '.join(names[:4])}, ...; "
              f"{found.uri} was trained on {', '.join(trained.class_names[:4])}, ...", file=sys.stderr)
    return {"X_test": X, "y_test": y.astype(np.int64)}


def default_output(now=None):
    """``outputs/evaluate/<date>/<time with microseconds>`` under the current folder, as Hydra names run folders."""
    now = now or datetime.datetime.now()
    return os.path.join("outputs", "evaluate", now.strftime("%Y-%m-%d"), now.strftime("%H-%M-%S-%f"))


def check_tta(mode, found):
    """ValueError in one line when test-time augmentation ``mode`` (None: none) cannot view the model's samples."""
    if mode is not None:
        try:
            tta.check(mode, found.trained.preprocessing.sample_shape, key="--tta")
        except ValueError as exc:
            raise ValueError(f"{exc} ({found.uri})") from None


def with_tta(mode, found, raw):
    """``{"tta", "y_pred", "test_acc"}`` of the model ``found`` on the test split ``raw`` with test-time
    augmentation ``mode`` (``check_tta`` first); None when ``mode`` is None."""
    if mode is None:
        return None
    y_pred = found.trained.predict(raw["X_test"], mode)
    return {"tta": mode, "y_pred": y_pred, "test_acc": float(np.mean(y_pred == raw["y_test"]))}


def check_output(output):
    """ValueError in one line when ``--output`` names something that is not a folder."""
    if output and os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"--output {output}: is a file; expected a folder to write {', '.join(FILES)} into")


def write(output, found, data, y_true, y_pred, accuracy, tta=None):
    """The evaluation's files in ``output`` (created; default ``default_output()``); returns the folder.
    ``tta`` (``with_tta``'s) adds its predictions and accuracy.

    All or nothing: when a file cannot be written (a full disk), the files and folders written so
    far are removed again and the OSError propagates.
    """
    folder = output or default_output()
    made = [path for path in _ancestors(folder) if not os.path.exists(path)]
    written = []

    def path_of(name):
        written.append(os.path.join(folder, name))
        return written[-1]

    try:
        os.makedirs(folder, exist_ok=True)
        names = found.trained.class_names
        save(confusion_matrix(y_true, y_pred, names, title=f"Confusion matrix: {found.uri} on {data['name']}"),
             path_of(FILES[0]))
        counts = confusion_counts(y_true, y_pred, len(names))
        with open(path_of(FILES[1]), "w") as f:
            f.write("true \\ predicted," + ",".join(names) + "\n")
            f.writelines(f"{name}," + ",".join(str(n) for n in row) + "\n" for name, row in zip(names, counts))
        np.savez(path_of(FILES[2]), y_pred=y_pred, y_true=y_true, **({} if tta is None else {"y_pred_tta": tta["y_pred"]}))
        summary = {"model": found.uri, "run_id": found.run_id, "model_id": found.model_id, "data": data,
                   "test_acc": accuracy, "samples": int(len(y_true)),
                   **({} if tta is None else {"tta": tta["tta"], "test_acc_tta": tta["test_acc"]})}
        with open(path_of(FILES[3]), "w") as f:
            json.dump(summary, f, indent=1)
    except BaseException as exc:
        for path in written:
            with contextlib.suppress(OSError):
                os.unlink(path)
        for path in reversed(made):  # deepest first; only what this call made
            with contextlib.suppress(OSError):
                os.rmdir(path)
        if isinstance(exc, OSError) and not exc.filename:  # matplotlib's writer names no file
            raise OSError(exc.errno, exc.strerror, written[-1] if written else folder) from None
        raise
    return folder


def _ancestors(folder):
    """``folder`` and each folder above it, top first (relative ones up to the current folder)."""
    parts, path = [], os.path.normpath(folder)
    while path and path not in (os.sep, "."):
        parts.append(path)
        path = os.path.dirname(path)
    return parts[::-1]


def open_store(tracking_uri, experiment):
    """``(client, experiment id, store URI)`` for ``--log``: opened before anything is written, so a store
    that cannot be used stops the command with nothing behind."""
    from nnplug.tracking.store import open_experiment, tracking_uri as resolve

    uri = resolve(tracking_uri)
    client, experiment_id = open_experiment(uri, experiment)
    return client, experiment_id, uri


def log(client, experiment_id, found, data, accuracy, folder, tta=None):
    """The evaluation as an MLflow run of ``experiment_id``, with the written files; returns its id."""
    from nnplug.core.nested import flatten

    params, metrics = flatten({"data": data}), {"test_acc": accuracy}
    if tta is not None:
        params["tta"], metrics["test_acc_tta"] = tta["tta"], tta["test_acc"]
    return evaluation_runs.log_evaluation(client, experiment_id, found, params=params, metrics=metrics,
                                          files=[os.path.join(folder, name) for name in FILES])
