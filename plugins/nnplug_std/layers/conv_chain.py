"""The fast path of a convolutional net: a run of convolutions, spatial batch norms, activations (ReLU,
GELU) and 2x2 max pools computed on channels-inner HWNC maps (``nnplug_std.kernels.hwnc_layers``).

A conv layer offers it through ``Layer.fuse`` (``nnplug_std.layers.conv``): from that conv on,
every layer the chain can compute joins it; the first that it cannot ends it. Inside, the maps
stay in HWNC, the 3x3 stride-1 convolutions run by Winograd F(4x4, 3x3), a batch norm and the
activation after it are one blocked pass, and a batch norm right after a convolution takes its
statistics as the convolution writes its output; only the chain's input and output are
transposed. The net's first convolution (no input gradient needed) may have any size and stride:
it is computed by im2col straight from the images into HWNC.

Which layers the chain computes is said by their classes themselves: a class's own
``chain_role`` ('conv', 'bn', 'relu', 'gelu', 'pool'), read from the class body only, so that a
subclass, which may compute something else, runs on its own unless it declares the role itself.

A convolution's bias is left out where a batch norm follows it (through max pools only, which
commute with adding a constant): batch norm removes it exactly in train mode, and it still enters
the running mean and test mode. Its gradient there is exactly zero.

The layers keep their parameters and state (the running statistics stay in each batch-norm
layer's ``bn_param``): the chain is the same model as its layers, to rounding.
"""
import numpy as np

from nnplug.contract.kinds import check_mode
from nnplug_std.kernels.gelu import gelu, gelu_grad
from nnplug_std.kernels.hwnc_layers import (ChannelMoments, bn_act_backward_hwnc, bn_act_forward_hwnc, hwnc_to_nchw,
                                            image_conv_backward, image_conv_forward, max_pool_backward_hwnc,
                                            max_pool_forward_hwnc, nchw_to_hwnc, winograd_conv_backward_hwnc,
                                            winograd_conv_forward_hwnc)

ACTIVATIONS = ("relu", "gelu")


def role(layer):
    """What the chain computes for ``layer``: its class's own ``chain_role``, or None."""
    return vars(type(layer)).get("chain_role")


def winograd_fits(conv):
    return conv.size == 3 and conv.stride == 1 and 0 <= conv.padding <= 2


def pools_pairs(pool):
    """2x2 windows, stride 2, on maps of at least 2x2: what the HWNC max pool takes."""
    return len(pool.in_shape) == 3 and pool.size == 2 and pool.stride in (None, 2) and min(pool.in_shape[1:]) >= 2


def plan(conv, following):
    """The layers one chain from ``conv`` on runs, ``[conv, ...]``; empty when not even two fit.

    The chain starts at a convolution that is the net's first (any size and stride) or that
    Winograd computes; it takes every later layer with a role, convolutions Winograd computes and
    pools of pairs, and stops at the first other one.
    """
    if role(conv) != "conv" or not (not conv.input_grad or winograd_fits(conv)) or len(conv.in_shape) != 3:
        return []
    taken = [conv]
    for layer in following:
        kind = role(layer)
        if kind in ("bn", *ACTIVATIONS) or kind == "conv" and winograd_fits(layer) or \
                kind == "pool" and pools_pairs(layer):
            taken.append(layer)
        else:
            break
    return taken if len(taken) > 1 else []


class ConvChain:
    """Runs ``layers`` (see ``plan``) as one forward and one backward pass (see ``Layer.fuse``)."""

    def __init__(self, layers):
        self.layers = list(layers)
        self.roles = [role(layer) for layer in self.layers]
        # a conv's bias is left to the batch norm that follows it through pools only
        self.defer = []
        for i, kind in enumerate(self.roles):
            after = [k for k in self.roles[i + 1:] if k != "pool"]
            self.defer.append(kind == "conv" and after[:1] == ["bn"])

    def forward(self, x, params, mode):
        check_mode(mode)
        caches, h, i = [None] * len(self.layers), x, 0
        pending_bias, moments = None, None  # a deferred bias; statistics taken by the last convolution
        while i < len(self.layers):
            layer, kind, p = self.layers[i], self.roles[i], params[i]
            if kind == "conv":
                b = p.get("b")
                added = None if self.defer[i] else b
                if i == 0 and not layer.input_grad:  # the images: im2col straight into HWNC
                    h, cache = image_conv_forward(h, p["W"], added, layer.conv_param)
                    caches[i], moments = ("image", cache), None
                else:
                    fused = mode == "train" and self.roles[i + 1:i + 2] == ["bn"]
                    moments = ChannelMoments() if fused else None
                    h, cache = winograd_conv_forward_hwnc(nchw_to_hwnc(h) if i == 0 else h, p["W"], added,
                                                          layer.conv_param, moments)
                    caches[i] = ("winograd", cache)
                    moments = moments if moments is not None and moments.total else None
                pending_bias = b if self.defer[i] else None
                i += 1
            elif kind == "bn":
                after = self.roles[i + 1] if i + 1 < len(self.layers) else None
                act = after if after in ACTIVATIONS else None
                approximate = self.layers[i + 1].approximate if act == "gelu" else "none"
                layer.bn_param["mode"] = mode
                h, cache = bn_act_forward_hwnc(h, p["gamma"], p["beta"], layer.bn_param, act, approximate,
                                               bias=pending_bias, moments=moments)
                caches[i], pending_bias, moments = ("bn", cache), None, None
                i += 2 if act else 1  # the activation's slot stays None: its gradient is in batch norm's
            elif kind == "pool":
                h, cache = max_pool_forward_hwnc(h, layer.pool_param)
                caches[i], moments = ("pool", cache), None
                i += 1
            else:
                if kind == "relu":
                    mask = h > 0
                    h, caches[i] = h * mask, ("relu", mask)
                else:
                    caches[i] = ("gelu", (h, layer.approximate))
                    h = gelu(h, layer.approximate)
                moments = None
                i += 1
        return hwnc_to_nchw(h), caches

    def backward(self, dout, caches):
        grads, dh = [{} for _ in self.layers], nchw_to_hwnc(dout)
        for i in reversed(range(len(self.layers))):
            if caches[i] is None:
                continue
            kind, cache = caches[i]
            if kind == "bn":
                dh, dgamma, dbeta = bn_act_backward_hwnc(dh, cache)
                grads[i] = {"gamma": dgamma, "beta": dbeta}
            elif kind == "pool":
                dh = max_pool_backward_hwnc(dh, cache)
            elif kind == "relu":
                dh = dh * cache
            elif kind == "gelu":
                dh = gelu_grad(*cache[:1], dh, cache[1])
            else:
                layer = self.layers[i]
                if kind == "image":
                    dh, dw, db = image_conv_backward(dh, cache)
                else:
                    dh, dw, db = winograd_conv_backward_hwnc(dh, cache, i > 0 or layer.input_grad)
                grads[i] = {"W": dw}
                if layer.bias:
                    grads[i]["b"] = np.zeros(dw.shape[0], dw.dtype) if self.defer[i] else db
        return (None if dh is None else hwnc_to_nchw(dh)), grads
