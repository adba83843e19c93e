"""CS231n's model classes as front doors onto ``Network``: the same names, arguments and parameters."""
import numpy as np

from nnplug.core.network import Network


class FullyConnectedNet(Network):
    """CS231n's ``{affine - [batch norm] - relu - [dropout]} x (L-1) - affine - softmax``."""

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout=0,
                 use_batchnorm=False, reg=0.0, weight_scale=1e-2, dtype=np.float64, seed=None):
        block = ["affine", "batchnorm", "relu"] if use_batchnorm else ["affine", "relu"]
        # CS231n hands the seed to dropout, which then draws the same mask on every call
        options = {"dropout": {"seed": seed}} if dropout else None
        super().__init__(hidden_dims, input_dim, num_classes, block=block, dropout=dropout,
                         weight_scale=weight_scale, reg=reg, dtype=dtype, seed=seed,
                         layer_options=options)
        self.use_batchnorm = use_batchnorm
        self.use_dropout = dropout > 0


class TwoLayerNet(Network):
    """CS231n's ``affine - relu - affine - softmax`` with parameters ``W1, b1, W2, b2``."""

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3,
                 reg=0.0):
        super().__init__([hidden_dim], input_dim, num_classes, weight_scale=weight_scale, reg=reg)
