"""Scratch arrays reused from call to call: one buffer per purpose, dtype and thread.

A convolution's intermediate arrays (a padded input, a column matrix, Winograd's half-transformed
tiles) are tens of megabytes; allocating them afresh every call costs page faults and zeroing
that are a visible part of a layer's time. A scratch array is only ever used inside one call and
is never returned nor kept in a cache, so a caller who keeps an earlier output or cache cannot
see it change. Each thread has its own buffers, so concurrent calls do not share them.

One buffer serves every shape of its purpose (it grows to the largest request), so the layers of
a net share it instead of each keeping its own: the memory held is that of the largest layer, not
the sum over layers. Its contents are left over from the last call, whatever its shape was.
"""
import threading

import numpy as np

_LOCAL = threading.local()


def scratch(purpose, shape, dtype):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` to use and forget within one call.

    Inputs:
    - purpose: a name; two arrays used at the same time need two names
    - shape, dtype: of the array

    Returns:
    - a view of this thread's buffer for ``(purpose, dtype)``, its contents undefined
    """
    buffers = getattr(_LOCAL, "buffers", None)
    if buffers is None:
        buffers = _LOCAL.buffers = {}
    dtype = np.dtype(dtype)
    key = (purpose, dtype.str)
    size = int(np.prod(shape))
    buffer = buffers.get(key)
    if buffer is None or buffer.size < size:
        buffers.pop(key, None)  # the smaller one goes before the larger one is allocated
        buffer = buffers[key] = np.empty(size, dtype)
    return buffer[:size].reshape(shape)


def zero_border(a, top, bottom, left, right):
    """Zero the first ``top`` and last ``bottom`` entries of a's axis 0 and likewise ``left``/``right`` of axis 1."""
    a[:top] = 0
    a[a.shape[0] - bottom:] = 0
    a[:, :left] = 0
    a[:, a.shape[1] - right:] = 0


def clear():
    """Forget this thread's scratch buffers (to give their memory back)."""
    _LOCAL.buffers = {}
