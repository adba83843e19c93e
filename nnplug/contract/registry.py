"""The plugin registry: finds every plugin through the ``nnplug`` entry-point group, once, and
checks each one on its own, so that a broken plugin is reported with its distribution while the
others load.

A plugin is reported, and contributes nothing, when its module fails to import; when it
implements a hook nnplug does not know (a misspelt ``nnplug_layer``: what pluggy's
``check_pending`` finds) or no hook at all (a forgotten ``@hookimpl``); or when a hook returns
something else than a list of its kind (a class instead of a list, a Layer from the update-rule
hook, an object without a name).

Two plugins may claim one name: that name then needs its distribution in front
(``nnplug-research:relu``), and only what uses it bare fails, with one message naming both. Every
plugin can be named that way; ``nnplug:relu`` is the standard one.

Set ``NNPLUG_DISABLE_PLUGIN_AUTOLOAD=1`` to load only nnplug's own plugins (as pytest and
datasette do for theirs), ``NNPLUG_BLOCK=dist,dist:entry-point`` to leave out a distribution or
one of its entry points (as pytest's ``-p no:NAME``; the command line's ``-p no:NAME`` sets it),
and ``NNPLUG_PLUGINS=module,module`` to register plugin modules by import path.
"""
import importlib
import os
import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points, packages_distributions, version

import pluggy

from nnplug.contract import hookspecs, kinds
from nnplug.contract.conformance import KINDS, LABELS, check_hooks, contributions, did_you_mean, wrapped

OWN_DISTRIBUTION = "nnplug"
DISABLE_ENV = "NNPLUG_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "NNPLUG_BLOCK"
PLUGINS_ENV = "NNPLUG_PLUGINS"


class PluginError(Exception):
    """A plugin could not be found, loaded or told apart from another."""


class MissingDependency(PluginError):
    """A plugin needs a package that is not installed; the message says what to install."""


class UnknownPluginError(PluginError, KeyError):
    def __str__(self):  # KeyError would quote the message
        return self.args[0]


class AmbiguousPluginError(PluginError):
    """Two plugins claim one name; the message names both and how to choose."""


@dataclass(frozen=True)
class Plugin:
    kind: str
    name: str
    obj: object
    dist: str
    version: str
    module: str
    description: str

    @property
    def qualified_name(self):
        """``dist:name``, which tells this plugin from another of the same name."""
        return f"{self.dist}:{self.name}"


@dataclass(frozen=True)
class Failure:
    source: str  # entry point or module that failed
    dist: str
    error: BaseException
    version: str = "?"

    def __str__(self):
        return f"plugin {self.source!r} from {self.dist} failed to load: {type(self.error).__name__}: {self.error}"


