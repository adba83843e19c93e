"""Nested dicts of settings and state: flattened to dotted keys, and compared leaf by leaf."""

MISSING = object()  # a key one side has and the other not: "no value", not a misleading None


def flatten(tree, prefix=""):
    """``{"optim": {"learning_rate": 0.001}}`` -> ``{"optim.learning_rate": 0.001}``.

    Inputs:
    - tree: a dict whose values may be dicts; lists and empty dicts are leaves.
    Returns a flat dict keyed by dotted paths.
    """
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def differences(a, b):
    """The leaves where two nested dicts differ.

    Returns a list of ``(dotted key, value in a, value in b)``, sorted by key; ``MISSING`` stands for
    a key one side lacks.
    """
    flat_a, flat_b = flatten(a), flatten(b)
    return [(key, flat_a.get(key, MISSING), flat_b.get(key, MISSING))
            for key in sorted(set(flat_a) | set(flat_b)) if flat_a.get(key, MISSING) != flat_b.get(key, MISSING)]


def shown(value):
    """A value as a message quotes it; ``MISSING`` as 'unset'."""
    return "unset" if value is MISSING else repr(value)
