"""Entry-point discovery with real distributions installed from tests/plugin_dists.

Each distribution is pip-installed into its own folder, and the registry runs in a subprocess whose
PYTHONPATH adds that folder: discovery goes through real installed metadata, and the duplicate-name
distribution never leaks into the rest of the suite.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnplug.contract.registry import PluginError, Registry, UnknownPluginError

DISTS = Path(__file__).parent / "plugin_dists"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    targets = {}
    for name in ("nnplug_testplugin", "nnplug_dupplugin"):
        target = tmp_path_factory.mktemp(name)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--target", str(target), str(DISTS / name)], check=True, capture_output=True)
        targets[name] = target
    return targets


def run_registry(code, *paths):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


LIST = """
import json, warnings
warnings.simplefilter("ignore")
from nnplug.contract.registry import Registry
r = Registry()
print(json.dumps({"layers": {p.name: [p.dist, p.version] for p in r.list("layers")},
                  "failures": [str(f) for f in r.failures]}))
"""


@pytest.mark.slow
def test_a_third_party_layer_is_found_and_a_broken_one_reported(installed):
    result = run_registry(LIST, installed["nnplug_testplugin"])
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["layers"]["cube"] == ["nnplug-testplugin", "0.3.0"]
    assert out["layers"]["affine"][0] == "nnplug"  # the standard plugins still load
    [failure] = out["failures"]
    assert "broken" in failure and "nnplug-testplugin" in failure
    assert "ImportError: this plugin needs a package that is not installed" in failure


@pytest.mark.slow
def test_the_third_party_layer_passes_the_public_gradient_check(installed):
    code = ("from nnplug.core.gradcheck import check_layer, assert_gradients_ok\n"
            "assert_gradients_ok(check_layer('cube'))\nprint('ok')")
    result = run_registry(code, installed["nnplug_testplugin"])
    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.slow
def test_two_plugins_claiming_one_name_is_an_error_naming_both(installed):
    result = run_registry(LIST, installed["nnplug_dupplugin"])
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert "'relu'" in message and "nnplug-dupplugin" in message and "from nnplug " in message


def test_unknown_name_lists_what_exists_and_suggests_the_closest():
    registry = Registry()
    with pytest.raises(UnknownPluginError) as info:
        registry.get("layers", "batchnrom")
    message = str(info.value)
    assert "did you mean 'batchnorm'?" in message and "affine" in message and "dropout" in message
    with pytest.raises(PluginError, match="unknown plugin kind 'layer'"):
        registry.get("layer", "affine")


def test_disabling_autoload_leaves_out_third_party_plugins_only(monkeypatch):
    monkeypatch.setenv("NNPLUG_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = Registry()
    assert {p.dist for kind in ("layers", "losses", "optimizers", "datasets") for p in registry.list(kind)} == {"nnplug"}
    assert "affine" in registry.names("layers")  # the built-ins stay, as pytest's and datasette's do
