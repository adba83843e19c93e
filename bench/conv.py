"""python bench/conv.py [--batches 64 128] [--threads 1 2] [--reps 7]: the CIFAR-10 conv net, nnplug vs PyTorch.

Prints, as markdown:
(a) the GEMMs of one nnplug training step, each timed alone: shape, GFLOP/s, and their sum as a
    share of the measured step (the roofline: what the step would cost if it were only its GEMMs);
(b, c) samples/s of a full training step (forward, backward, SGD momentum) of nnplug and of
    PyTorch, same initial weights and batches, interleaved (the machine's speed drifts), median of
    --reps repetitions of --steps steps, for every batch size and thread count;
(d) the peak memory of training: the peak RSS growth over the set-up process, in a fresh
    subprocess per side, the same method for both (and tracemalloc's peak for nnplug);
(e) Winograd's float32 error against the naive float64 convolution, per conv layer of the net.
"""
import argparse
import os
import subprocess
import sys
import time

ROOM = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOM, "plugins"), ROOM]  # this room's code, not an installed copy

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from bench.conv_net import CHANNELS, NumpyNet, TorchNet, batches, init_params  # noqa: E402


def median_time(f, calls=15):
    f()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def step_gemms(batch):
    """``(name, batch, m, k, n)`` of every GEMM product of one step: ``batch`` products of (m, k) @ (k, n)."""
    gemms = [("conv0 fwd (cols.T @ w.T)", 1, 32 * 32 * batch, 27, CHANNELS[0]),
             ("conv0 dW (cols @ dY)", 1, 27, 32 * 32 * batch, CHANNELS[0])]
    size, c = 32, CHANNELS[0]
    for i, f in enumerate(CHANNELS[1:], 1):
        tiles = (size // 4) ** 2 * batch
        gemms += [(f"conv{i} fwd V@U", 36, tiles, c, f), (f"conv{i} dx dV@U'", 36, tiles, f, c),
                  (f"conv{i} dW V.T@dM", 36, c, tiles, f)]
        c = f
        if i in (1, 3):
            size //= 2
    gemms += [("fc fwd", 1, batch, 2048, 10), ("fc dW", 1, 2048, batch, 10), ("fc dx", 1, batch, 10, 2048)]
    return gemms


def direct_flops(batch):
    """The multiply-adds of a direct (im2col) convolution net of this shape, as flops: forward, dW and dx."""
    flops, size, c = 0, 32, 3
    for i, f in enumerate(CHANNELS):
        one = 2 * size * size * batch * 9 * c * f
        flops += one * (2 if i == 0 else 3)  # the first layer needs no dx
        c = f
        if i in (1, 3, 4):
            size //= 2
    return flops


def gemm_table(batch, step_seconds):
    rng = np.random.default_rng(0)
    rows, total = [], 0.0
    for name, b, m, k, n in step_gemms(batch):
        a = rng.standard_normal((b, m, k)).astype(np.float32).squeeze(0) if b == 1 else \
            rng.standard_normal((b, m, k)).astype(np.float32)
        bb = rng.standard_normal((b, k, n)).astype(np.float32).squeeze(0) if b == 1 else \
            rng.standard_normal((b, k, n)).astype(np.float32)
        seconds = median_time(lambda: np.matmul(a, bb))
        total += seconds
        rate = 2 * b * m * k * n / seconds / 1e9
        rows.append(f"| {name} | {b} x ({m} x {k}) @ ({k} x {n}) | {seconds * 1e3:.2f} | {rate:.0f} |")
    flops = sum(2 * b * m * k * n for _, b, m, k, n in step_gemms(batch))
    print(f"\n(a) GEMMs of one step, batch {batch}, 1 thread\n")
    print("| product | shape | ms | GFLOP/s |\n|---|---|---|---|")
    print("\n".join(rows))
    print(f"| **all** | {flops / 1e9:.2f} GFLOP | {total * 1e3:.1f} | {flops / total / 1e9:.0f} |")
    print(f"\nGEMM share of the step: {total / step_seconds:.0%} ({total * 1e3:.0f} of {step_seconds * 1e3:.0f} ms); "
          f"a direct convolution would need {direct_flops(batch) / 1e9:.1f} GFLOP "
          f"({direct_flops(batch) / flops:.2f}x), i.e. {direct_flops(batch) / step_seconds / 1e9:.0f} "
          f"direct-equivalent GFLOP/s for the whole step")


def run_steps(net, data):
    for x, y in data:
        net.step(x, y)


def speed(batch, threads, reps, steps):
    """Interleaved medians: (nnplug samples/s, torch samples/s, nnplug step seconds)."""
    import torch
    torch.set_num_threads(threads)
    params = init_params()
    data = batches(batch, steps)
    ours, theirs = NumpyNet({k: v.copy() for k, v in params.items()}), TorchNet(params)
    rates = {"nnplug": [], "torch": []}
    with threadpool_limits(threads):
        losses = [(ours.step(x, y), theirs.step(x, y)) for x, y in data[:2]]  # the same net on both sides
        for rep in range(reps):
            order = [("nnplug", ours), ("torch", theirs)]
            for name, net in order if rep % 2 == 0 else order[::-1]:
                start = time.perf_counter()
                run_steps(net, data)
                rates[name].append(batch * steps / (time.perf_counter() - start))
    ours_rate, their_rate = float(np.median(rates["nnplug"])), float(np.median(rates["torch"]))
    return ours_rate, their_rate, batch / ours_rate, losses


def _status_kib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def memory_child(side, batch):
    """Run in a fresh process: print the peak RSS growth (MiB) of 3 training steps over the set-up, and
    tracemalloc's peak for nnplug.

    The peak is VmHWM, reset to the current RSS just before training (``/proc/self/clear_refs``):
    ru_maxrss would not do, since a process started by vfork and exec inherits its parent's peak.
    """
    import tracemalloc
    params = init_params()
    data = batches(batch, 3)
    if side == "torch":
        import torch
        torch.set_num_threads(1)
        net = TorchNet(params)
    else:
        net = NumpyNet(params)
    with threadpool_limits(1):
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # VmHWM := VmRSS
        base = _status_kib("VmRSS")
        if side == "nnplug":
            tracemalloc.start()
        run_steps(net, data)
        grown = (_status_kib("VmHWM") - base) / 1024
        traced = tracemalloc.get_traced_memory()[1] / 2 ** 20 if side == "nnplug" else float("nan")
    print(f"{grown:.1f} {traced:.1f}")


def memory(batch, runs=3):
    """Median over ``runs`` fresh processes per side, alternating sides: {side: [maxrss growth, tracemalloc peak]}."""
    results = {"nnplug": [], "torch": []}
    for _ in range(runs):
        for side in results:
            child = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", side, str(batch)],
                                   capture_output=True, text=True, check=True)
            results[side].append([float(v) for v in child.stdout.split()[-2:]])
    return {side: np.median(np.array(rows), axis=0).tolist() for side, rows in results.items()}


