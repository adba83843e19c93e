"""CS231n's model classes as front doors onto ``Network``: the same names, arguments and parameters.

Their weights are drawn exactly as CS231n draws them, ``weight_scale * np.random.randn(fan_in,
fan_out)`` from numpy's global generator in the order W1, W2, ..., with nothing else drawn in
between, so that ``np.random.seed(231)`` before the constructor reproduces a notebook's printed
numbers. Their layers draw from numpy's global generator too (dropout's masks); ``seed`` goes to
``np.random.seed`` before each mask, as in CS231n (the same mask every call, for gradient checks).
"""
import numpy as np

from nnplug.core.global_random import NumpyGlobal
from nnplug.core.network import Network


class ClassicWeights:
    """Draws a Network's weight matrices again, from numpy's global generator, as CS231n does."""

    def _draw_weights(self, weight_scale):
        for index in range(1, self.num_layers + 1):
            w = self.params[f"W{index}"]
            np.copyto(w, weight_scale * np.random.randn(*w.shape))  # into w: its dtype and layout stay
        for layer, _ in self.layers:  # what they draw while training (dropout's masks) as well
            layer.rng = NumpyGlobal()


def _private_seed(seed):
    # The Network's own generators (dropout) get a seed that draws nothing from the global one.
    return seed if seed is not None else np.random.SeedSequence().entropy


class FullyConnectedNet(ClassicWeights, Network):
    """CS231n's ``{affine - [batch norm] - relu - [dropout]} x (L-1) - affine - softmax``.

    Inputs: hidden_dims (one width per hidden layer), input_dim (D), num_classes (C), dropout (the
    probability of dropping a unit; 0 for none), use_batchnorm, reg (L2 strength), weight_scale
    (standard deviation of the weights), dtype (float32, as CS231n's 2017 starter code; the
    notebooks pass float64 for their gradient checks), seed (fixes the dropout mask).
    Parameters: ``W1..WL``, ``b1..bL``, and ``gamma1..``, ``beta1..`` with batch norm.
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout=0,
                 use_batchnorm=False, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None):
        block = ["affine", "batchnorm", "relu"] if use_batchnorm else ["affine", "relu"]
        # CS231n hands the seed to dropout, which then draws the same mask on every call
        options = {"dropout": {"seed": seed}} if dropout else None
        super().__init__(hidden_dims, input_dim, num_classes, block=block, dropout=dropout,
                         weight_scale=weight_scale, reg=reg, dtype=dtype, seed=_private_seed(seed),
                         layer_options=options)
        self._draw_weights(weight_scale)
        self.use_batchnorm = use_batchnorm
        self.use_dropout = dropout > 0


class TwoLayerNet(ClassicWeights, Network):
    """CS231n's ``affine - relu - affine - softmax`` with parameters ``W1, b1, W2, b2``.

    Inputs: input_dim (D), hidden_dim (H), num_classes (C), weight_scale, reg (L2 strength).
    """

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3,
                 reg=0.0):
        super().__init__([hidden_dim], input_dim, num_classes, weight_scale=weight_scale, reg=reg,
                         seed=_private_seed(None))
        self._draw_weights(weight_scale)


class ThreeLayerConvNet(ClassicWeights, Network):
    """CS231n's ``conv - relu - 2x2 max pool - affine - relu - affine - softmax``.

    The convolution keeps the input's height and width ("same" padding, stride 1); the pool
    halves them. Parameters: ``W1`` (F, C, HH, WW) and ``b1`` (F,) of the convolution, ``W2``
    (F*H/2*W/2, hidden_dim), ``b2``, ``W3`` (hidden_dim, num_classes), ``b3``.

    Inputs: input_dim (C, H, W), num_filters (F), filter_size (HH = WW), hidden_dim, num_classes,
    weight_scale (standard deviation of the weights), reg (L2 strength), dtype.
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0, dtype=np.float32):
        layers = [("conv", {"filters": num_filters, "size": filter_size, "stride": 1, "pad": "same"}), "relu",
                  ("max_pool", {"size": 2, "stride": 2}), ("affine", {"units": hidden_dim}), "relu", "affine"]
        super().__init__(layers=layers, input_dim=input_dim, num_classes=num_classes, weight_scale=weight_scale,
                         reg=reg, dtype=dtype, seed=_private_seed(None))
        self._draw_weights(weight_scale)
