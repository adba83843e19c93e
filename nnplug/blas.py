"""How many BLAS threads a run's matrix products get, and whether a core is left for the metric writer.

OpenBLAS splits every product across all its threads, however small, and the metric writer
process (``nnplug.metric_sender``) needs a core of its own: beside a second BLAS thread it slows
whole runs by 15-35%. Training seconds of whole runs on the 2-core machine of the README
(``python bench/blas_threads.py --cifar DIR``, which also times single steps):

    net (largest layer's multiply-adds per step)    1 thread + writer   2 threads inline   2 + writer
    experiment=mnist1d_mlp (6.5 million)                  7.4 s              9.3 s           10.0 s
    CIFAR-10 3072-100-100, batch 100 (31 million)         2.7 s              2.7 s            3.6 s
    CIFAR-10 3072-512-256, batch 128 (201 million)        4.9 s              3.9 s            4.5 s

So a net whose largest layer does under 2^25 multiply-adds per step trains with one BLAS thread
and hands its metrics to the writer; a larger one gives BLAS every core and stores its metrics
itself: about 70 us per step (one loss row), 1-2% of a step near the threshold and less above.
"""
import contextlib
import os

SMALL_NET_MACS = 1 << 25  # below: one BLAS thread is as fast, and leaves a core to the writer


def largest_layer_macs(model, batch_size):
    """Multiply-adds per step of the model's largest resizing (affine) layer's forward product."""
    return max((batch_size * layer.in_dim * layer.out_dim
                for layer, _ in getattr(model, "layers", ()) if getattr(layer, "resizes", False)), default=0)


def one_thread_suffices(model, batch_size):
    return largest_layer_macs(model, batch_size) < SMALL_NET_MACS


def current_threads():
    """How many threads BLAS uses now (1 when numpy's BLAS reports none)."""
    from threadpoolctl import threadpool_info

    return max((info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"), default=1)


def usable_cores():
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


def leaves_a_core_free():
    return current_threads() < usable_cores()


@contextlib.contextmanager
def limited(threads):
    """BLAS limited to ``threads`` threads inside the block; ``None`` leaves it as it is."""
    if threads is None:
        yield
        return
    import numpy  # noqa: F401  threadpoolctl limits only the BLAS libraries already loaded
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield
