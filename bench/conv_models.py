"""python bench/conv_models.py [--nets ...] [--batches 64 128] [--threads 1 2]: conv nets trained by
nnplug's Solver against PyTorch eager on the same net, weights, batches and update rule.

The nets (``bench/model_zoo.py``): ``cifar10_vgg`` and ``cifar10_fast`` (the presets' nets),
``resnet20`` and ``resnet20_plain`` (ResNet-20 with and without its shortcuts), ``three_layer``
(CS231n's ``ThreeLayerConvNet``). The PyTorch side is the net's twin (``bench/torch_twin.py``).

Both sides start from the same weights (nnplug draws them, PyTorch copies them), see the same
minibatches (the Solver's own draws, replayed) and take the same steps: SGD with momentum 0.9, or
Nesterov's at 0.85 for ``cifar10_fast`` as airbench94 (lr 1e-2; no L2, no augmentation; a frozen
whitening layer frozen on both sides), in float32. Printed, as markdown:

(a) samples/s of training, for every net, batch and thread count: nnplug is the Solver's whole
    ``train()`` over ``--steps`` steps minus its accuracy checks (minibatch sampling, the step,
    the update and listeners all count); PyTorch is the same steps' indexing, forward, backward and
    update. Interleaved repetitions, median (the machine's speed drifts).
    The roofline fraction: the time the step's multiply-adds (a direct convolution's: forward, dx
    and dW of every conv and affine layer) would take at this machine's float32 GEMM rate, over the
    measured step time. Winograd convolutions do fewer multiplications, so nnplug's can pass 1.
    With ``resnet20`` and ``resnet20_plain`` both timed, the cost of the skips: the ratio of their
    nnplug times (and PyTorch's) at each batch and thread count. With ``--micro-batch M`` both
    sides run each batch M rows at a time and update once per batch (gradient accumulation, batch
    norm on each micro-batch's statistics: nnplug's ``solver.micro_batch``).
(b) the peak memory of 3 training steps: the peak RSS growth over the set-up (imports, data, model,
    update rule; no step), in a fresh process per side (the same method for both).
"""
import argparse
import os
import subprocess
import sys
import time

ROOM = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOM, "plugins"), ROOM]  # this checkout's code, not an installed copy

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from bench.model_zoo import INPUT_SHAPE, NETS, NUM_CLASSES, SEED, build, step_flops, update_rule  # noqa: E402
from bench.torch_twin import twin  # noqa: E402

LEARNING_RATE = 1e-2
SAMPLE = 5000  # training images a whitening layer computes its filters from (airbench94's)


def make_data(batch, steps):
    """Random CIFAR-shaped float32 images: ``batch * steps`` training rows and 10 validation rows."""
    rng = np.random.default_rng(1)
    n = batch * steps
    X = rng.standard_normal((n + 10, *INPUT_SHAPE), dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, n + 10)
    return {"X_train": X[:n], "y_train": y[:n], "X_val": X[n:], "y_val": y[n:]}


