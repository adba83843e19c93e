"""The fast path of a convolutional net: a run of convolutions, spatial batch norms, activations (ReLU,
GELU) and 2x2 max pools computed on channels-inner HWNC maps (``nnplug_std.kernels.hwnc_layers``).

A conv layer offers it through ``Layer.fuse`` (``nnplug_std.layers.conv``): from that conv on,
every layer the chain can compute joins it; the first that it cannot ends it. Inside, the maps
stay in HWNC, the 3x3 stride-1 convolutions run by Winograd F(4x4, 3x3), a batch norm and the
activation after it are one blocked pass, and a batch norm right after a convolution takes its
statistics as the convolution writes its output; only the chain's input and output are
transposed. The net's first convolution (no input gradient needed) is computed by im2col straight
from the images into HWNC, and other convolutions of any size and stride by im2col on HWNC maps
(``nnplug_std.kernels.hwnc_conv``).

Which layers the chain computes is said by their classes themselves: a class's own
``chain_role`` ('conv', 'bn', 'relu', 'gelu', 'pool'), read from the class body only, so that a
subclass, which may compute something else, runs on its own unless it declares the role itself.

A convolution's bias is left out where a batch norm follows it (through max pools only, which
commute with adding a constant): batch norm removes it exactly in train mode, and it still enters
the running mean and test mode. Its gradient there is exactly zero. Elsewhere it is added after
any max pools that follow the conv, on fewer values; and a ReLU before a max pool runs after it
(``schedule``).

The layers keep their parameters and state (the running statistics stay in each batch-norm
layer's ``bn_param``): the chain is the same model as its layers, to rounding.
"""
import numpy as np

