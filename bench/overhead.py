"""Where nnplug's step spends its time beyond the bare numpy loop, one layer of the framework at a time.

    python bench/overhead.py [--net 3072-100-100-10] [--batch 100] [--dtype float32] [--threads 2] [--reps 7]

Five versions of one workload's epoch (``bench.workloads``), interleaved, each adding one part of
nnplug to the one before:

1. ``bare``: ``bench.contenders.bare``, the step written out by hand;
2. ``layer functions``: nnplug_std's fused affine-batchnorm-relu, affine and softmax functions,
   called directly, with the bare loop's update;
3. ``Network.loss``: the model's forward and backward (layer objects, dicts of parameters and
   gradients), still with the bare loop's update;
4. ``update rule``: the same with nnplug's ``sgd_momentum`` called per parameter, as the Solver does;
5. ``Solver``: ``Solver.train()`` without gathering minibatches ahead (as with every core for BLAS),
   accuracy checks left out, as ``python -m bench`` times it.

Every version trains the same batches from the same weights, and their loss curves agree. Median and fastest repetition, in
microseconds per step; the increments are what each part adds.
"""
import argparse

import numpy as np

from bench import suite
from bench.contenders import _momentum, _now, bare, nnplug
from bench.workloads import LEARNING_RATE, MOMENTUM, NETS, SEED, WEIGHT_SCALE, Workload, initial_params, make_data
from bench.workloads import solver_batches


def _model(workload, params):
    from nnplug.core.classic_models import FullyConnectedNet

    model = FullyConnectedNet(list(workload.hidden), use_batchnorm=True, weight_scale=WEIGHT_SCALE,
                              dtype=np.dtype(workload.dtype), seed=SEED)
    for name, value in params.items():
        np.copyto(model.params[name], value)
    return model


def layer_functions(workload, data, params):
    from nnplug_std.classic import affine_backward, affine_bn_relu_backward, affine_bn_relu_forward, affine_forward
    from nnplug_std.classic.losses import softmax_loss

    hidden = len(workload.hidden)
    P = _model(workload, params).params
    velocity = {name: np.zeros_like(w) for name, w in P.items()}
    bn_params = [{"mode": "train"} for _ in range(hidden)]
    X, y = data["X_train"], data["y_train"]
    last = hidden + 1
    losses = []
    start = _now()
    for idx in solver_batches(workload):
        h, caches = X[idx], []
        for i in range(1, last):
            h, cache = affine_bn_relu_forward(h, P[f"W{i}"], P[f"b{i}"], P[f"gamma{i}"], P[f"beta{i}"],
                                              bn_params[i - 1])
            caches.append(cache)
        scores, cache = affine_forward(h, P[f"W{last}"], P[f"b{last}"])
        loss, d = softmax_loss(scores, y[idx])
        losses.append(loss)
        grads = {}
        d, grads[f"W{last}"], grads[f"b{last}"] = affine_backward(d, cache)
        for i in range(hidden, 0, -1):
            d, *grads_i = affine_bn_relu_backward(d, caches[i - 1], i > 1)
            for key, grad in zip(("W", "b", "gamma", "beta"), grads_i):
                grads[f"{key}{i}"] = grad
        for name, w in P.items():
            _momentum(w, grads[name], velocity[name])
    return tuple((_now() - start) / workload.iterations), losses


def network_loss(workload, data, params, update_rule=False):
    from nnplug_std.classic.optim import sgd_momentum

    model = _model(workload, params)
    P = model.params
    velocity = {name: np.zeros_like(w) for name, w in P.items()}
    configs = {name: {"learning_rate": LEARNING_RATE, "momentum": MOMENTUM} for name in P}
    X, y = data["X_train"], data["y_train"]
    losses = []
    start = _now()
    for idx in solver_batches(workload):
        loss, grads = model.loss(X[idx], y[idx])
        losses.append(loss)
        if update_rule:
            for name, w in P.items():
                P[name], configs[name] = sgd_momentum(w, grads[name], configs[name], out=w)
        else:
            for name, w in P.items():
                _momentum(w, grads[name], velocity[name])
    return tuple((_now() - start) / workload.iterations), losses


def with_update_rule(workload, data, params):
    return network_loss(workload, data, params, update_rule=True)


def solver(workload, data, params):
    return nnplug(workload, data, params, prefetch=False)


VERSIONS = {"bare": bare, "layer functions": layer_functions, "Network.loss": network_loss,
            "update rule": with_update_rule, "Solver": solver}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--net", default="3072-100-100-10", choices=list(NETS))
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=7)
    args = p.parse_args(argv)
    workload = Workload(args.net, args.batch, args.dtype, args.threads)
    data, params = make_data(workload), initial_params(workload)
    seconds = {name: [] for name in VERSIONS}
    with suite.pinned_threads(workload.threads, False):
        curves = {name: np.array(run(workload, data, params)[1]) for name, run in VERSIONS.items()}  # warm-up
        names = list(VERSIONS)
        for rep in range(args.reps):
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                seconds[name].append(VERSIONS[name](workload, data, params)[0][0])
    differences = [np.max(np.abs(curve / curves["bare"] - 1)) for curve in curves.values()]
    print(f"{workload.label}: microseconds per step, {args.reps} repetitions "
          f"(every version's loss curve within {max(differences):.0e} of the bare loop's)")
    print(f"{'version':16s} {'median':>8s} {'fastest':>8s} {'+median':>8s} {'+fastest':>9s} {'bare/this':>10s}")
    previous = None
    for name, values in seconds.items():
        median, fastest = np.median(values) * 1e6, np.min(values) * 1e6
        more = f"{median - previous[0]:8.1f} {fastest - previous[1]:9.1f}" if previous else f"{'':8s} {'':9s}"
        print(f"{name:16s} {median:8.1f} {fastest:8.1f} {more} {np.median(seconds['bare']) * 1e6 / median:10.3f}")
        previous = median, fastest


if __name__ == "__main__":
    main()
