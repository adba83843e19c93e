"""A Layer returned from the update-rule hook."""
from nnplug import hookimpl
from nnplug_brokenplugins.working import Twice


@hookimpl
def nnplug_optimizers():
    return [Twice]
