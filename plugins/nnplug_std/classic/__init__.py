"""CS231n's names in one place: change ``from cs231n.layers import *`` (and ``.optim``,
``.layer_utils``, ``.solver``, ``.gradient_check``, ``.classifiers.fc_net``) to
``from nnplug_std.classic import *`` and a notebook runs unchanged."""
from nnplug.core.classic_models import FullyConnectedNet, TwoLayerNet  # noqa: F401
from nnplug.core.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error  # noqa: F401
from nnplug.core.solver import Solver  # noqa: F401
from nnplug_std.classic.layer_utils import affine_relu_backward, affine_relu_forward  # noqa: F401
from nnplug_std.classic.layers import (  # noqa: F401
    affine_backward, affine_forward, dropout_backward, dropout_forward, leaky_relu_backward, leaky_relu_forward,
    relu_backward, relu_forward, sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward)
from nnplug_std.classic.normalization import (  # noqa: F401
    batchnorm_backward, batchnorm_backward_alt, batchnorm_forward, layernorm_backward, layernorm_forward)
from nnplug_std.classic.losses import softmax_loss, svm_loss  # noqa: F401
from nnplug_std.classic.optim import adagrad, adam, adamw, nesterov, rmsprop, sgd, sgd_momentum  # noqa: F401
from nnplug_std.fused import affine_bn_relu_backward, affine_bn_relu_forward  # noqa: F401
