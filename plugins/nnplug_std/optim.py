"""The standard update-rule plugins, built on the classic functions of ``nnplug_std.classic.optim``."""
from nnplug.contract.hookspecs import hookimpl
from nnplug.contract.kinds import UpdateRule
from nnplug_std.classic.optim import DEFAULTS, adagrad, adam, adamw, nesterov, rmsprop, sgd, sgd_momentum


@hookimpl
def nnplug_optimizers():
    described = {
        sgd: "Vanilla stochastic gradient descent",
        sgd_momentum: "SGD with momentum (velocity)",
        nesterov: "SGD with Nesterov momentum, PyTorch's trajectory",
        adagrad: "Adagrad: per-parameter rates from the sum of squared gradients",
        rmsprop: "RMSProp: a moving average of squared gradients",
        adam: "Adam with bias correction",
        adamw: "Adam with decoupled weight decay (AdamW)",
    }
    return [UpdateRule(fn.__name__, fn, DEFAULTS[fn.__name__], text) for fn, text in described.items()]
