"""Checks a composed experiment config before any work starts.

Hydra already refuses a key that is not in the config (its struct mode) and an option missing
from a group; this module checks what Hydra cannot know: value types and ranges, the keys that
``+key=value`` adds, and plugin names and options, which must be installed (the registry knows).
Every problem is one line naming the key, the value and what is allowed.
"""
from dataclasses import dataclass
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from nnplug.data import DTYPES, NORMALIZE


class ConfigError(ValueError):
    """The config asks for something impossible; ``problems`` holds one line per problem."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self):  # sweep jobs in worker processes send their errors back pickled
        return type(self), (self.problems,)


@dataclass(frozen=True)
class Rule:
    allowed: str  # completes "expected ..."
    accepts: Callable[[Any], bool]


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def integer(minimum):
    return Rule(f"an integer >= {minimum}", lambda v: _is_int(v) and v >= minimum)


def number(*, above=None, minimum=None, below=None):
    bounds = [f"> {above}" if above is not None else None, f">= {minimum}" if minimum is not None else None,
              f"< {below}" if below is not None else None]
    def accepts(v):
        return (_is_number(v) and (above is None or v > above) and (minimum is None or v >= minimum)
                and (below is None or v < below))
    return Rule("a number " + " and ".join(b for b in bounds if b), accepts)


def one_of(*choices):
    return Rule("one of " + ", ".join(choices), lambda v: v in choices)


def optional(rule):
    return Rule(f"null or {rule.allowed}", lambda v: v is None or rule.accepts(v))


BOOLEAN = Rule("true or false", lambda v: isinstance(v, bool))
TEXT = Rule("a non-empty string", lambda v: isinstance(v, str) and v != "")
SIZES = Rule("a list of integers >= 1", lambda v: isinstance(v, list) and all(_is_int(d) and d >= 1 for d in v))

MODEL = {
    "hidden_dims": SIZES,
    "init": one_of("gaussian", "he", "xavier"),
    "weight_scale": number(above=0),
    "reg": number(minimum=0),
    "dropout": number(minimum=0, below=1),
    "dtype": one_of("float32", "float64"),
    "seed": optional(integer(0)),
}
SOLVER = {
    "num_epochs": integer(0),
    "batch_size": integer(1),
    "lr_schedule": one_of("exponential", "step", "cosine"),
    "lr_decay": number(above=0),
    "lr_step_size": integer(1),
    "lr_gamma": number(above=0),
    "lr_min": number(minimum=0),
    "num_train_samples": optional(integer(1)),
    "num_val_samples": optional(integer(1)),
    "print_every": integer(1),
    "verbose": BOOLEAN,
    "seed": optional(integer(0)),
    "checkpoint": BOOLEAN,
    "resume": BOOLEAN,
}
# What nnplug.data.load takes for every data set; any other data key must be an option of the data set.
DATA = {
    "val_size": optional(integer(1)),
    "normalize": one_of(*NORMALIZE),
    "dtype": one_of(*DTYPES),
    "limit": optional(integer(1)),
    "flatten": BOOLEAN,
    "seed": optional(integer(0)),
}
FETCH = ("root", "download", "url")  # every data config has them; null or false means "not used"
TRACKING = {
    "uri": optional(TEXT),
    "experiment": TEXT,
}
SECTIONS = ("data", "layer", "loss", "optim", "model", "solver", "tracking")


def validate(cfg, registry):
    """Return the config as plain resolved containers, or raise ``ConfigError`` listing every problem."""
    try:
        settings = (OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
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
    problems += _check_table(settings["model"], MODEL, "model")
    problems += _check_table(settings["solver"], SOLVER, "solver")
    problems += _check_table(settings["tracking"], TRACKING, "tracking")
    problems += _check_data(registry, settings["data"])
    problems += _check_plugin(registry, "losses", settings["loss"], "loss")
    problems += _unknown(settings["loss"], ("name",), "loss")
    problems += _check_layer(registry, settings["layer"])
    problems += _check_optim(registry, settings["optim"])
    if problems:
        raise ConfigError(problems)
    return settings


def _check_table(section, rules, prefix):
    problems = _unknown(section, rules, prefix)
    for key, rule in rules.items():
        if key not in section:
            problems.append(f"{prefix}.{key}: missing (expected {rule.allowed})")
        elif not rule.accepts(section[key]):
            problems.append(f"{prefix}.{key}={section[key]!r}: expected {rule.allowed}")
    return problems


def _unknown(section, known, prefix):
    dot = f"{prefix}." if prefix else ""
    return [f"{dot}{key}: unknown key (known: {', '.join(known)})" for key in section if key not in known]


def _check_plugin(registry, kind, section, prefix):
    """``section.name`` must be an installed plugin of ``kind``."""
    from nnplug.registry import SINGULAR, PluginError

    name = section.get("name")
    if not isinstance(name, str):
        return [f"{prefix}.name={name!r}: expected the name of an installed {SINGULAR[kind]} plugin"]
    try:
        registry.get(kind, name)
    except PluginError as exc:
        return [f"{prefix}.name={name!r}: {exc}"]
    return []


def _check_data(registry, data):
    """``data.name`` must be an installed data set, the other keys what ``nnplug.data.load`` passes it.

    Checked here, not only when the data loads, because by then the run's MLflow run is open.
    """
    problems = _check_plugin(registry, "datasets", data, "data")
    if problems:
        return problems
    declared = registry.get("datasets", data["name"]).options
    for key, value in data.items():
        if key in DATA:
            if not DATA[key].accepts(value):
                problems.append(f"data.{key}={value!r}: expected {DATA[key].allowed}")
        elif key != "name" and key not in declared and not (key in FETCH and (value is None or value is False)):
            problems.append(f"data.{key}={value!r}: data set {data['name']!r} has no such option "
                            f"(its options: {', '.join(sorted(declared)) or 'none'})")
    return problems


def _check_layer(registry, layer):
    from nnplug.registry import PluginError

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
            known = registry.get("layers", name).options
        except PluginError as exc:
            problems.append(f"layer.options.{name}: {exc}")
            continue
        if not isinstance(values, dict):
            problems.append(f"layer.options.{name}={values!r}: expected a mapping of option to value")
            continue
        problems += [f"layer.options.{name}.{key}: layer {name!r} has no such option "
                     f"(its options: {', '.join(known) or 'none'})" for key in values if key not in known]
    return problems


def _check_optim(registry, optim):
    """``optim.name`` must be an installed update rule; the other keys its hyperparameters."""
    problems = _check_plugin(registry, "optimizers", optim, "optim")
    if problems:
        return problems
    defaults = dict(registry.get("optimizers", optim["name"]).defaults)
    rate = optim.get("learning_rate")
    if not (_is_number(rate) and rate > 0):
        problems.append(f"optim.learning_rate={rate!r}: expected a number > 0")
    for key, value in optim.items():
        if key in ("name", "learning_rate"):
            continue
        if key not in defaults:
            problems.append(f"optim.{key}: update rule {optim['name']!r} has no such hyperparameter "
                            f"(known: {', '.join(dict.fromkeys(['name', 'learning_rate', *defaults]))})")
        elif _is_number(defaults[key]) and not _is_number(value):
            problems.append(f"optim.{key}={value!r}: expected a number")
        elif not _is_number(defaults[key]) and type(value) is not type(defaults[key]):
            problems.append(f"optim.{key}={value!r}: expected a {type(defaults[key]).__name__}")
    return problems
