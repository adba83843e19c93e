"""The right hook name, but the @hookimpl marker forgotten."""
from nnplug_brokenplugins.working import Twice


def nnplug_layers():
    return [Twice]
