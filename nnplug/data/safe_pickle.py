"""Read the pickles of the official CIFAR releases without letting a pickle run code.

A pickle can name any importable callable and have the unpickler call it; the CIFAR batch files only
ever need dicts, lists, byte strings, ints and numpy's array reconstruction. This unpickler resolves
exactly those globals from a fixed table and refuses every other one before anything is imported or
called, so a crafted file fails with an error instead of running its payload.
"""
import pickle

import numpy as np

# numpy's array reconstruction function, taken from what numpy itself pickles with, so we never have
# to import the deprecated ``numpy.core`` alias that the Python 2 era files name.
_reconstruct = np.ndarray.__reduce__(np.zeros(1, np.uint8))[0]

ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # files written before numpy 2
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # files written by numpy 2
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """The pickle names a global outside ``ALLOWED_GLOBALS``."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source):
        # encoding="bytes": the official files are Python 2 pickles whose str values are byte strings.
        super().__init__(file, encoding="bytes")
        self._source = source

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in ALLOWED_GLOBALS)
            raise UnsafePickleError(
                f"{self._source}: refused to load global {module}.{name} (allowed: {allowed}); "
                "this is not a CIFAR batch file as published"
            ) from None


def load(path):
    """Unpickle the file at ``path``, allowing only what the official CIFAR files contain."""
    with open(path, "rb") as f:
        return _RestrictedUnpickler(f, path).load()
