"""python bench/side_by_side.py [--reps 3] [overrides ...]: what two busy processes cost each other here.

A parallel launcher with 2 workers runs two jobs at once, one on each core. It finishes a sweep
twice as fast only if a job runs as fast beside another as alone. This times, in fresh processes,
one at a time and then two at once:

- ``python``: a pure-Python loop (no memory traffic to speak of), the machine's own share;
- ``job``: the training of one sweep job (``experiment=mnist1d_mlp`` unless overrides are given),
  with one BLAS thread and nothing else (no tracking, no writer, no minibatches gathered ahead),
  as a job of the joblib launcher trains.

With each of two jobs taking ``slowdown`` times as long as alone, no 2-worker launcher can be more
than ``2 / slowdown`` times faster than running the jobs one after another, however long they run
and however fast its workers start.
"""
import argparse
import statistics
import subprocess
import sys
import time

SPIN = "import time\nt = time.perf_counter()\ns = 0\nfor i in range(25_000_000): s += i\nprint(time.perf_counter() - t)"

JOB = """
import sys, time
from hydra import compose, initialize_config_module
from nnplug import blas, config, experiment
from nnplug.registry import default_registry

with initialize_config_module(config_module="nnplug.conf", version_base="1.3"):
    cfg = compose(config_name="config", overrides=sys.argv[1:])
registry = default_registry()
settings = config.validate(cfg, registry)
data = experiment.load_data(settings, registry)
solver = experiment.build_solver(settings, data, registry, prefetch=False)
with blas.limited(1):
    start = time.perf_counter()
    solver.train()
print(time.perf_counter() - start)
"""


def seconds(code, args, together):
    """Seconds each of ``together`` processes running ``code`` at once reports."""
    processes = [subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
                 for _ in range(together)]
    outputs = [p.communicate()[0] for p in processes]
    if any(p.returncode for p in processes):
        raise SystemExit(f"a timed process failed: {' '.join(args)}")
    return [float(out.split()[-1]) for out in outputs]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("overrides", nargs="*", default=["experiment=mnist1d_mlp"])
    args = parser.parse_args()
    print(f"{'work':8s} {'alone':>8s} {'two at once':>12s} {'slowdown':>9s} {'2-worker ceiling':>17s}")
    for name, code, extra in (("python", SPIN, []), ("job", JOB, args.overrides)):
        alone, both = [], []
        for _ in range(args.reps):
            alone += seconds(code, extra, 1)
            both += seconds(code, extra, 2)
        slowdown = statistics.median(both) / statistics.median(alone)
        print(f"{name:8s} {statistics.median(alone):7.2f}s {statistics.median(both):11.2f}s "
              f"{slowdown:8.3f}x {2 / slowdown:16.2f}x")
    print(f"job: {' '.join(args.overrides)}, training seconds; medians of {args.reps} rounds, "
          f"each alone then two at once ({time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    main()
