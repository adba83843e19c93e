"""The plugin contract: one hook per kind of plugin.

A plugin is a module with ``@hookimpl`` functions, registered under the entry-point group
``nnplug`` of its distribution. Each hook returns the plugin objects the module contributes
(see ``nnplug.contract.kinds`` for what each kind is).
"""
import pluggy

PROJECT = "nnplug"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def nnplug_layers():
    """Return a list of ``nnplug.contract.kinds.Layer`` subclasses."""


@hookspec
def nnplug_losses():
    """Return a list of ``nnplug.contract.kinds.Loss``."""


@hookspec
def nnplug_optimizers():
    """Return a list of ``nnplug.contract.kinds.UpdateRule``."""


@hookspec
def nnplug_datasets():
    """Return a list of ``nnplug.contract.kinds.Dataset``."""


@hookspec
def nnplug_transforms():
    """Return a list of ``nnplug.contract.kinds.Transform`` subclasses (training-time augmentation)."""
