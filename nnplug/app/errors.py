"""The errors a user sees: what counts as their mistake, and how it becomes one line on stderr.

A mistake the user can fix (a bad config, an unknown plugin, bad data, a store that does not
answer, a diverging loss) is printed as ``nnplug: error: <what, with which value, what would be
right>`` and exits 1; anything else is a bug and keeps its traceback, as does everything when
``hydra.verbose`` is set.
"""
import sys

from hydra.errors import CompactHydraException, MissingConfigException, OverrideParseException
from omegaconf.errors import OmegaConfBaseException, ValidationError

from nnplug.contract.conformance import did_you_mean
from nnplug.contract.registry import PluginError
from nnplug.core.checkpoint import CheckpointError
from nnplug.core.solver import DivergenceError
from nnplug.data.fetch import DownloadError


class ConfigError(ValueError):
    """The config asks for something impossible; ``problems`` holds one line per problem."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self):  # sweep jobs in worker processes send their errors back pickled
        return type(self), (self.problems,)


class JobFailed(CompactHydraException):
    """A sweep job failed and its reason is logged: Hydra shows this one line, not a traceback."""


# MemoryError: numpy says what it could not allocate ("Unable to allocate 7.45 GiB for an array ...")
USER_ERRORS = (ValueError, PluginError, DivergenceError, FileNotFoundError, CheckpointError, MemoryError,
               DownloadError)


def is_user_error(error):
    """Whether ``error``'s message tells the user what to change, so it needs no traceback.

    ValueError includes a bad config, a resume that does not fit and a tracking store that cannot
    be used (``nnplug.tracking.store.TrackingUnavailable``).
    """
    return isinstance(error, USER_ERRORS)


def print_error(error, stream=None):
    """One line on stderr per problem the error describes."""
    lines = str(error).splitlines() or [type(error).__name__]
    if isinstance(error, MemoryError):
        lines = [f"out of memory: {' '.join(lines)}; try a smaller solver.batch_size or model"]
    for line in lines:
        print(f"nnplug: error: {line}", file=stream or sys.stderr)


# Hydra's launchers and sweeper that nnplug's `sweep` extra installs, and how to get them
SWEEP_PLUGINS = ("joblib", "submitit_local", "submitit_slurm", "optuna")
SWEEP_EXTRA = "; it comes with nnplug's sweep extra: pip install 'nnplug[sweep]'"


def hydra_one_line(error):
    """Hydra's composition error as one line: what was asked, why it failed, what would work."""
    lines = [line.strip() for line in str(error).split("\nConfig search path:")[0].splitlines() if line.strip()]
    cause = error.__cause__
    if isinstance(error, MissingConfigException) and "/" in (error.missing_cfg_file or ""):
        group, option = error.missing_cfg_file.rsplit("/", 1)
        hint = did_you_mean(option, error.options or [])
        available = f" (available: {', '.join(error.options)})" if error.options else ""
        extra = SWEEP_EXTRA if group in ("hydra/launcher", "hydra/sweeper") and option in SWEEP_PLUGINS else ""
        return f"{group}={option}: no such option in group '{group}'{hint}{available}{extra}"
    if isinstance(cause, ValidationError) and getattr(cause, "full_key", None):
        return f"{cause.full_key}={cause.value!r}: {_expected(cause)}"
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        siblings = cause.parent_node.keys() if hasattr(cause.parent_node, "keys") else []
        hint = did_you_mean(cause.key, siblings)
        if not hint:  # a key nothing resembles may be one to add: a plugin's option
            add = next((line.split(" use ", 1)[-1] for line in lines if line.startswith("To append")), None)
            hint = f"; {add} would add it" if add else ""
        return f"{cause.full_key}: no such key in the config{hint}"
    if isinstance(error, OverrideParseException):
        return f"{error.override}: {'; '.join(lines)}"
    return "; ".join(lines)


def _expected(cause):
    """What OmegaConf wanted, from its message ("Value 'x' ... could not be converted to Integer")."""
    message = str(cause).splitlines()[0]
    if "Invalid value" in message and "expected one of" in message:
        return "expected one of " + message.split("expected one of", 1)[1].strip(" []").replace("'", "")
    if "is not a valid bool" in message:
        return "expected true or false"
    kinds = {"Integer": "a whole number", "Float": "a number", "Boolean": "true or false", "String": "a string"}
    for kind, wanted in kinds.items():
        if message.rstrip().endswith(kind) or f"to {kind}" in message:
            return f"expected {wanted}"
    if "is not Optional" in message or "Non optional" in message:
        return "expected a value, not null"
    return message
