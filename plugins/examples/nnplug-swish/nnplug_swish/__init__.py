"""nnplug-swish: an example of a plugin distribution that lives outside nnplug.

``swish`` is a layer, ``lamb`` an update rule; each module registers itself through the entry
points in ``pyproject.toml``. Nothing in nnplug names them.
"""
