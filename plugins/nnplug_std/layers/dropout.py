"""Inverted dropout as a layer plugin."""
from nnplug.contract.kinds import Layer, check_mode
from nnplug.contract.options import in_range
from nnplug_std.classic.layers import dropout_backward, dropout_forward


class Dropout(Layer):
    name = "dropout"
    description = "Inverted dropout; p is the probability of dropping a unit"
    # seed: CS231n's fixed mask (the same units every call); None draws from the layer's generator
    options = {"p": 0.5, "seed": None}
    option_types = {"seed": (int, type(None))}

    @classmethod
    def check_options(cls, options):
        return in_range(options, "p", minimum=0, below=1)

    def __init__(self, in_dim, out_dim=None, **kwargs):
        super().__init__(in_dim, out_dim, **kwargs)
        if self.check_options({"p": self.p}):
            raise ValueError(f"dropout p={self.p!r} is not a probability in [0, 1)")

    def forward(self, x, params, mode):
        param = {"p": self.p, "mode": check_mode(mode), "seed": self.seed}
        return dropout_forward(x, param, self.rng)

    def backward(self, dout, cache):
        return dropout_backward(dout, cache), {}
