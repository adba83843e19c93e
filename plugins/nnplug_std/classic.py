"""CS231n's names in one place: change ``from cs231n.layers import *`` (and ``.optim``,
``.layer_utils``, ``.solver``, ``.gradient_check``, ``.classifiers.fc_net``) to
``from nnplug_std.classic import *`` and a notebook runs unchanged."""
from nnplug.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error  # noqa: F401
from nnplug.model import FullyConnectedNet, TwoLayerNet  # noqa: F401
from nnplug.solver import Solver  # noqa: F401
from nnplug_std.layers import (  # noqa: F401
    affine_backward, affine_bn_relu_backward, affine_bn_relu_forward, affine_forward,
    affine_relu_backward, affine_relu_forward, batchnorm_backward, batchnorm_backward_alt,
    batchnorm_forward, dropout_backward, dropout_forward, layernorm_backward, layernorm_forward,
    leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward, sigmoid_backward,
    sigmoid_forward, tanh_backward, tanh_forward)
from nnplug_std.losses import softmax_loss, svm_loss  # noqa: F401
from nnplug_std.optim import adagrad, adam, adamw, nesterov, rmsprop, sgd, sgd_momentum  # noqa: F401
