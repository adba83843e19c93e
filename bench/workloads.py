"""What every contender trains: the same network, initial weights, batches and update rule.

The update rule is SGD with momentum (CS231n's ``sgd_momentum``, PyTorch's ``SGD(momentum=0.9)``:
the same trajectory, since v = -lr * buf). Data are CIFAR-shaped random images, (N, 3, 32, 32), as
many as CIFAR-10's classic training split by default, so an epoch (and with it the per-epoch work
of the Solver and of the tracker) is as long as in a real CIFAR-10 run.
"""
import functools
from dataclasses import dataclass

import numpy as np

INPUT_SHAPE = (3, 32, 32)
NUM_CLASSES = 10
LEARNING_RATE = 1e-2
MOMENTUM = 0.9
WEIGHT_SCALE = 1e-2
SEED = 0
TRAIN_SIZE = 49_000
NUM_TRAIN_SAMPLES = 1000  # the Solver's default sample for its train-accuracy checks
NETS = {"3072-100-100-10": (100, 100), "3072-100x4-10": (100, 100, 100, 100)}


@dataclass(frozen=True)
class Workload:
    net: str
    batch: int
    dtype: str
    threads: int
    train_size: int = TRAIN_SIZE
    epochs: int = 1

    @property
    def hidden(self):
        return NETS[self.net]

    @property
    def iterations_per_epoch(self):
        return max(self.train_size // self.batch, 1)

    @property
    def iterations(self):
        return self.iterations_per_epoch * self.epochs

    @property
    def label(self):
        return f"{self.net} bn, batch {self.batch}, {self.dtype}, {self.threads} thr"


def make_data(workload):
    return _data(workload.train_size, workload.dtype)


@functools.lru_cache(maxsize=1)  # consecutive workloads share their data; one copy in memory
def _data(train_size, dtype):
    rng = np.random.default_rng(SEED)
    shape = (train_size + 1000,) + INPUT_SHAPE
    X = rng.standard_normal(shape, dtype=np.float32).astype(dtype)
    y = rng.integers(0, NUM_CLASSES, shape[0])
    return {"X_train": X[:train_size], "y_train": y[:train_size], "X_val": X[train_size:], "y_val": y[train_size:]}


def solver_batches(workload):
    """The minibatch indices the Solver draws with ``seed=SEED``, drawn one by one as they are iterated.

    A generator, so that each contender's timed loop pays for drawing its batches as the Solver
    does. The Solver's generator also draws the rows of each train-accuracy check (after the
    first iteration and at every epoch end); these draws do too. The suite checks that every
    contender's loss curve follows nnplug's, which holds only if the batches are the same.
    """
    rng = np.random.default_rng(SEED)
    for t in range(workload.iterations):
        yield rng.integers(0, workload.train_size, workload.batch)
        if (t == 0 or (t + 1) % workload.iterations_per_epoch == 0) and workload.train_size > NUM_TRAIN_SAMPLES:
            rng.choice(workload.train_size, NUM_TRAIN_SAMPLES)


def initial_params(workload):
    """nnplug's FullyConnectedNet initialisation; every contender starts from a copy."""
    from nnplug.core.classic_models import FullyConnectedNet

    model = FullyConnectedNet(list(workload.hidden), use_batchnorm=True, weight_scale=WEIGHT_SCALE,
                              dtype=np.dtype(workload.dtype), seed=SEED)
    return {name: value.copy(order="K") for name, value in model.params.items()}  # keeping their layout
