"""``python -m nnplug``: the same command line as the ``nnplug`` console script."""
import sys

from nnplug.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
