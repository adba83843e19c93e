"""Checks that a plugin keeps its contract (``plugins``): what ``nnplug plugins --check`` runs and what
``nnplug.testing`` asserts in a plugin's own tests."""
