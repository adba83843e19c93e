"""nnplug: transparent numpy neural networks as plugins, composed by Hydra and tracked in MLflow.

Importing nnplug is cheap: the classes below load on first use, so the command line starts fast.
"""
from nnplug.hookspecs import hookimpl

__version__ = "0.1.0"

_LAZY = {
    "Network": "nnplug.model",
    "FullyConnectedNet": "nnplug.model",
    "TwoLayerNet": "nnplug.model",
    "Solver": "nnplug.solver",
    "Layer": "nnplug.kinds",
    "Loss": "nnplug.kinds",
    "UpdateRule": "nnplug.kinds",
    "Dataset": "nnplug.kinds",
}

__all__ = ["hookimpl", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nnplug' has no attribute {name!r}")
