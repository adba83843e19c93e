"""Elementwise nonlinearities as layer plugins, each one classic forward/backward pair."""
from nnplug.contract.kinds import Layer
from nnplug_std.classic.layers import (gelu_backward, gelu_forward, leaky_relu_backward, leaky_relu_forward,
                                       relu_backward, relu_forward, sigmoid_backward, sigmoid_forward, tanh_backward,
                                       tanh_forward)
from nnplug_std.kernels.gelu import FORMS


class Elementwise(Layer):
    """A parameter-free layer defined by one classic forward/backward pair (``pair``)."""

    pair = None

    def forward(self, x, params, mode):
        return self.pair[0](x)

    def backward(self, dout, cache):
        return self.pair[1](dout, cache), {}


class ReLU(Elementwise):
    name = "relu"
    description = "Rectified linear unit: max(x, 0)"
    rectifier = True
    pair = (relu_forward, relu_backward)
    chain_role = "relu"  # the HWNC conv chain computes it (nnplug_std.layers.conv_chain)


class Tanh(Elementwise):
    name = "tanh"
    description = "Hyperbolic tangent"
    pair = (tanh_forward, tanh_backward)


class Sigmoid(Elementwise):
    name = "sigmoid"
    description = "Logistic sigmoid 1 / (1 + exp(-x))"
    pair = (sigmoid_forward, sigmoid_backward)


class LeakyReLU(Layer):
    name = "leaky_relu"
    description = "Leaky ReLU: x where x > 0, else alpha * x"
    rectifier = True
    options = {"alpha": 0.01}

    def forward(self, x, params, mode):
        return leaky_relu_forward(x, self.alpha)

    def backward(self, dout, cache):
        return leaky_relu_backward(dout, cache), {}


class Scale(Layer):
    """``factor * x``: a fixed gain, e.g. on a net's scores (ResNet-9's 0.125, airbench94's 1/9)."""

    name = "scale"
    description = "Multiplies by a fixed factor: factor * x"
    options = {"factor": 1.0}
    check_cases = ({"factor": -0.125},)

    def forward(self, x, params, mode):
        return x * x.dtype.type(self.factor), None

    def backward(self, dout, cache):
        return dout * dout.dtype.type(self.factor), {}


class GELU(Layer):
    name = "gelu"
    description = "GELU: x * Phi(x), Phi the normal CDF; approximate: none (exact) or tanh"
    options = {"approximate": "none"}  # PyTorch's names: nn.GELU(approximate="none" | "tanh")
    check_cases = ({"approximate": "tanh"},)
    chain_role = "gelu"

    @classmethod
    def check_options(cls, options):
        if options.get("approximate") not in FORMS:
            return [f"approximate={options.get('approximate')!r}: expected one of {', '.join(FORMS)}"]
        return []

    def __init__(self, in_shape, out_dim=None, **kwargs):
        problems = self.check_options({**self.options, **kwargs})
        if problems:
            raise ValueError(f"gelu {problems[0]}")
        super().__init__(in_shape, out_dim, **kwargs)

    def forward(self, x, params, mode):
        return gelu_forward(x, self.approximate)

    def backward(self, dout, cache):
        return gelu_backward(dout, cache), {}
