"""The swish layer, x * sigmoid(beta * x) (Ramachandran et al., 2017)."""
import numpy as np

from nnplug import Layer, hookimpl


class Swish(Layer):
    name = "swish"
    description = "Swish: x * sigmoid(beta * x), smooth and non-monotonic"
    options = {"beta": 1.0}  # a config sets it: layer.options.swish.beta=1.5
    check_cases = ({"beta": 2.5},)  # nnplug plugins --check tries this too

    def forward(self, x, params, mode):
        s = 0.5 * (1 + np.tanh(0.5 * self.beta * x))  # sigmoid that cannot overflow
        return x * s, (x, s)

    def backward(self, dout, cache):
        x, s = cache
        return dout * s * (1 + self.beta * x * (1 - s)), {}  # no parameters, no grads


@hookimpl
def nnplug_layers():
    return [Swish]
