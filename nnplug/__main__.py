"""``python -m nnplug``: the same command line as the ``nnplug`` console script."""
from nnplug.cli import main

main()
