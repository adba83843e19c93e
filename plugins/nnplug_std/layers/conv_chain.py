"""The fast path of a convolutional net: a run of convolutions, spatial batch norms, activations (ReLU,
GELU), 2x2 max pools and residual blocks of them, computed on channels-inner HWNC maps
(``nnplug_std.kernels.hwnc_layers``).

A conv layer offers it through ``Layer.fuse`` (``nnplug_std.layers.conv``): from that conv on,
every layer the chain can compute joins it (``nnplug_std.layers.chain_plan``); the first that it
cannot ends it. Inside, the maps stay in HWNC, the 3x3 stride-1 convolutions run by Winograd
F(4x4, 3x3), a batch norm and the activation after it are one blocked pass, and a batch norm
right after a convolution takes its statistics as the convolution writes its output; only the
chain's input and output are transposed, and a residual block's addition is one more pass. The
net's first convolution (no input gradient needed) is computed by im2col straight from the
images into HWNC, and other convolutions of any size and stride by im2col on HWNC maps
(``nnplug_std.kernels.hwnc_conv``).

A convolution's bias is left out where a batch norm follows it (through max pools only, which
commute with adding a constant): batch norm removes it exactly in train mode, and it still enters
the running mean and test mode. Its gradient there is exactly zero. Elsewhere it is added after
any max pools that follow the conv, on fewer values; and a ReLU before a max pool runs after it
(``chain_plan.schedule``).

The layers keep their parameters and state (the running statistics stay in each batch-norm
layer's ``bn_param``): the chain is the same model as its layers, to rounding. The layers inside
a residual block get their parameters from their branch's network and give it their gradients,
as the branch itself would (``nnplug.contract.kinds.Composite``).
"""
import numpy as np

from nnplug.contract.kinds import check_mode
from nnplug_std.kernels.gelu import gelu, gelu_grad
from nnplug_std.kernels.hwnc_conv import conv_backward_hwnc, conv_forward_hwnc
from nnplug_std.kernels.parallel import each, split, spread
from nnplug_std.kernels.hwnc_layers import (ChannelMoments, bn_act_backward_hwnc, bn_act_forward_hwnc, column_sums,
                                            hwnc_to_nchw, image_conv_backward, image_conv_forward,
                                            max_pool_backward_hwnc, max_pool_forward_hwnc, nchw_to_hwnc,
                                            winograd_conv_backward_hwnc, winograd_conv_forward_hwnc)
from nnplug_std.layers.chain_plan import flatten, plan, role, winograd_fits  # noqa: F401  (plan: conv's offer)


