"""4-job sweeps run by Hydra's basic launcher (one job after another) and by the joblib launcher
with 2 workers, each launcher as a user gets it: basic jobs use every core for BLAS, joblib jobs
cores / n_jobs BLAS threads each (what joblib sets in its workers' environment).

Two sweeps, because a parallel launcher pays fixed costs that only jobs of some length repay:
its workers' start (each a fresh interpreter that imports Hydra, nnplug and MLflow) and the sweep
process's own start and end:

- ``mnist1d``: ``experiment=mnist1d_mlp optim=sgd_momentum,adam model.seed=0,1``, a real small
  experiment, 8-9 s of training per job: the figure the launcher is for;
- ``digits``: ``optim=sgd,adam layer=affine,bn`` on the default experiment, well under a second
  of training per job: start-up alone;
- ``mnist1d_long`` (only when named: 3 repetitions take 9 minutes): the ``mnist1d`` sweep with
  300 epochs, 25-30 s of training per job, for how the speed-up grows with the jobs' length.

Each run is a fresh ``python -m nnplug -m ...`` process in a fresh folder whose MLflow store was
created beforehand (a new store's schema migration takes seconds and is not what is compared).
Wall time of the whole command; the median over repetitions, launchers alternating.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

SWEEPS = {
    "mnist1d": ["experiment=mnist1d_mlp", "optim=sgd_momentum,adam", "model.seed=0,1"],
    "digits": ["optim=sgd,adam", "layer=affine,bn"],
    "mnist1d_long": ["experiment=mnist1d_mlp", "optim=sgd_momentum,adam", "model.seed=0,1", "solver.num_epochs=300"],
}
DEFAULT_SWEEPS = ("mnist1d", "digits")
LAUNCHERS = {"basic": [], "joblib (2 workers)": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}


def _prepare_store(folder):
    from nnplug.tracking.store import open_experiment, tracking_uri

    open_experiment(tracking_uri(cwd=folder), "bench-store")


def _run(sweep, extra):
    with tempfile.TemporaryDirectory(prefix="nnplug-sweep-") as folder:
        _prepare_store(folder)
        command = [sys.executable, "-m", "nnplug", "-m", *sweep, *extra]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
        start = time.perf_counter()
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds


def measure(reps, sweeps=DEFAULT_SWEEPS):
    """Per sweep: ``{launcher: median seconds}``, the speed-up and every time."""
    results = {}
    for name in sweeps:
        seconds = {launcher: [] for launcher in LAUNCHERS}
        for _ in range(reps):
            for launcher, extra in LAUNCHERS.items():
                seconds[launcher].append(_run(SWEEPS[name], extra))
        median = {launcher: float(np.median(values)) for launcher, values in seconds.items()}
        results[name] = {"command": "python -m nnplug -m " + " ".join(SWEEPS[name]), "median_seconds": median,
                         "speedup": median["basic"] / median["joblib (2 workers)"], "all_seconds": seconds}
    return results


def text(results):
    lines = []
    for result in results.values():
        median = result["median_seconds"]
        lines.append(f"sweep `{result['command']}` (4 jobs): basic launcher {median['basic']:.1f} s, "
                     f"joblib with 2 workers {median['joblib (2 workers)']:.1f} s: "
                     f"speed-up {result['speedup']:.2f}x")
    return "\n\n".join(lines)


if __name__ == "__main__":
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(text(measure(reps, sys.argv[2:] or DEFAULT_SWEEPS)))
