"""python bench/gemm_layout.py: GFLOP/s of an affine layer's three products for C- and F-ordered W.

For x (n, D) C-ordered (a minibatch), W (D, M) and dout (n, M), one BLAS thread, median of
``--reps`` repetitions of ``--number`` calls each:

- ``fwd``: x @ W, the forward pass;
- ``dW``: the weight gradient in W's layout: x.T @ dout (a C result) for C-ordered W,
  (dout.T @ x).T (an F result: the C-ordered product dout.T @ x, transposed) for F-ordered W;
- ``dx``: dout @ W.T, the input gradient (skipped for the first layer, where nobody needs it).

``step`` is the time of all three for each layout; ``F/C`` the speed-up of F over C (> 1: F wins).

The rule it supports (``nnplug_std.kernels.products.weight_order``): float64 affine weights whose fan-in is
at least 512 and at least twice the fan-out are F-ordered; all others, and all float32 ones, C.

Findings on this machine (OpenBLAS 0.3.31, SkylakeX kernels, numpy 2.4.6, 1 thread), 2026-11-27,
with another process's tests busy on the second core (rows move by 5-10% between runs):

- float64, tall weights (fan-in 3072, 1024, 512 over fan-out 100 or 10): dW runs at 44-55 GFLOP/s
  as x.T @ dout and 56-66 as (dout.T @ x).T at batch 100 and 256 alike (3072 x 10: 17-20 against
  26-31); fwd and dx are within noise of each other in both layouts. fwd + dW of a CIFAR net's
  first layer (3072 x 100, no dx) gets 9-17% faster, a tall layer's fwd + dW + dx 4-15%.
- float64, square weights (512 x 512, 1024 x 1024, 3072 x 3072): no consistent gain (-6% to +5%
  from row to row and run to run).
- float64, wide weights (fan-out > fan-in: 100 x 1024, 100 x 3072): dW is slower as
  (dout.T @ x).T (42-51 against 54-67): F loses 6-14%.
- float64, small weights (256 x 10, 100 x 100, 100 x 10): x @ W is often much slower with F
  order (100 x 10 at batch 256: 22-26 against 40-48) while dx gets faster; the sum swings from row
  to row and run to run (-11% to +25%), and these layers take a few percent of a step anyway.
- float32: dW is as fast either way (95-160 GFLOP/s), but x @ W is 5-15% slower with F-ordered
  W (3072 x 100 at batch 100: 97-102 against 110-119): float32 weights stay C-ordered.

Why the two differ: numpy computes a C-ordered product with cblas_dgemm(CblasRowMajor, ...), which
OpenBLAS turns into the column-major product of the transposes, swapping m and n. So x.T @ dout (a
C-ordered D x M result) is a column-major dgemm with m = M (the fan-out) and n = D, while
dout.T @ x (a C-ordered M x D result, whose transpose is the F-ordered dW) has m = D and n = M; k is
only the batch. OpenBLAS blocks the two calls differently (A is packed in panels along m, B along
n, C walked in register tiles), and for float64 the call with the long fan-in as m is the faster
one. That was measured, not derived from the kernel: re-run this script (and revisit the rule)
when OpenBLAS, its kernels or the CPU change. The square and the wide weights were measured with
``--shapes 3072x3072 1024x1024 100x3072``.
"""
import argparse
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

# fan-in x fan-out: tall (the rule says F for float64), square, wide, small (the rule says C)
SHAPES = [(3072, 100), (3072, 10), (1024, 100), (512, 100), (512, 10),
          (1024, 1024), (512, 512), (100, 1024),
          (256, 100), (256, 10), (100, 100), (100, 10)]


def timings(fns, number, reps):
    """Median seconds per call of each of ``fns`` (a dict), repetitions interleaved.

    Interleaving puts the C and F variants of a product side by side in time, so a burst of load
    from another process on this shared machine hits both rather than skewing one.
    """
    for fn in fns.values():
        fn()  # warm up: first-touch pages, BLAS buffers
    times = {key: [] for key in fns}
    for _ in range(reps):
        for key, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times[key].append((time.perf_counter() - start) / number)
    return {key: statistics.median(t) for key, t in times.items()}


def products(x, w, dout):
    """The three products of an affine layer, with dW laid out like ``w``."""
    if w.flags.f_contiguous and not w.flags.c_contiguous:
        dw = lambda: (dout.T @ x).T
    else:
        dw = lambda: x.T @ dout
    return {"fwd": lambda: x @ w, "dW": dw, "dx": lambda: dout @ w.T}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", nargs="+", type=int, default=[100, 256])
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    p.add_argument("--shapes", nargs="+", default=None, metavar="DxM",
                   help="weight shapes fan-in x fan-out (default: " + " ".join(f"{d}x{m}" for d, m in SHAPES) + ")")
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--number", type=int, default=0, help="calls per repetition (0: about 10 ms worth)")
    args = p.parse_args(argv)
    shapes = [tuple(int(v) for v in shape.split("x")) for shape in args.shapes] if args.shapes else SHAPES
    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}; one BLAS thread; median of {args.reps} repetitions; GFLOP/s")
    print(f"{'dtype':8} {'n':>4} {'D x M':>11} | {'fwd C':>6} {'fwd F':>6} | {'dW C':>6} {'dW F':>6} | "
          f"{'dx C':>6} {'dx F':>6} | {'F/C fwd+dW':>10} {'F/C step':>8}")
    with threadpool_limits(1):
        for dtype in args.dtypes:
            for n in args.batches:
                for d, m in shapes:
                    x = rng.standard_normal((n, d)).astype(dtype)
                    dout = rng.standard_normal((n, m)).astype(dtype)
                    w_c = rng.standard_normal((d, m)).astype(dtype)
                    w_f = np.asfortranarray(w_c)
                    flop = 2 * n * d * m
                    number = args.number or max(1, int(10e-3 / (flop / 40e9)))
                    fns = {(name, layout): fn for layout, w in (("C", w_c), ("F", w_f))
                           for name, fn in products(x, w, dout).items()}
                    fns = {key: fns[key] for key in sorted(fns)}  # the C and F variants of each product side by side
                    secs = timings(fns, number, args.reps)
                    rate = {key: flop / s / 1e9 for key, s in secs.items()}
                    first = (secs["fwd", "C"] + secs["dW", "C"]) / (secs["fwd", "F"] + secs["dW", "F"])
                    step = sum(secs[k, "C"] for k in ("fwd", "dW", "dx")) / sum(
                        secs[k, "F"] for k in ("fwd", "dW", "dx"))
                    print(f"{dtype:8} {n:>4} {f'{d} x {m}':>11} | "
                          + " | ".join(f"{rate[k, 'C']:6.1f} {rate[k, 'F']:6.1f}" for k in ("fwd", "dW", "dx"))
                          + f" | {first:10.3f} {step:8.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
