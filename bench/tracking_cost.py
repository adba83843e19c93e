"""What storing every step's loss in MLflow costs, and the +tracking/bare it leaves reachable.

    python bench/tracking_cost.py [RESULTS_JSON] [--reps 15]

With every core running BLAS (the 2-thread rows on a 2-core machine) no core is free for the
metric writer process, so a tracked run stores its metrics inline: each epoch's losses, one row per
step, go to the store in one ``log_batch`` whose CPU time training cannot hide. This times that
batch as ``nnplug.tracking.MlflowTracker`` sends it at a bench repetition's end (one epoch's losses
and the three epoch metrics, into a new run on a local SQLite store), spreads it over the epoch's
steps, and sets it beside the bare loop's step time from a ``python -m bench`` results file
(default: the newest in bench/results). ``ceiling`` = bare / (bare + storage): the most any
framework storing one MLflow row per step can reach on such a row, with zero overhead of its own.
"""
import argparse
import glob
import json
import os
import sys
import tempfile
import time

import numpy as np


def storage_seconds(uri, rows, reps):
    """Median seconds of one inline flush of ``rows`` losses and three epoch metrics into a fresh run."""
    from nnplug.tracking import MlflowTracker

    seconds = []
    for _ in range(reps):
        with MlflowTracker(uri, "tracking-cost", run_name=f"rows {rows}", params={}, tags={},
                           background=False) as tracker:
            for step in range(rows):
                tracker.on_iteration(None, step, 2.3 - step * 1e-4)
            start = time.perf_counter()
            tracker.on_epoch_end(None, 0, 0.1, 0.1, 0.01)  # stores them if the epoch took long enough
            tracker.flush()  # or this does, as at the end of training
            seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


def main(argv=None):
    default = max(glob.glob(os.path.join(os.path.dirname(__file__), "results", "*.json")), default=None)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", nargs="?", default=default, help="a python -m bench JSON (default: the newest)")
    p.add_argument("--reps", type=int, default=15)
    args = p.parse_args(argv)
    if args.results is None:
        sys.exit("no results file: run python -m bench first, or name one")
    from nnplug.blas import usable_cores

    cores = usable_cores()
    with open(args.results) as f:
        results = [r for r in json.load(f)["results"]
                   if r["config"]["threads"] >= cores and "bare" in r["seconds_per_iteration"]]
    if not results:
        sys.exit(f"{args.results} has no row that runs BLAS on every core with the bare loop")

    from nnplug.tracking import open_experiment

    with tempfile.TemporaryDirectory() as folder:
        uri = f"sqlite:///{folder}/mlflow.db"
        open_experiment(uri, "tracking-cost")
        storage_seconds(uri, 10, 2)  # MLflow's imports and the store's first connection are not the cost
        cost = {n: storage_seconds(uri, n, args.reps) for n in sorted({r["config"]["iterations_per_rep"]
                                                                         for r in results})}
    print(f"{args.results}, {cores} cores: rows that run BLAS on every core, metrics stored inline")
    for rows, seconds in cost.items():
        print(f"  one epoch of {rows} steps: {rows + 3} rows stored in {seconds * 1e3:.1f} ms, "
              f"{seconds / (rows + 3) * 1e6:.0f} us a row")
    print(f"{'workload':48s} {'bare ms/step':>12s} {'storage us/step':>15s} {'ceiling':>8s} {'measured':>9s}")
    for r in results:
        rows = r["config"]["iterations_per_rep"]
        bare = r["seconds_per_iteration"]["bare"]
        per_step = cost[rows] / rows
        tracked = r["seconds_per_iteration"].get("nnplug+tracking")
        measured = f"{bare / tracked:9.2f}" if tracked else f"{'-':>9s}"
        print(f"{r['workload']:48s} {bare * 1e3:12.2f} {per_step * 1e6:15.0f} {bare / (bare + per_step):8.3f} {measured}")


if __name__ == "__main__":
    main()
