"""Training-time transforms (data augmentation) built from the way a config writes them down."""
import numpy as np

from nnplug.contract.registry import default_registry
from nnplug.core import layer_plan


def build_transforms(entries, in_shape, seed=None, registry=None):
    """The Transform instances a list of entries names, for training samples of ``in_shape``.

    Inputs:
    - entries: registered names or classes, or either with options (``{"random_crop": {"padding": 4}}``),
      applied in order
    - in_shape: the shape of one training sample, without the batch axis
    - seed: each transform's generator is derived from it (None: fresh entropy)
    - registry: where names are looked up (default: the installed plugins)

    Returns a list of Transform instances; ValueError naming the transform that refuses its options
    or the samples' shape.
    """
    registry = registry or default_registry()
    steps = [layer_plan.parse(entry) for entry in entries]
    streams = np.random.SeedSequence(seed).spawn(len(steps))
    transforms = []
    for position, (step, stream) in enumerate(zip(steps, streams)):
        cls = registry.get("transforms", step.spec) if isinstance(step.spec, str) else step.spec
        try:
            transforms.append(cls(in_shape, rng=np.random.default_rng(stream), **step.options))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"transform {position + 1} {step.label!r}: {exc}") from None
    return transforms
