"""The house's rules, checked on the source: rooms import only the rooms before them, no import
cycles, no module changes the process that imports it, and nothing points outside the repository."""
import ast
import gc
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import nnplug

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(nnplug.__file__).parent
# Each room and the rooms it may import (besides itself); the order is the flow of a run.
ALLOWED = {
    "contract": set(),
    "core": {"contract"},
    "data": {"contract", "core"},
    "tracking": {"core"},
    "display": {"core"},
    "checks": {"contract", "core", "data"},
    "app": {"contract", "core", "data", "checks", "tracking", "display"},
    "testing": {"contract", "core", "data", "checks", "app"},
}


def modules():
    """Every module of the package by dotted name (``nnplug.conf`` is the config tree, not code)."""
    found = ["nnplug"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="nnplug."):
        if not info.name.startswith("nnplug.conf"):
            found.append(info.name)
    return found


def source_of(module):
    relative = module.split(".")[1:]
    path = PACKAGE.joinpath(*relative)
    return (path / "__init__.py") if path.is_dir() else path.with_suffix(".py")


def imports_of(module):
    """The nnplug modules that ``module`` imports, at its top or inside functions."""
    tree = ast.parse(source_of(module).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("nnplug.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nnplug"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return {name for name in found if name != module}


MODULES = modules()


def room(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


@pytest.mark.parametrize("module", [m for m in MODULES if room(m)])
def test_each_room_imports_only_the_rooms_before_it(module):
    here = room(module)
    for imported in imports_of(module):
        there = room(imported)
        assert there is None or there == here or there in ALLOWED[here], f"{module} imports {imported}"


def test_no_import_cycles_among_the_modules():
    graph = {module: {i for i in imports_of(module) if i in MODULES} for module in MODULES}
    done, path = set(), []

    def visit(module):
        if module in path:
            cycle = path[path.index(module):] + [module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        path.append(module)
        for imported in sorted(graph[module]):
            visit(imported)
        path.pop()
        done.add(module)

    for module in MODULES:
        visit(module)


@pytest.mark.slow
def test_importing_any_module_leaves_the_process_as_it_was():
    """``import nnplug.<module>; raise SystemExit(3)`` exits 3, for every module, in one interpreter each."""
    script = "import importlib, sys\nimportlib.import_module(sys.argv[1])\nraise SystemExit(3)\n"
    outcomes = {}
    for module in MODULES:
        done = subprocess.run([sys.executable, "-c", script, module], capture_output=True, text=True, timeout=120)
        outcomes[module] = done.returncode
    assert outcomes == {module: 3 for module in MODULES}


def test_the_command_run_in_a_process_of_its_own_leaves_its_collector_alone(capsys):
    """Only ``cli.console`` (the process's entry point) freezes the garbage collector, as it exits."""
    from nnplug.app.cli import main

    frozen = gc.get_freeze_count()
    assert main(["--help"]) == 0
    assert "usage: nnplug" in capsys.readouterr().out
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_no_module_is_much_over_three_hundred_lines():
    long = {str(path.relative_to(ROOT)): n for path in [*PACKAGE.rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
            if (n := len(path.read_text().splitlines())) > 330}
    assert long == {}


def test_nothing_refers_to_files_outside_the_repository():
    words = ("SPEC.md", "FACTS.md", "DESIGN.md", "shared/")
    places = [*PACKAGE.rglob("*.py"), *(ROOT / "plugins").rglob("*.py"), *(ROOT / "tests").rglob("*.py"),
              ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "conf").rglob("*.yaml")]
    found = [f"{path.relative_to(ROOT)}: {word}" for path in places if path != Path(__file__)
             for word in words if word in path.read_text()]
    assert found == []
