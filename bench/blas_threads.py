"""One BLAS thread and the metric writer, or every core and metrics stored inline? Per net size.

    python bench/blas_threads.py [--cifar DIR]

For MLPs of several sizes on random data: seconds per Solver step untracked with 1 and 2 BLAS
threads, then seconds per step of whole training runs tracked by MLflow (a SQLite store in a
temporary folder) both ways ``nnplug.experiment`` can train: one BLAS thread with the metric
writer process on the other core, or every core for BLAS and metrics stored inline; and, for
comparison, every core for BLAS with the writer beside it. The writer is started before the
timing, as a run starts it while its data loads. The largest layer's multiply-adds per step
decide between the first two (``nnplug.blas.SMALL_NET_MACS``).

Then whole runs as users start them (``nnplug.experiment.run`` in a fresh process, the writer
starting while the data load), each of the three ways: ``experiment=mnist1d_mlp``, and with
``--cifar DIR`` two CIFAR-10 nets on either side of the threshold. Training seconds, best of 2.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from nnplug import blas
from nnplug.model import FullyConnectedNet
from nnplug.solver import Solver

NETS = [  # (input dim, hidden dims, batch)
    (64, [100], 100),  # the default digits run
    (40, [256, 256, 256], 100),  # experiment=mnist1d_mlp
    (784, [256, 256], 100),
    (3072, [100, 100], 100),
    (784, [512, 512], 128),
    (3072, [100, 100], 256),
    (3072, [512, 256], 128),
    (3072, [1024, 512, 256], 256),  # experiment=cifar10_bn_adam
]
ROWS = 8192


def _solver(input_dim, hidden, batch, listeners=(), epochs=1):
    rng = np.random.default_rng(0)
    data = {"X_train": rng.standard_normal((ROWS, input_dim), dtype=np.float32), "y_train": rng.integers(0, 10, ROWS),
            "X_val": rng.standard_normal((100, input_dim), dtype=np.float32), "y_val": rng.integers(0, 10, 100)}
    model = FullyConnectedNet(hidden, input_dim=input_dim, use_batchnorm=True, dtype=np.float32, seed=0)
    return Solver(model, data, update_rule="adam", batch_size=batch, verbose=False, seed=0, num_epochs=epochs,
                  listeners=listeners, num_train_samples=100)


def step_seconds(net, threads, steps=60):
    solver = _solver(*net)
    with blas.limited(threads):
        for _ in range(5):
            solver._step()
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(steps):
                solver._step()
            best = min(best, (time.perf_counter() - start) / steps)
    return best


def tracked_step_seconds(net, threads, background, uri, epochs=3):
    from nnplug.tracking import MlflowTracker

    best = float("inf")
    for _ in range(2):
        with MlflowTracker(uri, "blas-threads", run_name="bench", params={}, tags={}, background=background) as tracker:
            solver = _solver(*net, listeners=[tracker], epochs=epochs)
            with blas.limited(threads):
                start = time.perf_counter()
                solver.train()
                best = min(best, (time.perf_counter() - start) / solver.num_iterations)
    return best


def main():
    from nnplug.metric_sender import sender
    from nnplug.tracking import open_experiment

    with tempfile.TemporaryDirectory() as folder:
        uri = f"sqlite:///{folder}/mlflow.db"
        open_experiment(uri, "blas-threads")
        sender().send(uri, "none", [])  # started and ready, as during a run's data load
        sender().sync()
        print(f"{'net':32s} {'largest layer':>14s} {'untracked, ms per step':>26s}   {'tracked, ms per step':>31s}")
        print(f"{'':32s} {'MACs per step':>14s} {'1 thread':>9s} {'2 threads':>10s} {'2/1':>5s}   "
              f"{'1 + writer':>10s} {'2 inline':>9s} {'2 + writer':>10s}   choice")
        for net in NETS:
            input_dim, hidden, batch = net
            dims = [input_dim, *hidden, 10]
            macs = max(batch * a * b for a, b in zip(dims, dims[1:]))
            one, two = step_seconds(net, 1), step_seconds(net, 2)
            writer, inline = tracked_step_seconds(net, 1, True, uri), tracked_step_seconds(net, 2, False, uri)
            both = tracked_step_seconds(net, 2, True, uri)
            choice = "1 + writer" if macs < blas.SMALL_NET_MACS else "2 inline"
            print(f"{'-'.join(map(str, dims)) + f' batch {batch}':32s} {macs:14,d} {one * 1e3:9.2f} {two * 1e3:10.2f} "
                  f"{two / one:5.2f}   {writer * 1e3:10.2f} {inline * 1e3:9.2f} {both * 1e3:10.2f}   {choice}")


RUNS = {  # name: overrides (a CIFAR-10 run also gets data.root)
    "experiment=mnist1d_mlp (6.5 million MACs)": ["experiment=mnist1d_mlp"],
    "CIFAR-10 3072-100-100 batch 100, 2 epochs (31 million)":
        ["data=cifar10", "model.hidden_dims=[100,100]", "layer=bn", "optim=adam", "solver.batch_size=100",
         "solver.num_epochs=2"],
    "CIFAR-10 3072-512-256 batch 128, 1 epoch (201 million)":
        ["data=cifar10", "model.hidden_dims=[512,256]", "layer=bn", "optim=adam", "solver.batch_size=128",
         "solver.num_epochs=1"],
}
WAYS = ("1 + writer", "2 inline", "2 + writer")


def one_run(way, overrides, folder):
    """Train one run the given way in this process; print its training seconds as JSON."""
    from hydra import compose, initialize_config_module

    from nnplug import experiment, tracking

    small = way == "1 + writer"
    blas.one_thread_suffices = lambda model, batch_size: small
    if way == "2 + writer":
        tracking.MlflowTracker.write_inline = lambda self: None
    with initialize_config_module("nnplug.conf", version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, "solver.verbose=false", "solver.checkpoint=false"])
    with blas.limited(2):
        result = experiment.run(cfg, output_dir=folder, cwd=folder)
    print(json.dumps(result.seconds))


def whole_runs(cifar):
    print(f"\n{'whole runs, training seconds':58s} " + " ".join(f"{way:>10s}" for way in WAYS))
    for name, overrides in RUNS.items():
        if "data=cifar10" in overrides:
            if not cifar:
                continue
            overrides = [*overrides, f"data.root={cifar}"]
        seconds = []
        for way in WAYS:
            best = float("inf")
            for _ in range(2):
                with tempfile.TemporaryDirectory() as folder:
                    done = subprocess.run([sys.executable, __file__, "--run", way, folder, *overrides], cwd=folder,
                                          capture_output=True, text=True, check=True)
                best = min(best, json.loads(done.stdout.strip().splitlines()[-1]))
            seconds.append(best)
        print(f"{name:58s} " + " ".join(f"{s:10.2f}" for s in seconds))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cifar", metavar="DIR", help="a cifar-10-batches-py folder: also the CIFAR-10 runs")
    parser.add_argument("--run", nargs="+", help=argparse.SUPPRESS)  # WAY FOLDER OVERRIDES...: one run
    args = parser.parse_args()
    if args.run:
        one_run(args.run[0], args.run[2:], args.run[1])
    else:
        main()
        whole_runs(args.cifar)
