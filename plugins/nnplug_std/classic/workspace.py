"""Scratch arrays reused from call to call: one per (purpose, shape, dtype) and thread.

A convolution's intermediate arrays (a padded input, a column matrix, Winograd's transformed
tiles) are tens of megabytes; allocating them afresh every call costs page faults and zeroing
that are a visible part of a layer's time. A scratch array is only ever used inside one call and
is never returned nor kept in a cache, so a caller who keeps an earlier output or cache cannot
see it change. Each thread has its own arrays, so concurrent calls do not share them.
"""
import threading

import numpy as np

_LOCAL = threading.local()
_LIMIT = 32  # arrays kept per thread; the least recently used goes first


def scratch(purpose, shape, dtype, zero=False):
    """An uninitialised array of ``shape`` and ``dtype`` to use and forget within one call.

    Inputs:
    - purpose: a name that keeps two arrays of the same shape used side by side apart
    - shape, dtype: of the array
    - zero: when True the array is zero-filled the first time it is handed out; later calls get it
      as the last user left it (callers that need a zero border write only the interior)

    Returns:
    - a C-contiguous array; the same object on the next call with the same arguments
    """
    arrays = getattr(_LOCAL, "arrays", None)
    if arrays is None:
        arrays = _LOCAL.arrays = {}
    key = (purpose, tuple(shape), np.dtype(dtype).str, zero)
    array = arrays.pop(key, None)
    if array is None:
        array = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
        while len(arrays) >= _LIMIT:
            arrays.pop(next(iter(arrays)))
    arrays[key] = array  # most recently used last
    return array


def clear():
    """Forget this thread's scratch arrays (to give their memory back)."""
    _LOCAL.arrays = {}