def winograd_errors():
    from nnplug_std.classic.conv_layers import conv_forward_naive
    from nnplug_std.kernels.im2col import conv_forward_fast
    from nnplug_std.kernels.winograd_nchw import conv_forward_winograd
    rng = np.random.default_rng(0)
    print("\n(e) Winograd F(4x4, 3x3) in float32 vs the naive float64 convolution, batch 4\n")
    print("| layer | Winograd: max abs error / max abs output | Winograd: max relative error where abs output "
          "> 1% of max | im2col float32, the same two |")
    print("|---|---|---|---|")
    size, c = 32, CHANNELS[0]
    for i, f in enumerate(CHANNELS[1:], 1):
        x = np.abs(rng.standard_normal((4, c, size, size)))  # relu outputs: non-negative
        w = rng.standard_normal((f, c, 3, 3)) * np.sqrt(2 / (9 * c))
        b = np.zeros(f)
        ref, _ = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
        got, _ = conv_forward_winograd(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32),
                                       {"stride": 1, "pad": 1})
        direct, _ = conv_forward_fast(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32),
                                      {"stride": 1, "pad": 1})
        big = np.abs(ref) > 0.01 * np.abs(ref).max()

        def errors(out):
            err = np.abs(out - ref)
            return f"{err.max() / np.abs(ref).max():.1e}", f"{(err[big] / np.abs(ref[big])).max():.1e}"

        (wa, wr), (da, dr) = errors(got), errors(direct)
        print(f"| conv{i} {c}->{f} at {size}x{size} | {wa} | {wr} | {da}, {dr} |")
        c = f
        if i in (1, 3):
            size //= 2


def main(argv=None):
    p = argparse.ArgumentParser(prog="python bench/conv.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", nargs="+", type=int, default=[64, 128])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--steps", type=int, default=3, help="training steps per repetition")
    p.add_argument("--memory-child", nargs=2, metavar=("SIDE", "BATCH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]))
        return
    print("(b, c) training step, samples/s, median of", args.reps, "interleaved repetitions of", args.steps, "steps\n")
    print("| batch | threads | nnplug | PyTorch | nnplug / PyTorch | nnplug ms/step "
          "| first two losses, nnplug / PyTorch |")
    print("|---|---|---|---|---|---|---|")
    step_seconds = {}
    for batch in args.batches:
        for threads in args.threads:
            ours, theirs, seconds, losses = speed(batch, threads, args.reps, args.steps)
            if threads == 1:
                step_seconds[batch] = seconds
            pairs = ", ".join(f"{a:.5f} / {b:.5f}" for a, b in losses)
            print(f"| {batch} | {threads} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} | {seconds * 1e3:.0f} "
                  f"| {pairs} |", flush=True)
    with threadpool_limits(1):
        for batch in args.batches:
            if batch in step_seconds:
                gemm_table(batch, step_seconds[batch])
    print("\n(d) peak memory of 3 training steps: peak RSS (VmHWM) growth over the set-up, fresh process per side, "
          "median of 3, 1 thread\n")
    print("| batch | nnplug MiB | PyTorch MiB | nnplug / PyTorch | nnplug tracemalloc peak MiB |")
    print("|---|---|---|---|---|")
    for batch in args.batches:
        m = memory(batch)
        print(f"| {batch} | {m['nnplug'][0]:.0f} | {m['torch'][0]:.0f} | {m['nnplug'][0] / m['torch'][0]:.2f} | "
              f"{m['nnplug'][1]:.0f} |", flush=True)
    with threadpool_limits(1):
        winograd_errors()


if __name__ == "__main__":
    main()
