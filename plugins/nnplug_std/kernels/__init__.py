"""The fast machinery behind the standard layers: matrix products laid out for BLAS, scratch buffers,
im2col convolution and pooling, Winograd F(4x4, 3x3), channels-inner (HWNC) conv nets and their
norms, fused affine - batch norm - relu, 1-D convolution. The layer plugins and CS231n's front
door (``nnplug_std.classic``) both use it; it imports nothing else of ``nnplug_std``."""
