"""A trained network with everything it needs to predict on raw samples, written to a folder and read back.

The folder (what an MLflow Model of nnplug holds under ``data/``) has four files, none a pickle:

- ``model.json``: the format, the architecture (``Network.architecture()``), the class names, the
  preprocessing's settings, the nnplug version and the plugins the architecture names with the
  distribution and version that provided each;
- ``params.npz``: the parameters by name (``W1``, ``gamma1``, ...), read with ``allow_pickle=False``;
- ``layer_state.npz``: every layer's state (``Network.get_state()``: batch-norm running
  statistics, random generators) in the checkpoint format: ``state.json`` plus one array each;
- ``preprocessing.npz``: the training split's normalisation statistics, when some were applied.
"""
import json
import os
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from nnplug.contract.registry import PluginError, UnknownPluginError, default_registry
from nnplug.core import checkpoint, model_checks, tta as augmentation
from nnplug.core.network import Network
from nnplug.core.preprocessing import Preprocessing

FORMAT = "nnplug-model"
VERSION = 1
MODEL_FILE, PARAMS_FILE, STATE_FILE, PREPROCESSING_FILE = ("model.json", "params.npz", "layer_state.npz",
                                                           "preprocessing.npz")
# The batch size of ``Solver.check_accuracy``: a matrix product's rounding may depend on how many rows
# it gets, so predicting in the same batches gives the run's own test predictions bit for bit.
PREDICTION_BATCH = 100


class ModelFileError(ValueError):
    """A model folder that is missing, damaged or of another format; the message names the file."""


class MissingPluginError(PluginError):
    """The model names a plugin that is not installed; the message says which distribution provides it."""


def predict_scores(model, X, batch_size=PREDICTION_BATCH):
    """Class scores ``(N, C)`` of prepared inputs ``X`` by a model with CS231n's ``loss(X)``, in batches."""
    parts = [model.loss(X[start:start + batch_size]) for start in range(0, len(X), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, model.num_classes), dtype=model.dtype)


def predict_classes(model, X, batch_size=PREDICTION_BATCH):
    """The predicted class (int64) of each row of prepared inputs ``X``: the argmax of its scores."""
    return np.argmax(predict_scores(model, X, batch_size), axis=1).astype(np.int64)


