"""Whether what a plugin registered keeps the contract's form: the hooks it implements, and that
each hook returns a list of plugin objects of its kind, each with a name. What pluggy checks for
all plugins at once, here for one plugin at a time, so that the registry can report it alone."""
import builtins
import difflib
import types

from nnplug.contract import hookspecs, kinds
from nnplug.contract.options import type_problems

# kind -> the hook that contributes it; how messages name one of a kind; what its hook returns
KINDS = {
    "layers": "nnplug_layers",
    "losses": "nnplug_losses",
    "optimizers": "nnplug_optimizers",
    "datasets": "nnplug_datasets",
    "transforms": "nnplug_transforms",
}
LABELS = {"layers": "layer", "losses": "loss", "optimizers": "update rule", "datasets": "data set",
          "transforms": "transform"}
EXPECTED = {"layers": "Layer subclasses", "losses": "Loss objects", "optimizers": "UpdateRule objects",
            "datasets": "Dataset objects", "transforms": "Transform subclasses"}


class BrokenPlugin(Exception):
    """What is wrong with a plugin that loaded but does not keep the contract."""


def kind_of(obj):
    """The kind of plugin object ``obj`` is (a Layer subclass, a Loss, ...), whatever its name; or None."""
    if isinstance(obj, type):
        classes = {"layers": kinds.Layer, "transforms": kinds.Transform}
        return next((kind for kind, cls in classes.items() if issubclass(obj, cls)), None)
    classes = {"losses": kinds.Loss, "optimizers": kinds.UpdateRule, "datasets": kinds.Dataset}
    return next((kind for kind, cls in classes.items() if isinstance(obj, cls)), None)


def is_kind(kind, obj):
    """Whether ``obj`` is a plugin object of ``kind`` with a non-empty string ``name``."""
    return kind_of(obj) == kind and isinstance(getattr(obj, "name", None), str) and obj.name != ""


def contributions(kind, hook_name, returned):
    """What one hook implementation contributes; ``BrokenPlugin`` saying what is wrong with it."""
    if returned is None:
        return []
    if not isinstance(returned, (list, tuple)):
        raise BrokenPlugin(f"{hook_name} returned {described(returned)}, not a list of {EXPECTED[kind]} "
                           f"(return [{getattr(returned, '__name__', 'it')}])")
    for obj in returned:
        if is_kind(kind, obj):
            wrong = default_problems(obj)
            if wrong:
                raise BrokenPlugin(f"{hook_name} returned {described(obj)} whose option default does not have its "
                                   f"own option type: {wrong[0]}")
            continue
        found = kind_of(obj)
        if found == kind:
            raise BrokenPlugin(f"{hook_name} returned {described(obj)} without a name: set its name to a "
                               f"non-empty string")
        hint = f": it is a {LABELS[found]}, for {KINDS[found]}" if found else ""
        raise BrokenPlugin(f"{hook_name} returned {described(obj)}, expected {EXPECTED[kind]}{hint}")
    return list(returned)


def default_problems(obj):
    """Problems of a plugin's option defaults with its declared ``option_types`` (``stride='1'``
    declared an int), one line each: a config that leaves the option alone would fail on them."""
    defaults = getattr(obj, "defaults", None) if isinstance(obj, kinds.UpdateRule) else getattr(obj, "options", None)
    types = getattr(obj, "option_types", None) or {}
    if not isinstance(defaults, dict) or not isinstance(types, dict):
        return []
    return [line.lstrip(".") for line in type_problems({k: defaults[k] for k in types if k in defaults}, defaults,
                                                          types)]


def described(obj):
    if isinstance(obj, type):
        return f"the class {obj.__name__}"
    return f"a {type(obj).__name__}" + (f" named {obj.name!r}" if isinstance(getattr(obj, "name", None), str) else "")


def check_hooks(pm, plugin):
    """``BrokenPlugin`` for a plugin that implements no nnplug hook, or one nnplug does not know.

    What pluggy's ``check_pending`` finds for all plugins at once, here for this one plugin, so
    that it alone is reported with its distribution.
    """
    callers = pm.get_hookcallers(plugin) or []
    unknown = [caller.name for caller in callers if caller.spec is None]
    if unknown:
        hint = did_you_mean(unknown[0], KINDS.values())
        raise BrokenPlugin(f"implements {unknown[0]}, which is not an nnplug hook{hint} "
                           f"(hooks: {', '.join(KINDS.values())})")
    if not callers:
        defined = [name for name in dir(plugin) if name.startswith("nnplug_") and callable(getattr(plugin, name))]
        reason = (f"{defined[0]} is not marked @nnplug.hookimpl" if defined
                  else f"it has no @nnplug.hookimpl function ({', '.join(KINDS.values())})")
        raise BrokenPlugin(f"contributes nothing: {reason}")


def wrapped(obj):
    """Plugin objects registered by hand, as a module whose hooks return them."""
    objs = obj if isinstance(obj, (list, tuple)) else [obj]
    namespace = types.SimpleNamespace(__name__=", ".join(getattr(o, "name", "?") for o in objs))
    for kind, hook_name in KINDS.items():
        mine = [o for o in objs if is_kind(kind, o)]
        if mine:
            setattr(namespace, hook_name, hookspecs.hookimpl(lambda mine=mine: mine))
    return namespace


def did_you_mean(name, candidates):
    """``"; did you mean 'adam'?"`` for the candidate closest to a misspelt ``name``, else ``""``."""
    close = difflib.get_close_matches(str(name), builtins.list(candidates), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""
