"""python bench/prefetch.py [--reps 7] [--threads 1]: the Solver's step with and without gathering minibatches ahead.

Training time per iteration of ``Solver.train()`` (the accuracy checks included) with
``prefetch=False`` and ``prefetch=True``, one BLAS thread (or ``--threads``), on random data of the shapes below, the
two interleaved; medians over repetitions. Gathering ahead pays where a minibatch's rows take long
to copy out of the training set and a core is free for it: this measures where that starts, which
is ``nnplug.solver.PREFETCH_MIN_BYTES``.
"""
import argparse
import time

import numpy as np

CASES = [  # (features, hidden widths, batch, dtype)
    (784, (100, 100), 100, "float32"),
    (3072, (100, 100), 50, "float32"),
    (3072, (100, 100, 100, 100), 100, "float32"),
    (3072, (100, 100, 100, 100), 256, "float32"),
    (3072, (100, 100), 256, "float64"),
]
TRAIN_ROWS = 12_000


def _seconds_per_iteration(features, hidden, batch, dtype, prefetch):
    from nnplug.model import FullyConnectedNet
    from nnplug.solver import Solver

    data = _data(features, dtype)
    model = FullyConnectedNet(list(hidden), input_dim=features, use_batchnorm=True, dtype=np.dtype(dtype), seed=0)
    solver = Solver(model, data, update_rule="sgd_momentum", batch_size=batch, num_epochs=1, verbose=False,
                    seed=0, prefetch=prefetch)
    start = time.perf_counter()
    solver.train()
    return (time.perf_counter() - start) / solver.num_iterations


_cache = {}


def _data(features, dtype):
    if (features, dtype) not in _cache:
        _cache.clear()
        rng = np.random.default_rng(0)
        X = rng.standard_normal((TRAIN_ROWS + 500, features), dtype=np.float32).astype(dtype)
        y = rng.integers(0, 10, len(X))
        _cache[features, dtype] = {"X_train": X[:TRAIN_ROWS], "y_train": y[:TRAIN_ROWS],
                                   "X_val": X[TRAIN_ROWS:], "y_val": y[TRAIN_ROWS:]}
    return _cache[features, dtype]


def main():
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = parser.parse_args()
    print(f"{'features x batch, dtype':28s} {'hidden':>16s} {'batch MB':>9s} {'gathered in step':>17s} "
          f"{'gathered ahead':>15s} {'speed-up':>9s}")
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for features, hidden, batch, dtype in CASES:
            times = {False: [], True: []}
            for rep in range(args.reps + 1):
                for prefetch in ((False, True) if rep % 2 else (True, False)):
                    seconds = _seconds_per_iteration(features, hidden, batch, dtype, prefetch)
                    if rep:  # the first round warms up
                        times[prefetch].append(seconds)
            off, on = (float(np.median(times[p])) for p in (False, True))
            megabytes = batch * features * np.dtype(dtype).itemsize / 2**20
            print(f"{f'{features} x {batch}, {dtype}':28s} {'-'.join(map(str, hidden)):>16s} {megabytes:9.2f} "
                  f"{off * 1e3:14.2f} ms {on * 1e3:12.2f} ms {off / on:8.3f}x")


if __name__ == "__main__":
    main()