from nnplug.contract.kinds import check_mode
from nnplug_std.kernels.gelu import gelu, gelu_grad
from nnplug_std.kernels.hwnc_conv import conv_backward_hwnc, conv_forward_hwnc
from nnplug_std.kernels.hwnc_layers import (ChannelMoments, bn_act_backward_hwnc, bn_act_forward_hwnc, column_sums,
                                            hwnc_to_nchw, image_conv_backward, image_conv_forward,
                                            max_pool_backward_hwnc, max_pool_forward_hwnc, nchw_to_hwnc,
                                            winograd_conv_backward_hwnc, winograd_conv_forward_hwnc)

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

    The chain starts at a convolution of images; it takes every later layer with a role (pools of
    pairs only) and stops at the first other one.
    """
    if role(conv) != "conv" or len(conv.in_shape) != 3:
        return []
    taken = [conv]
    for layer in following:
        kind = role(layer)
        if kind in ("bn", "conv", *ACTIVATIONS) or kind == "pool" and pools_pairs(layer):
            taken.append(layer)
        else:
            break
    return taken if len(taken) > 1 else []


def schedule(roles, biased):
    """The chain's steps, in order, from its layers' roles and which of its convs have biases.

    Each step is ``(kind, index)``, or ``("bn", index, activation index or None)`` for a batch norm
    and the activation it runs with: ``conv`` (``image`` or ``winograd`` is decided when it runs),
    ``pool``, ``bias`` (a conv's bias added here), ``relu``, ``gelu``. Two rewrites, both exact:

    - a ReLU right before a max pool runs after it, on a quarter of the values (max and ReLU
      commute, and so do their gradients: a window's gradient reaches its first maximum where that
      is positive);
    - a conv's bias is added where the next layer but a max pool needs it (adding a constant
      commutes with the max), or left to a batch norm, which removes it.
    """
    order, i = [], 0
    while i < len(roles):
        if roles[i] == "relu" and i + 1 < len(roles) and roles[i + 1] == "pool":
            order += [i + 1, i]
            i += 2
        else:
            order.append(i)
            i += 1
    steps, pending, skip = [], None, set()
    for position, i in enumerate(order):
        kind = roles[i]
        if i in skip:
            continue
        if kind == "pool":
            steps.append(("pool", i))
            continue
        if kind == "bn":
            after = order[position + 1] if position + 1 < len(order) else None
            act = after if after is not None and roles[after] in ACTIVATIONS else None
            steps.append(("bn", i, act, pending))  # the pending bias goes to batch norm, which removes it
            skip.add(act)
            pending = None
            continue
        if pending is not None:
            steps.append(("bias", pending))
            pending = None
        steps.append((kind, i))
        if kind == "conv" and biased[i]:
            pending = i
    if pending is not None:
        steps.append(("bias", pending))
    return steps


class ConvChain:
    """Runs ``layers`` (see ``plan``) as one forward and one backward pass (see ``Layer.fuse``)."""

    def __init__(self, layers):
        self.layers = list(layers)
        roles = [role(layer) for layer in self.layers]
        self.steps = schedule(roles, [kind == "conv" and bool(layer.bias) for kind, layer in zip(roles, self.layers)])

    def forward(self, x, params, mode):
        check_mode(mode)
        caches, h, moments = [], x, None  # moments: batch norm's statistics taken by the conv before it
        for number, step in enumerate(self.steps):
            kind, i = step[:2]
            layer, p = self.layers[i], params[i]
            cache = None
            if kind == "conv":
                if i == 0 and not layer.input_grad:  # the images: im2col straight into HWNC
                    h, cache = image_conv_forward(h, p["W"], None, layer.conv_param)
                    kind, moments = "image", None
                elif not winograd_fits(layer):  # strided, 1x1, 5x5: im2col on HWNC maps
                    h, cache = conv_forward_hwnc(nchw_to_hwnc(h) if i == 0 else h, p["W"], None, layer.conv_param)
                    kind, moments = "hwnc", None
                else:
                    after = self.steps[number + 1] if number + 1 < len(self.steps) else ()
                    moments = ChannelMoments() if mode == "train" and after[:1] == ("bn",) else None
                    h, cache = winograd_conv_forward_hwnc(nchw_to_hwnc(h) if i == 0 else h, p["W"], None,
                                                          layer.conv_param, moments)
                    kind, moments = "winograd", moments if moments is not None and moments.total else None
            elif kind == "bias":
                h += p["b"].astype(h.dtype, copy=False)
            elif kind == "bn":
                act, bias = step[2], step[3]
                activation = role(self.layers[act]) if act is not None else None
                approximate = self.layers[act].approximate if activation == "gelu" else "none"
                layer.bn_param["mode"] = mode
                h, cache = bn_act_forward_hwnc(h, p["gamma"], p["beta"], layer.bn_param, activation, approximate,
                                               bias=None if bias is None else params[bias]["b"], moments=moments)
                moments = None
            elif kind == "pool":
                h, cache = max_pool_forward_hwnc(h, layer.pool_param)
                moments = None
            elif kind == "relu":
                cache = h > 0
                h = h * cache
            else:
                h, cache = gelu(h, layer.approximate), (h, layer.approximate)
            caches.append((kind, cache))
        return hwnc_to_nchw(h), caches

    def backward(self, dout, caches):
        grads, dh = [{} for _ in self.layers], nchw_to_hwnc(dout)
        for step, (kind, cache) in zip(reversed(self.steps), reversed(caches)):
            i = step[1]
            if kind == "bn":
                dh, dgamma, dbeta = bn_act_backward_hwnc(dh, cache)
                grads[i] = {"gamma": dgamma, "beta": dbeta}
                if step[3] is not None:  # batch norm removed this conv's bias: its gradient is zero
                    grads[step[3]]["b"] = np.zeros(dgamma.shape, dgamma.dtype)
            elif kind == "bias":
                grads[i]["b"] = column_sums(dh.reshape(-1, dh.shape[-1]))
            elif kind == "pool":
                dh = max_pool_backward_hwnc(dh, cache)
            elif kind == "relu":
                dh = dh * cache
            elif kind == "gelu":
                dh = gelu_grad(cache[0], dh, cache[1])
            elif kind == "image":
                dh, grads[i]["W"], _ = image_conv_backward(dh, cache)
            elif kind == "hwnc":
                dh, grads[i]["W"], _ = conv_backward_hwnc(dh, cache, i > 0 or self.layers[i].input_grad)
            else:
                dh, grads[i]["W"], _ = winograd_conv_backward_hwnc(dh, cache, i > 0 or self.layers[i].input_grad)
        return (None if dh is None else hwnc_to_nchw(dh)), grads
