"""The fully connected layer plugin, and the fused affine - batch norm - relu step it offers."""
import numpy as np

from nnplug.contract.kinds import Layer, check_mode
from nnplug.contract.options import in_range
from nnplug_std.classic.layers import affine_backward, affine_forward
from nnplug_std.kernels.products import weight_order
from nnplug_std.kernels.affine_bn_relu import affine_bn_relu_backward, affine_bn_relu_forward
from nnplug_std.layers.activations import ReLU
from nnplug_std.layers.normalization import BatchNorm
from nnplug.contract.weights import draw_weights


class Affine(Layer):
    name = "affine"
    description = "Fully connected: x @ W + b, each sample flattened; units outputs (the last: the classes)"
    resizes = True
    regularized = ("W",)
    options = {"units": None, "bias": True}  # bias: false leaves b out altogether
    chain_role = "affine"  # the head a conv chain may end with (nnplug_std.layers.chain_plan)
    option_types = {"units": (int, type(None))}
    check_cases = ({"bias": False},)

    @classmethod
    def check_options(cls, options):
        return in_range(options, "units", minimum=1)

    def output_shape(self, in_shape):
        units = self.units if self.units is not None else self.width
        if units is None:
            raise ValueError("affine needs its number of outputs: units (or the width a model gives it)")
        return (units,)

    def init_params(self, rng, init="gaussian", weight_scale=1e-2):
        params = {
            # the same values in either layout: a seed gives the same network as before
            "W": draw_weights(rng, (self.in_dim, self.out_dim), (self.in_dim, self.out_dim), init, weight_scale,
                              self.dtype, order=weight_order(self.in_dim, self.out_dim, self.dtype)),
        }
        if self.bias:
            params["b"] = np.zeros(self.out_dim, dtype=self.dtype)
        return params

    def forward(self, x, params, mode):
        return affine_forward(x, params["W"], params.get("b"))

    def backward(self, dout, cache):
        dx, dw, db = affine_backward(dout, cache, self.input_grad)
        return dx, {"W": dw, "b": db} if self.bias else {"W": dw}

    def fuse(self, following):
        # exact types: a subclass of BatchNorm or ReLU may compute something else
        if [type(layer) for layer in following[:2]] == [BatchNorm, ReLU]:
            return AffineBatchNormReLU(self, following[0]), 3
        return None


class AffineBatchNormReLU:
    """Runs an affine, a batch-norm and a relu layer as one step (see ``Layer.fuse``).

    The three layers keep their parameters and their state (the running statistics stay in the
    batch-norm layer's ``bn_param``); only the arithmetic is shared.
    """

    def __init__(self, affine, batchnorm):
        self.affine = affine
        self.batchnorm = batchnorm

    def forward(self, x, params, mode):
        (affine, batchnorm, _), bn_param = params, self.batchnorm.bn_param
        bn_param["mode"] = check_mode(mode)
        return affine_bn_relu_forward(x, affine["W"], affine.get("b"), batchnorm["gamma"], batchnorm["beta"],
                                      bn_param)

    def backward(self, dout, cache):
        dx, dw, db, dgamma, dbeta = affine_bn_relu_backward(dout, cache, self.affine.input_grad)
        return dx, [{"W": dw, "b": db} if self.affine.bias else {"W": dw}, {"gamma": dgamma, "beta": dbeta}, {}]
