"""The progress display, the run summary and the sweep ranking, on real training runs."""
import fcntl
import io
import os
import re
import select
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest

from nnplug import Network, Solver
from nnplug.display.progress import Progress
from nnplug.display.tables import jobs_from_runs, print_ranking, ranking_table, summary_table


def tiny_data(n=200, dim=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)) * 3
    y = rng.integers(0, classes, n)
    X = centres[y] + rng.standard_normal((n, dim))
    return {"X_train": X[:150], "y_train": y[:150], "X_val": X[150:], "y_val": y[150:]}


def train(progress, num_epochs=3, batch_size=25):
    model = Network([16], input_dim=12, num_classes=3, seed=0)
    solver = Solver(model, tiny_data(), update_rule="adam", num_epochs=num_epochs, batch_size=batch_size,
                    verbose=False, listeners=[progress], seed=0)
    solver.train()
    return solver


def test_without_a_terminal_it_prints_one_plain_line_per_accuracy_check():
    out = io.StringIO()
    solver = train(Progress(stream=out))
    lines = out.getvalue().splitlines()
    # checks: after the first iteration (epoch 0) and at every epoch end
    assert len(lines) == len(solver.val_acc_history) == 4
    assert "\r" not in out.getvalue()
    last = lines[-1]
    assert last.startswith("epoch 3/3") and f"val acc {solver.val_acc_history[-1]:.4f}" in last
    losses = [float(re.search(r"loss (\S+)", line).group(1)) for line in lines]
    assert losses[-1] < losses[0]  # the mean loss of each epoch, which training brings down


def test_a_label_tells_the_lines_of_parallel_jobs_apart():
    out = io.StringIO()
    train(Progress(stream=out, live=False, label="job 3"), num_epochs=1)
    assert [line[:14] for line in out.getvalue().splitlines()] == ["job 3 epoch 0/", "job 3 epoch 1/"]


def test_quiet_when_disabled_but_still_measuring():
    out = io.StringIO()
    progress = Progress(enabled=False, stream=out, live=True)
    solver = train(progress)
    assert out.getvalue() == ""
    assert progress.samples == solver.num_iterations * solver.batch_size
    assert progress.elapsed > 0 and progress.samples_per_second > 0


