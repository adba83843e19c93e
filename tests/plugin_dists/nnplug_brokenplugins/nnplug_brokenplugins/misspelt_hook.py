"""A hook with a typo: nnplug_layer instead of nnplug_layers."""
from nnplug import hookimpl
from nnplug_brokenplugins.working import Twice


@hookimpl
def nnplug_layer():
    return [Twice]
