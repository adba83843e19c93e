"""Test-time augmentation: each image's class scores averaged over views of it.

``flip`` averages the image and its mirror; ``flip_shift`` (airbench94's) gives that pair half the
weight and the same pair of the image shifted by one pixel down and right, and by one up and left
(the border reflected, as training's ``random_crop`` with ``padding_mode: reflect``), a quarter
each. The views are of the network's inputs (prepared samples, as training's transforms see them);
flattened samples are viewed as the images they came from.
"""
import numpy as np

TTA = ("none", "flip", "flip_shift")


def check(tta, image_shape, key="tta"):
    """ValueError in one line, starting ``key=value:``, unless ``tta`` is one of ``TTA`` and fits samples
    of ``image_shape``."""
    if tta not in TTA:
        raise ValueError(f"{key}={tta!r}: expected one of {', '.join(TTA)}")
    if tta == "none":
        return
    shape = tuple(image_shape)
    if len(shape) != 3:
        raise ValueError(f"{key}={tta}: test-time augmentation mirrors (C, H, W) images, not samples of shape {shape}")
    if tta == "flip_shift" and min(shape[1:]) < 2:
        raise ValueError(f"{key}={tta}: shifting by a reflected pixel needs images at least 2 x 2, not {shape}")


def views(images, tta):
    """``[(weight, view), ...]`` of images ``(N, C, H, W)``, the weights summing to 1."""
    if tta == "none":
        return [(1.0, images)]
    pair = [images, images[..., ::-1]]
    if tta == "flip":
        return [(0.5, view) for view in pair]
    h, w = images.shape[-2:]
    padded = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    shifted = [padded[..., :h, :w], padded[..., 2:, 2:]]  # contents moved down-right, up-left
    return [(0.25, view) for view in pair] + [(0.125, view) for s in shifted for view in (s, s[..., ::-1])]


def scores(model, X, tta, image_shape, batch_size):
    """Class scores ``(N, C)`` of prepared inputs ``X`` by a model with CS231n's ``loss(X)``, averaged
    over the views ``tta`` names, in batches of ``batch_size`` samples.

    Inputs:
    - X: the network's inputs, ``(N, *image_shape)`` or flattened to ``(N, D)``
    - tta: one of ``TTA``; image_shape: the shape of one image ``(C, H, W)`` (``check`` it first)

    Returns float scores of the model's dtype; with ``none``, exactly the model's own scores.
    """
    parts = []
    for start in range(0, len(X), batch_size):
        batch = X[start:start + batch_size]
        if tta == "none":
            parts.append(model.loss(batch))
            continue
        total = None
        for weight, view in views(batch.reshape(len(batch), *image_shape), tta):
            part = model.loss(np.ascontiguousarray(view).reshape(batch.shape)) * weight
            total = part if total is None else total + part
        parts.append(total)
    return np.concatenate(parts) if parts else np.zeros((0, model.num_classes), dtype=model.dtype)


def accuracy(model, X, y, tta, image_shape, batch_size):
    """The fraction of ``X`` whose ``scores`` (same arguments) rank class ``y`` first; None for ``none``."""
    if tta == "none":
        return None
    return float(np.mean(np.argmax(scores(model, X, tta, image_shape, batch_size), axis=1) == y))
