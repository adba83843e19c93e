"""What a test needs from the machine beyond Python packages: a skip where it is missing, a failure in CI.

The README's test command must pass on a fresh machine, where Debian's chromium or postgresql may be
missing; such a test then skips and says what to install. ``.ci/run`` sets ``CI=true`` and installs
them, so there a missing one is a failure, not a skip that hides a test.
"""
import os

import pytest


def require(present, what, install):
    """Skip (or, with ``CI=true``, fail) the calling test unless ``present``, naming ``what`` and ``install``."""
    if present:
        return
    reason = f"needs {what} ({install})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must provide it")
    pytest.skip(reason)


def require_debian_package(present, package):
    require(present, f"Debian's {package}", f"apt-get install -y {package}")
