"""Work the kernels share out over threads (nnplug_std.kernels.parallel): as many as BLAS may use, in
order, and the same numbers, to BLAS's rounding, whatever the thread count."""
import threading

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from nnplug.core.network import Network
from nnplug_std.kernels import parallel


def blas_threads():
    """The thread limit of the BLAS numpy's products use (SciPy, if imported, brings a BLAS of its own)."""
    numpy_blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas" and "numpy" in lib["filepath"]]
    return max(lib["num_threads"] for lib in numpy_blas)


def test_within_spread_the_parts_use_as_many_threads_as_blas_may_and_blas_one():
    seen = []

    def part(i):
        seen.append(threading.current_thread().name)
        return i * i

    with threadpool_limits(2):
        assert parallel.each(part, range(7)) == [i * i for i in range(7)]  # outside spread: in order, here
        assert set(seen) == {threading.current_thread().name}
        seen.clear()
        with parallel.spread():
            assert parallel.threads() == 2 and blas_threads() == 1
            assert parallel.each(part, range(7)) == [i * i for i in range(7)]
            assert parallel.each(lambda i: parallel.threads(), range(4)) == [1] * 4  # a part runs alone
        assert blas_threads() == 2
    assert {name.startswith("nnplug-kernel") for name in seen} == {True, False}  # the caller takes a share
    seen.clear()
    with threadpool_limits(1), parallel.spread():
        assert parallel.threads() == 1
        assert parallel.each(part, range(7)) == [i * i for i in range(7)]
    assert set(seen) == {threading.current_thread().name}


def test_spread_hands_blas_back_as_it_was_after_an_error():
    with threadpool_limits(2):
        try:
            with parallel.spread():
                raise KeyError("inside")
        except KeyError:
            pass
        assert blas_threads() == 2 and parallel.threads() == 1


def test_a_conv_net_computes_the_same_numbers_on_one_thread_and_on_two():
    # Winograd 3x3s on maps of 14 and 7 (tiles past the map's edge), a strided 3x3 and a 5x5 by im2col, on
    # 31 samples: ranges of samples of unequal sizes
    layers = [{"conv": {"filters": 8}}, "spatial_batchnorm", "relu", "max_pool", {"conv": {"filters": 8}},
              "spatial_batchnorm", "gelu", {"residual": {"layers": [{"conv": {"filters": 8}}, "spatial_batchnorm", "relu"]}},
              {"conv": {"filters": 12, "stride": 2}}, "relu", {"conv": {"filters": 8, "size": 5}}, "relu", "affine"]
    X = np.random.default_rng(0).standard_normal((31, 3, 14, 14)).astype(np.float32)
    y = np.arange(31) % 10
    found = []
    for threads in (1, 2):
        net = Network(layers=layers, input_dim=(3, 14, 14), num_classes=10, seed=0, dtype=np.float32)
        with threadpool_limits(threads):
            found.append(net.loss(X, y))
    (loss1, grads1), (loss2, grads2) = found
    assert abs(loss1 - loss2) < 1e-6 * abs(loss1)
    for name in grads1:  # BLAS may add up its products in another order on two threads; the rest is exact
        np.testing.assert_allclose(grads2[name], grads1[name], rtol=1e-4, atol=1e-6, err_msg=name)
