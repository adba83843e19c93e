"""The whitening layer of airbench94 (Keller Jordan, 2024): a frozen convolution whose filters decorrelate
the pixels of small patches, computed from the training images before training.

For ``size`` x ``size`` patches of C channels (K = C * size^2 values each) the filters are the
eigenvectors e_i of the patches' covariance, each scaled by ``1 / sqrt(lambda_i + eps)``, the
largest eigenvalue first, and each twice, with both signs: 2 K output channels (24 for RGB and
2x2 patches). On the sample they were computed from, the first K output channels then have the
covariance ``diag(lambda_i / (lambda_i + eps))``, the identity up to ``eps``; the negated copies
let a following ReLU or GELU keep both halves of every direction. No padding, stride 1.

The sample: the layer asks the network for ``sample_inputs`` seeded training inputs as they
arrive at it (``init_params(..., sample=x)``). Without one (a network built for a check, or
before a saved model's parameters replace these) the covariance is taken as the identity: the
filters are the patch's values themselves, scaled by ``1 / sqrt(1 + eps)``, and their negatives.

The filters ``W`` are frozen (``frozen``: the Solver never updates them; they are parameters all
the same, in checkpoints and in the logged model); the biases ``b`` (``bias: true``) train.
"""
import numpy as np

from nnplug.contract.kinds import Layer
from nnplug.contract.options import in_range
from nnplug_std.kernels.im2col import conv_backward_fast, conv_forward_fast
from nnplug_std.kernels.shapes import conv_output_size
from nnplug_std.layers.conv import offer, with_bias


def patch_moments(x, size, chunk=256):
    """The mean (K,) and covariance (K, K) of all ``size`` x ``size`` patches of images x (N, C, H, W), in float64.

    Patch values are ordered (channel, row, column), as a filter's weights are. The images are
    taken ``chunk`` at a time, so the patches are never all in memory at once.
    """
    n, c, h, w = x.shape
    k = c * size * size
    total, sums, products = 0, np.zeros(k), np.zeros((k, k))
    for start in range(0, n, chunk):
        windows = np.lib.stride_tricks.sliding_window_view(x[start:start + chunk].astype(np.float64), (size, size),
                                                           axis=(2, 3))  # (n, C, H', W', size, size)
        patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, k)
        total += patches.shape[0]
        sums += patches.sum(axis=0)
        products += patches.T @ patches
    mean = sums / total
    return mean, products / total - np.outer(mean, mean)


def whitening_filters(covariance, eps, shape):
    """Filters (2K, *shape) from a patch covariance (K, K): its eigenvectors over sqrt(eigenvalue + eps),
    largest eigenvalue first, then the same filters negated."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(-eigenvalues, kind="stable")  # largest first; equal ones keep eigh's order
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    filters = (eigenvectors / np.sqrt(np.maximum(eigenvalues, 0) + eps)).T.reshape(-1, *shape)
    return np.concatenate([filters, -filters])


class Whiten(Layer):
    name = "whiten"
    description = "Frozen size x size conv whose filters whiten the patches of a training sample (airbench94)"
    options = {"size": 2, "eps": 5e-4, "bias": True}
    sample_inputs = 5000  # training inputs the network hands to init_params (airbench94's number)
    frozen = ("W",)  # the Solver never updates the filters
    check_shape = (3, 6, 6)
    check_cases = ({"size": 3, "bias": False},)
    chain_role = "conv"  # the HWNC conv chain computes it as a net's first layer (nnplug_std.layers.conv_chain)
    stride, padding = 1, 0

    @classmethod
    def check_options(cls, options):
        return in_range(options, "size", minimum=1) + in_range(options, "eps", above=0)

    def __init__(self, in_shape, out_dim=None, **kwargs):
        problems = self.check_options({**self.options, **{k: v for k, v in kwargs.items() if k in self.options}})
        if problems:
            raise ValueError(f"whiten {problems[0]}")
        super().__init__(in_shape, out_dim, **kwargs)

    @property
    def conv_param(self):
        return {"stride": 1, "pad": 0}

    def output_shape(self, in_shape):
        if len(in_shape) != 3:
            raise ValueError(f"whiten takes (C, H, W) images, not samples of shape {in_shape}")
        c = in_shape[0]
        return (2 * c * self.size ** 2, *(conv_output_size(d, self.size, 0, 1) for d in in_shape[1:]))

    def init_params(self, rng, init="gaussian", weight_scale=1e-2, sample=None):
        """The whitening filters of ``sample`` (k, C, H, W), the inputs as they arrive here; see the module."""
        c = self.in_shape[0]
        k = c * self.size ** 2
        if sample is None:
            covariance = np.eye(k)
        else:
            sample = np.asarray(sample)
            if sample.ndim != 4 or sample.shape[1:] != self.in_shape or not len(sample):
                raise ValueError(f"whiten needs a sample of inputs of shape (k, {', '.join(map(str, self.in_shape))}), "
                                 f"not {sample.shape}")
            covariance = patch_moments(sample, self.size)[1]
        params = {"W": whitening_filters(covariance, self.eps, (c, self.size, self.size)).astype(self.dtype)}
        if self.bias:
            params["b"] = np.zeros(2 * k, dtype=self.dtype)
        return params

    def fuse(self, following):
        return offer(self, following)

    def forward(self, x, params, mode):
        return conv_forward_fast(x, params["W"], params.get("b"), self.conv_param)

    def backward(self, dout, cache):
        dx, dw, db = conv_backward_fast(dout, cache, self.input_grad)
        return dx, with_bias({"W": dw}, db)
