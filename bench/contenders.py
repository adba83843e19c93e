"""The four ways one workload is trained, each timed per iteration and returning its loss curve.

Every contender returns ``((wall, cpu) seconds per iteration, losses)``. Wall time is what a user
waits; CPU time (``time.process_time``, all threads of this process) barely moves when other
processes share the machine, so with one thread it isolates the work itself.

- ``nnplug``: the real Solver on a FullyConnectedNet, verbose off. Time = the whole ``train()`` minus
  the time spent in ``check_accuracy`` (the per-epoch accuracy checks), divided by the iterations:
  minibatch sampling, the step, the update, listeners and epoch-end work all count.
- ``nnplug+tracking``: the same with the MLflow tracker listening with its default settings (the
  loss every ``log_every_n_steps`` steps, stored in one batch per epoch) on a local SQLite store;
  storing counts, as it happens inside ``train()``.
- ``bare``: the same arithmetic written out by hand in one function: no registry, no Solver, no
  dicts of caches, no tracking. The ratio nnplug / bare is the framework's overhead.
- ``torch``: PyTorch eager (nn.Sequential, F.cross_entropy, optim.SGD with its CPU defaults).

``bare`` and ``torch`` draw each minibatch's indices inside their timed loop from the same numpy
generator sequence as the Solver (``workloads.solver_batches``): the same batches, and the same
cost of drawing them.
"""
import time

import numpy as np

from bench.workloads import LEARNING_RATE, MOMENTUM, NUM_TRAIN_SAMPLES, SEED, WEIGHT_SCALE, solver_batches


def _now():
    return np.array([time.perf_counter(), time.process_time()])


class _CheckClock:
    """Wraps a Solver's ``check_accuracy`` and adds up the (wall, cpu) time spent in it."""

    def __init__(self, solver):
        self.seconds = np.zeros(2)
        self._check = solver.check_accuracy
        solver.check_accuracy = self

    def __call__(self, *args, **kwargs):
        start = _now()
        try:
            return self._check(*args, **kwargs)
        finally:
            self.seconds += _now() - start


def nnplug(workload, data, params, listeners=()):
    from nnplug.core.classic_models import FullyConnectedNet
    from nnplug.core.solver import Solver

    model = FullyConnectedNet(list(workload.hidden), use_batchnorm=True, weight_scale=WEIGHT_SCALE,
                              dtype=np.dtype(workload.dtype), seed=SEED)
    for name, value in params.items():  # into the model's own arrays, which keep its memory layout
        np.copyto(model.params[name], value)
    solver = Solver(model, data, update_rule="sgd_momentum", batch_size=workload.batch,
                    optim_config={"learning_rate": LEARNING_RATE, "momentum": MOMENTUM},
                    num_epochs=workload.epochs, verbose=False, seed=SEED,
                    num_train_samples=NUM_TRAIN_SAMPLES,
                    listeners=listeners)
    checks = _CheckClock(solver)
    start = _now()
    solver.train()
    seconds = _now() - start - checks.seconds
    return tuple(seconds / solver.num_iterations), list(solver.loss_history)


class Tracking:
    """nnplug with ``nnplug.tracking.MlflowTracker`` on a SQLite store in ``directory``.

    The store and experiment are created once, before anything is timed (a fresh store's schema
    migration takes seconds); each repetition is an MLflow run of its own, opened and closed untimed.
    """

    def __init__(self, directory):
        from nnplug.tracking.store import open_experiment

        self.uri = f"sqlite:///{directory}/mlflow.db"
        open_experiment(self.uri, "bench")

    def __call__(self, workload, data, params):
        from nnplug.tracking.listener import MlflowTracker

        with MlflowTracker(self.uri, "bench", run_name=workload.label, params={"workload": workload.label},
                           tags={}) as tracker:
            return nnplug(workload, data, params, listeners=[tracker])


