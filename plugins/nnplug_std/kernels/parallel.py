"""Kernels that share their work out over the cores themselves: products and passes alike, as many
threads as BLAS may use, BLAS itself on one thread meanwhile.

OpenBLAS threads each product it finds large enough, and after each its idle workers keep spinning
on the other cores for a while; numpy's own passes (batch norm, pooling, the Winograd transforms'
small products) run on one core. Split next to a threaded BLAS, a pass's second half competes with
a spinning worker. So a kernel that shares its work out does it ``within spread()``: there BLAS is
limited to one thread (threadpoolctl's ``limit``, undone on the way out), and ``each`` runs the
kernel's parts (ranges of samples, points, blocks of a map; products included) on as many threads as
BLAS was allowed when ``spread`` began. The coarser the part, the better: a convolution runs each
range of samples from start to end on one thread, so its threads meet once per call, not at every
stage, and each keeps its own slices in its own cache. How many that is follows the BLAS limit in force
(``threadpool_limits(1)``, ``OMP_NUM_THREADS=1`` or a sweep's one thread per job all mean one, and
no threads are started); how the work is cut follows from its shape. Nothing is tuned to a machine.

Two habits keep the threads' work as cheap as one thread's. A part's numpy calls are long (a
megabyte, not kilobytes): each call releases the GIL only for its loop, and two threads making
short calls queue on it. And what outlives a call (an output, a cache, a part's result) is
allocated before ``each``, on the calling thread, and the parts fill it: what a pool thread
allocates comes from its own heap, which the C library hands back to the system when it is freed,
so it would be page-faulted in again at every call.

Outside ``spread`` (and inside a part) ``each`` runs its parts in order on the calling thread. The
threads are started on first use (again in a forked child), one fewer than the parts run at
once: the calling thread takes the first share itself. A part must write only its own slice of
shared arrays; results come back in the order of the parts, so sums of partial results are added
up in the same order whatever the threads.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

_STATE = {"blas": None, "pool": None, "workers": 0, "pid": None}
_LOCAL = threading.local()


def _blas():
    """The BLAS libraries loaded when first asked (numpy's among them: it loads its BLAS on import)."""
    if _STATE["blas"] is None:
        from threadpoolctl import ThreadpoolController  # it scans the loaded libraries: on first use only
        _STATE["blas"] = ThreadpoolController().select(user_api="blas")
    return _STATE["blas"]


def blas_threads():
    """How many threads numpy's BLAS library may use now."""
    return max([lib.num_threads for lib in _blas().lib_controllers] or [1])


@contextmanager
def spread():
    """Within it, ``each`` shares parts out over as many threads as BLAS may use now, and BLAS runs on one."""
    if getattr(_LOCAL, "threads", 0) or getattr(_LOCAL, "inside", False):
        yield  # already spreading: an inner kernel's parts are the outer one's
        return
    threads = blas_threads()
    if threads <= 1:
        yield
        return
    with _blas().limit(limits=1):
        _LOCAL.threads = threads
        try:
            yield
        finally:
            _LOCAL.threads = 0


def threads():
    """How many threads ``each`` uses here: BLAS's limit as ``spread`` found it, 1 outside it or in a part."""
    return 1 if getattr(_LOCAL, "inside", False) else getattr(_LOCAL, "threads", 0) or 1


def _pool(workers):
    if _STATE["pid"] != os.getpid() or _STATE["workers"] < workers:  # a forked child has none of the threads
        _STATE.update(pool=ThreadPoolExecutor(workers, thread_name_prefix="nnplug-kernel"), workers=workers,
                      pid=os.getpid())
    return _STATE["pool"]


def each(function, parts):
    """``[function(part) for part in parts]``, the parts shared out in order over ``threads()`` threads.

    Inputs:
    - function: takes one part (a slice, a range, ...)
    - parts: a sequence

    Returns:
    - the list of results, in the order of ``parts``
    """
    parts = list(parts)
    n = min(threads(), len(parts))
    if n <= 1:
        return [function(part) for part in parts]
    shares = [parts[len(parts) * k // n:len(parts) * (k + 1) // n] for k in range(n)]

    def run(share):
        _LOCAL.inside = True
        try:
            return [function(part) for part in share]
        finally:
            _LOCAL.inside = False

    pending = [_pool(n - 1).submit(run, share) for share in shares[1:]]
    results = run(shares[0])
    for future in pending:
        results += future.result()
    return results


def split(size):
    """``size`` cut into as many slices as ``each`` has threads (one when it has one)."""
    n = max(1, min(threads(), size))
    return [slice(size * k // n, size * (k + 1) // n) for k in range(n)]


def dot(a, b):
    """``a @ b`` of two matrices, the rows of ``a`` shared out (see ``matmul``): a new C-ordered array."""
    return matmul(a, b, np.empty((a.shape[0], b.shape[1]), np.result_type(a, b)))


def matmul(a, b, out):
    """``np.matmul(a, b, out=out)`` with the rows of ``a`` (its first axis: a stack's matrices, or a matrix's
    rows) shared out, and of ``b`` too where it is a stack like ``a``."""
    each(lambda rows: np.matmul(a[rows], b[rows] if b.ndim == a.ndim == 3 else b, out=out[rows]), split(len(a)))
    return out
