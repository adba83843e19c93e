"""The config options installed plugins ship, found through the entry-point group ``nnplug.conf``.

A plugin distribution names its config package there (``nnplug-swish = "nnplug_swish.conf"``); the
package holds group folders as nnplug's own ``conf/`` does (``layer/swish.yaml``). Before Hydra
composes, ``register`` stores each of their YAML files in Hydra's ConfigStore under its group, so
``layer=swish`` works after ``pip install nnplug-swish``, editable installs included (Hydra does not
find search-path plugins in those), and a ``hydra.searchpath`` of the user's own adds to them
rather than replacing them. nnplug's own options come first where names meet.

``nnplug --help`` lists the same options from the distributions' metadata, without Hydra.
Blocked distributions (``NNPLUG_BLOCK``) ship none.
"""
import os
import re
from importlib.metadata import entry_points
from importlib.resources import files

GROUP = "nnplug.conf"
BLOCK_ENV = "NNPLUG_BLOCK"  # as the registry reads it
PACKAGE_HEADER = re.compile(r"^#\s*@package\s+(\S+)", re.M)


def config_packages():
    """``(distribution, package)`` of every installed plugin's config package, blocked ones left out."""
    blocked = {b.strip() for b in os.environ.get(BLOCK_ENV, "").split(",") if b.strip()}
    return [(ep.dist.name if ep.dist else "?", ep.value) for ep in entry_points(group=GROUP)
            if (ep.dist.name if ep.dist else "?") not in blocked and f"{ep.dist.name if ep.dist else '?'}:{ep.name}"
            not in blocked]


def group_files(package):
    """``{group: {option: yaml file}}`` of a config package's folders; {} for a package that is missing."""
    found = {}
    try:
        for folder in files(package).iterdir():
            if folder.is_dir() and not folder.name.startswith(("_", ".")):
                options = {f.name[:-5]: f for f in folder.iterdir() if f.name.endswith(".yaml")}
                if options:
                    found[folder.name] = dict(sorted(options.items()))
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        return {}
    return found


def register():
    """Store every installed plugin's config options in Hydra's ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore  # Hydra is loaded by now; --help never comes here
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    for dist, package in config_packages():
        for group, options in group_files(package).items():
            for option, path in options.items():
                text = path.read_text()
                header = PACKAGE_HEADER.search(text)
                store.store(group=group, name=option, node=OmegaConf.create(text), provider=dist,
                            package=header.group(1) if header else None)
