"""``nnplug plugins``: the table, the JSON, the gradient check and what it says about broken plugins.

Plugins with faults are written as modules into a temporary folder and registered by import path
(``NNPLUG_PLUGINS``) in a subprocess, so they never reach the registry of the rest of the suite.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from nnplug.app.plugins_command import main

STANDARD = {
    "layers": {"affine", "batchnorm", "dropout", "layernorm", "leaky_relu", "relu", "sigmoid", "tanh", "gelu", "conv",
               "conv1d", "whiten", "max_pool", "avg_pool", "global_avg_pool", "global_max_pool", "spatial_batchnorm",
               "groupnorm", "flatten", "scale", "residual", "parallel", "sequence"},
    "losses": {"softmax", "svm"},
    "optimizers": {"sgd", "sgd_momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"},
    "datasets": {"digits", "cifar10", "mnist", "fashion_mnist", "mnist1d", "npz"},
    "transforms": {"random_crop", "horizontal_flip", "alternating_flip", "random_shift"},
}

WRONG_GRADIENT = '''
    """A layer whose backward pass forgets a factor of two."""
    from nnplug import Layer, hookimpl

    class Doubler(Layer):
        name = "doubler"
        description = "2x, with a wrong gradient"

        def forward(self, x, params, mode):
            return 2 * x, None

        def backward(self, dout, cache):
            return dout, {}

    @hookimpl
    def nnplug_layers():
        return [Doubler]
'''
BROKEN = 'raise ImportError("needs a package that is not installed")\n'
DUPLICATE = '''
    from nnplug import Layer, hookimpl

    class MyRelu(Layer):
        name = "relu"

    @hookimpl
    def nnplug_layers():
        return [MyRelu]
'''


def run_plugins(tmp_path, modules, *args):
    """``python -m nnplug plugins ARGS`` with ``modules`` (name -> source) registered by path."""
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "NNPLUG_PLUGINS": ",".join(modules)}
    return subprocess.run([sys.executable, "-m", "nnplug", "plugins", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_json_lists_every_standard_plugin_with_its_distribution(capsys):
    assert main(["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for kind, names in STANDARD.items():
        entries = {e["name"]: e for e in out["plugins"] if e["kind"] == kind}
        assert names <= set(entries), kind
        for name in names:
            assert entries[name]["distribution"] == "nnplug" and entries[name]["version"]
            assert entries[name]["description"], f"{kind} {name} has no description"
    assert out["failures"] == []


def parse_table(text):
    """Rows of a ``format_table`` table as dicts, cut at the columns its rule line marks."""
    import re

    lines = text.splitlines()
    spans = [m.span() for m in re.finditer(r"-+", lines[1])]
    spans[-1] = (spans[-1][0], None)  # the last column runs to the end of its line

    def cells(line):
        return [line[a:b].strip() for a, b in spans]

    headers = cells(lines[0])
    return [dict(zip(headers, cells(line))) for line in lines[2:] if line.strip()]


def test_the_table_has_one_row_per_plugin(capsys):
    assert main([]) == 0
    rows = parse_table(capsys.readouterr().out)
    assert list(rows[0]) == ["kind", "name", "distribution", "version", "options", "description"]
    labels = {"layers": "layer", "losses": "loss", "optimizers": "update rule", "datasets": "data set",
              "transforms": "transform"}
    ours = [r for r in rows if r["distribution"] == "nnplug"]  # other installed plugins are listed too
    assert {(r["kind"], r["name"]) for r in ours} == {
        (labels[kind], name) for kind, names in STANDARD.items() for name in names}
    assert len(ours) == sum(len(names) for names in STANDARD.values())
    digits = next(r for r in rows if r["name"] == "digits")
    assert digits["description"].startswith("scikit-learn's 1,797 8x8 handwritten digits")


def test_check_passes_every_standard_layer_loss_and_update_rule(capsys):
    assert main(["--check", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    checked = {e["name"]: e["check"] for e in out["plugins"] if "check" in e and e["distribution"] == "nnplug"}
    assert set(checked) == STANDARD["layers"] | STANDARD["losses"] | STANDARD["optimizers"] | STANDARD["transforms"]
    assert all(c["passed"] for c in checked.values())
    # gradients are checked numerically; update rules have none to check
    assert all(checked[name]["max_error"] < 1e-7 for name in STANDARD["layers"] | STANDARD["losses"])


@pytest.mark.slow
def test_check_fails_a_layer_with_a_wrong_gradient(tmp_path):
    result = run_plugins(tmp_path, {"wrong_gradient": WRONG_GRADIENT}, "--check")
    assert result.returncode == 1, result.stderr
    table, failures, summary = result.stdout.split("\n\n")
    rows = {r["name"]: r for r in parse_table(table)}
    assert rows["doubler"]["check"].startswith("FAIL")
    assert failures.splitlines()[1].strip().startswith("layer doubler (?): the gradient of x is off")
    assert rows["doubler"]["distribution"] == "?"  # a module registered by path has none
    assert rows["affine"]["check"].startswith("pass") and rows["adam"]["check"] == "pass"
    assert rows["digits"]["check"] == "-"  # data sets are checked when named: they may download
    checked = [r for r in rows.values() if r["check"] != "-"]  # whatever else is installed is checked too
    assert summary.strip() == f"Check: {len(checked) - 1} passed, 1 failed"


@pytest.mark.slow
def test_a_plugin_that_fails_to_load_is_listed_and_fails_the_check(tmp_path):
    listed = run_plugins(tmp_path, {"broken_plugin": BROKEN})
    assert listed.returncode == 0
    assert "Failed to load:" in listed.stdout
    assert "broken_plugin" in listed.stdout and "ImportError: needs a package that is not installed" in listed.stdout
    assert "RuntimeWarning" not in listed.stderr  # reported once, in the listing

    as_json = json.loads(run_plugins(tmp_path, {"broken_plugin": BROKEN}, "--json").stdout)
    [failure] = as_json["failures"]
    assert failure["source"] == "broken_plugin" and failure["error"].startswith("ImportError")

    checked = run_plugins(tmp_path, {"broken_plugin": BROKEN}, "--check")
    assert checked.returncode == 1 and "1 failed to load" in checked.stdout


@pytest.mark.slow
def test_checking_named_plugins_lists_them_alone_and_answers_for_them_alone(tmp_path):
    modules = {"broken_plugin": BROKEN, "wrong_gradient": WRONG_GRADIENT}

    named = run_plugins(tmp_path, modules, "--check", "relu", "adam")
    assert named.returncode == 0, named.stdout + named.stderr  # another distribution's breakage is not theirs
    table, failures, summary = named.stdout.split("\n\n")
    assert sorted(r["name"] for r in parse_table(table)) == ["adam", "relu"]
    assert "broken_plugin" in failures  # reported all the same
    assert summary.strip().startswith("Check: 2 passed, 0 failed")

    failing = run_plugins(tmp_path, modules, "--check", "doubler")
    assert failing.returncode == 1 and [r["name"] for r in parse_table(failing.stdout.split("\n\n")[0])] == ["doubler"]


@pytest.mark.slow
def test_two_plugins_claiming_one_name_are_both_listed_with_how_to_choose(tmp_path):
    result = run_plugins(tmp_path, {"duplicate_relu": DUPLICATE})
    assert result.returncode == 0, result.stderr  # listing is what a user with a conflict needs
    table, conflicts = result.stdout.split("\n\n")
    assert [(r["name"], r["distribution"]) for r in parse_table(table) if r["name"] == "relu"] == [
        ("relu", "nnplug"), ("relu", "?")]
    assert "two plugins claim the layer name 'relu'" in conflicts and "duplicate_relu" in conflicts


@pytest.mark.slow
def test_the_nnplug_command_runs_it_under_python_dash_m(tmp_path):
    """``python -m nnplug plugins`` is the same command, exit status included."""
    listed = subprocess.run([sys.executable, "-m", "nnplug", "plugins", "--json"], capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert {e["name"] for e in json.loads(listed.stdout)["plugins"]} >= STANDARD["layers"]

    (tmp_path / "wrong_gradient.py").write_text(textwrap.dedent(WRONG_GRADIENT))
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NNPLUG_PLUGINS": "wrong_gradient"}
    checked = subprocess.run([sys.executable, "-m", "nnplug", "plugins", "--check"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert "1 failed" in checked.stdout
    assert checked.returncode == 1


@pytest.mark.slow
def test_help_names_the_command():
    result = subprocess.run([sys.executable, "-m", "nnplug", "plugins", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("usage: nnplug plugins")


@pytest.mark.slow
@pytest.mark.parametrize("args", [[], ["--check"]], ids=["list", "check"])
def test_on_a_100_column_terminal_no_line_wraps(args):
    import fcntl
    import pty
    import select
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    process = subprocess.Popen([sys.executable, "-m", "nnplug", "plugins", *args], stdout=follower,
                               stderr=follower, env=env)
    os.close(follower)
    screen = b""
    while select.select([leader], [], [], 60)[0]:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the command exited and closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    process.wait(timeout=60)
    os.close(leader)
    lines = screen.decode().replace("\r\n", "\n").splitlines()
    assert process.returncode == 0 and len(lines) > 20
    assert max(len(line) for line in lines) < 100


@pytest.mark.slow
def test_a_pipe_closed_early_ends_the_listing_quietly():
    read, write = os.pipe()
    os.close(read)  # a reader that is gone before anything is written, as `head` once it has its lines
    listing = subprocess.Popen([sys.executable, "-m", "nnplug", "plugins"], stdout=write, stderr=subprocess.PIPE)
    os.close(write)
    _, stderr = listing.communicate(timeout=60)
    assert stderr == b""
    assert listing.returncode == 141  # 128 + SIGPIPE, as a shell reports `yes | head`
