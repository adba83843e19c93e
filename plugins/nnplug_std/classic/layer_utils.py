"""CS231n's ``layer_utils``: common sandwiches of layers as one forward/backward pair."""
from nnplug_std.kernels.im2col import (
    conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast)
from nnplug_std.classic.layers import affine_backward, affine_forward, relu_backward, relu_forward
from nnplug_std.classic.spatial_normalization import spatial_batchnorm_backward, spatial_batchnorm_forward


def affine_relu_forward(x, w, b):
    """An affine layer followed by a ReLU.

    Inputs:
    - x: input of shape (N, d_1, ..., d_k)
    - w, b: the affine layer's weights (D, M) and biases (M,)

    Returns a tuple of:
    - out: output of the ReLU, of shape (N, M)
    - cache: what ``affine_relu_backward`` needs
    """
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Backward pass of the affine-ReLU sandwich; returns (dx, dw, db)."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


# --- convolutional sandwiches -------------------------------------------------------------------

def conv_relu_forward(x, w, b, conv_param):
    """A convolution followed by a ReLU.

    Inputs:
    - x: input of shape (N, C, H, W)
    - w, b, conv_param: the convolution's filters (F, C, HH, WW), biases (F,) and
      {'stride', 'pad'}

    Returns a tuple of:
    - out: output of the ReLU, of shape (N, F, H', W')
    - cache: what ``conv_relu_backward`` needs
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    """Backward pass of the conv-ReLU sandwich; returns (dx, dw, db)."""
    conv_cache, relu_cache = cache
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache)


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """A convolution, a ReLU and a max pool.

    Inputs:
    - x: input of shape (N, C, H, W)
    - w, b, conv_param: the convolution's filters, biases and {'stride', 'pad'}
    - pool_param: the pool's {'pool_height', 'pool_width', 'stride'}

    Returns a tuple of:
    - out: output of the pool
    - cache: what ``conv_relu_pool_backward`` needs
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    """Backward pass of the conv-ReLU-pool sandwich; returns (dx, dw, db)."""
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    return conv_backward_fast(relu_backward(ds, relu_cache), conv_cache)


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """A convolution, a spatial batch norm and a ReLU.

    Inputs:
    - x: input of shape (N, C, H, W)
    - w, b, conv_param: the convolution's filters, biases and {'stride', 'pad'}
    - gamma, beta: the batch norm's scale and shift, of shape (F,)
    - bn_param: as for ``spatial_batchnorm_forward`` (its running statistics are updated in it)

    Returns a tuple of:
    - out: output of the ReLU, of shape (N, F, H', W')
    - cache: what ``conv_bn_relu_backward`` needs
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout, cache):
    """Backward pass of the conv-batchnorm-ReLU sandwich; returns (dx, dw, db, dgamma, dbeta)."""
    conv_cache, bn_cache, relu_cache = cache
    dan, dgamma, dbeta = spatial_batchnorm_backward(relu_backward(dout, relu_cache), bn_cache)
    dx, dw, db = conv_backward_fast(dan, conv_cache)
    return dx, dw, db, dgamma, dbeta
