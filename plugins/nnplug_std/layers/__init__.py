"""The standard layer plugins: thin classes that hold a layer's options and state and call the
classic functions of ``nnplug_std.classic`` (or a fused fast path of ``nnplug_std.kernels.affine_bn_relu``)."""
from nnplug.contract.hookspecs import hookimpl
from nnplug_std.layers.activations import GELU, LeakyReLU, ReLU, Scale, Sigmoid, Tanh
from nnplug_std.layers.combinators import Parallel, Residual, Sequence
from nnplug_std.layers.conv import Conv, Conv1D
from nnplug_std.layers.dense import Affine
from nnplug_std.layers.dropout import Dropout
from nnplug_std.layers.normalization import BatchNorm, GroupNorm, LayerNorm, SpatialBatchNorm
from nnplug_std.layers.pooling import AvgPool, Flatten, GlobalAvgPool, GlobalMaxPool, MaxPool
from nnplug_std.layers.whiten import Whiten


@hookimpl
def nnplug_layers():
    return [Affine, ReLU, LeakyReLU, Tanh, Sigmoid, GELU, Scale, BatchNorm, LayerNorm, Dropout,
            Conv, Conv1D, Whiten, MaxPool, AvgPool, GlobalAvgPool, GlobalMaxPool, Flatten, SpatialBatchNorm, GroupNorm,
            Residual, Parallel, Sequence]
