"""Batch and layer normalization as layer plugins."""
import numpy as np

from nnplug.contract.kinds import Layer, check_mode
from nnplug.contract.options import in_range
from nnplug_std.classic.normalization import (batchnorm_backward, batchnorm_forward, layernorm_backward,
                                              layernorm_forward)


class Normalization(Layer):
    """A learnt scale ``gamma`` (ones) and shift ``beta`` (zeros) per feature."""

    options = {"eps": 1e-5}

    @classmethod
    def check_options(cls, options):
        return in_range(options, "eps", above=0) + in_range(options, "momentum", minimum=0, at_most=1)

    def init_params(self, rng, init="gaussian", weight_scale=1e-2):
        return {"gamma": np.ones(self.in_dim, dtype=self.dtype),
                "beta": np.zeros(self.in_dim, dtype=self.dtype)}


class BatchNorm(Normalization):
    name = "batchnorm"
    description = "Batch normalization with running statistics for test mode"
    options = {"eps": 1e-5, "momentum": 0.9}

    def __init__(self, in_dim, out_dim=None, **kwargs):
        super().__init__(in_dim, out_dim, **kwargs)
        self.bn_param = {"eps": self.eps, "momentum": self.momentum,
                         "running_mean": np.zeros(self.in_dim, dtype=self.dtype),
                         "running_var": np.zeros(self.in_dim, dtype=self.dtype)}

    def forward(self, x, params, mode):
        self.bn_param["mode"] = check_mode(mode)
        return batchnorm_forward(x, params["gamma"], params["beta"], self.bn_param)

    def backward(self, dout, cache):
        dx, dgamma, dbeta = batchnorm_backward(dout, cache)
        return dx, {"gamma": dgamma, "beta": dbeta}

    def get_state(self):
        return {**super().get_state(), "running_mean": self.bn_param["running_mean"],
                "running_var": self.bn_param["running_var"]}

    def set_state(self, state):
        super().set_state(state)
        self.bn_param["running_mean"] = np.array(state["running_mean"], dtype=self.dtype)
        self.bn_param["running_var"] = np.array(state["running_var"], dtype=self.dtype)


class LayerNorm(Normalization):
    name = "layernorm"
    description = "Layer normalization over each sample's features"

    def forward(self, x, params, mode):
        check_mode(mode)
        return layernorm_forward(x, params["gamma"], params["beta"], {"eps": self.eps})

    def backward(self, dout, cache):
        dx, dgamma, dbeta = layernorm_backward(dout, cache)
        return dx, {"gamma": dgamma, "beta": dbeta}
