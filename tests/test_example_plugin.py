"""The example third-party distribution, plugins/examples/nnplug-swish, installed as a user would.

It is pip-installed from a copy of its folder into a target directory (installing in place would
leave build files in the checkout), and used from subprocesses whose PYTHONPATH adds that
directory, so these tests hold whether or not the environment has it already (CI installs it there
too: the rest of the suite must hold with a third party's plugins installed).
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses, servers or a browser

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "plugins" / "examples" / "nnplug-swish"
GUIDE_HEADING = "Write a plugin in 30 lines"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    source = tmp_path_factory.mktemp("source") / "nnplug-swish"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True, timeout=300)
    return {"source": source, "target": target}


def run(installed, *command, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(installed["target"])}
    return subprocess.run([sys.executable, *command], env=env, cwd=cwd or installed["target"],
                          capture_output=True, text=True, timeout=300)


def test_its_own_tests_pass_against_the_installed_plugin(installed):
    result = run(installed, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(installed["source"] / "tests"),
                 cwd=installed["target"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b7 passed\b", result.stdout), result.stdout


def test_nnplug_plugins_lists_and_checks_it(installed):
    result = run(installed, "-m", "nnplug", "plugins", "--check", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    plugins = {(e["kind"], e["name"]): e for e in json.loads(result.stdout)["plugins"]}
    swish, lamb = plugins[("layers", "swish")], plugins[("optimizers", "lamb")]
    assert (swish["distribution"], swish["version"]) == ("nnplug-swish", "0.1.0")
    assert swish["check"]["passed"] and swish["description"].startswith("Swish")
    assert lamb["distribution"] == "nnplug-swish" and lamb["description"].startswith("LAMB")


@pytest.mark.parametrize("overrides", [
    ["layer.block=[affine,swish]", "optim=sgd", "optim.name=lamb"],  # the plugins by name alone
    ["layer=swish", "optim=lamb", "layer.options.swish.beta=1.5"],  # the config options it ships
])
def test_the_app_trains_with_it(installed, tmp_path, overrides):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run(installed, "-m", "nnplug", *overrides, "solver.num_epochs=3", "solver.verbose=false",
                 f"tracking.uri={uri}", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    client = MlflowClient(tracking_uri=uri)
    [run_] = client.search_runs([client.get_experiment_by_name("nnplug").experiment_id])
    assert run_.data.tags["nnplug.plugin.layers.swish"] == "nnplug-swish 0.1.0"
    assert run_.data.tags["nnplug.plugin.optimizers.lamb"] == "nnplug-swish 0.1.0"
    assert run_.data.params["layer.block"] == "['affine', 'swish']"
    if "layer=swish" in overrides:
        assert run_.data.params["layer.options.swish.beta"] == "1.5"
        assert run_.data.params["optim.epsilon"] == "1e-06"  # from the plugin's optim/lamb.yaml
    assert run_.data.metrics["best_val_acc"] > 0.8


def test_without_the_distribution_nnplug_knows_neither():
    # CI installs the example into the environment too; leaving the distribution out stands for
    # an environment without it
    from nnplug.contract.registry import Registry

    registry = Registry(blocked=["nnplug-swish"])
    assert "swish" not in registry.names("layers") and "lamb" not in registry.names("optimizers")


def readme_guide():
    """The code blocks of the README's plugin guide, or None when the README has no such section."""
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"^## {GUIDE_HEADING}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if match is None:
        return None
    return re.findall(r"```(\w*)\n(.*?)```", match.group(1), flags=re.S)


def test_the_readme_guide_shows_the_example_as_it_is():
    blocks = readme_guide()
    assert blocks is not None, f"README.md has no '{GUIDE_HEADING}' section"
    files = {path.suffix: path.read_text() for path in
             (EXAMPLE / "nnplug_swish" / "swish.py", EXAMPLE / "pyproject.toml")}
    shown = [(lang, code) for lang, code in blocks if lang in ("python", "toml")]
    assert shown, "the guide shows no python or toml block"
    for lang, code in shown:
        assert code.strip() in files[".py" if lang == "python" else ".toml"], \
            f"the guide's {lang} block differs from the example's file:\n{code}"
    assert len(files[".py"].splitlines()) <= 30
