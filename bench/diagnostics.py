"""What the training diagnostics (``tracking.diagnostics``, on by default) cost the default run.

    python bench/diagnostics.py [--reps 15] [--runs 0]

1. ``Solver.train()`` of the default experiment (digits, 64-100-100-10, sgd_momentum, 10 epochs), as
   ``nnplug.app.experiment`` builds it, without any tracker, with and without the ``Diagnostics``
   listener: the repetitions are interleaved and each pair trains the same batches; the median of
   each and the overhead of the medians;
2. drawing and saving the run's diagnostics picture, the one thing a run does with them afterwards;
3. with ``--runs N``: the whole command, ``python -m nnplug`` with ``tracking.diagnostics=true`` and
   ``false``, N times each, interleaved, in one folder whose store exists (MLflow's import and the
   store dominate it, so its spread on a shared machine is larger than the overhead).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def default_settings():
    from hydra import compose, initialize_config_module

    from nnplug.app import plugin_configs, schema
    from nnplug.app.validate import validate
    from nnplug.contract.registry import default_registry

    schema.register()
    plugin_configs.register()
    with initialize_config_module("nnplug.conf", version_base="1.3"):
        return validate(compose("config"), default_registry())


def train_seconds(settings, data, watched):
    from nnplug.app.experiment import build_solver
    from nnplug.contract.registry import default_registry
    from nnplug.core.diagnostics import Diagnostics

    watcher = Diagnostics() if watched else None
    solver = build_solver(settings, data, default_registry(), listeners=[watcher] if watched else [])
    start = time.perf_counter()
    solver.train()
    return time.perf_counter() - start, watcher, solver


def picture_seconds(watcher, folder):
    from nnplug.display.plots import save, training_diagnostics

    start = time.perf_counter()
    save(training_diagnostics(watcher.history), os.path.join(folder, "diagnostics.png"))
    return time.perf_counter() - start


def command_seconds(folder, diagnostics):
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "HYDRA_FULL_ERROR")}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nnplug", f"tracking.diagnostics={str(diagnostics).lower()}",
                    "solver.verbose=false"], cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=15, help="repetitions of each training (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=0, help="also time the whole command N times each way")
    args = parser.parse_args(argv)

    from nnplug.app.experiment import load_data
    from nnplug.contract.registry import default_registry

    settings = default_settings()
    data = load_data(settings, default_registry())
    train_seconds(settings, data, True)  # warm-up: first-call costs belong to neither side
    plain, watched = [], []
    for _ in range(args.reps):
        plain.append(train_seconds(settings, data, False)[0])
        seconds, watcher, solver = train_seconds(settings, data, True)
        watched.append(seconds)
    steps, checks = solver.num_iterations, len(watcher.history)
    print(f"default run, Solver.train() of {steps} steps and {checks} checks, {args.reps} repetitions, "
          f"BLAS threads {os.environ.get('OPENBLAS_NUM_THREADS', 'all')} (load average {os.getloadavg()[0]:.1f}):")
    print(f"  {'':22} {'median':>9} {'fastest':>9}")
    print(f"  {'without diagnostics':22} {statistics.median(plain) * 1e3:6.1f} ms {min(plain) * 1e3:6.1f} ms")
    print(f"  {'with diagnostics':22} {statistics.median(watched) * 1e3:6.1f} ms {min(watched) * 1e3:6.1f} ms")
    for label, pick in (("median", statistics.median), ("fastest", min)):
        off, on = pick(plain), pick(watched)
        print(f"  overhead ({label}): {(on - off) * 1e3:+.1f} ms, {100 * (on - off) / off:+.1f}% "
              f"({(on - off) / checks * 1e3:+.2f} ms a check)")
    with tempfile.TemporaryDirectory(prefix="nnplug-bench-") as folder:
        drawn = statistics.median(picture_seconds(watcher, folder) for _ in range(3))
        print(f"  the picture, drawn and saved once a run: {drawn * 1e3:.0f} ms")
        if args.runs:
            command_seconds(folder, True)  # creates the store
            times = {True: [], False: []}
            for _ in range(args.runs):
                for diagnostics in (False, True):
                    times[diagnostics].append(command_seconds(folder, diagnostics))
            off, on = statistics.median(times[False]), statistics.median(times[True])
            print(f"python -m nnplug, median of {args.runs}: tracking.diagnostics=false {off:.2f} s, "
                  f"true {on:.2f} s ({on - off:+.2f} s)")


if __name__ == "__main__":
    main()
