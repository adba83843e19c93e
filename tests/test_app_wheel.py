"""The built wheel ships the config tree: the app runs from the installed wheel in any folder."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from app_runner import QUICK, check, default_store, run_process, runs

pytestmark = pytest.mark.slow  # subprocesses, servers or a browser

ROOT = Path(__file__).resolve().parent.parent
# Build from a copy: setuptools writes build/ and *.egg-info into the tree it builds.
NOT_SOURCE = shutil.ignore_patterns(".git", "outputs", "multirun", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".hypothesis", "mlruns", "mlflow.db", "results")


def test_the_wheel_ships_the_config_tree_and_the_app_runs_from_it_in_another_folder(tmp_path):
    source, dist, site, elsewhere = (tmp_path / name for name in ("source", "dist", "site", "elsewhere"))
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    check(subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist),
                          str(source)], capture_output=True, text=True, timeout=300))
    (wheel,) = dist.glob("nnplug-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    assert {"nnplug/conf/__init__.py", "nnplug/conf/config.yaml", "nnplug/conf/optim/adam.yaml",
            "nnplug/conf/layer/bn.yaml", "nnplug/conf/data/digits.yaml",
            "nnplug/conf/hparams_search/optuna.yaml", "nnplug/conf/experiment/cifar10_bn_adam.yaml"} <= shipped
    # every module of the standard plugins: a package missing from pyproject's list would import here only
    # through the checkout's editable install
    modules = {f"nnplug_std/{p.relative_to(ROOT / 'plugins' / 'nnplug_std').as_posix()}"
               for p in (ROOT / "plugins" / "nnplug_std").rglob("*.py")}
    assert modules - shipped == set()
    check(subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
                          "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=300))
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(site)}  # ahead of the checkout's editable install

    where = check(subprocess.run(
        [sys.executable, "-c", "import nnplug, nnplug.conf; print(nnplug.__file__); print(nnplug.conf.__file__)"],
        cwd=elsewhere, env={**os.environ, **env}, capture_output=True, text=True))
    assert all(Path(line).is_relative_to(site) for line in where.stdout.split()), where.stdout

    check(run_process(elsewhere, "layer=bn", "optim=adam", *QUICK, env=env))
    _, (run,) = runs(default_store(elsewhere))
    assert run.info.status == "FINISHED"
    assert run.data.params["optim.name"] == "adam"
    assert run.data.tags["nnplug.plugin.layers.batchnorm"].startswith("nnplug ")
