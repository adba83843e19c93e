"""Parameter groups: which parameters train, how fast, and whether weight decay reaches them.

A config (or a Solver's ``param_groups`` option) lists rules; each selects parameters and sets any
of five things for them:

    - kinds: [bias, scale, shift]      # no weight decay on biases and normalisation parameters
      decay: false
    - kinds: [scale]                   # batch-norm scales fixed at their initial 1
      trainable: false
    - layers: [residual4]              # a block at a tenth of the learning rate
      lr_mult: 0.1
    - kinds: [shift]                   # 64x the rate, 1/64 the decay: the same absolute shrink
      lr_mult: 64
      decay_mult: 0.015625
    - layers: [whiten]                 # trained for the first 3 epochs only
      train_epochs: 3

A rule selects by ``layers`` (a top-level position like ``4``, a layer plugin's name like
``conv``, or the path of a composite or of its branch like ``residual4``, ``residual4.shortcut``
or a ``sequence``'s label), by ``kinds`` (``weight``, ``bias``, ``scale``, ``shift``: what a
layer's ``param_kinds`` says each parameter is) and by ``params`` (parameter names, ``W1``);
the selectors it gives must all match. Later rules win where several set one thing.

- ``lr_mult`` multiplies the learning rate of those parameters, whatever the schedule makes it;
- ``decay: false`` keeps weight decay off them (the L2 term of ``model.reg`` and an update rule's
  ``weight_decay``), ``decay: true`` puts it on them; unset, L2 reaches the layers' weights
  (``Layer.regularized``) and an update rule's decay every parameter, as without groups;
- ``decay_mult`` multiplies an update rule's ``weight_decay`` for them (Caffe's ``decay_mult``;
  PyTorch's per-group ``weight_decay``): a coupled decay is scaled by the learning rate too, so a
  group at ``lr_mult`` k shrinks as much per step as the rest with ``decay_mult`` 1/k;
- ``trainable: false`` freezes them: no update, no optimizer state. Parameters a layer declares
  ``frozen`` start frozen;
- ``train_epochs: n`` updates them in the first n epochs only, frozen from then on (their optimizer
  state is kept, as in a checkpoint).
"""
import re
from dataclasses import dataclass

KINDS = ("weight", "bias", "scale", "shift")
SELECTORS = ("layers", "kinds", "params")
SETTINGS = ("lr_mult", "decay", "decay_mult", "trainable", "train_epochs")


@dataclass(frozen=True)
class ParamInfo:
    """Where a parameter sits: ``path`` (the composites' prefix of its name, '' at the top level),
    ``position`` (of its top-level layer), ``layer`` (its plugin's name), ``local`` name and ``kind``."""

    path: str
    position: int
    layer: str
    local: str
    kind: str | None


@dataclass(frozen=True)
class Setting:
    lr_mult: float = 1.0
    decay: bool | None = None  # None: as without groups
    decay_mult: float = 1.0
    trainable: bool = True
    train_epochs: int | None = None  # None: every epoch

    def trains_in(self, epoch):
        """Whether the Solver updates these parameters in ``epoch`` (counted from 0)."""
        return self.trainable and (self.train_epochs is None or epoch < self.train_epochs)


def describe(nodes):
    """``{parameter name: ParamInfo}`` of a network's nodes (``Network.nodes``, depth first)."""
    found, position = {}, 0
    for node in nodes:
        if not node.path:
            position = node.position
        kinds = getattr(node.layer, "param_kinds", {}) or {}
        for local, name in node.names.items():
            found[name] = ParamInfo(node.path.rstrip("."), position, node.step.label, local, kinds.get(local))
    return found


