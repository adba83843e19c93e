"""The layers a Network is made of, from the way a config or a notebook writes them.

A layer list holds, in order:

- a layer: a registered name (``"relu"``), a Layer class, or either with its options
  (``{"conv": {"filters": 32}}``, ``("conv", {"filters": 32})``). A composite layer (``residual``,
  ``parallel``, ``sequence``) holds layer lists in its options, written the same way;
- ``{"repeat": n, "layers": [...]}``: those layers n times over (a VGG stage's depth); with
  ``"first": {option: value}``, the first repetition's layers and blocks that have those options
  take them (the stride of a ResNet stage's first block);
- ``{"widths": [w, ...], "layers": [...]}``: those layers once per width, their resizing layers
  (affine, conv) given it unless their options set their own (an MLP's hidden layers, a VGG's
  stages), inside composite layers too;
- a block: the name of an entry of the model's ``blocks``, alone or with options
  (``{"basic": {"stride": 2}}``). A block is written once, ``{"options": {defaults}, "layers":
  [...]}``, and every string ``"$option"`` inside its layers is that option's value where it is used.

An MLP, ``hidden_dims`` and the ``block`` repeated for each, is the list
``[{"widths": hidden_dims, "layers": block}, "affine"]``. Either way the last resizing layer of the
top-level list that names no size of its own maps to the data set's classes.
"""
from dataclasses import dataclass, field

META = ("repeat", "widths")
PLACEHOLDER = "$"


@dataclass
class Step:
    """One layer of a network: its plugin (a name or a class), its options, the width the model gives it.

    A composite's layer lists are in its options, as lists of ``Step`` (a list of such lists for
    an option holding several). ``where`` says where the config wrote it, for messages.
    """

    spec: object
    options: dict = field(default_factory=dict)
    width: int | None = None
    where: str = ""

    @property
    def label(self):
        return self.spec if isinstance(self.spec, str) else getattr(self.spec, "name", "") or self.spec.__name__


def expand(entries, width=None, *, blocks=None, plugin=None, where="layers"):
    """The ``Step`` of every layer in a layer list: repeats, widths and blocks unrolled, composites'
    layer lists expanded in their options.

    Inputs:
    - entries: a layer list (see the module's docstring)
    - width: the width for resizing layers of the list (from an enclosing ``widths`` entry)
    - blocks: the model's blocks by name, or None
    - plugin: ``plugin(spec) -> Layer class or None``: how a name is looked up (the network's
      registry), to find a composite's layer lists and the options ``first`` may set; None for
      lists without composites or ``first``
    - where: the config key of the list, for messages

    Returns a list of ``Step``; ValueError naming where an entry is wrong and what it may be.
    """
    if not isinstance(entries, (list, tuple)):
        raise ValueError(f"{where}={entries!r}: expected a list of layers")
    blocks = dict(blocks or {})
    steps = []
    for i, entry in enumerate(entries):
        here = f"{where}[{i}]"
        if isinstance(entry, dict) and "layers" in entry and set(entry) & set(META):
            steps += _expand_meta(entry, width, blocks, plugin, here)
            continue
        step = parse(entry, here)
        if isinstance(step.spec, str) and step.spec in blocks:
            steps += _expand_block(step, width, blocks, plugin, here)
            continue
        if step.width is None and width is not None:
            step = Step(step.spec, step.options, width, step.where)
        steps.append(_with_children(step, blocks, plugin))
    return steps


def _expand_meta(entry, width, blocks, plugin, where):
    allowed = {"layers", *META, "first"}
    extra = sorted(set(entry) - allowed)
    kinds = [key for key in META if key in entry]
    if extra or len(kinds) != 1 or ("first" in entry and "repeat" not in entry):
        raise ValueError(f"{where}: a repeat entry has 'repeat', 'layers' and optionally 'first'; a widths entry "
                         f"'widths' and 'layers'; got keys {', '.join(sorted(entry))}")
    if "repeat" in entry:
        times = entry["repeat"]
        if not isinstance(times, int) or isinstance(times, bool) or times < 0:
            raise ValueError(f"{where}.repeat={times!r}: expected a whole number >= 0")
        first = entry.get("first") or {}
        if not isinstance(first, dict):
            raise ValueError(f"{where}.first={first!r}: expected a mapping of option to value")
        layers = entry["layers"]
        head = _with_first(layers, first, blocks, plugin, f"{where}.first") if first and times else layers
        return [step for k in range(times)
                for step in expand(head if k == 0 else layers, width, blocks=blocks, plugin=plugin,
                                   where=f"{where}.layers")]
    widths = entry["widths"]
    if not isinstance(widths, (list, tuple)) or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1
                                                        for w in widths):
        raise ValueError(f"{where}.widths={widths!r}: expected a list of whole numbers >= 1")
    return [step for w in widths for step in expand(entry["layers"], int(w), blocks=blocks, plugin=plugin,
                                                    where=f"{where}.layers")]


def _with_first(layers, first, blocks, plugin, where):
    """``layers`` with ``first``'s options given to every layer and block of the list that has them."""
    if not isinstance(layers, (list, tuple)):
        return layers  # expand says what is wrong with it
    used, changed = set(), []
    for i, entry in enumerate(layers):
        if isinstance(entry, dict) and set(entry) & set(META):
            changed.append(entry)
            continue
        step = parse(entry, f"{where}[{i}]")
        if isinstance(step.spec, str) and step.spec in blocks:
            accepts = set(_block(blocks, step.spec, where)[0])
        else:
            cls = plugin(step.spec) if plugin is not None else None
            accepts = set(getattr(cls, "options", {}))
        given = {key: value for key, value in first.items() if key in accepts}
        used |= set(given)
        changed.append(Step(step.spec, {**step.options, **given}, step.width, step.where))
    unused = sorted(set(first) - used)
    if unused:
        raise ValueError(f"{where}.{unused[0]}: no layer or block of the repeated layers has this option")
    return changed


