"""Checks a composed experiment config before any folder, run or data exists.

Hydra refuses a key that is not in the config (struct mode), an option missing from a group, and
(through ``nnplug.app.schema``) a value of the wrong type or enum. What is left is checked here:
the ranges the schema declares, and everything that needs the registry: plugin names, and the
options of the chosen data set, layers, loss and update rule. Every problem is one line naming
the key, the value and what is allowed.
"""
import math

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from nnplug.app import schema
from nnplug.app.errors import ConfigError
from nnplug.contract.options import is_number, is_whole, type_problems
from nnplug.contract.conformance import LABELS, did_you_mean
from nnplug.contract.registry import PluginError
from nnplug.core import layer_plan, param_groups
from nnplug.data.prepare import SETTINGS, settings_problems

SECTIONS = ("data", "layer", "loss", "optim", "model", "augment", "solver", "tracking")
FETCH = ("root", "download", "url")  # every data config has them; null or false means "not used"


def validate(cfg, registry):
    """Return the config as plain resolved containers, or raise ``ConfigError`` listing every problem."""
    try:
        settings = (OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True, enum_to_str=True)
                    if isinstance(cfg, DictConfig) else cfg)
    except MissingMandatoryValue as exc:
        raise ConfigError([f"{exc.full_key}: missing; it has no default (set {exc.full_key}=...)"]) from None
    except OmegaConfBaseException as exc:
        raise ConfigError([f"the config does not resolve: {str(exc).splitlines()[0]}"]) from None
    problems = _unknown(settings, SECTIONS, "")
    missing = [s for s in SECTIONS if not isinstance(settings.get(s), dict)]
    problems += [f"{s}: missing section (pick one with {s}=<option>)" for s in missing]
    if missing:
        raise ConfigError(problems)
    for section, section_schema in schema.SCHEMAS.items():
        problems += _unknown(settings[section], schema.keys(section_schema), section)
        problems += schema.range_problems(settings[section], section_schema, section)
    problems += _check_model(registry, settings["model"], _unresolved(cfg, "model"))
    problems += _check_widths_used(registry, settings)
    problems += _check_registered_name(settings["tracking"].get("register"))
    problems += param_groups.problems(settings["solver"].get("param_groups"))
    problems += _check_augment(registry, settings["augment"])
    problems += _check_data(registry, settings["data"])
    problems += _check_loss(registry, settings["loss"])
    problems += _check_layer(registry, settings["layer"])
    problems += _check_optim(registry, settings["optim"])
    if problems:
        raise ConfigError(_without_echoes(problems, _interpolations(cfg)))
    return settings


def _unresolved(cfg, section):
    """Section ``section`` of ``cfg`` with its interpolations as written (``${model.depth}``), or None."""
    if not isinstance(cfg, DictConfig) or section not in cfg:
        return None
    return OmegaConf.to_container(cfg[section], resolve=False)


def _interpolations(cfg):
    """``{key: the key its value is copied from}`` for every value of ``cfg`` written as ``${other.key}``."""
    if not isinstance(cfg, DictConfig):
        return {}
    found = {}

    def walk(node, prefix):
        for key, value in node.items():
            where = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, f"{where}.")
            elif isinstance(value, str) and value.startswith("${") and value.endswith("}") and value.count("${") == 1:
                found[where] = value[2:-1]

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    return found


def _without_echoes(problems, copied_from):
    """``problems`` without those about a key whose value is copied from a key with its own problem
    (``solver.seed`` follows ``model.seed``): the user set one of them, and it is named once."""
    named = {problem.split("=", 1)[0].split(":", 1)[0] for problem in problems}
    return [problem for problem in problems
            if copied_from.get(problem.split("=", 1)[0].split(":", 1)[0]) not in named]


def _unknown(section, known, prefix):
    dot = f"{prefix}." if prefix else ""
    return [f"{dot}{key}: unknown key{did_you_mean(key, known)} (known: {', '.join(known)})"
            for key in section if key not in known]


def _check_plugin(registry, kind, section, prefix):
    """``section.name`` must be an installed plugin of ``kind``."""
    name = section.get("name")
    if not isinstance(name, str):
        return [f"{prefix}.name={name!r}: expected the name of an installed {LABELS[kind]} plugin"]
    try:
        registry.get(kind, name)
    except PluginError as exc:
        return [f"{prefix}.name={name!r}: {exc}"]
    return []


