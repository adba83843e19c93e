"""CS231n's names in one place: change ``from cs231n.layers import *`` (and ``.optim``,
``.layer_utils``, ``.solver``, ``.gradient_check``, ``.classifiers.fc_net``, ``.classifiers.cnn``,
``.fast_layers``, ``.data_utils``, ``.vis_utils``) to
``from nnplug_std.classic import *`` and a notebook runs unchanged.

As in CS231n, everything random here draws from numpy's global generator (the weights, the
Solver's minibatches and accuracy subsamples, dropout's masks), so ``np.random.seed(231)`` fixes a
notebook's numbers (``nnplug.core.global_random``)."""
from nnplug.core.classic_models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet  # noqa: F401
from nnplug.core.classic_solver import ClassicSolver as Solver  # noqa: F401
from nnplug.core.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error  # noqa: F401
from nnplug_std.classic.data_utils import get_CIFAR10_data  # noqa: F401
from nnplug_std.classic.vis_utils import visualize_grid  # noqa: F401
from nnplug_std.classic.layer_utils import affine_relu_backward, affine_relu_forward  # noqa: F401
from nnplug_std.classic.layers import (  # noqa: F401
    affine_backward, affine_forward, dropout_backward, dropout_forward, gelu_backward, gelu_forward, leaky_relu_backward,
    leaky_relu_forward,
    relu_backward, relu_forward, sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward)
from nnplug_std.classic.normalization import (  # noqa: F401
    batchnorm_backward, batchnorm_backward_alt, batchnorm_forward, layernorm_backward, layernorm_forward)
from nnplug_std.classic.losses import softmax_loss, svm_loss  # noqa: F401
from nnplug_std.classic.optim import adagrad, adam, adamw, nesterov, rmsprop, sgd, sgd_momentum  # noqa: F401
from nnplug_std.kernels.affine_bn_relu import affine_bn_relu_backward, affine_bn_relu_forward  # noqa: F401
from nnplug_std.classic.conv_layers import (  # noqa: F401
    conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive)
from nnplug_std.kernels.im2col import (  # noqa: F401
    avg_pool_backward_fast, avg_pool_forward_fast, conv_backward_fast, conv_forward_fast, max_pool_backward_fast,
    max_pool_forward_fast)
from nnplug_std.kernels.conv1d import conv1d_backward, conv1d_forward  # noqa: F401
from nnplug_std.kernels.hwnc_layers import (  # noqa: F401
    bn_relu_backward_hwnc, bn_relu_forward_hwnc, conv_bn_relu_backward_hwnc, conv_bn_relu_forward_hwnc,
    hwnc_to_nchw, image_conv_backward, image_conv_forward, max_pool_backward_hwnc, max_pool_forward_hwnc,
    nchw_to_hwnc)
from nnplug_std.classic.layer_utils import (  # noqa: F401
    conv_bn_relu_backward, conv_bn_relu_forward, conv_relu_backward, conv_relu_forward, conv_relu_pool_backward,
    conv_relu_pool_forward)
from nnplug_std.classic.spatial_normalization import (  # noqa: F401
    spatial_batchnorm_backward, spatial_batchnorm_forward, spatial_groupnorm_backward, spatial_groupnorm_forward)
from nnplug_std.kernels.winograd_nchw import conv_backward_winograd, conv_forward_winograd  # noqa: F401
