"""How many BLAS threads a run's matrix products get, and whether a core is left for the metric writer.

OpenBLAS splits every product across all its threads, however small, and the metric writer
process (``nnplug.metric_sender``) needs a core of its own: sharing one with a BLAS thread slowed
training by 10-20%. Measured on the 2-core machine of the README with ``python
bench/blas_threads.py``, by the multiply-adds per step of the net's largest layer:

- below 2^25 (the default digits net, MNIST-1D's MLP, a 3072-100-100 net at batch 100), a second
  BLAS thread changes a step by -8% to +7%, and training tracked with one BLAS thread and the
  writer is as fast as with two threads and metrics stored inline, or faster (1.5x for digits);
- above (51 million and up), a second thread saves 16-31% of a step, and two threads with
  inline metrics train 6-32% faster; storing inline costs them well under 1%.

So a small net trains with one BLAS thread and hands its metrics to the writer; a large one gives
BLAS every core and stores its metrics itself.
"""
import contextlib

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
