"""nnplug.collector: the command starts with the garbage collector off and trains with it on,
everything it started up with frozen; a program that calls nnplug keeps its collector as it is."""
import subprocess
import sys
import textwrap

import pytest

from tests.app_runner import QUICK, check

# Trains the default experiment through the command line's entry point, then reports the collector.
RUN = textwrap.dedent("""
    import gc, sys
    from nnplug.cli import main
    sys.argv = ["nnplug", *{overrides!r}]
    main({argv})
    print(gc.isenabled(), gc.get_freeze_count())
""")


def collector_after_a_run(tmp_path, as_the_command):
    argv = "" if as_the_command else repr(QUICK)  # main() reads sys.argv only as the command
    code = RUN.format(overrides=QUICK, argv=argv)
    done = check(subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                                timeout=300))
    enabled, frozen = done.stdout.split()[-2:]
    return enabled == "True", int(frozen)


@pytest.mark.parametrize("as_the_command", [True, False], ids=["the command", "a program calling it"])
def test_a_run_trains_with_the_collector_on(tmp_path, as_the_command):
    enabled, frozen = collector_after_a_run(tmp_path, as_the_command)
    assert enabled
    if as_the_command:  # Hydra, MLflow, SQLAlchemy and the data: hundreds of thousands of objects
        assert frozen > 100_000
    else:
        assert frozen == 0
