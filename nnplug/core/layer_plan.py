"""The sequence of layers a Network is made of, from either way of writing it down.

- A list of layers, as a model config or a notebook writes it: each entry a registered name
  (``"relu"``), a Layer class, or one of them with its options (``{"conv": {"filters": 32}}``,
  ``("conv", {"filters": 32})``).
- An MLP: ``hidden_dims`` and the ``block`` of layers repeated for each (``affine - relu``), the
  block's resizing layer (affine) given each hidden width, then an output affine.

Either way the last resizing layer that names no size of its own maps to the data set's classes.
"""
from dataclasses import dataclass, field

from nnplug.contract.kinds import Layer


@dataclass
class Step:
    """One layer of a network: its plugin (a name or a class), its options, the width the model gives it."""

    spec: object
    options: dict = field(default_factory=dict)
    width: int | None = None

    @property
    def label(self):
        return self.spec if isinstance(self.spec, str) else getattr(self.spec, "name", "") or self.spec.__name__


def parse(entry):
    """A ``Step`` from one entry of a layer list; ``ValueError`` saying what an entry may be."""
    if isinstance(entry, Step):
        return entry
    if isinstance(entry, str) or (isinstance(entry, type) and issubclass(entry, Layer)):
        return Step(entry)
    if isinstance(entry, dict) and len(entry) == 1:
        (spec, options), = entry.items()
        return Step(spec, dict(options or {}))
    if isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[1], dict):
        return Step(entry[0], dict(entry[1]))
    raise ValueError(f"a layer is a name, a Layer class, or one with its options ({{'conv': {{'filters': 32}}}}); "
                     f"got {entry!r}")


def mlp(hidden_dims, block, dropout=0.0):
    """The steps of ``{block} x len(hidden_dims) - affine``: each block's resizing layer gets its width."""
    block = [parse(entry) for entry in block] + ([Step("dropout", {"p": dropout})] if dropout else [])
    steps = []
    for width in hidden_dims:
        for step in block:
            steps.append(Step(step.spec, dict(step.options), int(width)))
    return steps + [Step("affine")]


def with_defaults(steps, layer_options):
    """``steps`` with the options a config sets for every layer of a name (``layer.options.dropout.p``)
    under each step's own."""
    return [Step(s.spec, {**layer_options.get(s.label, {}), **s.options}, s.width) for s in steps]
