"""The CIFAR-10 convolutional net of ``bench/conv.py``, once on nnplug's HWNC layers and once in PyTorch.

(3, 32, 32) -> [conv3x3(32) - BN - relu] x2 - maxpool2 -> [conv3x3(64) - BN - relu] x2 - maxpool2
-> conv3x3(128) - BN - relu - maxpool2 -> flatten -> affine(10); pad 1, stride 1. Both sides start
from the same weights (``init_params``) and train with SGD with momentum 0.9 on softmax loss.
"""
import numpy as np

from nnplug_std.kernels.hwnc_layers import (
    bn_relu_backward_hwnc, bn_relu_forward_hwnc, conv_bn_relu_backward_hwnc, conv_bn_relu_forward_hwnc,
    hwnc_to_nchw, image_conv_backward, image_conv_forward, max_pool_backward_hwnc, max_pool_forward_hwnc,
    nchw_to_hwnc)
from nnplug_std.classic.layers import affine_backward, affine_forward
from nnplug_std.classic.losses import softmax_loss
from nnplug_std.classic.optim import sgd_momentum

CHANNELS = (32, 32, 64, 64, 128)
POOL_AFTER = (1, 3, 4)  # a max pool follows these convolutions (0-based)
CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
LEARNING_RATE = 1e-2


def init_params(seed=0, dtype=np.float32):
    """He-normal filters, zero biases, unit gammas, zero betas: a dict of numpy arrays."""
    rng = np.random.default_rng(seed)
    params, c = {}, 3
    for i, f in enumerate(CHANNELS):
        params[f"w{i}"] = (rng.standard_normal((f, c, 3, 3)) * np.sqrt(2 / (9 * c))).astype(dtype)
        params[f"b{i}"] = np.zeros(f, dtype)
        params[f"gamma{i}"] = np.ones(f, dtype)
        params[f"beta{i}"] = np.zeros(f, dtype)
        c = f
    params["w_fc"] = (rng.standard_normal((c * 16, 10)) * np.sqrt(1 / (c * 16))).astype(dtype)
    params["b_fc"] = np.zeros(10, dtype)
    return params


def batches(batch, count, seed=1):
    """``count`` batches of random CIFAR-shaped images (float32) and labels."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, batch))
            for _ in range(count)]


class NumpyNet:
    """The net on nnplug's classic HWNC layers; ``step(x, y)`` is one training step, returning the loss."""

    def __init__(self, params):
        self.params = params
        self.bn_params = [{"mode": "train"} for _ in CHANNELS]
        self.configs = {name: {"learning_rate": LEARNING_RATE, "momentum": 0.9} for name in params}

    def loss_and_grads(self, x, y):
        p, caches = self.params, []
        h, cache = image_conv_forward(x, p["w0"], p["b0"], CONV)
        caches.append(cache)
        h, cache = bn_relu_forward_hwnc(h, p["gamma0"], p["beta0"], self.bn_params[0])
        caches.append(cache)
        for i in range(1, len(CHANNELS)):
            h, cache = conv_bn_relu_forward_hwnc(h, p[f"w{i}"], p[f"b{i}"], p[f"gamma{i}"], p[f"beta{i}"], CONV,
                                                 self.bn_params[i])
            caches.append(cache)
            if i in POOL_AFTER:
                h, cache = max_pool_forward_hwnc(h, POOL)
                caches.append(cache)
        scores, fc_cache = affine_forward(hwnc_to_nchw(h), p["w_fc"], p["b_fc"])
        loss, dscores = softmax_loss(scores, y)
        grads = {}
        dh, grads["w_fc"], grads["b_fc"] = affine_backward(dscores, fc_cache)
        dh = nchw_to_hwnc(dh)
        for i in reversed(range(1, len(CHANNELS))):
            if i in POOL_AFTER:
                dh = max_pool_backward_hwnc(dh, caches.pop())
            dh, grads[f"w{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = \
                conv_bn_relu_backward_hwnc(dh, caches.pop())
        dh, grads["gamma0"], grads["beta0"] = bn_relu_backward_hwnc(dh, caches.pop())
        _, grads["w0"], grads["b0"] = image_conv_backward(dh, caches.pop())
        return loss, grads

    def step(self, x, y):
        loss, grads = self.loss_and_grads(x, y)
        for name, w in self.params.items():
            sgd_momentum(w, grads[name], self.configs[name], out=w)
        return loss


def torch_net(params):
    """The same net in PyTorch (eager, channels-first), with ``params``' weights, and its SGD optimizer."""
    import torch  # only the comparison needs it
    nn = torch.nn
    layers, c = [], 3
    for i, f in enumerate(CHANNELS):
        conv, bn = nn.Conv2d(c, f, 3, padding=1), nn.BatchNorm2d(f)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(params[f"w{i}"]))
            conv.bias.copy_(torch.from_numpy(params[f"b{i}"]))
        layers += [conv, bn, nn.ReLU()]
        if i in POOL_AFTER:
            layers.append(nn.MaxPool2d(2))
        c = f
    fc = nn.Linear(c * 16, 10)
    with torch.no_grad():
        fc.weight.copy_(torch.from_numpy(params["w_fc"].T.copy()))
        fc.bias.copy_(torch.from_numpy(params["b_fc"]))
    net = nn.Sequential(*layers, nn.Flatten(), fc)
    return net, torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=0.9)


class TorchNet:
    """``step(x, y)``: one PyTorch training step on numpy inputs, returning the loss."""

    def __init__(self, params):
        import torch
        self.torch = torch
        self.net, self.opt = torch_net(params)
        self.loss = torch.nn.CrossEntropyLoss()

    def step(self, x, y):
        x, y = self.torch.from_numpy(x), self.torch.from_numpy(y)
        self.opt.zero_grad()
        loss = self.loss(self.net(x), y)
        loss.backward()
        self.opt.step()
        return float(loss.detach())
