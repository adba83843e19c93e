"""Pooling and reshaping layer plugins, for images ``(C, H, W)`` and sequences ``(C, L)``.

A sequence is pooled as an image one pixel high, through the same classic functions.
"""
import numpy as np

from nnplug.contract.kinds import Layer
from nnplug.contract.options import in_range
from nnplug_std.kernels.im2col import (avg_pool_backward_fast, avg_pool_forward_fast, max_pool_backward_fast,
                                            max_pool_forward_fast)


class Pooling(Layer):
    """Windows of ``size`` (size x size on images) every ``stride`` values (default: ``size``)."""

    options = {"size": 2, "stride": None}
    option_types = {"stride": (int, type(None))}
    check_shape = (2, 6, 6)
    check_cases = ({"size": 3, "stride": 1},)
    pair = None

    @classmethod
    def check_options(cls, options):
        return in_range(options, "size", minimum=1) + in_range(options, "stride", minimum=1)

    @property
    def pool_param(self):
        image = len(self.in_shape) == 3
        return {"pool_height": self.size if image else 1, "pool_width": self.size,
                "stride": self.stride if self.stride is not None else self.size}

    def output_shape(self, in_shape):
        if len(in_shape) not in (2, 3):
            raise ValueError(f"{self.name} takes (C, H, W) images or (C, L) sequences, not samples of shape {in_shape}")
        stride = self.stride if self.stride is not None else self.size
        if any(d < self.size for d in in_shape[1:]):
            raise ValueError(f"{self.name} windows of {self.size} do not fit samples of shape {in_shape}")
        return (in_shape[0], *(1 + (d - self.size) // stride for d in in_shape[1:]))

    def forward(self, x, params, mode):
        out, cache = self.pair[0](x.reshape(len(x), self.in_shape[0], -1, self.in_shape[-1]), self.pool_param)
        return out.reshape(len(x), *self.out_shape), cache

    def backward(self, dout, cache):
        dx = self.pair[1](dout.reshape(len(dout), self.out_shape[0], -1, self.out_shape[-1]), cache)
        return dx.reshape(len(dout), *self.in_shape), {}


class MaxPool(Pooling):
    name = "max_pool"
    description = "Max pooling: the largest value of each window (size x size on images)"
    pair = (max_pool_forward_fast, max_pool_backward_fast)
    chain_role = "pool"  # the HWNC conv chain computes its 2x2 stride-2 form (nnplug_std.layers.conv_chain)


class AvgPool(Pooling):
    name = "avg_pool"
    description = "Average pooling: the mean of each window (size x size on images)"
    pair = (avg_pool_forward_fast, avg_pool_backward_fast)


class GlobalAvgPool(Layer):
    name = "global_avg_pool"
    description = "The mean of each channel over all its positions: (C, ...) -> (C,)"
    check_shape = (3, 4, 4)

    def output_shape(self, in_shape):
        if len(in_shape) < 2:
            raise ValueError(f"global_avg_pool takes (C, ...) maps, not samples of shape {in_shape}")
        return in_shape[:1]

    def forward(self, x, params, mode):
        return x.reshape(len(x), x.shape[1], -1).mean(axis=2), x.shape

    def backward(self, dout, cache):
        shape = cache
        positions = int(np.prod(shape[2:]))
        dx = np.broadcast_to((dout / positions).reshape(*dout.shape, *(1,) * (len(shape) - 2)), shape)
        return np.ascontiguousarray(dx), {}


class GlobalMaxPool(Layer):
    name = "global_max_pool"
    description = "The largest value of each channel over all its positions: (C, ...) -> (C,)"
    check_shape = (3, 4, 4)

    def output_shape(self, in_shape):
        if len(in_shape) < 2:
            raise ValueError(f"global_max_pool takes (C, ...) maps, not samples of shape {in_shape}")
        return in_shape[:1]

    def forward(self, x, params, mode):
        flat = x.reshape(len(x), x.shape[1], -1)
        where = flat.argmax(axis=2)  # the first maximum of each channel takes its gradient, as max_pool's
        return np.take_along_axis(flat, where[..., None], axis=2)[..., 0], (where, x.shape)

    def backward(self, dout, cache):
        where, shape = cache
        dx = np.zeros((shape[0], shape[1], int(np.prod(shape[2:]))), dtype=dout.dtype)
        np.put_along_axis(dx, where[..., None], dout[..., None], axis=2)
        return dx.reshape(shape), {}


class Flatten(Layer):
    name = "flatten"
    description = "Each sample as one vector: (C, H, W) -> (C*H*W,), in C order"
    check_shape = (2, 3, 3)

    def output_shape(self, in_shape):
        return (int(np.prod(in_shape)),)

    def forward(self, x, params, mode):
        return x.reshape(len(x), -1), x.shape

    def backward(self, dout, cache):
        return dout.reshape(cache), {}
