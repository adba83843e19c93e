"""nnplug.blas: which nets are small enough for one BLAS thread, and limiting the threads."""
from threadpoolctl import threadpool_limits

from nnplug import blas
from nnplug.model import Network


def test_the_largest_layer_decides_from_its_multiply_adds_per_step():
    digits = Network([100, 100], input_dim=64, block=("affine", "batchnorm", "relu"))
    cifar = Network([1024, 512, 256], input_dim=3 * 32 * 32)
    assert blas.largest_layer_macs(digits, 50) == 50 * 100 * 100  # a hidden layer, not the first
    assert blas.largest_layer_macs(cifar, 256) == 256 * 3072 * 1024
    assert blas.one_thread_suffices(digits, 50)
    assert not blas.one_thread_suffices(cifar, 256)
    assert blas.one_thread_suffices(cifar, 10)  # 31 million: one thread, the writer on the other core


def test_limited_sets_the_threads_inside_and_none_leaves_them():
    with threadpool_limits(limits=2, user_api="blas"):
        with blas.limited(1):
            assert blas.current_threads() == 1
        assert blas.current_threads() == 2
        with blas.limited(None):
            assert blas.current_threads() == 2
