"""The standard update-rule plugins, built on the classic functions of ``nnplug_std.classic.optim``."""
from nnplug.contract.hookspecs import hookimpl
from nnplug.contract.kinds import UpdateRule
from nnplug.contract.options import in_range
from nnplug_std.classic.optim import DEFAULTS, adagrad, adam, adamw, nesterov, rmsprop, sgd, sgd_momentum


def check_hyperparameters(hyperparameters):
    """The ranges the standard rules need: decay rates in [0, 1), epsilon > 0, weight decay >= 0."""
    problems = []
    for name in ("momentum", "beta1", "beta2", "decay_rate"):
        problems += in_range(hyperparameters, name, minimum=0, below=1)
    problems += in_range(hyperparameters, "epsilon", above=0)
    problems += in_range(hyperparameters, "weight_decay", minimum=0)
    return problems


@hookimpl
def nnplug_optimizers():
    described = {
        sgd: "Vanilla stochastic gradient descent",
        sgd_momentum: "SGD with momentum (velocity); weight decay coupled or decoupled",
        nesterov: "SGD with Nesterov momentum, PyTorch's step; weight decay coupled or decoupled",
        adagrad: "Adagrad: per-parameter rates from the sum of squared gradients",
        rmsprop: "RMSProp: a moving average of squared gradients",
        adam: "Adam with bias correction",
        adamw: "Adam with decoupled weight decay (AdamW)",
    }
    return [UpdateRule(fn.__name__, fn, DEFAULTS[fn.__name__], text, check=check_hyperparameters)
            for fn, text in described.items()]