class Registry:
    """The installed plugins, one table per kind.

    ``autoload`` (default: unless ``NNPLUG_DISABLE_PLUGIN_AUTOLOAD`` is set) loads third-party
    entry points besides nnplug's own; ``modules`` (default: ``NNPLUG_PLUGINS``) registers plugin
    modules by import path; ``blocked`` (default: ``NNPLUG_BLOCK``) names distributions or
    ``dist:entry-point`` pairs to leave out.
    """

    def __init__(self, autoload=None, modules=None, blocked=None):
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._origin = {}  # id(plugin module) -> (dist, version)
        self.failures = []
        self._tables = None
        if autoload is None:
            autoload = not os.environ.get(DISABLE_ENV)
        if blocked is None:
            blocked = [b.strip() for b in os.environ.get(BLOCK_ENV, "").split(",") if b.strip()]
        self.blocked = set(blocked)
        self._load_entry_points(third_party=autoload)
        if modules is None:
            modules = [m for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
        for module in modules:
            self._import_module(module.strip())

    # --- loading --------------------------------------------------------------------------------

    def _load_entry_points(self, third_party):
        for ep in entry_points(group=hookspecs.PROJECT):
            dist = ep.dist.name if ep.dist else "?"
            dist_version = ep.dist.version if ep.dist else "?"
            if (dist != OWN_DISTRIBUTION and not third_party) or dist in self.blocked \
                    or f"{dist}:{ep.name}" in self.blocked:
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                self._fail(f"{ep.name} = {ep.value}", dist, exc, dist_version)
                continue
            self.register(module, dist=dist, version=dist_version, name=f"{dist}:{ep.name}")

    def _import_module(self, path):
        try:
            module = importlib.import_module(path)
        except Exception as exc:
            self._fail(path, "?", exc)
            return
        self.register(module)

    def _fail(self, source, dist, exc, dist_version="?"):
        failure = Failure(source, dist, exc, dist_version)
        self.failures.append(failure)
        warnings.warn(str(failure), RuntimeWarning, stacklevel=3)

    def register(self, plugin, dist=None, version=None, name=None):
        """Register a plugin by hand: a module (or object) with ``@hookimpl`` functions, or, in a
        notebook, plugin objects themselves (a Layer subclass, a Loss, an UpdateRule, a Dataset).

        The plugin is checked as an installed one is: a failure is reported in ``failures`` and
        the plugin contributes nothing.
        """
        if not hasattr(plugin, "__dict__") or isinstance(plugin, (type, kinds.Loss, kinds.UpdateRule,
                                                                 kinds.Dataset)):
            plugin = wrapped(plugin)
        if self._pm.is_registered(plugin):
            return
        if dist is None:
            dist, version = _distribution_of(plugin)
        source = name or getattr(plugin, "__name__", repr(plugin))
        try:
            self._pm.register(plugin, name=name)
            check_hooks(self._pm, plugin)
        except Exception as exc:  # noqa: BLE001  pluggy refuses a malformed hookimpl; ours are told apart
            if self._pm.is_registered(plugin):
                self._pm.unregister(plugin)
            self._fail(source, dist, exc, version or "?")
            return
        self._origin[id(plugin)] = (dist, version or "?")
        self._tables = None

    # --- the tables -----------------------------------------------------------------------------

    @property
    def tables(self):
        """``{kind: {name: [Plugin, ...]}}``: every claim on each name."""
        if self._tables is None:
            self._tables = self._build_tables()
        return self._tables

    def _build_tables(self):
        tables = {kind: {} for kind in KINDS}
        for kind, hook_name in KINDS.items():
            for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                dist, dist_version = self._origin.get(id(impl.plugin), ("?", "?"))
                source = getattr(impl.plugin, "__name__", impl.plugin_name)
                try:
                    objs = contributions(kind, hook_name, impl.function())
                except Exception as exc:  # noqa: BLE001  the plugin's own failure
                    self._fail(f"{source}.{hook_name}", dist, exc, dist_version)
                    continue
                for obj in objs:
                    description = getattr(obj, "description", "") or _first_line(obj.__doc__)
                    claim = Plugin(kind, obj.name, obj, dist, dist_version, source, description)
                    tables[kind].setdefault(obj.name, []).append(claim)
        for table in tables.values():  # a shared name's claims in a fixed order: nnplug's own first
            for claims in table.values():
                claims.sort(key=lambda c: (c.dist != OWN_DISTRIBUTION, c.dist))
        return tables

    def conflicts(self):
        """One line per name two plugins claim, naming both and how to choose."""
        return [_ambiguous_message(kind, name, claims) for kind in KINDS
                for name, claims in sorted(self.tables[kind].items()) if len(claims) > 1]

    def info(self, kind, name):
        """The ``Plugin`` record of ``kind`` called ``name`` (or ``dist:name``); a clear error when there
        is none or the name is ambiguous."""
        table = self._table(kind)
        if isinstance(name, str) and ":" in name and name not in table:
            dist, bare = name.rsplit(":", 1)
            found = [claim for claim in table.get(bare, []) if claim.dist == dist]
            if found:
                return found[0]
        claims = table.get(name) if isinstance(name, str) else None
        if not claims:
            raise UnknownPluginError(_unknown_message(kind, name, table))
        if len(claims) > 1:
            raise AmbiguousPluginError(_ambiguous_message(kind, name, claims))
        return claims[0]

    def get(self, kind, name):
        """The plugin object of ``kind`` called ``name`` (or ``dist:name``)."""
        return self.info(kind, name).obj

    def list(self, kind):
        """The ``Plugin`` records of one kind, sorted by name (both claims of a shared name)."""
        table = self._table(kind)
        return [claim for name in sorted(table) for claim in table[name]]

    def names(self, kind):
        return sorted(self._table(kind))

    def _table(self, kind):
        if kind not in KINDS:
            raise PluginError(f"unknown plugin kind {kind!r}: expected one of {', '.join(KINDS)}")
        return self.tables[kind]


def _unknown_message(kind, name, table):
    available = ", ".join(sorted(table)) or "none installed"
    return f"unknown {LABELS[kind]} {name!r}{did_you_mean(name, table)} (available: {available})"


def _ambiguous_message(kind, name, claims):
    sources = " and ".join(f"{c.module} from {c.dist} {c.version}" for c in claims)
    choices = " or ".join(c.qualified_name for c in claims)
    blocks = " or ".join(f"-p no:{c.dist}" for c in claims if c.dist != OWN_DISTRIBUTION)
    return (f"two plugins claim the {LABELS[kind]} name {name!r}: {sources}; name one of them ({choices})"
            + (f", or leave one out ({blocks})" if blocks else ""))


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