def _block(blocks, name, where):
    definition = blocks[name]
    if not isinstance(definition, dict) or "layers" not in definition or set(definition) - {"layers", "options"}:
        raise ValueError(f"blocks.{name}: expected 'layers' and optionally 'options' (their defaults)")
    defaults = definition.get("options") or {}
    if not isinstance(defaults, dict):
        raise ValueError(f"blocks.{name}.options={defaults!r}: expected a mapping of option to default")
    return defaults, definition["layers"]


def _expand_block(step, width, blocks, plugin, where):
    """The layers of the block ``step`` names, its ``$options`` replaced by the values it is used with."""
    defaults, layers = _block(blocks, step.spec, where)
    unknown = sorted(set(step.options) - set(defaults))
    if unknown:
        raise ValueError(f"{where}.{step.spec}.{unknown[0]}: block {step.spec!r} has no such option "
                         f"(its options: {', '.join(defaults) or 'none'})")
    values = {**defaults, **step.options}
    inner = {name: definition for name, definition in blocks.items() if name != step.spec}  # no recursion
    return expand(_substitute(layers, values, f"blocks.{step.spec}"), width if step.width is None else step.width,
                  blocks=inner, plugin=plugin, where=f"{where} (block {step.spec}).layers")


def _substitute(value, values, where):
    if isinstance(value, str) and value.startswith(PLACEHOLDER):
        name = value[len(PLACEHOLDER):]
        if name not in values:
            raise ValueError(f"{where}: {value} is not one of the block's options ({', '.join(values) or 'none'})")
        return values[name]
    if isinstance(value, dict):
        return {key: _substitute(item, values, where) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_substitute(item, values, where) for item in value]
    return value


def _with_children(step, blocks, plugin):
    """``step`` with its composite's layer lists expanded (a plain layer is returned as it is)."""
    cls = plugin(step.spec) if plugin is not None else (step.spec if isinstance(step.spec, type) else None)
    lists = getattr(cls, "layer_lists", None) or {}
    if not lists:
        return step
    options = dict(step.options)
    for name, depth in lists.items():
        value = options.get(name, cls.options.get(name))
        here = f"{step.where}.{step.label}.{name}"
        if depth == 1:
            options[name] = expand(value, step.width, blocks=blocks, plugin=plugin, where=here)
        else:
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"{here}={value!r}: expected a list of layer lists")
            options[name] = [expand(branch, step.width, blocks=blocks, plugin=plugin, where=f"{here}[{i}]")
                             for i, branch in enumerate(value)]
    return Step(step.spec, options, step.width, step.where)


def parse(entry, where="layers"):
    """A ``Step`` from one layer entry; ``ValueError`` saying what an entry may be."""
    if isinstance(entry, Step):
        return entry
    if isinstance(entry, (str, type)):  # a registered name, or a plugin class itself
        return Step(entry, where=where)
    if isinstance(entry, dict) and len(entry) == 1:
        (spec, options), = entry.items()
        if options is None or isinstance(options, dict):
            return Step(spec, dict(options or {}), where=where)
    if isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[1], dict):
        return Step(entry[0], dict(entry[1]), where=where)
    raise ValueError(f"{where}: a layer is a name, a class, or one with its options ({{'conv': {{'filters': 32}}}}); "
                     f"got {entry!r}")


def mlp(hidden_dims, block, dropout=0.0):
    """The layer list of ``{block} x len(hidden_dims) - affine`` (dropout > 0 ends each block with dropout)."""
    block = list(block) + ([{"dropout": {"p": dropout}}] if dropout else [])
    return [{"widths": [int(w) for w in hidden_dims], "layers": block}, "affine"]


def with_defaults(steps, layer_options):
    """``steps`` (and the layers inside composites) with the options a config sets for every layer of a
    name (``layer.options.dropout.p``) under each step's own."""
    def apply(step):
        options = {**layer_options.get(step.label, {}), **step.options}
        for name, value in options.items():
            if isinstance(value, list) and value and all(isinstance(s, Step) for s in value):
                options[name] = [apply(s) for s in value]
            elif isinstance(value, list) and value and all(isinstance(b, list) and all(isinstance(s, Step) for s in b)
                                                           for b in value):
                options[name] = [[apply(s) for s in branch] for branch in value]
        return Step(step.spec, options, step.width, step.where)
    return [apply(s) for s in steps]


def walk(steps):
    """Every step of ``steps`` and of the composites' layer lists inside them, depth first."""
    for step in steps:
        yield step
        for value in step.options.values():
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, Step):
                        yield from walk([item])
                    elif isinstance(item, list):
                        yield from walk([s for s in item if isinstance(s, Step)])


def lookup(registry):
    """``plugin(spec)`` for ``expand``: the Layer class a spec names in ``registry``; None for a name no
    plugin has (building or checking the network then says so)."""
    def plugin(spec):
        if not isinstance(spec, str):
            return spec
        try:
            return registry.get("layers", spec)
        except Exception:  # noqa: BLE001  an unknown or ambiguous name: reported where it is used
            return None
    return plugin
