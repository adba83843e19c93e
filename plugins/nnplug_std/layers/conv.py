"""Convolution layer plugins: ``conv`` for images ``(C, H, W)``, ``conv1d`` for sequences ``(C, L)``.

Samples without a channel axis have one channel: an ``(H, W)`` image (a Keras MNIST array) is
``(1, H, W)`` to ``conv``, an ``(L,)`` sequence (MNIST-1D) ``(1, L)`` to ``conv1d``.

Both are resizing layers whose width is their number of filters: ``filters`` when set, else the
width the model gives them. ``pad: same`` pads ``(size - 1) // 2`` on each side, which keeps the
size at stride 1 for odd filter sizes (3, 5, 7), as CS231n's nets do; ``valid`` pads nothing
(PyTorch's names); a number pads that many. ``bias: false`` leaves the biases out (no ``b``
parameter at all). ``init`` draws this layer's filters by its own rule instead of the network's:
one of the network's rules, ``dirac`` (PyTorch's ``nn.init.dirac_``: filter i passes channel i
through its centre tap, for the first min(F, C) filters, and every other weight is zero) or
``partial_dirac`` (those identity filters, the others drawn by the network's rule, as airbench94
initialises its convolutions).
"""
import numpy as np

from nnplug.contract.kinds import Layer
from nnplug.contract.options import in_range
from nnplug.contract.weights import INITS, draw_weights
from nnplug_std.kernels.conv1d import conv1d_backward, conv1d_forward
from nnplug_std.kernels.im2col import conv_backward_fast, conv_forward_fast
from nnplug_std.kernels.shapes import conv_output_size
from nnplug_std.layers.conv_chain import ConvChain, plan

FILTER_INITS = (*INITS, "dirac", "partial_dirac")


class Convolution(Layer):
    """What the 2-D and 1-D convolutions share: options, checks, filters and their initialisation."""

    resizes = True
    width_option = "filters"
    regularized = ("W",)
    options = {"filters": None, "size": 3, "stride": 1, "pad": "same", "bias": True, "init": None}
    option_types = {"filters": (int, type(None)), "pad": (int, str), "init": (str, type(None))}
    spatial = 2  # axes after the channels

    @classmethod
    def check_options(cls, options):
        problems = (in_range(options, "filters", minimum=1) + in_range(options, "size", minimum=1)
                    + in_range(options, "stride", minimum=1))
        pad = options.get("pad")
        if isinstance(pad, str) and pad not in ("same", "valid") or isinstance(pad, int) and pad < 0:
            problems.append(f"pad={pad!r}: expected 'same', 'valid' or a whole number >= 0")
        if options.get("init") not in (None, *FILTER_INITS):
            problems.append(f"init={options.get('init')!r}: expected null (the network's rule) or one of "
                            f"{', '.join(FILTER_INITS)}")
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
        rule = self.init or init
        # drawn whatever the rule, so that one layer's rule leaves the next layers' weights as they were
        w = draw_weights(rng, shape, (channels * taps, filters * taps), init if "dirac" in rule else rule,
                         weight_scale, self.dtype)
        if rule == "dirac":
            w[...] = 0
        if "dirac" in rule:
            identity = min(filters, channels)
            w[:identity] = 0
            w[(np.arange(identity), np.arange(identity)) + (self.size // 2,) * self.spatial] = 1
        params = {"W": w}
        if self.bias:
            params["b"] = np.zeros(filters, dtype=self.dtype)
        return params


class Conv(Convolution):
    name = "conv"
    description = ("2-D convolution of (C, H, W) maps (or (H, W): one channel): filters of size x size, stride, "
                   "pad (same, valid or a number)")
    check_shape = (2, 6, 6)
    check_cases = ({"size": 3, "stride": 2, "pad": 0}, {"size": 1, "bias": False}, {"init": "partial_dirac"})
    chain_role = "conv"  # the HWNC chain computes it (nnplug_std.layers.conv_chain)

    def __init__(self, in_shape, out_dim=None, **kwargs):
        # a grey image without a channel axis, as Keras ships MNIST (N, 28, 28), has one channel
        shape = (int(in_shape),) if np.ndim(in_shape) == 0 else tuple(in_shape)
        super().__init__((1, *shape) if len(shape) == 2 else shape, out_dim, **kwargs)

    def fuse(self, following):
        return offer(self, following)

    def forward(self, x, params, mode):
        out, cache = conv_forward_fast(x.reshape(len(x), *self.in_shape), params["W"], params.get("b"),
                                       self.conv_param)
        return out, (cache, x.shape)

    def backward(self, dout, cache):
        cache, shape = cache
        dx, dw, db = conv_backward_fast(dout, cache, self.input_grad)
        return (None if dx is None else dx.reshape(shape)), with_bias({"W": dw}, db)


class Conv1D(Convolution):
    name = "conv1d"
    description = "1-D convolution of (C, L) sequences (or (L,): one channel): filters of size, stride, pad"
    spatial = 1
    check_shape = (2, 9)
    check_cases = ({"size": 5, "stride": 2, "pad": 1}, {"bias": False, "init": "dirac"})

    def __init__(self, in_shape, out_dim=None, **kwargs):
        # a sequence without a channel axis, as MNIST-1D's (N, 40), has one channel
        shape = (int(in_shape),) if np.ndim(in_shape) == 0 else tuple(in_shape)
        super().__init__((1, *shape) if len(shape) == 1 else shape, out_dim, **kwargs)

    def forward(self, x, params, mode):
        out, cache = conv1d_forward(x.reshape(x.shape[0], *self.in_shape), params["W"], params.get("b"),
                                    self.conv_param)
        return out, (cache, x.shape)

    def backward(self, dout, cache):
        cache, shape = cache
        dx, dw, db = conv1d_backward(dout, cache, self.input_grad)
        return (None if dx is None else dx.reshape(shape)), with_bias({"W": dw}, db)


def with_bias(grads, db):
    """``grads`` with the biases' gradient, where the layer has biases (``db`` is not None)."""
    if db is not None:
        grads["b"] = db
    return grads


def offer(conv, following):
    """``(ConvChain, count)`` for the layers one chain from ``conv`` on runs, or None when it would not pay."""
    layers = plan(conv, following)
    return (ConvChain(layers), len(layers)) if layers else None