class ConvChain:
    """Runs ``layers`` (see ``chain_plan.plan``) as one forward and one backward pass (see ``Layer.fuse``)."""

    def __init__(self, layers):
        self.layers = list(layers)
        head = role(self.layers[-1]) == "affine"  # an affine layer after the maps (chain_plan.plan)
        self.head = self.layers[-1] if head else None
        self.slots, self.steps = flatten(self.layers[:-1] if head else self.layers, range(len(self.layers)))

    def _params(self, params, i):
        source = self.slots[i].source
        if isinstance(source, int):
            return params[source]
        branch, node = source
        return {local: branch.owner.params[name] for local, name in node.names.items()}

    def forward(self, x, params, mode):
        check_mode(mode)
        shape = x.shape  # (N, H, W) grey images: one channel
        with spread():  # the kernels share their work out themselves, BLAS on one thread meanwhile
            out, caches = self._forward(x.reshape(len(x), *self.layers[0].in_shape), params, mode)
        return out, (caches, shape)

    def backward(self, dout, cache):
        caches, shape = cache
        with spread():
            dx, grads = self._backward(dout, caches)
        return (None if dx is None else dx.reshape(shape)), grads

    def _forward(self, x, params, mode):
        image = self.steps[0][:2] == ("conv", 0) and not self.layers[0].input_grad
        # moments: batch norm's statistics, taken by a Winograd conv right before it
        caches, h, moments = [], x if image else nchw_to_hwnc(x), None
        kept = {}  # a residual block's input, then its body's output
        for number, step in enumerate(self.steps):
            kind, i = step[:2]
            layer, cache = self.slots[i].layer, None
            p = self._params(params, i) if kind in ("conv", "bias", "bn") else None
            if kind == "conv":
                moments = None
                if number == 0 and image:  # the images: im2col straight into HWNC
                    h, cache = image_conv_forward(h, p["W"], None, layer.conv_param)
                    kind = "image"
                elif not winograd_fits(layer):  # strided, 1x1, 5x5: im2col on HWNC maps
                    h, cache = conv_forward_hwnc(h, p["W"], None, layer.conv_param)
                    kind = "hwnc"
                else:
                    after = self.steps[number + 1] if number + 1 < len(self.steps) else ()
                    moments = ChannelMoments() if mode == "train" and after[:1] == ("bn",) else None
                    h, cache = winograd_conv_forward_hwnc(h, p["W"], None, layer.conv_param, moments)
                    kind, moments = "winograd", moments if moments is not None and moments.total else None
            elif kind == "bias":
                h += p["b"].astype(h.dtype, copy=False)
            elif kind == "bn":
                act, bias = step[2], step[3]
                activation = role(self.slots[act].layer) if act is not None else None
                approximate = self.slots[act].layer.approximate if activation == "gelu" else "none"
                layer.bn_param["mode"] = mode
                h, cache = bn_act_forward_hwnc(h, p["gamma"], p["beta"], layer.bn_param, activation, approximate,
                                               bias=None if bias is None else self._params(params, bias)["b"],
                                               moments=moments)
                moments = None
            elif kind == "pool":
                h, cache = max_pool_forward_hwnc(h, layer.pool_param)
            elif kind == "relu":
                cache = np.empty(h.shape, bool)
                h = by_rows(h, lambda a, rows: (np.greater(a[rows], 0, out=cache[rows]), a[rows] * cache[rows])[1])
            elif kind == "gelu":
                h, cache = gelu(h, layer.approximate), (h, layer.approximate)
            elif kind == "save":
                kept[i] = h
            elif kind == "swap":
                h, kept[i] = kept[i], h
            elif kind == "reshape":
                h, cache = shortcut_forward(h, layer), h.shape
            elif kind == "add":
                body = kept.pop(i)
                h = by_rows(h, lambda a, rows: body[rows] + a[rows])
            else:  # add_relu: the sum, its mask and the product a row at a time, in cache
                body, cache = kept.pop(i), np.empty(h.shape, bool)

                def add_relu(a, rows):
                    total = np.add(body[rows], a[rows])
                    return np.multiply(total, np.greater(total, 0, out=cache[rows]), out=total)

                h = by_rows(h, add_relu)
            caches.append((kind, cache))
        out = hwnc_to_nchw(h)
        if self.head is not None:
            out, cache = self.head.forward(out, params[-1], mode)
            caches.append(("head", (cache, out.shape)))
        return out, caches

    def _backward(self, dout, caches):
        grads, kept = [{} for _ in self.layers], {}
        if self.head is not None:
            (cache, _), caches = caches[-1][1], caches[:-1]
            dout, grads[-1] = self.head.backward(dout, cache)
        dh = nchw_to_hwnc(dout)

        def store(i, found):
            source = self.slots[i].source
            if isinstance(source, int):
                grads[source].update(found)
            else:
                branch, node = source
                for local, value in found.items():
                    branch.owner.grads[node.names[local]] = value

        for step, (kind, cache) in zip(reversed(self.steps), reversed(caches)):
            i = step[1]
            if kind == "bn":
                dh, dgamma, dbeta = bn_act_backward_hwnc(dh, cache)
                store(i, {"gamma": dgamma, "beta": dbeta})
                if step[3] is not None:  # batch norm removed this conv's bias: its gradient is zero
                    store(step[3], {"b": np.zeros(dgamma.shape, dgamma.dtype)})
            elif kind == "bias":
                store(i, {"b": column_sums(dh.reshape(-1, dh.shape[-1]))})
            elif kind == "pool":
                dh = max_pool_backward_hwnc(dh, cache)
            elif kind == "relu":
                dh = by_rows(dh, lambda a, rows, mask=cache: a[rows] * mask[rows])
            elif kind == "gelu":
                dh = gelu_grad(cache[0], dh, cache[1])
            elif kind == "image":
                dh, dw, _ = image_conv_backward(dh, cache)
                store(i, {"W": dw})
            elif kind in ("hwnc", "winograd"):
                backward = conv_backward_hwnc if kind == "hwnc" else winograd_conv_backward_hwnc
                dh, dw, _ = backward(dh, cache, i > 0 or self.layers[0].input_grad)
                store(i, {"W": dw})
            elif kind in ("add", "add_relu"):  # the same gradient down the shortcut and, kept, down the body
                if kind == "add_relu":
                    dh = by_rows(dh, lambda a, rows, mask=cache: a[rows] * mask[rows])
                kept[i] = dh
            elif kind == "reshape":
                dh = shortcut_backward(dh, self.slots[i].layer, cache)
            elif kind == "swap":
                dh, kept[i] = kept[i], dh
            elif kind == "save":
                short = kept.pop(i)
                dh = by_rows(dh, lambda a, rows: a[rows] + short[rows])
        return (None if dh is None else hwnc_to_nchw(dh)), grads


def by_rows(a, function):
    """A new array of a's shape and dtype whose rows (first axis) are ``function(a, rows)``, the rows shared out."""
    out = np.empty(a.shape, a.dtype)

    def part(rows):
        out[rows] = function(a, rows)

    each(part, split(len(a)))
    return out


def shortcut_forward(x, block):
    """A residual block's padded or pooled shortcut on an HWNC map: every stride-th position, or the mean
    of each stride x stride window, with zero channels added (He et al.'s option A)."""
    s, (c, h, w) = block.stride, block.out_shape
    if block.kind == "pad":
        taken = x[::s, ::s]
    else:
        taken = x.reshape(h, s, w, s, *x.shape[2:]).mean(axis=(1, 3))
    out = np.zeros((h, w, x.shape[2], c), x.dtype)
    out[..., :x.shape[3]] = taken
    return out


def shortcut_backward(dout, block, shape):
    """The gradient of ``shortcut_forward`` for an input of ``shape``."""
    s, c = block.stride, shape[3]
    dx = np.zeros(shape, dout.dtype)
    kept = dout[..., :c]
    if block.kind == "pad":
        dx[::s, ::s] = kept
    else:
        h, w = dout.shape[:2]
        dx.reshape(h, s, w, s, *shape[2:])[...] = (kept / (s * s))[:, None, :, None]
    return dx
