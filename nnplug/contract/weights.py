"""How layers draw their weights: one rule for every layer with a weight array, the standard ones
and a plugin's alike (``nnplug.draw_weights``)."""
import numpy as np

INITS = ("gaussian", "he", "xavier", "small")


def draw_weights(rng, shape, fans, init, weight_scale, dtype, order="C"):
    """Weights of ``shape``, normal with the standard deviation of ``init``.

    Inputs:
    - rng: a ``numpy.random.Generator``
    - shape: of the weight array, e.g. (D, M) for affine, (F, C, HH, WW) for a convolution
    - fans: (fan_in, fan_out), the inputs and outputs each weight connects: (D, M) for affine,
      (C*HH*WW, F*HH*WW) for a convolution
    - init: 'gaussian' (weight_scale), 'he' (sqrt(2 / fan_in)), 'xavier' (sqrt(2 / (fan_in +
      fan_out))) or 'small' (sqrt(1 / (3 fan_in)): PyTorch's default nn.Linear and nn.Conv2d
      variance, for a network's output layer)
    - weight_scale: the standard deviation for 'gaussian'
    - dtype, order: of the returned array (the values do not depend on the layout)

    Returns:
    - an array of ``shape``
    """
    fan_in, fan_out = fans
    scale = {
        "gaussian": weight_scale,
        "he": np.sqrt(2.0 / fan_in),
        "xavier": np.sqrt(2.0 / (fan_in + fan_out)),
        "small": np.sqrt(1.0 / (3 * fan_in)),
    }.get(init)
    if scale is None:
        raise ValueError(f"unknown init {init!r}: expected one of {', '.join(INITS)}")
    return (scale * rng.standard_normal(shape)).astype(dtype, order=order)
