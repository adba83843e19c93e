"""Normalization layer plugins: batch and layer norm of feature vectors, spatial batch norm and
group norm of maps (images ``(C, H, W)`` and sequences ``(C, L)``, a sequence as an image one
pixel high)."""
import numpy as np

from nnplug.contract.kinds import Layer, check_mode
from nnplug.contract.options import in_range
from nnplug_std.classic.normalization import (batchnorm_backward, batchnorm_forward, layernorm_backward,
                                              layernorm_forward)
from nnplug_std.classic.spatial_normalization import (spatial_batchnorm_backward, spatial_batchnorm_forward,
                                                      spatial_groupnorm_backward, spatial_groupnorm_forward)


class Normalization(Layer):
    """A learnt scale ``gamma`` (ones) and shift ``beta`` (zeros) per feature (per channel of a map)."""

    options = {"eps": 1e-5}
    per_channel = False

    @property
    def features(self):
        """How many values gamma and beta have: the sample's size, or its channels for maps."""
        return self.in_shape[0] if self.per_channel else self.in_dim

    @classmethod
    def check_options(cls, options):
        return in_range(options, "eps", above=0) + in_range(options, "momentum", minimum=0, at_most=1)

    def init_params(self, rng, init="gaussian", weight_scale=1e-2):
        return {"gamma": np.ones(self.features, dtype=self.dtype),
                "beta": np.zeros(self.features, dtype=self.dtype)}


class BatchNorm(Normalization):
    name = "batchnorm"
    description = "Batch normalization with running statistics for test mode"
    options = {"eps": 1e-5, "momentum": 0.9}

    def __init__(self, in_dim, out_dim=None, **kwargs):
        super().__init__(in_dim, out_dim, **kwargs)
        self.bn_param = {"eps": self.eps, "momentum": self.momentum,
                         "running_mean": np.zeros(self.features, dtype=self.dtype),
                         "running_var": np.zeros(self.features, dtype=self.dtype)}

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


def as_image(x):
    """A map (N, C, H, W) or (N, C, L) as (N, C, H, W), a sequence one pixel high (a view)."""
    return x if x.ndim == 4 else x.reshape(x.shape[0], x.shape[1], 1, -1)


def check_map(layer):
    if len(layer.in_shape) not in (2, 3):
        raise ValueError(f"{layer.name} takes (C, H, W) images or (C, L) sequences, not samples of shape "
                         f"{layer.in_shape}")


class SpatialBatchNorm(BatchNorm):
    name = "spatial_batchnorm"
    description = "Batch normalization of each channel over the batch and all positions, for conv nets"
    per_channel = True
    check_shape = (3, 4, 4)
    chain_role = "bn"  # the HWNC conv chain computes it (nnplug_std.layers.conv_chain)

    def __init__(self, in_shape, out_dim=None, **kwargs):
        super().__init__(in_shape, out_dim, **kwargs)
        check_map(self)

    def forward(self, x, params, mode):
        self.bn_param["mode"] = check_mode(mode)
        out, cache = spatial_batchnorm_forward(as_image(x), params["gamma"], params["beta"], self.bn_param)
        return out.reshape(x.shape), cache

    def backward(self, dout, cache):
        dx, dgamma, dbeta = spatial_batchnorm_backward(as_image(dout), cache)
        return dx.reshape(dout.shape), {"gamma": dgamma, "beta": dbeta}


class GroupNorm(Normalization):
    name = "groupnorm"
    description = "Group normalization: each sample's channels in groups, normalised over group and positions"
    options = {"groups": 32, "eps": 1e-5}  # Wu and He's default
    per_channel = True
    check_shape = (32, 2, 3)
    check_cases = ({"groups": 8},)

    @classmethod
    def check_options(cls, options):
        return in_range(options, "groups", minimum=1) + super().check_options(options)

    def __init__(self, in_shape, out_dim=None, **kwargs):
        super().__init__(in_shape, out_dim, **kwargs)
        check_map(self)
        if self.in_shape[0] % self.groups:
            raise ValueError(f"groupnorm groups={self.groups} does not divide the {self.in_shape[0]} channels")

    def forward(self, x, params, mode):
        check_mode(mode)
        gamma, beta = (params[k].reshape(1, -1, 1, 1) for k in ("gamma", "beta"))
        out, cache = spatial_groupnorm_forward(as_image(x), gamma, beta, self.groups, {"eps": self.eps})
        return out.reshape(x.shape), cache

    def backward(self, dout, cache):
        dx, dgamma, dbeta = spatial_groupnorm_backward(as_image(dout), cache)
        return dx.reshape(dout.shape), {"gamma": dgamma.reshape(-1), "beta": dbeta.reshape(-1)}
