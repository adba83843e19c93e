"""python bench/conv_threads.py [--nets ...] [--batch 128] [--reps 5]: how a conv net's step scales from one
BLAS thread to two, nnplug against PyTorch.

One step's loss and gradients (no update, no data sampling) of each net of ``bench/model_zoo.py``
and of its PyTorch twin, on the same random batch, at 1 and 2 threads, all four interleaved in
every repetition; medians, float32. Printed: milliseconds a step, each side's two-thread speed-up,
and nnplug over PyTorch at each thread count.
"""
import argparse
import os
import sys
import time

ROOM = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOM, "plugins"), ROOM]  # this checkout's code, not an installed copy

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from bench.model_zoo import INPUT_SHAPE, NETS, NUM_CLASSES, build  # noqa: E402
from bench.torch_twin import twin  # noqa: E402


def scaling(net, batch, reps):
    """Median seconds of a step: {(side, threads): seconds}."""
    import torch
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, *INPUT_SHAPE), dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, batch)
    model = build(net, X)
    mirror, tX, ty = twin(model), torch.from_numpy(X), torch.from_numpy(y)

    def theirs():
        mirror.zero_grad()
        torch.nn.functional.cross_entropy(mirror(tX), ty).backward()

    steps = {"nnplug": lambda: model.loss(X, y), "PyTorch": theirs}
    found = {}
    for rep in range(reps + 1):  # the first repetition warms everything up and is not counted
        for threads in ((1, 2) if rep % 2 else (2, 1)):
            torch.set_num_threads(threads)
            with threadpool_limits(threads):
                for side, step in steps.items():
                    start = time.perf_counter()
                    step()
                    if rep:
                        found.setdefault((side, threads), []).append(time.perf_counter() - start)
    return {key: float(np.median(v)) for key, v in found.items()}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python bench/conv_threads.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args(argv)
    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    print("| net | batch | nnplug ms, 1 / 2 threads | speed-up | PyTorch ms, 1 / 2 threads | speed-up "
          "| nnplug / PyTorch, 1 / 2 threads |\n|---|---|---|---|---|---|---|")
    for net in args.nets:
        t = scaling(net, args.batch, args.reps)
        n1, n2, p1, p2 = (t[key] * 1e3 for key in (("nnplug", 1), ("nnplug", 2), ("PyTorch", 1), ("PyTorch", 2)))
        print(f"| {net} | {args.batch} | {n1:.0f} / {n2:.0f} | {n1 / n2:.2f} | {p1:.0f} / {p2:.0f} | {p1 / p2:.2f} "
              f"| {p1 / n1:.2f} / {p2 / n2:.2f} |", flush=True)
    print(f"\nload average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
