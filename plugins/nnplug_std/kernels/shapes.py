"""The output size of a sliding window along one axis, which every convolution and pooling kernel needs."""


def conv_output_size(size, kernel, pad, stride):
    """Output length of a convolution along one axis: ``1 + (size + 2 pad - kernel) // stride``.

    Positions past the last full window are left out, as the floor says. Raises ValueError when
    not even one window fits.
    """
    span = size + 2 * pad - kernel
    if span < 0 or stride < 1:
        raise ValueError(f"a kernel of {kernel} with pad {pad} and stride {stride} does not fit a size of {size}")
    return 1 + span // stride
