"""The standard training-time transforms (data augmentation): random crops with padding (zeros or
the image reflected: random translation), random horizontal flips and flips that alternate by
epoch for images ``(C, H, W)``, random shifts for sequences ``(L,)`` or ``(C, L)``.

Each is vectorised over the minibatch: one random draw for all samples, then one gather through
a strided view, never a Python loop over samples.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnplug.contract.hookspecs import hookimpl
from nnplug.contract.kinds import Transform
from nnplug.contract.options import in_range


def _check_images(transform):
    if len(transform.in_shape) != 3:
        raise ValueError(f"{transform.name} takes (C, H, W) images, not samples of shape {transform.in_shape}")


PADDING_MODES = ("constant", "reflect", "edge", "symmetric")  # numpy's (and torchvision's) names


class RandomCrop(Transform):
    name = "random_crop"
    description = ("Pads each image by padding on every side (zeros, or the image reflected: "
                   "padding_mode), then crops it back at a random offset")
    options = {"padding": 4, "padding_mode": "constant"}

    @classmethod
    def check_options(cls, options):
        problems = in_range(options, "padding", minimum=0)
        if options.get("padding_mode") not in PADDING_MODES:
            problems.append(f"padding_mode={options.get('padding_mode')!r}: expected one of {', '.join(PADDING_MODES)}")
        return problems

    def __init__(self, in_shape, **kwargs):
        super().__init__(in_shape, **kwargs)
        _check_images(self)
        if self.padding_mode == "reflect" and self.padding >= min(self.in_shape[1:]):
            raise ValueError(f"random_crop reflects at most {min(self.in_shape[1:]) - 1} pixels of "
                             f"{self.in_shape} images, not padding={self.padding}")

    def __call__(self, x):
        p = self.padding
        if p == 0:
            return x
        n, _, h, w = x.shape
        # zeros ("constant") are the mean of standardised inputs; "reflect" mirrors the border
        # without repeating it, as torch's F.pad(mode="reflect")
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode=self.padding_mode)
        top, left = self.rng.integers(0, 2 * p + 1, size=(2, n))
        windows = sliding_window_view(padded, (h, w), axis=(2, 3))  # (N, C, 2p+1, 2p+1, H, W), a view
        return windows[np.arange(n), :, top, left]


class HorizontalFlip(Transform):
    name = "horizontal_flip"
    description = "Mirrors each image left to right with probability p"
    options = {"p": 0.5}

    @classmethod
    def check_options(cls, options):
        return in_range(options, "p", minimum=0, at_most=1)

    def __init__(self, in_shape, **kwargs):
        super().__init__(in_shape, **kwargs)
        _check_images(self)

    def __call__(self, x):
        flip = self.rng.random(len(x)) < self.p
        x[flip] = x[flip, :, :, ::-1]
        return x


class AlternatingFlip(Transform):
    name = "alternating_flip"
    description = "Mirrors every image left to right on odd epochs and none on even ones (airbench94's flip)"

    def __init__(self, in_shape, **kwargs):
        super().__init__(in_shape, **kwargs)
        _check_images(self)

    def __call__(self, x):
        # every image is seen both ways over any two epochs in a row, with no draw at all
        return np.ascontiguousarray(x[..., ::-1]) if self.epoch % 2 else x


class RandomShift(Transform):
    name = "random_shift"
    description = "Shifts each sequence by up to max_shift positions either way, filling with zeros"
    options = {"max_shift": 4}
    check_shape = (2, 12)

    @classmethod
    def check_options(cls, options):
        return in_range(options, "max_shift", minimum=0)

    def __init__(self, in_shape, **kwargs):
        super().__init__(in_shape, **kwargs)
        if len(self.in_shape) not in (1, 2):
            raise ValueError(f"random_shift takes (L,) or (C, L) sequences, not samples of shape {self.in_shape}")

    def __call__(self, x):
        s = self.max_shift
        if s == 0:
            return x
        n, length = len(x), x.shape[-1]
        padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(s, s)])
        start = self.rng.integers(0, 2 * s + 1, size=n)  # s: no shift
        windows = sliding_window_view(padded, length, axis=-1)  # (N, [C,] 2s+1, L), a view
        if x.ndim == 2:
            return windows[np.arange(n), start]
        return windows[np.arange(n), :, start]


@hookimpl
def nnplug_transforms():
    return [RandomCrop, HorizontalFlip, AlternatingFlip, RandomShift]
