"""Hydra finds this module in the ``hydra_plugins`` namespace and adds the configs in
``nnplug_swish/conf`` to nnplug's config search path: ``layer=swish`` and ``optim=lamb`` then work
with no ``hydra.searchpath`` override."""
from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

NNPLUG_CONFIGS = "pkg://nnplug.conf"


class NnplugSwishSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        # Hydra asks every installed search-path plugin, whatever the app: join nnplug's only
        if any(element.path == NNPLUG_CONFIGS for element in search_path.get_path()):
            search_path.append(provider="nnplug-swish", path="pkg://nnplug_swish.conf")
