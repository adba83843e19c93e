"""The sequence of layers a Network is made of, from the way a config or a notebook writes it.

A layer list holds, in order:

- a layer: a registered name (``"relu"``), a Layer class, or either with its options
  (``{"conv": {"filters": 32}}``, ``("conv", {"filters": 32})``);
- ``{"repeat": n, "layers": [...]}``: those layers n times over (a VGG stage's depth);
- ``{"widths": [w, ...], "layers": [...]}``: those layers once per width, their resizing layers
  (affine, conv) given it unless their options set their own (an MLP's hidden layers, a VGG's
  stages).

An MLP, ``hidden_dims`` and the ``block`` repeated for each, is the list
``[{"widths": hidden_dims, "layers": block}, "affine"]``. Either way the last resizing layer
that names no size of its own maps to the data set's classes.
"""
from dataclasses import dataclass, field

META = ("repeat", "widths")


@dataclass
class Step:
    """One layer of a network: its plugin (a name or a class), its options, the width the model gives it."""

    spec: object
    options: dict = field(default_factory=dict)
    width: int | None = None

    @property
    def label(self):
        return self.spec if isinstance(self.spec, str) else getattr(self.spec, "name", "") or self.spec.__name__


def expand(entries, width=None):
    """The ``Step`` of every layer in a layer list, repeats and widths unrolled.

    Inputs:
    - entries: a layer list (see the module's docstring)
    - width: the width for resizing layers of the list (from an enclosing ``widths`` entry)

    Returns a list of ``Step``; ValueError saying what an entry may be.
    """
    if not isinstance(entries, (list, tuple)):
        raise ValueError(f"layers must be a list, not {entries!r}")
    steps = []
    for entry in entries:
        if isinstance(entry, dict) and "layers" in entry and set(entry) & set(META):
            steps += _expand_meta(entry, width)
        else:
            step = parse(entry)
            steps.append(step if step.width is not None or width is None else Step(step.spec, step.options, width))
    return steps


def _expand_meta(entry, width):
    extra = sorted(set(entry) - {"layers", *META})
    if extra or len(entry) != 2:
        raise ValueError(f"a repeat or widths entry has 'layers' and one of {', '.join(META)}; got keys "
                         f"{', '.join(sorted(entry))}")
    if "repeat" in entry:
        times = entry["repeat"]
        if not isinstance(times, int) or isinstance(times, bool) or times < 0:
            raise ValueError(f"repeat={times!r}: expected a whole number >= 0")
        return [step for _ in range(times) for step in expand(entry["layers"], width)]
    widths = entry["widths"]
    if not isinstance(widths, (list, tuple)) or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1
                                                        for w in widths):
        raise ValueError(f"widths={widths!r}: expected a list of whole numbers >= 1")
    return [step for w in widths for step in expand(entry["layers"], int(w))]


def parse(entry):
    """A ``Step`` from one layer entry; ``ValueError`` saying what an entry may be."""
    if isinstance(entry, Step):
        return entry
    if isinstance(entry, (str, type)):  # a registered name, or a plugin class itself
        return Step(entry)
    if isinstance(entry, dict) and len(entry) == 1:
        (spec, options), = entry.items()
        if options is None or isinstance(options, dict):
            return Step(spec, dict(options or {}))
    if isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[1], dict):
        return Step(entry[0], dict(entry[1]))
    raise ValueError(f"a layer is a name, a class, or one with its options ({{'conv': {{'filters': 32}}}}); "
                     f"got {entry!r}")


def mlp(hidden_dims, block, dropout=0.0):
    """The layer list of ``{block} x len(hidden_dims) - affine`` (dropout > 0 ends each block with dropout)."""
    block = list(block) + ([{"dropout": {"p": dropout}}] if dropout else [])
    return [{"widths": [int(w) for w in hidden_dims], "layers": block}, "affine"]


def with_defaults(steps, layer_options):
    """``steps`` with the options a config sets for every layer of a name (``layer.options.dropout.p``)
    under each step's own."""
    return [Step(s.spec, {**layer_options.get(s.label, {}), **s.options}, s.width) for s in steps]
