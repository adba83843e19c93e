"""The plugin registry: finds every plugin through the ``nnplug`` entry-point group, once.

It keeps one table per kind, keyed by name. pluggy's own ``load_setuptools_entrypoints`` silently
skips duplicate names and lets an import error escape, so the registry loads entry points itself:
a broken plugin is recorded with its exception while the others load, and two plugins claiming
one name is an error naming both distributions.

Set ``NNPLUG_DISABLE_PLUGIN_AUTOLOAD=1`` to load no entry points (as pytest and datasette allow)
and ``NNPLUG_PLUGINS=module,module`` to register plugin modules by import path instead.
"""
import builtins
import difflib
import importlib
import os
import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points, packages_distributions, version

import pluggy

from nnplug.contract import hookspecs

KINDS = {
    "layers": "nnplug_layers",
    "losses": "nnplug_losses",
    "optimizers": "nnplug_optimizers",
    "datasets": "nnplug_datasets",
}
# How messages and tables name one plugin of each kind.
LABELS = {"layers": "layer", "losses": "loss", "optimizers": "update rule", "datasets": "data set"}
DISABLE_ENV = "NNPLUG_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_ENV = "NNPLUG_PLUGINS"


class PluginError(Exception):
    """A plugin could not be found, loaded or told apart from another."""


class MissingDependency(PluginError):
    """A plugin needs a package that is not installed; the message says what to install."""


class UnknownPluginError(PluginError, KeyError):
    def __str__(self):  # KeyError would quote the message
        return self.args[0]


@dataclass(frozen=True)
class Plugin:
    kind: str
    name: str
    obj: object
    dist: str
    version: str
    module: str
    description: str


@dataclass(frozen=True)
class Failure:
    source: str  # entry point or module that failed
    dist: str
    error: BaseException

    def __str__(self):
        return f"plugin {self.source!r} from {self.dist} failed to load: {type(self.error).__name__}: {self.error}"


class Registry:
    def __init__(self, autoload=None, modules=None):
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._origin = {}  # plugin module -> (dist, version)
        self.failures = []
        self._tables = None
        if autoload is None:
            autoload = not os.environ.get(DISABLE_ENV)
        if autoload:
            self._load_entry_points()
        if modules is None:
            modules = [m for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
        for module in modules:
            self._import_module(module.strip())

    def _load_entry_points(self):
        for ep in entry_points(group=hookspecs.PROJECT):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                self._fail(f"{ep.name} = {ep.value}", dist, exc)
                continue
            self.register(module, dist=dist, version=version, name=f"{dist}:{ep.name}")

    def _import_module(self, path):
        try:
            module = importlib.import_module(path)
        except Exception as exc:
            self._fail(path, "?", exc)
            return
        self.register(module)

    def _fail(self, source, dist, exc):
        failure = Failure(source, dist, exc)
        self.failures.append(failure)
        warnings.warn(str(failure), RuntimeWarning, stacklevel=3)

    def register(self, module, dist=None, version=None, name=None):
        """Register a plugin module (or object with hook implementations) by hand."""
        if self._pm.is_registered(module):
            return
        if dist is None:
            dist, version = _distribution_of(module)
        self._pm.register(module, name=name)
        self._origin[id(module)] = (dist, version or "?")
        self._tables = None

    @property
    def tables(self):
        if self._tables is None:
            self._tables = self._build_tables()
        return self._tables

    def _build_tables(self):
        tables = {kind: {} for kind in KINDS}
        for kind, hook_name in KINDS.items():
            for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                dist, version = self._origin.get(id(impl.plugin), ("?", "?"))
                source = getattr(impl.plugin, "__name__", impl.plugin_name)
                try:
                    objs = impl.function() or []
                except Exception as exc:
                    self._fail(f"{source}.{hook_name}", dist, exc)
                    continue
                for obj in objs:
                    name = obj.name
                    if name in tables[kind]:
                        other = tables[kind][name]
                        raise PluginError(
                            f"two plugins claim the {LABELS[kind]} name {name!r}: "
                            f"{other.module} from {other.dist} {other.version} and "
                            f"{source} from {dist} {version}; uninstall or rename one"
                        )
                    description = getattr(obj, "description", "") or _first_line(obj.__doc__)
                    tables[kind][name] = Plugin(kind, name, obj, dist, version, source, description)
        return tables

    def get(self, kind, name):
        """The plugin object of ``kind`` called ``name``; a clear error when there is none."""
        table = self._table(kind)
        try:
            return table[name].obj
        except (KeyError, TypeError):
            raise UnknownPluginError(_unknown_message(kind, name, table)) from None

    def info(self, kind, name):
        """The ``Plugin`` record (distribution, version, description) of one plugin."""
        self.get(kind, name)
        return self._table(kind)[name]

    def list(self, kind):
        """The ``Plugin`` records of one kind, sorted by name."""
        return [self._table(kind)[n] for n in sorted(self._table(kind))]

    def names(self, kind):
        return sorted(self._table(kind))

    def _table(self, kind):
        if kind not in KINDS:
            raise PluginError(f"unknown plugin kind {kind!r}: expected one of {', '.join(KINDS)}")
        return self.tables[kind]


def did_you_mean(name, candidates):
    """``"; did you mean 'adam'?"`` for the candidate closest to a misspelt ``name``, else ``""``."""
    close = difflib.get_close_matches(str(name), builtins.list(candidates), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unknown_message(kind, name, table):
    available = ", ".join(sorted(table)) or "none installed"
    hint = did_you_mean(name, table)
    return f"unknown {LABELS[kind]} {name!r}{hint} (available: {available})"


def _first_line(doc):
    return (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""


def _distribution_of(module):
    """The installed distribution that provides ``module``, if any."""
    top = getattr(module, "__name__", "").split(".")[0]
    dists = packages_distributions().get(top)
    if not dists:
        return "?", "?"
    return dists[0], version(dists[0])


_default = None


def default_registry():
    """The process-wide registry, loaded on first use."""
    global _default
    if _default is None:
        _default = Registry()
    return _default


def reset():
    """Forget the process-wide registry so the next use reloads entry points (tests, pip installs)."""
    global _default
    _default = None


def get(kind, name):
    return default_registry().get(kind, name)


def list_plugins(kind):
    return default_registry().list(kind)
