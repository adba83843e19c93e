"""``python -m nnplug``: the same command line as the ``nnplug`` console script."""
from nnplug.app.cli import console

if __name__ == "__main__":
    console()
