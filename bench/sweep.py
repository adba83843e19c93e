"""A 4-job sweep (``optim=sgd,adam layer=affine,bn`` on the default digits experiment), run by
Hydra's basic launcher (one job after another) and by the joblib launcher with 2 workers.

Each run is a fresh ``python -m nnplug -m ...`` process in a fresh folder whose MLflow store was
created beforehand (a new store's schema migration takes seconds and is not what is compared).
Wall time of the whole command; the median over repetitions.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

SWEEP = ["optim=sgd,adam", "layer=affine,bn"]
LAUNCHERS = {"basic": [], "joblib (2 workers)": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}


def _prepare_store(folder):
    from nnplug.tracking import open_experiment, tracking_uri

    open_experiment(tracking_uri(cwd=folder), "bench-store")


def _run(extra):
    with tempfile.TemporaryDirectory(prefix="nnplug-sweep-") as folder:
        _prepare_store(folder)
        command = [sys.executable, "-m", "nnplug", "-m", *SWEEP, *extra]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
        start = time.perf_counter()
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds


def measure(reps):
    """``{launcher: median seconds}``, the speed-up and every time, launchers alternating."""
    seconds = {name: [] for name in LAUNCHERS}
    for _ in range(reps):
        for name, extra in LAUNCHERS.items():
            seconds[name].append(_run(extra))
    median = {name: float(np.median(values)) for name, values in seconds.items()}
    return {"command": "python -m nnplug -m " + " ".join(SWEEP), "median_seconds": median,
            "speedup": median["basic"] / median["joblib (2 workers)"], "all_seconds": seconds}


def text(result):
    median = result["median_seconds"]
    return (f"sweep `{result['command']}` (4 jobs): basic launcher {median['basic']:.1f} s, "
            f"joblib with 2 workers {median['joblib (2 workers)']:.1f} s: speed-up {result['speedup']:.2f}x")
