"""Wall time a user waits for ``python -m nnplug``, against ``python -c "import mlflow"`` (medians of N).

    python bench/startup.py [--repeat 7]

Every repetition runs each command once, in turn (interleaved: a drift of the machine's speed
touches every command alike), each as a new process started as from a user's shell:

- ``python -c "import mlflow"``: what no run that logs to MLflow can avoid;
- ``python -m nnplug --help``;
- ``python -m nnplug`` in one folder whose store exists (every run after the first), split into its
  parts by when its lines arrive: to the first epoch line (start-up: imports, composing the config,
  data, model, opening the store and creating the run), training (first to last epoch line) and
  after training (test, pictures, the MLflow Model, until the process is gone);
- ``python -m nnplug`` in a new folder (the first run ever, which also creates the store).

The ratio the README quotes is the default run with an existing store over the MLflow import.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

FIRST_EPOCH = re.compile(r"^epoch\s+0/")
EPOCH = re.compile(r"^epoch\s+(\d+)/(\d+)")


def environment():
    # as a user's shell starts it: no tracking server, and BLAS threads as numpy picks them;
    # unbuffered, so that each line arrives when it is printed
    unset = ("MLFLOW_TRACKING_URI", "HYDRA_FULL_ERROR", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    return {**{k: v for k, v in os.environ.items() if k not in unset}, "PYTHONUNBUFFERED": "1"}


def wall_time(argv, cwd):
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], cwd=cwd, env=environment(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def default_run(cwd):
    """``{"total", "to first epoch", "training", "after training"}`` in seconds for one ``python -m nnplug``."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "nnplug"], cwd=cwd, env=environment(), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = last = None
    for line in process.stdout:
        now = time.perf_counter() - start
        epoch = EPOCH.match(line)
        if epoch and FIRST_EPOCH.match(line):
            first = now
        if epoch and epoch.group(1) == epoch.group(2):
            last = now
    if process.wait() != 0 or first is None or last is None:
        raise SystemExit(f"python -m nnplug in {cwd} failed (exit {process.returncode}) or printed no epoch lines")
    total = time.perf_counter() - start
    return {"total": total, "to first epoch": first, "training": last - first, "after training": total - last}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    times = {}
    with tempfile.TemporaryDirectory(prefix="nnplug-startup-") as root:
        shared = os.path.join(root, "shared")
        os.mkdir(shared)
        default_run(shared)  # the store of the "store exists" case
        for _ in range(args.repeat):
            times.setdefault('python -c "import mlflow"', []).append(wall_time(["-c", "import mlflow"], root))
            times.setdefault("python -m nnplug --help", []).append(wall_time(["-m", "nnplug", "--help"], root))
            for part, seconds in default_run(shared).items():
                label = "python -m nnplug (store exists)" + ("" if part == "total" else f": {part}")
                times.setdefault(label, []).append(seconds)
            times.setdefault("python -m nnplug (first run: new store)", []).append(
                wall_time(["-m", "nnplug"], tempfile.mkdtemp(dir=root)))
    print(f"{'command':<58} {'median':>7} {'min':>7} {'max':>7}   (seconds, {args.repeat} interleaved runs)")
    for label, values in times.items():
        print(f"{label:<58} {statistics.median(values):7.2f} {min(values):7.2f} {max(values):7.2f}")
    ratio = statistics.median(times["python -m nnplug (store exists)"]) / statistics.median(
        times['python -c "import mlflow"'])
    print(f"default run (store exists) / MLflow import, by medians: {ratio:.2f}")


if __name__ == "__main__":
    main()
