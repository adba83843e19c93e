"""Data preparation: load a data-set plugin by name, split, normalise and cast what it returns;
fetch published files with checksums; read pickled releases safely.

Imports the plugin contract and numpy (pooch only when something is downloaded).
"""
from nnplug.data.loading import default_root, load, load_raw
from nnplug.data.prepare import prepare

__all__ = ["default_root", "load", "load_raw", "prepare"]
