"""Work BLAS does not spread over the cores, spread over them: a loop's parts run on as many threads as
BLAS may use.

numpy releases the GIL in its ufuncs, copies and BLAS calls, so a pass over a feature map cut into
blocks runs on several cores when its blocks go to several threads. How many threads: as many as
the BLAS library may use at this moment (``threadpoolctl``'s view of it, so ``threadpool_limits(1)``,
``OMP_NUM_THREADS=1`` or a sweep's one thread per job all mean one), never more than there are
parts. How the work is cut follows from its shape (the caller's blocks, in order, as even as they
come); nothing here is tuned to a machine.

The threads are started on first use (and again in a forked child), one fewer than the parts
run at once: the calling thread takes the first share itself. A part must not call ``each`` again
(it runs alone there) and must write only its own slice of shared arrays.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_STATE = {"blas": None, "pool": None, "workers": 0, "pid": None}
_LOCAL = threading.local()


def threads():
    """How many threads the BLAS library may use now (1 inside a part)."""
    if getattr(_LOCAL, "inside", False):
        return 1
    blas = _STATE["blas"]
    if blas is None:
        from threadpoolctl import ThreadpoolController  # its scan of the loaded libraries: on first use only
        blas = _STATE["blas"] = ThreadpoolController().select(user_api="blas").lib_controllers
    return max([lib.num_threads for lib in blas] or [1])


def _pool(workers):
    if _STATE["pid"] != os.getpid() or _STATE["workers"] < workers:  # a forked child has none of the threads
        _STATE.update(pool=ThreadPoolExecutor(workers, thread_name_prefix="nnplug-kernel"), workers=workers,
                      pid=os.getpid())
    return _STATE["pool"]


def each(function, parts):
    """``[function(part) for part in parts]``, the parts shared out in order over ``threads()`` threads.

    Inputs:
    - function: takes one part (a slice, a range, ...); runs with the GIL released for most of its time
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