def problems(rules, where="solver.param_groups"):
    """One line per rule that is not a mapping of known selectors and settings of the right types."""
    if rules is None:
        return []
    if not isinstance(rules, list):
        return [f"{where}={rules!r}: expected a list of rules (mappings with layers/kinds/params and "
                f"{'/'.join(SETTINGS)})"]
    found = []
    for i, rule in enumerate(rules):
        here = f"{where}[{i}]"
        if not isinstance(rule, dict):
            found.append(f"{here}={rule!r}: expected a mapping")
            continue
        unknown = sorted(set(rule) - {*SELECTORS, *SETTINGS})
        if unknown:
            found.append(f"{here}.{unknown[0]}: unknown key (a rule has {', '.join(SELECTORS + SETTINGS)})")
        if not set(rule) & set(SETTINGS):
            found.append(f"{here}: sets nothing (give it {', '.join(SETTINGS[:-1])} or {SETTINGS[-1]})")
        for key in SELECTORS:
            value = rule.get(key)
            if value is not None and not (isinstance(value, list) and all(isinstance(v, (str, int))
                                                                           and not isinstance(v, bool) for v in value)):
                found.append(f"{here}.{key}={value!r}: expected a list of names" + (" or positions" if key == "layers"
                                                                                     else ""))
        bad = [k for k in rule.get("kinds") or [] if k not in KINDS]
        if bad:
            found.append(f"{here}.kinds: {bad[0]!r} is no kind of parameter (kinds: {', '.join(KINDS)})")
        for key in ("lr_mult", "decay_mult"):
            mult = rule.get(key)
            if key in rule and (isinstance(mult, bool) or not isinstance(mult, (int, float)) or not mult >= 0):
                found.append(f"{here}.{key}={mult!r}: expected a number >= 0")
        epochs = rule.get("train_epochs")
        if "train_epochs" in rule and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0):
            found.append(f"{here}.train_epochs={epochs!r}: expected a whole number >= 0")
        for key in ("decay", "trainable"):
            if key in rule and not isinstance(rule[key], bool):
                found.append(f"{here}.{key}={rule[key]!r}: expected true or false")
    return found


def resolve(rules, model):
    """``{parameter name: Setting}`` for every parameter of ``model`` under ``rules``.

    ``model.param_info`` (a ``Network``) tells where each parameter sits; a model without it (any
    object with ``params``) is matched by parameter names, and its kinds are read off CS231n's
    names (``W``, ``b``, ``gamma``, ``beta``). ValueError for invalid rules, or a rule that
    matches no parameter (a misspelt layer would otherwise be silently ignored).
    """
    found = problems(rules)
    if found:
        raise ValueError(found[0])
    info = getattr(model, "param_info", None) or {name: _guess(name) for name in model.params}
    frozen = {name for node in getattr(model, "nodes", ()) for local, name in node.names.items()
              if local in getattr(node.layer, "frozen", ())}
    settings = {name: Setting(trainable=name not in frozen) for name in model.params}
    for i, rule in enumerate(rules or []):
        matched = [name for name in settings if _matches(rule, name, info.get(name))]
        if not matched:
            raise ValueError(f"solver.param_groups[{i}]={rule!r}: matches no parameter of the model")
        for name in matched:
            old = settings[name]
            settings[name] = Setting(float(rule.get("lr_mult", old.lr_mult)), rule.get("decay", old.decay),
                                     float(rule.get("decay_mult", old.decay_mult)),
                                     rule.get("trainable", old.trainable), rule.get("train_epochs", old.train_epochs))
    return settings


def _matches(rule, name, info):
    if rule.get("params") is not None and name not in rule["params"]:
        return False
    if rule.get("kinds") is not None and (info is None or info.kind not in rule["kinds"]):
        return False
    layers = rule.get("layers")
    if layers is not None:
        return info is not None and any(_selects(selector, name, info) for selector in layers)
    return True


def _selects(selector, name, info):
    if isinstance(selector, int) or (isinstance(selector, str) and selector.isdigit()):
        return info.position == int(selector)
    if selector == info.layer:
        return True
    return info.path == selector or info.path.startswith(selector + ".")


def _guess(name):
    local = re.sub(r"\d+(_\d+)?$", "", name.rsplit(".", 1)[-1])
    kind = {"W": "weight", "b": "bias", "gamma": "scale", "beta": "shift"}.get(local)
    return ParamInfo("", 0, "", local, kind)


def optimizer_config(base, setting):
    """A parameter's own update-rule config from the rule's ``base`` one: its learning rate times its
    multiplier, its weight decay times its decay multiplier, and none where its group turns decay off."""
    config = dict(base)
    if config.get("learning_rate") is not None:
        config["learning_rate"] = config["learning_rate"] * setting.lr_mult
    if "weight_decay" in config:
        config["weight_decay"] = 0.0 if setting.decay is False else config["weight_decay"] * setting.decay_mult
    return config


def decayed(settings, regularized):
    """The parameters a model's L2 term reaches under the groups: ``regularized`` (the model's own
    list) changed where a group sets decay; None when the model has no such list or no group does."""
    if regularized is None or all(s.decay is None for s in settings.values()):
        return None
    return [p for p, s in settings.items() if s.decay is True or (s.decay is None and p in regularized)]