def _check_data(registry, data):
    """``data.name`` must be an installed data set, the other keys preparation settings or its options."""
    problems = _check_plugin(registry, "datasets", data, "data")
    if problems:
        return problems
    problems = [f"data.{p}" for p in settings_problems(**{k: v for k, v in data.items() if k in SETTINGS})]
    seed = data.get("seed")
    if seed is not None and not (is_whole(seed) and seed >= 0):
        problems.append(f"data.seed={seed!r}: expected null or a whole number >= 0")
    dataset = registry.get("datasets", data["name"])
    # root, download and url set to null or false mean "the data set's own default", as for loading
    values = {key: value for key, value in data.items() if key not in (*SETTINGS, "name", "seed")
              and not (key in FETCH and (value is None or value is False))}
    return problems + option_problems(dataset, values, dataset.options, "data", f"data set {data['name']!r}")


def _check_layer(registry, layer):
    problems = _unknown(layer, ("block", "options"), "layer")
    block = layer.get("block")
    if not isinstance(block, list) or not block or not all(isinstance(n, str) for n in block):
        return problems + [f"layer.block={block!r}: expected a non-empty list of layer plugin names"]
    for i, name in enumerate(block):
        try:
            registry.get("layers", name)
        except PluginError as exc:
            problems.append(f"layer.block[{i}]={name!r}: {exc}")
    options = layer.get("options") or {}
    if not isinstance(options, dict):
        return problems + [f"layer.options={options!r}: expected a mapping of layer name to its options"]
    for name, values in options.items():
        try:
            cls = registry.get("layers", name)
        except PluginError as exc:
            problems.append(f"layer.options.{name}: {exc}")
            continue
        if not isinstance(values, dict):
            problems.append(f"layer.options.{name}={values!r}: expected a mapping of option to value")
            continue
        problems += option_problems(cls, values, cls.options, f"layer.options.{name}", f"layer {name!r}",
                                    check=cls.check_options)
    return problems


def _check_model(registry, model, unresolved=None):
    """The model's fields have their types; every layer of ``model.layers`` (inside repeats, widths,
    blocks and composite layers too) is an installed layer with options it has, and no repeat or
    widths entry leaves its layers out. Other keys are the architecture's knobs, used by
    interpolation (``unresolved``: the section as written)."""
    problems = schema.field_problems(model, schema.ModelConfig, "model")
    layers, blocks = model.get("layers"), model.get("blocks") or {}
    if problems or layers is None:
        return problems
    shadowing = sorted(name for name in blocks if name in registry.names("layers"))
    if shadowing:
        return [f"model.blocks.{shadowing[0]}: a block may not take the name of the layer plugin {shadowing[0]!r}"]
    try:
        steps = layer_plan.expand(layers, blocks=blocks, plugin=layer_plan.lookup(registry), where="model.layers")
    except ValueError as exc:
        return [str(exc)]
    written = (unresolved or {}).get("layers")
    return (_check_steps(registry, layer_plan.walk(steps))
            + _empty_repeats(layers, written if isinstance(written, list) else None, "model.layers",
                             lambda entries: layer_plan.expand(entries, blocks=blocks, plugin=layer_plan.lookup(registry))))


def _check_steps(registry, steps):
    """Each expanded step names an installed layer with options it has (layer lists aside: their
    steps are checked themselves)."""
    problems = []
    for step in steps:
        try:
            cls = registry.get("layers", step.spec)
        except PluginError as exc:
            problems.append(f"{step.where}={step.spec!r}: {exc}")
            continue
        lists = getattr(cls, "layer_lists", None) or {}
        options = {key: value for key, value in step.options.items() if key not in lists}
        problems += option_problems(cls, options, cls.options, f"{step.where}.{step.spec}", f"layer {step.spec!r}",
                                    check=cls.check_options)
    return problems


def _empty_repeats(entries, written, path, expand):
    """One line per repeat entry of 0 and widths entry of [] in a layer list: the net would lack all
    its layers (``model=vgg model.depth=0`` builds no conv layer). Named by the knob the value
    comes from (``model.depth``) when the list refers to one; ``expand`` unrolls a layer list."""
    problems = []
    for i, entry in enumerate(entries):
        if not (isinstance(entry, dict) and "layers" in entry and set(entry) & set(layer_plan.META)):
            continue
        as_written = written[i] if written is not None and i < len(written) and isinstance(written[i], dict) else {}
        for meta, empty, expected in (("repeat", 0, "a whole number >= 1"), ("widths", [], "a non-empty list")):
            if entry.get(meta, None) == empty and meta in entry:
                source = as_written.get(meta)
                key = source[2:-1] if isinstance(source, str) and source.startswith("${") else f"{path}[{i}].{meta}"
                labels = ", ".join(dict.fromkeys(step.label for step in expand(entry["layers"]))) or "none"
                problems.append(f"{key}={empty}: the net would have none of the layers it repeats ({labels}); "
                                f"expected {expected}")
        inner = as_written.get("layers")
        problems += _empty_repeats(entry["layers"], inner if isinstance(inner, list) else None, f"{path}[{i}].layers",
                                   expand)
    return problems