def terminal_of(columns):
    """A real pseudo-terminal of ``columns``: (leader fd, follower fd)."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))  # rows, columns
    return leader, follower


@pytest.mark.parametrize("columns", [160, 80])
def test_on_a_terminal_a_live_bar_shows_loss_and_accuracies_and_ends_on_the_last_epoch(columns, monkeypatch):
    """A real pseudo-terminal: the stream's isatty() is what decides; at 80 columns the bar, not the
    accuracies, makes room."""
    monkeypatch.setenv("COLUMNS", str(columns))  # what tqdm reads for the width of a live bar
    leader, follower = terminal_of(columns)
    with os.fdopen(follower, "w") as terminal:
        progress = Progress(stream=terminal)
        assert progress.live
        solver = train(progress, num_epochs=2)
        terminal.flush()
        screen = b""
        while select.select([leader], [], [], 0.2)[0]:  # read before closing: a hang-up drops the rest
            screen += os.read(leader, 65536)
    os.close(leader)
    # the terminal turns "\n" into "\r\n"; the bar redraws itself after a bare "\r"
    lines = [line for line in screen.decode(errors="replace").replace("\r\n", "\n").split("\n") if line]
    final = lines[-1].split("\r")[-1]
    assert f"{solver.num_iterations}/{solver.num_iterations}" in final and len(final) <= columns
    assert final.startswith("epoch 2/2") and "loss " in final
    assert f"val {solver.val_acc_history[-1]:.3f}" in final


def test_the_summary_names_every_figure_and_marks_unknown_ones():
    text = summary_table("digits", "[affine, relu] x 2 - affine - softmax", "adam (lr 0.001)", 0.9734,
                         None, 12.345, 52123.4, "3f2a9c (http://127.0.0.1:5000/#/experiments/1/runs/3f2a9c)")
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.splitlines()[1:])
    assert rows == {"data set": "digits", "model": "[affine, relu] x 2 - affine - softmax",
                    "update rule": "adam (lr 0.001)", "best val acc": "0.9734", "test acc": "-",
                    "wall time": "12.3 s", "samples/s": "52,123",
                    "MLflow run": "3f2a9c (http://127.0.0.1:5000/#/experiments/1/runs/3f2a9c)"}
    with_tta = summary_table("cifar10", "vgg", "nesterov", 0.9, 0.91, 60.0, 900.0, "run", test_acc_tta=0.925)
    assert "  test acc      0.9100\n  test acc tta  0.9250\n" in with_tta


def test_the_ranking_numbers_the_jobs_in_the_order_given_and_leaves_unscored_ones_unnumbered():
    jobs = [{"name": "adam #1", "best_val_acc": 0.95, "test_acc": 0.94, "status": "FINISHED", "differs": "name=adam"},
            {"name": "sgd #0", "best_val_acc": 0.81, "status": "FINISHED", "differs": "name=sgd"},
            {"name": "rmsprop #2", "status": "FAILED", "differs": "name=rmsprop"}]
    lines = ranking_table(jobs).splitlines()
    assert lines[0].split() == ["rank", "best", "val", "acc", "test", "acc", "status", "job", "what", "differs"]
    assert lines[2].split() == ["1", "0.9500", "0.9400", "FINISHED", "adam", "#1", "name=adam"]
    assert lines[3].split() == ["2", "0.8100", "-", "FINISHED", "sgd", "#0", "name=sgd"]
    assert lines[4].split() == ["-", "-", "-", "FAILED", "rmsprop", "#2", "name=rmsprop"]


def test_a_sweeps_jobs_rank_by_best_val_acc_and_equals_by_job_number_whatever_order_they_started_in():
    from nnplug.tracking.sweep_runs import ranked

    runs = [mlflow_run("a", "adam #5", {}, 0.98, job=5, start=1), mlflow_run("b", "sgd #3", {}, 0.98, job=3, start=2),
            mlflow_run("c", "nesterov #0", {}, 0.97, job=0, start=0),
            mlflow_run("d", "rmsprop #1", {}, 0.99, job=1, start=3, status="FAILED")]

    assert [run.info.run_name for run in ranked(runs)] == ["sgd #3", "adam #5", "nesterov #0", "rmsprop #1"]


def mlflow_run(run_id, name, params, best_val_acc, job=None, start=0, status="FINISHED"):
    from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunTag

    info = RunInfo(run_id=run_id, experiment_id="1", user_id="u", status=status, start_time=start,
                   end_time=1, lifecycle_stage="active", run_name=name)
    data = RunData(metrics=[Metric("best_val_acc", best_val_acc, 0, 0), Metric("test_acc", 0.88, 0, 0)],
                   params=[Param(key, value) for key, value in params.items()],
                   tags=[] if job is None else [RunTag("nnplug.job", str(job))])
    return Run(info, data)


def test_jobs_come_from_mlflow_runs_and_name_what_tells_them_apart():
    # an Optuna search: every trial has the same plugins, so the same name but its number
    runs = [mlflow_run("r1", "digits:affine-relu:adam #0", {"optim.learning_rate": "0.012345678",
                                                            "model.reg": "0.001", "data.name": "digits"}, 0.9),
            mlflow_run("r2", "digits:affine-relu:adam #1", {"optim.learning_rate": "0.0003",
                                                            "model.reg": "0.001", "data.name": "digits"}, 0.8)]
    jobs = jobs_from_runs(runs)
    assert jobs[0] == {"name": "digits:affine-relu:adam #0", "status": "FINISHED", "run_id": "r1",
                       "best_val_acc": 0.9, "test_acc": 0.88, "differs": "learning_rate=0.0123"}
    assert jobs[1]["differs"] == "learning_rate=0.0003"


def test_the_printed_ranking_names_alike_jobs_by_number_under_their_shared_name():
    out = io.StringIO()
    print_ranking([{"name": "digits:affine-relu:adam #0", "best_val_acc": 0.9, "differs": "learning_rate=0.0123"},
                   {"name": "digits:affine-relu:adam #1", "best_val_acc": 0.8, "differs": "learning_rate=0.0003"}],
                  stream=out)
    lines = out.getvalue().strip().splitlines()
    assert lines[0] == "Sweep ranking (digits:affine-relu:adam)"
    assert lines[3].split()[-2:] == ["#0", "learning_rate=0.0123"]


def test_on_a_terminal_tables_fit_its_width_and_pipes_get_every_cell_whole(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    jobs = [{"name": "#0", "best_val_acc": 0.9, "differs": "learning_rate=0.0123 " * 5}]
    leader, follower = terminal_of(60)
    with os.fdopen(follower, "w") as terminal:
        fitted = ranking_table(jobs, stream=terminal)
    os.close(leader)
    assert max(len(line) for line in fitted.splitlines()) < 60 and fitted.splitlines()[2].endswith("…")
    whole = ranking_table(jobs, stream=io.StringIO())
    assert ("learning_rate=0.0123 " * 5).strip() in whole


@pytest.mark.slow
@pytest.mark.parametrize("module", ["nnplug.display.progress", "nnplug.display.plots", "nnplug.display.tables",
                                    "nnplug.app.plugins_command"])
def test_importing_the_display_modules_loads_no_heavy_library(module):
    code = (f"import sys, {module}\n"
            "heavy = [m for m in ('tqdm', 'matplotlib', 'mlflow', 'rich', 'pandas') if m in sys.modules]\n"
            "print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.slow
def test_a_run_of_the_app_prints_its_epochs_and_a_summary(tmp_path):
    result = subprocess.run([sys.executable, "-m", "nnplug", "solver.num_epochs=3",
                             f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    epochs = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line[:9] for line in epochs] == ["epoch 0/3", "epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "(Epoch" not in out  # the Solver's own prints are replaced, not doubled
    summary = out[out.index("Run summary"):].splitlines()[1:9]
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in summary)
    assert rows["data set"] == "digits" and rows["model"].endswith("- affine - softmax")
    assert float(rows["best val acc"]) > 0.8 and float(rows["test acc"]) > 0.8
    assert rows["wall time"].endswith(" s") and int(rows["samples/s"].replace(",", "")) > 0
