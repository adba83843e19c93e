"""nnplug: transparent numpy neural networks as plugins, composed by Hydra and tracked in MLflow.

The rooms of the package follow the flow of a run (``docs/architecture.md``): ``contract`` (what a
plugin is, the registry), ``core`` (model, Solver, checkpoints; numpy only), ``data``,
``tracking`` (MLflow), ``display`` and ``app`` (command line and Hydra).

Importing nnplug is cheap: the names below load on first use, so the command line starts fast.
"""
import importlib

from nnplug.contract.hookspecs import hookimpl

__version__ = "0.1.0"

_LAZY = {
    "Network": "nnplug.core.network",
    "FullyConnectedNet": "nnplug.core.classic_models",
    "TwoLayerNet": "nnplug.core.classic_models",
    "ThreeLayerConvNet": "nnplug.core.classic_models",
    "Solver": "nnplug.core.solver",
    "Layer": "nnplug.contract.kinds",
    "Composite": "nnplug.contract.kinds",
    "draw_weights": "nnplug.contract.weights",  # weights as the standard layers draw them: he, xavier, gaussian
    "Loss": "nnplug.contract.kinds",
    "UpdateRule": "nnplug.contract.kinds",
    "Dataset": "nnplug.contract.kinds",
    "Transform": "nnplug.contract.kinds",
    "build_transforms": "nnplug.core.augmentation",
    "Registry": "nnplug.contract.registry",
    "default_registry": "nnplug.contract.registry",
    "load_model": "nnplug.tracking.models",  # a logged model's Network, from runs:/, models:/ or a folder
}

__all__ = ["hookimpl", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nnplug' has no attribute {name!r}")
