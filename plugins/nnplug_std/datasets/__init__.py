"""The standard data sets, one module each; ``nnplug.data`` prepares what they return."""
from nnplug.contract.hookspecs import hookimpl

from . import cifar10, digits, fashion_mnist, mnist, mnist1d, npz


@hookimpl
def nnplug_datasets():
    return [module.DATASET for module in (digits, cifar10, mnist, fashion_mnist, mnist1d, npz)]