def bare(workload, data, params):
    hidden = len(workload.hidden)
    # copies in nnplug's memory layout: float64 weights with a large fan-in are F-ordered
    W = [params[f"W{i}"].copy(order="K") for i in range(1, hidden + 2)]
    b_out = params[f"b{hidden + 1}"].copy()
    gamma = [params[f"gamma{i}"].copy() for i in range(1, hidden + 1)]
    beta = [params[f"beta{i}"].copy() for i in range(1, hidden + 1)]
    # the same parameters in the same order as the Solver updates them (b1..b4 get zero gradients)
    weights = [w for i in range(hidden) for w in (W[i], params[f"b{i + 1}"].copy(), gamma[i], beta[i])]
    weights += [W[-1], b_out]
    velocity = [np.zeros_like(w) for w in weights]
    running = [[np.zeros_like(g), np.zeros_like(g)] for g in gamma]
    X, y = data["X_train"], data["y_train"]
    n = workload.batch
    ones_n = np.ones(n, dtype=workload.dtype)
    ones_c = np.ones(W[-1].shape[1], dtype=workload.dtype)
    rows = np.arange(n)
    losses = []

    start = _now()
    for idx in solver_batches(workload):  # drawn in the loop, as the Solver draws them
        h = X[idx].reshape(n, -1)
        yb = y[idx]
        caches = []
        for i in range(hidden):
            a = h @ W[i]
            mean = (ones_n @ a) / n
            a -= mean
            var = np.einsum("ij,ij->j", a, a) / n
            inv_std = 1 / np.sqrt(var + 1e-5)
            running[i][0] = 0.9 * running[i][0] + 0.1 * (mean + weights[4 * i + 1])
            running[i][1] = 0.9 * running[i][1] + 0.1 * var
            scale = gamma[i] * inv_std
            out = a * scale
            out += beta[i]
            np.maximum(out, 0, out=out)
            caches.append((h, a, inv_std, scale, out))
            h = out
        scores = h @ W[-1]
        scores += b_out
        shifted = scores - np.ascontiguousarray(scores.T).max(axis=0)[:, None]
        exp = np.exp(shifted)
        sums = exp @ ones_c
        losses.append(float((np.log(sums).sum() - shifted[rows, yb].sum()) / n))
        dscores = exp
        dscores /= (sums * n)[:, None]
        dscores[rows, yb] -= 1 / n

        grads = [None] * len(weights)
        grads[-2], grads[-1] = _weight_grad(h, dscores, W[-1]), ones_n @ dscores
        dh = dscores @ W[-1].T
        for i in reversed(range(hidden)):
            h_in, xc, inv_std, scale, out = caches[i]
            dy = dh * (out > 0)
            dbeta = ones_n @ dy
            dgamma = np.einsum("ij,ij->j", dy, xc) * inv_std
            da = xc * (inv_std * dgamma / n)
            np.subtract(dy, da, out=da)
            da -= dbeta / n
            da *= scale
            grads[4 * i: 4 * i + 4] = _weight_grad(h_in, da, W[i]), np.zeros_like(dbeta), dgamma, dbeta
            if i:
                dh = da @ W[i].T
        for w, g, v in zip(weights, grads, velocity):
            _momentum(w, g, v)
    return tuple((_now() - start) / workload.iterations), losses


def _weight_grad(x, d, w):
    # x.T @ d in w's layout, by the dgemm call nnplug uses for it
    return (d.T @ x).T if w.flags.f_contiguous and not w.flags.c_contiguous else x.T @ d


def _momentum(w, g, v, block=1 << 15):
    # the update rule's arithmetic, in cache-sized blocks like nnplug's (all three share one layout)
    w, g, v = w.ravel(order="K"), g.ravel(order="K"), v.ravel(order="K")
    for s in range(0, w.size, block):
        vb = v[s:s + block]
        vb *= MOMENTUM
        vb -= LEARNING_RATE * g[s:s + block]
        w[s:s + block] += vb


def torch(workload, data, params):
    import torch
    from torch import nn
    from torch.nn import functional as F

    hidden = len(workload.hidden)
    as_tensor = torch.from_numpy
    layers = []
    for i in range(1, hidden + 2):
        w = params[f"W{i}"]
        linear = nn.Linear(*w.shape, dtype=getattr(torch, workload.dtype))
        with torch.no_grad():
            linear.weight.copy_(as_tensor(w.T))  # nn.Linear holds W transposed
            linear.bias.copy_(as_tensor(params[f"b{i}"]))
        layers.append(linear)
        if i <= hidden:
            norm = nn.BatchNorm1d(w.shape[1], eps=1e-5, momentum=1 - 0.9, dtype=linear.weight.dtype)
            with torch.no_grad():
                norm.weight.copy_(as_tensor(params[f"gamma{i}"]))
                norm.bias.copy_(as_tensor(params[f"beta{i}"]))
            layers += [norm, nn.ReLU()]
    model = nn.Sequential(*layers).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    X = as_tensor(data["X_train"]).reshape(len(data["X_train"]), -1)  # a view: no copy
    y = as_tensor(data["y_train"])
    losses = []

    start = _now()
    for idx in solver_batches(workload):  # drawn in the loop, as the Solver draws them
        idx = as_tensor(idx)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(X[idx]), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return tuple((_now() - start) / workload.iterations), losses
