"""The plugin contract: what a plugin is (``kinds``), the hooks it implements (``hookspecs``) and the
registry that finds plugins through entry points (``registry``).

Imports numpy and pluggy only; everything else in nnplug builds on it.
"""
