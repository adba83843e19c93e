"""Test-only plugins, each with one mistake (and one without): see the entry points in pyproject.toml."""
