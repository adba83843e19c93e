"""Config options this distribution adds to nnplug's groups: ``layer=swish``, ``optim=lamb``."""
