"""The fast path of a convolutional net: runs of conv - spatial batch norm - relu [- 2x2 max pool]
computed as one step on channels-inner HWNC maps (``nnplug_std.kernels.hwnc_layers``).

A conv layer offers it through ``Layer.fuse`` (``nnplug_std.layers.conv``): from that conv on,
every group of exactly these layer types joins the chain; the first layer that does not fit ends it. Inside, the maps stay in
HWNC, the 3x3 stride-1 convolutions run by Winograd F(4x4, 3x3) and batch norm takes its
statistics as the convolution writes its output; only the chain's input and output are
transposed. The net's first convolution (no input gradient needed) may have any size and stride:
it is computed by im2col straight from the images into HWNC.

The layers keep their parameters and state (the running statistics stay in each batch-norm
layer's ``bn_param``): the chain is the same model as its layers, to rounding.
"""
from nnplug.contract.kinds import check_mode
from nnplug_std.kernels.hwnc_layers import (bn_relu_backward_hwnc, bn_relu_forward_hwnc, conv_bn_relu_backward_hwnc,
                                            conv_bn_relu_forward_hwnc, hwnc_to_nchw, image_conv_backward,
                                            image_conv_forward, max_pool_backward_hwnc, max_pool_forward_hwnc,
                                            nchw_to_hwnc)


class ConvChain:
    """Runs ``groups`` of (conv, spatial batch norm, max pool or None) layers, each conv followed by
    its batch norm and a relu, as one forward and one backward pass (see ``Layer.fuse``)."""

    def __init__(self, groups):
        self.groups = groups

    def forward(self, x, params, mode):
        check_mode(mode)
        shape, x = x.shape, x.reshape(len(x), *self.groups[0][0].in_shape)  # (N, H, W) images: one channel
        caches, h, position = [], x, 0
        for index, (conv, bn, pool) in enumerate(self.groups):
            w, b = params[position]["W"], params[position]["b"]
            norm = params[position + 1]
            position += 3 if pool is None else 4  # conv, batch norm, relu (no parameters), pool (none)
            bn.bn_param["mode"] = mode
            if index == 0 and not conv.input_grad:  # the images: im2col straight into HWNC
                h, conv_cache = image_conv_forward(x, w, b, conv.conv_param)
                h, bn_cache = bn_relu_forward_hwnc(h, norm["gamma"], norm["beta"], bn.bn_param)
                cache = ("image", conv_cache, bn_cache)
            else:
                h, cache = conv_bn_relu_forward_hwnc(nchw_to_hwnc(h) if index == 0 else h, w, b, norm["gamma"],
                                                     norm["beta"], conv.conv_param, bn.bn_param)
                cache = ("winograd", cache, None)
            pool_cache = None
            if pool is not None:
                h, pool_cache = max_pool_forward_hwnc(h, pool.pool_param)
            caches.append((cache, pool_cache))
        return hwnc_to_nchw(h), (caches, shape)

    def backward(self, dout, cache):
        caches, shape = cache
        grads, dh = [], nchw_to_hwnc(dout)
        for (conv, _, pool), ((kind, conv_cache, bn_cache), pool_cache) in zip(reversed(self.groups),
                                                                                 reversed(caches)):
            if pool is not None:
                dh = max_pool_backward_hwnc(dh, pool_cache)
                grads.append({})
            if kind == "image":
                da, dgamma, dbeta = bn_relu_backward_hwnc(dh, bn_cache)
                dh, dw, db = image_conv_backward(da, conv_cache)
            else:
                dh, dw, db, dgamma, dbeta = conv_bn_relu_backward_hwnc(dh, conv_cache, conv.input_grad)
            grads += [{}, {"gamma": dgamma, "beta": dbeta}, {"W": dw, "b": db}]
        return (None if dh is None else hwnc_to_nchw(dh).reshape(shape)), grads[::-1]
