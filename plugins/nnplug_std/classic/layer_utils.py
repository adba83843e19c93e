"""CS231n's ``layer_utils``: common sandwiches of layers as one forward/backward pair."""
from nnplug_std.classic.layers import affine_backward, affine_forward, relu_backward, relu_forward


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
