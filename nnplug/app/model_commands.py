"""What ``nnplug evaluate`` and ``nnplug predict`` share: how they find a model and how they fail.

A mistake (a URI that finds nothing, a plugin the model needs and this environment lacks, a file
of the wrong shape) ends the command with one line on stderr and exit status 1, before anything
is written; anything else is a bug and keeps its traceback.
"""
from nnplug.app.errors import is_user_error, print_error
from nnplug.tracking import models, store


def run_command(work):
    """Call ``work()`` in a command's environment; returns the exit status (0, or 1 after one line per problem)."""
    store.use_command_environment()
    try:
        work()
    except OSError as error:  # a full disk, a folder it may not write: what it wrote is gone again
        if is_user_error(error):
            print_error(error)
            return 1
        print_error(f"cannot write {error.filename or 'the output'}: {error.strerror or error}")
        return 1
    except Exception as error:
        if not is_user_error(error):
            raise
        print_error(error)
        return 1
    return 0


def open_for_command(uri, tracking_uri=None):
    """The ``FoundModel`` at ``uri``, looked up in ``tracking_uri`` (default: the store training logs to)."""
    return models.open_model(uri, store.tracking_uri(tracking_uri))
