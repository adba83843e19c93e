"""Plugin options: typed by their defaults (or a declared type), checked before anything runs.

Every kind of plugin declares its options as a dict of defaults. A value set in a config must have
its option's type: the type the plugin declares for it in ``option_types``, else the type of its
default (an int is a number where the default is a float; a default of None accepts anything).
Ranges and relations between options are the plugin's own check: a function from the options
(defaults with the config's values over them) to a list of problems, one line each, each starting
with the option's name (``"beta1=1.0: expected a number >= 0 and < 1"``); nnplug puts the config
key in front.
"""
import math
import numbers


def type_problems(values, defaults, types=None, where=""):
    """One line per value whose type does not fit its option.

    Inputs:
    - values: the options a config sets, by name (only names in ``defaults`` are checked)
    - defaults: the plugin's declared options and their defaults
    - types: declared types by option name (a type or a tuple of types; ``type(None)`` allows null)
    - where: the config key the options live under, for the messages (``layer.options.swish``)

    Returns a list of lines like ``layer.options.swish.beta='abc': expected a number``.
    """
    problems = []
    for name, value in values.items():
        if name not in defaults:
            continue
        wanted = (types or {}).get(name)
        allowed = _accepts(wanted if wanted is not None else _type_of(defaults[name]))
        if allowed is not None and not allowed[0](value):
            problems.append(f"{where}.{name}={value!r}: expected {allowed[1]}")
    return problems


def _type_of(default):
    return None if default is None else type(default)


def _accepts(wanted):
    """``(test, description)`` for a declared or inferred type; None accepts anything."""
    if wanted is None:
        return None
    kinds = wanted if isinstance(wanted, tuple) else (wanted,)
    tests = [_ONE[kind] if kind in _ONE else (lambda v, k=kind: isinstance(v, k), f"a {kind.__name__}")
             for kind in kinds]
    return (lambda v: any(test(v) for test, _ in tests)), " or ".join(text for _, text in tests)


def is_number(value):
    """A real number that is not a bool (bools are ints in Python, never options' numbers)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_whole(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


_ONE = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (is_whole, "a whole number"),
    float: (lambda v: is_number(v) and math.isfinite(v), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
    type(None): (lambda v: v is None, "null"),
}


def in_range(values, name, *, minimum=None, above=None, below=None, at_most=None):
    """For a plugin's check: ``["name=value: expected a number ..."]`` when ``values[name]`` is
    outside the range, else ``[]``."""
    value = values.get(name)
    if not is_number(value):
        return []  # its type is checked already
    bounds = [(minimum, ">=", lambda v, b: v >= b), (above, ">", lambda v, b: v > b),
              (below, "<", lambda v, b: v < b), (at_most, "<=", lambda v, b: v <= b)]
    if all(bound is None or test(value, bound) for bound, _, test in bounds):
        return []
    allowed = " and ".join(f"{sign} {bound}" for bound, sign, _ in bounds if bound is not None)
    return [f"{name}={value!r}: expected a number {allowed}"]
