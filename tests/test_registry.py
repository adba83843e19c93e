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
    for name in ("nnplug_testplugin", "nnplug_dupplugin", "nnplug_brokenplugins"):
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
    code = "from nnplug.testing import assert_layer_ok\nassert_layer_ok('cube')\nprint('ok')"
    result = run_registry(code, installed["nnplug_testplugin"])
    assert result.stdout.strip() == "ok", result.stderr


FAILURES = """
import json, warnings
warnings.simplefilter("ignore")
from nnplug.contract.registry import Registry
r = Registry()
print(json.dumps({"layers": r.names("layers"), "optimizers": r.names("optimizers"),
                  "failures": {f.source.split(":")[-1]: [f.dist, str(f.error)] for f in r.failures}}))
"""


@pytest.mark.slow
def test_each_broken_plugin_is_reported_with_its_distribution_and_the_others_load(installed):
    result = run_registry(FAILURES, installed["nnplug_brokenplugins"])
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    failures = out["failures"]
    assert {dist for dist, _ in failures.values()} == {"nnplug-brokenplugins"}
    assert failures["misspelt_hook"][1] == ("implements nnplug_layer, which is not an nnplug hook; did you mean "
                                            "'nnplug_layers'? (hooks: nnplug_layers, nnplug_losses, "
                                            "nnplug_optimizers, nnplug_datasets, nnplug_transforms)")
    assert failures["no_hookimpl"][1] == "contributes nothing: nnplug_layers is not marked @nnplug.hookimpl"
    (source,) = [s for s in failures if s.endswith(".nnplug_layers") and "class_not_list" in s]
    assert failures[source][1] == ("nnplug_layers returned the class Twice, not a list of Layer subclasses "
                                   "(return [Twice])")
    (source,) = [s for s in failures if "layer_as_rule" in s]
    assert failures[source][1] == ("nnplug_optimizers returned the class Twice, expected UpdateRule objects: "
                                   "it is a layer, for nnplug_layers")
    # what does not break the contract at load time loads, the standard plugins too
    assert {"twice", "dropper", "affine"} <= set(out["layers"]) and "leaky_momentum" in out["optimizers"]
    assert "" not in out["optimizers"]


CHOOSE = """
import json, warnings, os
warnings.simplefilter("ignore")
from nnplug.contract.registry import Registry, PluginError
r = Registry()
found = {}
for name in ("relu", "nnplug:relu", "nnplug-dupplugin:relu", "affine"):
    try:
        found[name] = r.info("layers", name).dist
    except PluginError as exc:
        found[name] = "error: " + str(exc)
print(json.dumps({"found": found, "conflicts": r.conflicts()}))
"""


@pytest.mark.slow
def test_two_plugins_claiming_one_name_fail_only_that_name_once_and_either_can_be_chosen(installed):
    result = run_registry(CHOOSE, installed["nnplug_dupplugin"])
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    found = out["found"]
    assert found["affine"] == "nnplug"  # every other name works
    assert found["nnplug:relu"] == "nnplug" and found["nnplug-dupplugin:relu"] == "nnplug-dupplugin"
    assert found["relu"].startswith("error: two plugins claim the layer name 'relu': ")
    assert "name one of them (nnplug:relu or nnplug-dupplugin:relu), or leave one out (-p no:nnplug-dupplugin)" \
        in found["relu"]
    assert len(out["conflicts"]) == 1


@pytest.mark.slow
def test_a_blocked_distribution_loads_nothing(installed):
    env_code = "import os; os.environ['NNPLUG_BLOCK'] = 'nnplug-dupplugin'\n" + CHOOSE
    result = run_registry(env_code, installed["nnplug_dupplugin"])
    out = json.loads(result.stdout)
    assert out["found"]["relu"] == "nnplug" and out["conflicts"] == []


@pytest.mark.slow
def test_a_run_that_uses_an_ambiguous_name_says_so_once_and_one_that_does_not_trains(installed, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed["nnplug_dupplugin"])}
    quick = ["solver.num_epochs=1", "solver.verbose=false", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    using = subprocess.run([sys.executable, "-m", "nnplug", *quick], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=300)
    assert using.returncode == 1
    (line,) = using.stderr.strip().splitlines()
    assert line.startswith("nnplug: error: layer.block[1]='relu': two plugins claim the layer name 'relu'")
    qualified = subprocess.run([sys.executable, "-m", "nnplug", "layer.block=[affine,nnplug:relu]", *quick],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert qualified.returncode == 0, qualified.stderr
    blocked = subprocess.run([sys.executable, "-m", "nnplug", "-p", "no:nnplug-dupplugin", *quick], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=300)
    assert blocked.returncode == 0, blocked.stderr


CHECK = """
import json, warnings
warnings.simplefilter("ignore")
from nnplug.app.plugins_command import main
raise SystemExit(main(["--check", "dropper", "leaky_momentum", "bad_labels", "twice", "--json"]))
"""


@pytest.mark.slow
def test_the_check_fails_a_dropped_feature_a_global_state_and_labels_out_of_range(installed):
    result = run_registry(CHECK, installed["nnplug_brokenplugins"])
    assert result.returncode == 1
    checks = {e["name"]: e["check"] for e in json.loads(result.stdout)["plugins"] if "check" in e}
    assert checks["twice"]["passed"]
    assert not checks["dropper"]["passed"]
    assert checks["dropper"]["problems"] == ["forward (train) on x of shape (4, 6) returned shape (4, 5), but the "
                                             "layer says (4, 6) (its output_shape)"]
    assert not checks["leaky_momentum"]["passed"]
    assert "keep every piece of state in the config dict" in " ".join(checks["leaky_momentum"]["problems"])
    assert not checks["bad_labels"]["passed"]
    assert "y_train has labels from 0 to 3: expected 0 to 2 for the 3 class names" in checks["bad_labels"]["problems"][0]


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
