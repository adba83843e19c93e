"""The GEMMs of one training step, timed alone: the machine's rate for exactly these shapes.

A step of an L-layer net multiplies, per layer with input x (B, d_in) and weights W (d_in, d_out):
x @ W forward, x.T @ da for dW, and da @ W.T for dx (skipped for the first layer, as nnplug skips
it). Each is timed here with the same operand layouts as in the step (numpy's matmul on views; W
in the layout nnplug gives it, and dW of an F-ordered W computed as (da.T @ x).T), as the median
of many calls; their sum is the step's GEMM time, the least any implementation built on this
BLAS can spend. Roofline fraction = GEMM time / measured step time.
"""
import time

import numpy as np

from bench.workloads import INPUT_SHAPE, NUM_CLASSES


def step_gemms(workload):
    """``(name, m, k, n, order)`` for every GEMM of one step; ``name`` says which product it is,
    ``order`` is the layout of that layer's W."""
    from nnplug_std.kernels.products import weight_order

    dims = [int(np.prod(INPUT_SHAPE)), *workload.hidden, NUM_CLASSES]
    B = workload.batch
    gemms = []
    for i, (d_in, d_out) in enumerate(zip(dims, dims[1:]), 1):
        order = weight_order(d_in, d_out, workload.dtype)
        gemms.append((f"x@W{i}", B, d_in, d_out, order))
        gemms.append((f"x.T@da{i}", d_in, B, d_out, order))
        if i > 1:
            gemms.append((f"da@W{i}.T", B, d_out, d_in, order))
    return gemms


def _operands(name, m, k, n, order, dtype, rng):
    """``(a, b)`` whose product is the step's: x and da C-ordered, W in ``order``, views for .T."""
    def draw(*shape):
        return rng.standard_normal(shape).astype(dtype)

    if name.startswith("x.T@"):  # dW (m, n) = x.T @ da, x (k, m), da (k, n)
        x, da = draw(k, m), draw(k, n)
        return (da.T, x) if order == "F" else (x.T, da)  # F: (da.T @ x).T, a transposed view
    if name.endswith(".T"):  # da (m, k) @ W.T, W (n, k)
        return draw(m, k), np.asarray(draw(n, k), order=order).T
    return draw(m, k), np.asarray(draw(k, n), order=order)


def measure(workload, calls=40):
    """``{'flops', 'seconds', 'gflops', 'per_gemm'}`` for one step's GEMMs under the current thread limit."""
    rng = np.random.default_rng(0)
    total_flops, total_seconds, per_gemm = 0, 0.0, {}
    for name, m, k, n, order in step_gemms(workload):
        a, b = _operands(name, m, k, n, order, workload.dtype, rng)
        a @ b  # warm up: first touch and BLAS's buffers
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        flops = 2 * m * k * n
        total_flops += flops
        total_seconds += seconds
        per_gemm[name] = {"mkn": [m, k, n], "seconds": seconds, "gflops": flops / seconds / 1e9}
    return {"flops": total_flops, "seconds": total_seconds, "gflops": total_flops / total_seconds / 1e9,
            "per_gemm": per_gemm}
