"""Work the kernels share out over threads (nnplug_std.kernels.parallel): as many as BLAS may use, in
order, and the same numbers, to BLAS's rounding, whatever the thread count."""
import threading

import numpy as np
from threadpoolctl import threadpool_limits

from nnplug.core.network import Network
from nnplug_std.kernels import parallel


def test_each_keeps_the_order_and_uses_as_many_threads_as_blas_may():
    seen = []

    def part(i):
        seen.append(threading.current_thread().name)
        return i * i

    with threadpool_limits(2):
        assert parallel.threads() == 2
        assert parallel.each(part, range(7)) == [i * i for i in range(7)]
    assert {name.startswith("nnplug-kernel") for name in seen} == {True, False}  # the caller takes a share
    seen.clear()
    with threadpool_limits(1):
        assert parallel.threads() == 1
        assert parallel.each(part, range(7)) == [i * i for i in range(7)]
    assert set(seen) == {threading.current_thread().name}


def test_a_part_runs_what_it_shares_out_itself():
    with threadpool_limits(2):
        inner = parallel.each(lambda i: parallel.threads(), range(4))
    assert inner == [1, 1, 1, 1]


def test_a_conv_net_computes_the_same_numbers_on_one_thread_and_on_two():
    layers = [{"conv": {"filters": 8}}, "spatial_batchnorm", "relu", "max_pool", {"conv": {"filters": 8}},
              "spatial_batchnorm", "gelu", {"residual": {"layers": [{"conv": {"filters": 8}}, "spatial_batchnorm", "relu"]}},
              "max_pool", "affine"]
    X = np.random.default_rng(0).standard_normal((32, 3, 16, 16)).astype(np.float32)
    y = np.arange(32) % 10
    found = []
    for threads in (1, 2):
        net = Network(layers=layers, input_dim=(3, 16, 16), num_classes=10, seed=0, dtype=np.float32)
        with threadpool_limits(threads):
            found.append(net.loss(X, y))
    (loss1, grads1), (loss2, grads2) = found
    assert abs(loss1 - loss2) < 1e-6 * abs(loss1)
    for name in grads1:  # BLAS may add up its products in another order on two threads; the rest is exact
        np.testing.assert_allclose(grads2[name], grads1[name], rtol=1e-4, atol=1e-6, err_msg=name)
