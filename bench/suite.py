"""Runs the contenders on one workload, interleaved, under one thread limit on both sides.

Threads are pinned with threadpoolctl (numpy's OpenBLAS, and any other BLAS or OpenMP pool in the
process, PyTorch's included) and ``torch.set_num_threads``. Each repetition runs every contender
once, in an order that rotates between repetitions, so a busy neighbour on the machine slows all of
them alike; each figure is the median over repetitions.
"""
import contextlib

import numpy as np

from bench import contenders, roofline
from bench.workloads import initial_params, make_data


@contextlib.contextmanager
def pinned_threads(n, with_torch):
    from threadpoolctl import threadpool_limits

    previous = None
    if with_torch:
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        if previous is not None:
            torch.set_num_threads(previous)


def _largest_difference(curve, reference):
    curve, reference = np.asarray(curve), np.asarray(reference)
    return float(np.max(np.abs(curve - reference) / np.abs(reference)))


def run_workload(workload, reps, tracking=None, with_torch=True):
    """Seconds per iteration (median, wall and CPU) of each contender, the loss curves' agreement and the roofline.

    The roofline fraction uses wall time, as the GEMMs alone are timed in wall time.
    """
    data = make_data(workload)
    params = initial_params(workload)
    runs = {"nnplug": lambda: contenders.nnplug(workload, data, params)}
    if tracking is not None:
        runs["nnplug+tracking"] = lambda: tracking(workload, data, params)
    runs["bare"] = lambda: contenders.bare(workload, data, params)
    if with_torch:
        runs["torch"] = lambda: contenders.torch(workload, data, params)

    with pinned_threads(workload.threads, with_torch):
        curves = {name: run()[1] for name, run in runs.items()}  # also the warm-up
        seconds = {name: [] for name in runs}
        names = list(runs)
        for rep in range(reps):
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                seconds[name].append(runs[name]()[0])
        gemm = roofline.measure(workload)

    median = {name: float(np.median([wall for wall, _ in values])) for name, values in seconds.items()}
    cpu = {name: float(np.median([c for _, c in values])) for name, values in seconds.items()}
    return {
        "workload": workload.label,
        "config": {"net": workload.net, "batch": workload.batch, "dtype": workload.dtype,
                   "threads": workload.threads, "iterations_per_rep": workload.iterations, "reps": reps},
        "seconds_per_iteration": median,
        "samples_per_second": {name: workload.batch / s for name, s in median.items()},
        "cpu_seconds_per_iteration": cpu,
        "all_seconds_wall_cpu": seconds,
        # same weights, batches and rule: every loss curve must follow nnplug's
        "loss_curve_max_rel_diff": {name: _largest_difference(curve, curves["nnplug"])
                                    for name, curve in curves.items() if name != "nnplug"},
        "gemm": gemm,
        "roofline_fraction": gemm["seconds"] / median["nnplug"],
    }
