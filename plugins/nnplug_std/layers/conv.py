"""Convolution layer plugins: ``conv`` for images ``(C, H, W)``, ``conv1d`` for sequences ``(C, L)``.

Samples without a channel axis have one channel: an ``(H, W)`` image (a Keras MNIST array) is
``(1, H, W)`` to ``conv``, an ``(L,)`` sequence (MNIST-1D) ``(1, L)`` to ``conv1d``.

Both are resizing layers whose width is their number of filters: ``filters`` when set, else the
width the model gives them. ``pad: same`` pads ``(size - 1) // 2`` on each side, which keeps the
size at stride 1 for odd filter sizes (3, 5, 7), as CS231n's nets do; ``valid`` pads nothing
(PyTorch's names); a number pads that many.
"""
import numpy as np

from nnplug.contract.kinds import Layer
from nnplug.contract.options import in_range
from nnplug_std.kernels.conv1d import conv1d_backward, conv1d_forward
from nnplug_std.kernels.shapes import conv_output_size
from nnplug_std.kernels.im2col import conv_backward_fast, conv_forward_fast
from nnplug_std.layers.activations import ReLU
from nnplug_std.layers.conv_chain import ConvChain
from nnplug_std.layers.normalization import SpatialBatchNorm
from nnplug_std.layers.pooling import MaxPool
from nnplug.contract.weights import draw_weights


class Convolution(Layer):
    """What the 2-D and 1-D convolutions share: options, checks, filters and their initialisation."""

    resizes = True
    width_option = "filters"
    regularized = ("W",)
    options = {"filters": None, "size": 3, "stride": 1, "pad": "same"}
    option_types = {"filters": (int, type(None)), "pad": (int, str)}
    spatial = 2  # axes after the channels

    @classmethod
    def check_options(cls, options):
        problems = (in_range(options, "filters", minimum=1) + in_range(options, "size", minimum=1)
                    + in_range(options, "stride", minimum=1))
        pad = options.get("pad")
        if isinstance(pad, str) and pad not in ("same", "valid") or isinstance(pad, int) and pad < 0:
            problems.append(f"pad={pad!r}: expected 'same', 'valid' or a whole number >= 0")
        return problems

    def __init__(self, in_shape, out_dim=None, **kwargs):
        # checked before the base class works out the output shape from them
        problems = self.check_options({**self.options, **{k: v for k, v in kwargs.items() if k in self.options}})
        if problems:
            raise ValueError(f"{self.name} {problems[0]}")
        super().__init__(in_shape, out_dim, **kwargs)

    @property
    def padding(self):
        """Zeros added on each side: 'same' keeps the size at stride 1 (odd sizes), 'valid' adds none."""
        return {"same": (self.size - 1) // 2, "valid": 0}.get(self.pad, self.pad)

    @property
    def conv_param(self):
        return {"stride": self.stride, "pad": self.padding}

    def output_shape(self, in_shape):
        filters = self.filters if self.filters is not None else self.width
        if filters is None:
            raise ValueError(f"{self.name} needs its number of filters: filters (or the width a model gives it)")
        if len(in_shape) != self.spatial + 1:
            axes = "(C, H, W) images (or (H, W): one channel)" if self.spatial == 2 else "(C, L) sequences (or (L,))"
            raise ValueError(f"{self.name} takes {axes}, not samples of shape {in_shape}")
        sizes = [conv_output_size(d, self.size, self.padding, self.stride) for d in in_shape[1:]]
        return (filters, *sizes)

    def init_params(self, rng, init="gaussian", weight_scale=1e-2):
        filters, channels = self.out_shape[0], self.in_shape[0]
        taps = self.size ** self.spatial
        shape = (filters, channels) + (self.size,) * self.spatial
        return {"W": draw_weights(rng, shape, (channels * taps, filters * taps), init, weight_scale, self.dtype),
                "b": np.zeros(filters, dtype=self.dtype)}


class Conv(Convolution):
    name = "conv"
    description = ("2-D convolution of (C, H, W) maps (or (H, W): one channel): filters of size x size, stride, "
                   "pad (same, valid or a number)")
    check_shape = (2, 6, 6)
    check_cases = ({"size": 3, "stride": 2, "pad": 0}, {"size": 1})

    def __init__(self, in_shape, out_dim=None, **kwargs):
        # a grey image without a channel axis, as Keras ships MNIST (N, 28, 28), has one channel
        shape = (int(in_shape),) if np.ndim(in_shape) == 0 else tuple(in_shape)
        super().__init__((1, *shape) if len(shape) == 2 else shape, out_dim, **kwargs)

    def fuse(self, following):
        return offer(self, following)

    def forward(self, x, params, mode):
        out, cache = conv_forward_fast(x.reshape(len(x), *self.in_shape), params["W"], params["b"], self.conv_param)
        return out, (cache, x.shape)

    def backward(self, dout, cache):
        cache, shape = cache
        dx, dw, db = conv_backward_fast(dout, cache)
        return dx.reshape(shape), {"W": dw, "b": db}


class Conv1D(Convolution):
    name = "conv1d"
    description = "1-D convolution of (C, L) sequences (or (L,): one channel): filters of size, stride, pad"
    spatial = 1
    check_shape = (2, 9)
    check_cases = ({"size": 5, "stride": 2, "pad": 1},)

    def __init__(self, in_shape, out_dim=None, **kwargs):
        # a sequence without a channel axis, as MNIST-1D's (N, 40), has one channel
        shape = (int(in_shape),) if np.ndim(in_shape) == 0 else tuple(in_shape)
        super().__init__((1, *shape) if len(shape) == 1 else shape, out_dim, **kwargs)

    def forward(self, x, params, mode):
        out, cache = conv1d_forward(x.reshape(x.shape[0], *self.in_shape), params["W"], params["b"], self.conv_param)
        return out, (cache, x.shape)

    def backward(self, dout, cache):
        cache, shape = cache
        dx, dw, db = conv1d_backward(dout, cache, self.input_grad)
        return (None if dx is None else dx.reshape(shape)), {"W": dw, "b": db}


def offer(conv, following):
    """``(ConvChain, count)`` for the groups that start at ``conv``, or None when not even one fits."""
    layers, groups, i = [conv, *following], [], 0
    while i + 2 < len(layers) and type(layers[i]) is Conv and \
            [type(layer) for layer in layers[i + 1:i + 3]] == [SpatialBatchNorm, ReLU]:
        first = not groups and not layers[i].input_grad
        if not (first or winograd_fits(layers[i])):
            break
        pool = layers[i + 3] if i + 3 < len(layers) and type(layers[i + 3]) is MaxPool and \
            pools_pairs(layers[i + 3]) else None
        groups.append((layers[i], layers[i + 1], pool))
        i += 4 if pool is not None else 3
    return (ConvChain(groups), i) if groups else None


def winograd_fits(conv):
    return conv.size == 3 and conv.stride == 1 and 0 <= conv.padding <= 2


def pools_pairs(pool):
    """2x2 windows, stride 2, on even sizes: what the HWNC max pool takes."""
    h, w = pool.in_shape[1:]
    return len(pool.in_shape) == 3 and pool.size == 2 and pool.stride in (None, 2) and h % 2 == 0 and w % 2 == 0
