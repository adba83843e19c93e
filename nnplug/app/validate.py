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
    problems += _check_model(registry, settings["model"])
    problems += param_groups.problems(settings["solver"].get("param_groups"))
    problems += _check_augment(registry, settings["augment"])
    problems += _check_data(registry, settings["data"])
    problems += _check_loss(registry, settings["loss"])
    problems += _check_layer(registry, settings["layer"])
    problems += _check_optim(registry, settings["optim"])
    if problems:
        raise ConfigError(problems)
    return settings


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


def _check_model(registry, model):
    """The model's fields have their types; every layer of ``model.layers`` (inside repeats, widths,
    blocks and composite layers too) is an installed layer with options it has. Other keys are the
    architecture's knobs, used by interpolation."""
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
    return _check_steps(registry, layer_plan.walk(steps))


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
