"""``python -m nnplug``: the same command line as the ``nnplug`` console script."""
import sys

from nnplug.cli import main

sys.exit(main())