def _check_widths_used(registry, settings):
    """The MLP's ``model.hidden_dims`` go to the resizing layers (affine) of ``layer.block``: a block
    without one (``layer.block=[relu]``) would drop them without a word."""
    model, block = settings["model"], settings["layer"].get("block")
    if model.get("layers") is not None or not model.get("hidden_dims") or not isinstance(block, list):
        return []
    try:
        if any(getattr(registry.get("layers", name), "resizes", False) for name in block):
            return []
    except PluginError:  # named already by _check_layer
        return []
    return [f"layer.block={block!r}: none of its layers takes a width (as affine does), so "
            f"model.hidden_dims={model['hidden_dims']!r} would go unused; expected a block with one, e.g. "
            f"[affine, {', '.join(block)}], or model.hidden_dims=[] for none"]


def _check_registered_name(name):
    """``tracking.register`` must be a name MLflow's Model Registry takes: no '/' or ':', not '.' or '..'."""
    if name is None or not isinstance(name, str):
        return []
    if "/" in name or ":" in name or name.strip() in (".", "..") or name.startswith("..") or not name.strip():
        return [f"tracking.register={name!r}: not a registered model name MLflow takes; expected a name without "
                f"'/' or ':' (e.g. digits-mlp)"]
    return []


def _check_augment(registry, augment):
    """``augment.transforms`` lists installed transforms, each with options it has."""
    problems = _unknown(augment, ("transforms",), "augment")
    transforms = augment.get("transforms")
    if not isinstance(transforms, list):
        return problems + [f"augment.transforms={transforms!r}: expected a list of transforms (or [] for none)"]
    entries = ((f"augment.transforms[{i}]", entry) for i, entry in enumerate(transforms))
    return problems + _check_entries(registry, "transforms", entries)


def _check_entries(registry, kind, entries):
    """Each ``(config key, entry)`` names an installed plugin of ``kind`` with options it has."""
    problems = []
    for where, entry in entries:
        try:
            step = layer_plan.parse(entry)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        try:
            cls = registry.get(kind, step.spec)
        except PluginError as exc:
            problems.append(f"{where}={step.spec!r}: {exc}")
            continue
        problems += option_problems(cls, step.options, cls.options, f"{where}.{step.spec}",
                                    f"{LABELS[kind]} {step.spec!r}", check=cls.check_options)
    return problems


def _check_loss(registry, section):
    problems = _check_plugin(registry, "losses", section, "loss")
    if problems:
        return problems
    loss = registry.get("losses", section["name"])
    values = {key: value for key, value in section.items() if key != "name"}
    return option_problems(loss, values, loss.options, "loss", f"loss {section['name']!r}")


def _check_optim(registry, optim):
    """``optim.name`` must be an installed update rule; the other keys its hyperparameters."""
    problems = _check_plugin(registry, "optimizers", optim, "optim")
    if problems:
        return problems
    rule = registry.get("optimizers", optim["name"])
    rate = optim.get("learning_rate")
    if not (is_number(rate) and math.isfinite(rate) and rate > 0):
        problems.append(f"optim.learning_rate={rate!r}: expected a finite number > 0")
    values = {key: value for key, value in optim.items() if key not in ("name", "learning_rate")}
    defaults = {key: value for key, value in rule.defaults.items() if key != "learning_rate"}
    return problems + option_problems(rule, values, defaults, "optim", f"update rule {optim['name']!r}",
                                      known=["learning_rate", *defaults])


def option_problems(plugin, values, defaults, where, label, check=None, known=None):
    """The problems with a plugin's options as a config sets them: names, types, then its own check.

    ``plugin`` declares ``option_types`` and (unless ``check`` is given) a ``check`` function.
    """
    known = list(defaults) if known is None else known
    problems = [f"{where}.{key}: {label} has no such option{did_you_mean(key, known)} "
                f"(its options: {', '.join(known) or 'none'})" for key in values if key not in defaults]
    problems += type_problems(values, defaults, getattr(plugin, "option_types", None), where)
    check = check or getattr(plugin, "check", None)
    if problems or check is None:
        return problems
    try:
        found = check({**defaults, **values})
    except Exception as exc:  # noqa: BLE001  a plugin's check that fails is the plugin's failure
        return [f"{where}: {label}'s option check failed: {type(exc).__name__}: {exc}"]
    return [f"{where}.{line}" for line in found or []]
