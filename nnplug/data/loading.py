"""Load a data set plugin by name and prepare what it returns (``nnplug.data.prepare``)."""
import os

from nnplug.contract.registry import default_registry
from nnplug.data.prepare import checked_settings, prepare


def default_root(folder):
    """Where a data set keeps its files unless the config says otherwise: ``~/.cache/nnplug/<folder>``
    (``$XDG_CACHE_HOME/nnplug/<folder>`` when that is set)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "nnplug", folder)


def load(name, *, root=None, download=False, url=None, val_size=None, normalize="auto",
         dtype="float32", limit=None, flatten=False, seed=None, registry=None, **dataset_options):
    """Load the data set plugin ``name`` and prepare it; see ``prepare`` for the result.

    ``root``, ``download`` and ``url`` go to data sets that read files (``None`` or ``False`` means
    the data set's own default); ``seed`` goes to data sets that draw randomly (digits' split,
    mnist1d's generator) and is ignored by fixed ones; further keywords are the data set's own
    options (``path`` for npz, ...).
    """
    settings = dict(val_size=val_size, normalize=normalize, dtype=dtype, limit=limit, flatten=flatten)
    checked_settings(**settings)  # before a download
    dataset = (registry or default_registry()).get("datasets", name)
    if settings["val_size"] is None:
        settings["val_size"] = dataset.val_size
    raw = _load(dataset, root, download, url, seed, dataset_options)
    try:
        return prepare(raw, **settings)
    except ValueError as exc:  # what does not fit is in the data set's files: name them
        raise ValueError(f"{dataset_options.get('path') or root or f'data={name}'}: {exc}") from None


def load_raw(name, *, root=None, download=False, url=None, seed=None, registry=None, **dataset_options):
    """The raw splits data-set plugin ``name`` returns, unprepared: what a trained model's own
    preprocessing takes. The options are ``load``'s, without the preparation settings."""
    dataset = (registry or default_registry()).get("datasets", name)
    return _load(dataset, root, download, url, seed, dataset_options)


def _load(dataset, root, download, url, seed, dataset_options):
    return dataset.load(**_plugin_options(dataset, dict(root=root, download=download, url=url), seed, dataset_options))


def _plugin_options(dataset, fetch, seed, extra):
    """The keyword arguments for ``dataset.load``: its declared defaults, overridden by what was set."""
    declared = dataset.options
    known = ", ".join(sorted(declared)) or "none"
    options = dict(declared)
    for key, value in fetch.items():
        if value is None or value is False:  # unset: keep the data set's own default
            continue
        if key not in declared:
            raise ValueError(f"{key}={value!r} is not allowed: data set {dataset.name!r} takes no {key} (its options: {known})")
        options[key] = value
    if seed is not None and "seed" in declared:
        options["seed"] = seed
    for key, value in extra.items():
        if key not in declared:
            raise ValueError(f"{key}={value!r} is not allowed: data set {dataset.name!r} has no option {key!r} (its options: {known})")
        options[key] = value
    return options
