"""The PyTorch twin of an nnplug ``Network``: the same layers, the same weights, walked from the network's tree.

Each standard layer maps to its PyTorch module (conv, whitening conv with its filters frozen,
batch norm with PyTorch's momentum ``1 - momentum``, ReLU, GELU, max pooling, global average pooling,
affine, flatten, scale) and a ``residual`` to a module adding its body to its shortcut (a projection,
or x subsampled or pooled with zero channels appended), then its activation. The weights are copied from the network's parameters.
"""
import numpy as np


def twin(model):
    """``torch.nn.Module`` computing what ``model`` (a ``Network``) computes, from its current parameters."""
    import torch
    with torch.no_grad():
        return _branch(model, model.root)


def _branch(model, branch):
    import torch
    return torch.nn.Sequential(*[_module(model, node.layer, node.names) for node in branch.nodes])


def _copy(param, value):
    import torch
    param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def _module(model, layer, names):
    import torch
    nn = torch.nn
    p = {local: model.params[name] for local, name in names.items()}
    kind = layer.name
    if kind in ("conv", "whiten"):
        f, c, size, _ = p["W"].shape
        module = nn.Conv2d(c, f, size, stride=layer.stride, padding=layer.padding, bias="b" in p)
        _copy(module.weight, p["W"])
        if "b" in p:
            _copy(module.bias, p["b"])
        module.weight.requires_grad_("W" not in getattr(layer, "frozen", ()))
        return module
    if kind == "spatial_batchnorm":
        module = nn.BatchNorm2d(len(p["gamma"]), eps=layer.eps, momentum=1 - layer.momentum)
        _copy(module.weight, p["gamma"])
        _copy(module.bias, p["beta"])
        return module
    if kind == "affine":
        linear = nn.Linear(*p["W"].shape, bias="b" in p)
        _copy(linear.weight, p["W"].T)  # nnplug's W is (D, M)
        if "b" in p:
            _copy(linear.bias, p["b"])
        return nn.Sequential(nn.Flatten(), linear)
    if kind == "relu":
        return nn.ReLU()
    if kind == "gelu":
        return nn.GELU(approximate=layer.approximate)
    if kind == "max_pool":
        return nn.MaxPool2d(layer.size, layer.stride or layer.size)
    if kind == "global_avg_pool":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if kind == "flatten":
        return nn.Flatten()
    if kind == "scale":
        return Scale(layer.factor)
    if kind == "residual":
        if layer.short is not None:
            short = _branch(model, layer.short)
        elif layer.out_shape != layer.in_shape:  # pad or pool: x subsampled or pooled, zero channels appended
            short = Reshape(layer.kind, layer.stride, layer.out_shape[0] - layer.in_shape[0])
        else:
            short = None
        return Residual(_branch(model, layer.body), short, None if layer.act is None else _branch(model, layer.act))
    raise ValueError(f"bench/torch_twin.py has no PyTorch twin for layer {kind!r}")


_CLASSES = {}  # the module classes subclass torch.nn.Module: defined on first use, so importing this file
# does not import torch


def _classes():
    if not _CLASSES:
        import torch

        class Scale(torch.nn.Module):
            def __init__(self, factor):
                super().__init__()
                self.factor = factor

            def forward(self, x):
                return x * self.factor

        class Residual(torch.nn.Module):
            def __init__(self, body, short, act):
                super().__init__()
                self.body, self.short, self.act = body, short, act

            def forward(self, x):
                out = self.body(x) + (x if self.short is None else self.short(x))
                return out if self.act is None else self.act(out)

        class Reshape(torch.nn.Module):
            def __init__(self, kind, stride, channels):
                super().__init__()
                self.kind, self.stride, self.channels = kind, stride, channels

            def forward(self, x):
                s = self.stride
                taken = x[:, :, ::s, ::s] if self.kind == "pad" else torch.nn.functional.avg_pool2d(x, s)
                return torch.nn.functional.pad(taken, (0, 0, 0, 0, 0, self.channels))

        _CLASSES.update(Scale=Scale, Residual=Residual, Reshape=Reshape)
    return _CLASSES


def Scale(factor):  # noqa: N802  (a module's constructor)
    return _classes()["Scale"](factor)


def Residual(body, short, act):  # noqa: N802
    return _classes()["Residual"](body, short, act)


def Reshape(kind, stride, channels):  # noqa: N802
    return _classes()["Reshape"](kind, stride, channels)
