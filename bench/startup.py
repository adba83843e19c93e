"""Wall time a user waits for ``python -m nnplug --help`` and for the default run (median of N).

    python bench/startup.py [--repeat 5]

The default run is timed twice over: in a fresh folder each time (the first run ever, which also
creates and migrates the SQLite store under outputs/) and again in one folder whose store exists
(every later run). Each run is a new process started as from a user's shell.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

CASES = {
    "python -m nnplug --help": (["--help"], "fresh"),
    "python -m nnplug (first run: new store)": ([], "fresh"),
    "python -m nnplug (store exists)": ([], "shared"),
}


def wall_time(args, cwd):
    # as a user's shell starts it: no tracking server, and BLAS threads as numpy picks them
    unset = ("MLFLOW_TRACKING_URI", "HYDRA_FULL_ERROR", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nnplug", *args], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nnplug-startup-") as root:
        shared = os.path.join(root, "shared")
        os.mkdir(shared)
        wall_time([], shared)  # the store of the "store exists" case
        print(f"{'command':<42} {'median':>8} {'min':>8} {'max':>8}   (seconds, {args.repeat} runs)")
        for label, (overrides, folder) in CASES.items():
            times = [wall_time(overrides, shared if folder == "shared" else tempfile.mkdtemp(dir=root))
                     for _ in range(args.repeat)]
            print(f"{label:<42} {statistics.median(times):8.2f} {min(times):8.2f} {max(times):8.2f}")


if __name__ == "__main__":
    main()
