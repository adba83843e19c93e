"""A layer whose forward pass drops the last feature of each sample: the shape is not the one it declares."""
from nnplug import Layer, hookimpl


class Dropper(Layer):
    name = "dropper"
    description = "Forgets the last feature"

    def forward(self, x, params, mode):
        return x[:, :-1], None

    def backward(self, dout, cache):
        return dout, {}


@hookimpl
def nnplug_layers():
    return [Dropper]