def softmax(scores):
    """Row-wise softmax of ``(N, C)`` scores in float64, shifted by each row's maximum so it cannot overflow."""
    shifted = np.asarray(scores, dtype=np.float64) - np.max(scores, axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


class TrainedModel:
    """A ``Network``, the ``Preprocessing`` its inputs went through, and the names of its classes.

    ``plugins`` lists ``{"kind", "name", "distribution", "version"}`` for every plugin the
    architecture names (what ``from_network`` finds in the registry); ``nnplug_version`` the
    nnplug that trained it.
    """

    def __init__(self, network, preprocessing, class_names, plugins=(), nnplug_version=None):
        self.network = network
        self.preprocessing = preprocessing
        self.class_names = [str(c) for c in class_names]
        self.plugins = [dict(p) for p in plugins]
        self.nnplug_version = nnplug_version or _version("nnplug")
        self.takes_flat = reads_vectors(network)

    @classmethod
    def from_network(cls, network, preprocessing, class_names, registry=None):
        """Record the distribution of every plugin ``network`` is built of, as ``registry`` provides them."""
        registry = registry or default_registry()
        architecture = network.architecture()
        used = [("layers", node.step.spec) for node in network.nodes] + [("losses", architecture["loss"])]
        plugins = []
        for kind, name in dict.fromkeys(used):
            info = registry.info(kind, name)
            plugins.append({"kind": kind, "name": name, "distribution": info.dist, "version": info.version})
        return cls(network, preprocessing, class_names, plugins)

    # predictions on raw samples

    def inputs(self, raw):
        """The network's input for raw samples: any real dtype, in any of ``input_shapes()``; ValueError in
        one line for samples of another shape, of bool or complex numbers, or holding NaN or infinities."""
        return self.preprocessing.apply(raw, flat=self.takes_flat)

    def check(self, raw):
        """ValueError in one line unless the model takes ``raw`` (see ``inputs``)."""
        self.preprocessing.check(raw, flat=self.takes_flat)

    def input_shapes(self):
        """The sample shapes the model takes: its data set's, with or without a channel axis of 1, and
        flat when the network reads each sample as one vector."""
        return self.preprocessing.shapes(flat=self.takes_flat)

    def describe_input(self):
        """``(1, 8, 8), (8, 8) or (64,) samples of finite real numbers``."""
        return self.preprocessing.describe(flat=self.takes_flat)

    def scores(self, raw, tta="none"):
        """Class scores ``(N, C)`` of raw samples (see ``inputs``); ``tta`` (``nnplug.core.tta``:
        ``flip``, ``flip_shift``) averages them over views of each image."""
        X = self.inputs(raw)
        if tta == "none":
            return predict_scores(self.network, X)
        augmentation.check(tta, self.preprocessing.sample_shape)
        return augmentation.scores(self.network, X, tta, self.preprocessing.sample_shape, PREDICTION_BATCH)

    def predict(self, raw, tta="none"):
        """The predicted class index (int64) of each raw sample."""
        return np.argmax(self.scores(raw, tta), axis=1).astype(np.int64)

    def probabilities(self, raw, tta="none"):
        """``(N, C)`` softmax of the scores (for a net trained with the SVM loss, normalised scores only)."""
        return softmax(self.scores(raw, tta))

    # the folder

    def save(self, folder):
        """Write the four files into ``folder`` (created if missing)."""
        os.makedirs(folder, exist_ok=True)
        description = {
            "format": FORMAT, "version": VERSION, "nnplug_version": self.nnplug_version,
            "architecture": self.network.architecture(), "class_names": self.class_names,
            "preprocessing": self.preprocessing.to_json(), "plugins": self.plugins,
        }
        with open(os.path.join(folder, MODEL_FILE), "w") as f:
            json.dump(description, f, indent=1)
        np.savez(os.path.join(folder, PARAMS_FILE), **self.network.params)
        checkpoint.save(os.path.join(folder, STATE_FILE), {"layers": self.network.get_state()})
        np.savez(os.path.join(folder, PREPROCESSING_FILE), **self.preprocessing.arrays())

    @classmethod
    def load(cls, folder, registry=None):
        """The model ``save`` wrote into ``folder``, built from the plugins in ``registry``.

        Raises ``MissingPluginError`` naming the distribution to install when a plugin it needs is
        not there, ``ModelFileError`` naming the file when a file is missing or damaged.
        """
        registry = registry or default_registry()
        description = _read_description(folder)
        _check_plugins(description["plugins"], registry)
        path = os.path.join(folder, PARAMS_FILE)
        try:
            path = model_checks.inside(folder, PARAMS_FILE)
            problem = model_checks.size_problem(description["architecture"], model_checks.stored_shapes(path), registry)
            if problem:  # before the network allocates what the description asks for
                raise ModelFileError(f"{os.path.join(folder, MODEL_FILE)}: {problem}")
            network = Network.from_architecture(description["architecture"], registry=registry, seed=0)
            with np.load(path, allow_pickle=False) as stored:
                _set_params(network, stored)
            path = model_checks.inside(folder, STATE_FILE)
            network.set_state(checkpoint.load(path)["layers"])
            path = model_checks.inside(folder, PREPROCESSING_FILE)
            checkpoint.check_archive(path)
            with np.load(path, allow_pickle=False) as stored:
                preprocessing = Preprocessing.from_json(description["preprocessing"], stored)
        except (PluginError, ModelFileError):
            raise
        except Exception as exc:  # noqa: BLE001  a truncated file, a pickle refused, a shape that does not fit
            raise ModelFileError(f"{path}: not a readable part of an nnplug model ({type(exc).__name__}: {exc})") from None
        return cls(network, preprocessing, description["class_names"], description["plugins"],
                   description["nnplug_version"])


def reads_vectors(network):
    """Whether ``network``'s first layer reads each sample as one vector (as ``affine`` does): built for
    the flattened sample it gives what it gives for the shaped one, so flat samples are the same input."""
    layers = getattr(network, "layers", None)
    if not layers:
        return False
    first = layers[0][0]
    if len(first.in_shape) == 1:
        return True
    try:
        flat = type(first)((first.in_dim,), first.width, dtype=first.dtype,
                           **{key: getattr(first, key) for key in first.options})
    except Exception:  # noqa: BLE001  a layer that takes only shaped samples (conv), a composite built otherwise
        return False
    return flat.out_shape == first.out_shape


def _read_description(folder):
    path = os.path.join(folder, MODEL_FILE)
    if not os.path.isfile(path):
        raise ModelFileError(f"{folder}: not an nnplug model (no {MODEL_FILE} in it)")
    try:
        model_checks.inside(folder, MODEL_FILE)
        with open(path) as f:
            description = json.load(f)
        if description.get("format") != FORMAT:
            raise ValueError(f"format {description.get('format')!r}, expected {FORMAT!r}")
        if description.get("version") != VERSION:
            raise ValueError(f"version {description.get('version')!r}; this nnplug reads version {VERSION}")
        for key in ("architecture", "class_names", "preprocessing", "plugins", "nnplug_version"):
            description[key]  # noqa: B018  each must be there
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise ModelFileError(f"{path}: not an nnplug model description ({type(exc).__name__}: {exc})") from None
    return description


def _check_plugins(plugins, registry):
    """``MissingPluginError`` for the first plugin the model needs that ``registry`` does not have."""
    for plugin in plugins:
        try:
            registry.info(plugin["kind"], plugin["name"])
        except UnknownPluginError:
            kind = {"layers": "layer", "losses": "loss"}.get(plugin["kind"], plugin["kind"])
            dist, dist_version = plugin["distribution"], plugin["version"]
            source = (f"it came from the distribution {dist} {dist_version}: pip install '{dist}=={dist_version}'"
                      if dist != "?" else "it was registered by hand when the model was trained, not installed")
            raise MissingPluginError(f"the model needs the {kind} {plugin['name']!r}, which is not installed; "
                                     f"{source}") from None


def _set_params(network, stored):
    if set(stored.files) != set(network.params):
        raise ValueError(f"it holds {', '.join(sorted(stored.files))}; the architecture has "
                         f"{', '.join(sorted(network.params))}")
    for name, w in network.params.items():
        value = stored[name]
        if value.shape != w.shape or value.dtype != w.dtype:
            raise ValueError(f"{name} is a {value.dtype} array of shape {value.shape}, expected {w.dtype} {w.shape}")
        np.copyto(w, value)  # into the array the layer laid out, so a fused runner finds its layout


def _version(dist):
    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"
