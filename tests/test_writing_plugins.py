"""docs/writing-plugins.md cannot rot: its code blocks are a distribution, installed here from the page,
checked with ``nnplug plugins --check``, and its own tests run against the installed nnplug."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # pip, the command line and pytest in subprocesses

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "writing-plugins.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks():
    """``(language, first line, code)`` of every fenced block of the guide."""
    return [(language, code.split("\n", 1)[0], code) for language, code in BLOCK.findall(GUIDE.read_text())]


@pytest.fixture(scope="module")
def guide(tmp_path_factory):
    """The guide's distribution written out from its blocks and installed into a folder of its own."""
    root = tmp_path_factory.mktemp("guide")
    for language, first, code in blocks():
        if first.startswith("# nnplug-guide/"):
            path = root / first[2:]
            path.parent.mkdir(parents=True, exist_ok=True)
            # a data file's first line names it; a source file keeps its comment
            path.write_text(code.split("\n", 1)[1] if language == "text" else code)
    site = root / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-v", "--no-deps", "--no-build-isolation",
                                "--target", str(site), str(root / "nnplug-guide")], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return {"root": root, "env": env, "install_log": installed.stdout + installed.stderr}


def test_every_file_of_the_layout_is_on_the_page():
    written = {first[2:] for _, first, _ in blocks() if first.startswith("# nnplug-guide/")}
    layout = next(code for language, _, code in blocks() if language == "text" and code.startswith("nnplug-guide/"))
    named = {line.split()[0] for line in layout.splitlines()[1:] if line.strip() and not line.strip().endswith("/")}
    files = {path.rsplit("/", 1)[-1] for path in written}
    assert named - {"conf/"} <= files | {"layer/prelu.yaml", "loss/focal.yaml", "optim/lion.yaml",
                                         "augment/cutout.yaml", "model/dense.yaml"}


def test_the_template_installs_without_a_setuptools_warning(guide):
    warnings = [line for line in guide["install_log"].splitlines()
                if re.search(r"(Deprecation|Setuptools)Warning|_Warning|is absent from the `packages`", line)]
    assert warnings == []


def test_nnplug_plugins_checks_every_plugin_of_the_guide(guide):
    done = subprocess.run([sys.executable, "-m", "nnplug", "plugins", "--check", "prelu", "focal", "lion", "points",
                           "cutout", "dense_link"], env=guide["env"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Check: 6 passed, 0 failed" in done.stdout
    assert "init=0.25" in done.stdout and "gamma=2.0" in done.stdout


def test_the_guides_own_tests_pass_with_nnplug_testing(guide):
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(guide["root"] / "nnplug-guide" / "tests")], env=guide["env"], capture_output=True,
                          text=True, timeout=900, cwd=guide["root"])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "6 passed" in done.stdout


def test_the_notebook_block_runs(guide):
    code = next(code for language, first, code in blocks() if language == "python" and "In a notebook" not in first
                and code.startswith("from nnplug import Network, Solver, default_registry"))
    done = subprocess.run([sys.executable, "-c", code + "\nprint(sorted(model.params))\n"], env=guide["env"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "alpha1" in done.stdout


def test_the_readme_links_the_guide():
    readme = (GUIDE.parent.parent / "README.md").read_text()
    assert "docs/writing-plugins.md" in readme
