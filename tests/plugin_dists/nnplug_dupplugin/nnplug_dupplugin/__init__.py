from nnplug import hookimpl
from nnplug.contract.kinds import Layer


class OtherReLU(Layer):
    name = "relu"

    def forward(self, x, params, mode):
        return x, None

    def backward(self, dout, cache):
        return dout, {}


@hookimpl
def nnplug_layers():
    return [OtherReLU]