class CheckClock:
    """Wraps a Solver's ``check_accuracy`` and adds up the seconds spent in it."""

    def __init__(self, solver):
        self.seconds = 0.0
        self.check = solver.check_accuracy
        solver.check_accuracy = self

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.check(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def solver_indices(batch, steps):
    """The minibatch rows a Solver with ``seed=SEED`` draws in one epoch of ``steps`` steps, in order
    (its train-accuracy checks draw from the same generator only when the split exceeds 1,000 rows)."""
    rng = np.random.default_rng(SEED)
    out = []
    for t in range(steps):
        out.append(rng.integers(0, batch * steps, batch))
        if (t == 0 or t == steps - 1) and batch * steps > 1000:
            rng.choice(batch * steps, 1000)
    return out


def nnplug_session(net, data, batch, micro=None):
    """A fresh model and Solver for one epoch of ``data``: a function that trains it and returns the losses."""
    from nnplug.core.solver import Solver

    rule, momentum = update_rule(net)
    solver = Solver(build(net, data["X_train"][:SAMPLE]), data, update_rule=rule, batch_size=batch,
                    optim_config={"learning_rate": LEARNING_RATE, "momentum": momentum},
                    num_epochs=1, verbose=False, seed=SEED, micro_batch=micro)
    clock = CheckClock(solver)

    def train():
        solver.train()
        return clock.seconds, list(solver.loss_history)
    return train


def torch_session(net, data, batch, micro=None):
    """The same in PyTorch from the same weights: a function that takes the same steps and returns the losses."""
    import torch
    model = twin(build(net, data["X_train"][:SAMPLE]))
    rule, momentum = update_rule(net)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE, momentum=momentum,
                          nesterov=rule == "nesterov")
    X, y = torch.from_numpy(data["X_train"]), torch.from_numpy(data["y_train"])
    indices = [torch.from_numpy(i) for i in solver_indices(batch, len(X) // batch)]

    def train():
        losses = []
        for idx in indices:
            opt.zero_grad()
            total = 0.0
            for part in torch.split(idx, micro or batch):  # gradients accumulate over the passes
                loss = torch.nn.functional.cross_entropy(model(X[part]), y[part]) * (len(part) / batch)
                loss.backward()
                total += float(loss.detach())
            opt.step()
            losses.append(total)
        return 0.0, losses
    return train


def timed(session, net, data, batch, steps, micro=None):
    """Seconds per training step (the accuracy checks left out) and the losses of a fresh session."""
    train = session(net, data, batch, micro)
    start = time.perf_counter()
    checks, losses = train()
    return (time.perf_counter() - start - checks) / steps, losses


def gemm_rate(size=1024, calls=10):
    """This machine's float32 GEMM rate (flop/s) under the current thread limit: a square product."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    a @ b
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size ** 3 / float(np.median(times))


def speed(net, batch, threads, reps, steps, micro=None):
    """Interleaved medians: {side: seconds per step}, the first losses of each side, GEMM flop/s."""
    import torch
    torch.set_num_threads(threads)
    data = make_data(batch, steps)
    runs = {"nnplug": nnplug_session, "torch": torch_session}
    seconds, losses = {side: [] for side in runs}, {}
    with threadpool_limits(threads):
        for rep in range(reps + 1):  # the first repetition warms both sides up and is not counted
            for side in (runs if rep % 2 == 0 else list(runs)[::-1]):
                per_step, curve = timed(runs[side], net, data, batch, steps, micro)
                losses[side] = curve[:2]
                if rep:
                    seconds[side].append(per_step)
        rate = gemm_rate()
    return {side: float(np.median(v)) for side, v in seconds.items()}, losses, rate


def memory_child(side, net, batch, micro=None):
    """In a fresh process: print the peak RSS growth (MiB) of 3 training steps over the set-up.

    The set-up is the imports, the data, the model and its update rule's state, and no step; the peak
    is VmHWM, reset to the current RSS just before training (``/proc/self/clear_refs``). So the
    buffers either side keeps from step to step (nnplug's scratch arrays, PyTorch's cached blocks)
    count, once.
    """
    data = make_data(batch, 3)
    if side == "torch":
        import torch
        torch.set_num_threads(1)
    with threadpool_limits(1):
        train = (torch_session if side == "torch" else nnplug_session)(net, data, batch, micro)
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # VmHWM := VmRSS
        base = status_kib("VmRSS")
        train()
        print(f"{(status_kib('VmHWM') - base) / 1024:.1f}")


def status_kib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def memory(net, batch, micro=None, runs=3):
    """Median over ``runs`` fresh processes per side, alternating: {side: MiB}."""
    found = {"nnplug": [], "torch": []}
    for _ in range(runs):
        for side in found:
            child = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", side, net, str(batch),
                                    str(micro or 0)],
                                   capture_output=True, text=True, check=True)
            found[side].append(float(child.stdout.split()[-1]))
    return {side: float(np.median(v)) for side, v in found.items()}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python bench/conv_models.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    p.add_argument("--batches", nargs="+", type=int, default=[64, 128])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--steps", type=int, default=4, help="training steps per repetition")
    p.add_argument("--micro-batch", type=int, default=None, metavar="M",
                   help="run each batch M rows at a time, one update per batch (gradient accumulation)")
    p.add_argument("--no-memory", action="store_true", help="leave out (b), the peak memory")
    p.add_argument("--memory-child", nargs=4, metavar=("SIDE", "NET", "BATCH", "MICRO"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        side, net, batch, micro = args.memory_child
        memory_child(side, net, int(batch), int(micro) or None)
        return
    micro = args.micro_batch
    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    print(f"(a) training, samples/s, median of {args.reps} interleaved repetitions of {args.steps} steps, float32"
          + (f", micro-batches of {micro}" if micro else "") + "\n")
    print("| net | batch | threads | nnplug | PyTorch | nnplug / PyTorch | roofline fraction, nnplug / PyTorch "
          "| first two losses, nnplug / PyTorch |")
    print("|---|---|---|---|---|---|---|---|")
    found = {}
    for net in args.nets:
        for batch in args.batches:
            flops = step_flops(build(net, make_data(batch, 1)["X_train"]), batch)
            for threads in args.threads:
                seconds, losses, rate = speed(net, batch, threads, args.reps, args.steps, micro)
                found[net, batch, threads] = seconds
                ours, theirs = batch / seconds["nnplug"], batch / seconds["torch"]
                roof = {side: flops / rate / s for side, s in seconds.items()}
                pairs = ", ".join(f"{a:.6f} / {b:.6f}" for a, b in zip(losses["nnplug"], losses["torch"]))
                print(f"| {net} | {batch} | {threads} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} "
                      f"| {roof['nnplug']:.2f} / {roof['torch']:.2f} ({flops / 1e9:.2f} GFLOP at "
                      f"{rate / 1e9:.0f} GFLOP/s) | {pairs} |", flush=True)
    skips = [(key[1:], seconds, found.get(("resnet20_plain", *key[1:]))) for key, seconds in found.items()
             if key[0] == "resnet20"]
    if any(plain for _, _, plain in skips):
        print("\nthe skips' cost: step time of resnet20 over resnet20_plain (the same layers without shortcuts)\n")
        print("| batch | threads | nnplug | PyTorch |\n|---|---|---|---|")
        for (batch, threads), seconds, plain in skips:
            if plain:
                print(f"| {batch} | {threads} | {seconds['nnplug'] / plain['nnplug']:.2f} "
                      f"| {seconds['torch'] / plain['torch']:.2f} |")
    print(f"\nload average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.no_memory:
        return
    print("\n(b) peak memory of 3 training steps: peak RSS (VmHWM) growth over the set-up (no step), fresh process "
          "per side, median of 3, 1 thread\n")
    print("| net | batch | nnplug MiB | PyTorch MiB | nnplug / PyTorch |\n|---|---|---|---|---|")
    for net in args.nets:
        for batch in args.batches:
            m = memory(net, batch, micro)
            print(f"| {net} | {batch} | {m['nnplug']:.0f} | {m['torch']:.0f} | {m['nnplug'] / m['torch']:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
