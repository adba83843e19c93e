"""Sweeps: every job is a child MLflow run of one parent run that names the best child."""
import os
import shlex
import signal
import time
from pathlib import Path

import pytest
from app_runner import QUICK, check, default_store, run_nnplug, run_process, runs, start_nnplug

pytestmark = pytest.mark.slow  # subprocesses, servers or a browser

PARENT = "mlflow.parentRunId"


def split(found):
    """(the parent run, its children) of one sweep's runs."""
    parents = [r for r in found if PARENT not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    parent = parents[0]
    children = [r for r in found if r.data.tags.get(PARENT) == parent.info.run_id]
    assert len(children) == len(found) - 1, "a run belongs to no parent"
    return parent, children


def assert_parent_names_the_best_child(parent, children, completed=True):
    """The parent names its best child; a sweep that completed also carries the child's params (a
    stopped one does not: MLflow params cannot change, and resuming may find another best)."""
    finished = [c for c in children if c.info.status == "FINISHED"]
    # of equal ones the first job in the sweep's order
    best = max(finished, key=lambda c: (c.data.metrics["best_val_acc"], -int(c.data.tags["nnplug.job"])))
    assert parent.data.tags["nnplug.best_child_run_id"] == best.info.run_id
    assert parent.data.tags["nnplug.best_child_run_name"] == best.info.run_name
    assert parent.data.metrics["best_val_acc"] == best.data.metrics["best_val_acc"]
    assert parent.data.params == (best.data.params if completed else {})  # the best hyperparameters, at a glance


def test_a_parallel_2x2_sweep_logs_one_parent_and_four_children(workdir):
    unset = {name: None for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    check(run_process(workdir, "-m", "optim=sgd,adam", "layer=affine,bn", "hydra/launcher=joblib",
                      "hydra.launcher.n_jobs=2", *QUICK, env=unset))

    _, found = runs(default_store(workdir))
    parent, children = split(found)
    assert len(children) == 4
    assert all(c.info.status == "FINISHED" for c in children)
    combinations = {(c.data.params["optim.name"], c.data.params["layer.block"]) for c in children}
    assert len(combinations) == 4
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["nnplug.launcher"] == "JoblibLauncher"
    assert parent.data.tags["nnplug.children"] == "4"
    assert_parent_names_the_best_child(parent, children)
    # the parent gets the picture of the jobs' validation curves
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=default_store(workdir))
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == ["sweep_val_acc.png"]
    # joblib gives each of its n_jobs workers cores / n_jobs BLAS threads
    assert {c.data.tags.get("nnplug.blas_threads") for c in children} == {str(max(1, len(os.sched_getaffinity(0)) // 2))}
    # every job has its own Hydra folder under the sweep folder, which records the parent run
    sweep_dir = Path(parent.data.tags["nnplug.sweep_dir"])
    assert (sweep_dir / "mlflow_parent_run_id").read_text().strip() == parent.info.run_id
    assert {Path(c.data.tags["nnplug.output_dir"]) for c in children} == {sweep_dir / str(i) for i in range(4)}


def test_a_failed_job_ends_its_run_failed_and_the_other_jobs_still_run(workdir):
    # the basic launcher: jobs one after the other in this process, the failing one first
    process = run_nnplug(workdir, "-m", "optim.learning_rate=1e6,1e-2", *QUICK)

    assert process.returncode == 1  # the sweep reports its failed job
    assert "nnplug: error: job 0 (optim.learning_rate=1000000.0,solver.num_epochs=2,solver.verbose=False) failed: loss became" in process.stderr
    _, found = runs(default_store(workdir))
    parent, children = split(found)
    by_rate = {c.data.params["optim.learning_rate"]: c for c in children}
    assert by_rate["1000000.0"].info.status == "FAILED"
    assert "DivergenceError" in by_rate["1000000.0"].data.tags["nnplug.failure"]
    assert by_rate["0.01"].info.status == "FINISHED"
    # the sweeper raised, so Hydra skipped multirun end: the command closed the parent
    assert parent.info.status == "FAILED"
    assert parent.data.tags["nnplug.children_failed"] == "1"
    assert_parent_names_the_best_child(parent, children, completed=False)


def test_the_optuna_search_maximises_validation_accuracy_over_its_search_space(workdir):
    check(run_nnplug(workdir, "hparams_search=optuna", "hydra.sweeper.n_trials=2", *QUICK))

    _, found = runs(default_store(workdir), experiment="nnplug_optuna")
    parent, children = split(found)
    assert len(children) == 2 and all(c.info.status == "FINISHED" for c in children)
    rates = {float(c.data.params["optim.learning_rate"]) for c in children}
    assert len(rates) == 2 and all(1e-4 <= r <= 1e-1 for r in rates)
    assert all(1e-3 <= float(c.data.params["model.weight_scale"]) <= 1e-1 for c in children)
    assert all(1e-6 <= float(c.data.params["model.reg"]) <= 1e-1 for c in children)
    assert {c.data.params["model.hidden_dims"] for c in children} <= {"[64, 64]", "[128, 128]", "[256, 256]"}
    assert parent.data.tags["nnplug.sweeper"] == "OptunaSweeper"
    assert_parent_names_the_best_child(parent, children)


def test_a_sweep_stopped_by_sigterm_resumes_with_the_command_it_printed(tmp_path):
    sweep_dir = tmp_path / "sweep"
    # epochs of about half a second: job 1 is still training when its first checkpoint appears
    overrides = ["-m", "optim.learning_rate=1e-2,2e-2", "model.hidden_dims=[1024,1024]", "solver.num_epochs=3",
                 "solver.verbose=false"]
    process = start_nnplug(tmp_path, *overrides, f"hydra.sweep.dir={sweep_dir}")
    try:
        while not (sweep_dir / "1" / "checkpoint" / "checkpoint.npz").exists():
            assert process.poll() is None, process.communicate()
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 128 + signal.SIGTERM and "Traceback" not in stderr, stderr
    command = shlex.join(["python", "-m", "nnplug", *overrides, "solver.resume=true", f"hydra.sweep.dir={sweep_dir}"])
    assert stderr.strip().splitlines() == [f"nnplug: training stopped by SIGTERM; resume with: {command}"]
    client, found = runs(default_store(tmp_path))
    parent, children = split(found)
    assert parent.info.status == "FAILED"  # the sweep stopped: the command closed the parent
    by_job = {Path(c.data.tags["nnplug.output_dir"]).name: c for c in children}
    assert by_job["0"].info.status == "FINISHED" and by_job["1"].info.status == "KILLED"
    done = {key: client.get_metric_history(by_job["0"].info.run_id, key) for key in ("loss", "test_acc")}

    check(run_nnplug(tmp_path, *shlex.split(command)[3:]))

    _, found = runs(default_store(tmp_path))
    resumed_parent, resumed_children = split(found)
    assert resumed_parent.info.run_id == parent.info.run_id and resumed_parent.info.status == "FINISHED"
    assert "nnplug.failure" not in resumed_parent.data.tags
    assert {c.info.run_id for c in resumed_children} == {c.info.run_id for c in children}
    assert all(c.info.status == "FINISHED" for c in resumed_children)
    assert_parent_names_the_best_child(resumed_parent, resumed_children)
    # job 0 had finished: it is only reported, not trained or logged again
    assert {key: client.get_metric_history(by_job["0"].info.run_id, key) for key in done} == done
    # job 1 went on in its own run, every step once
    steps = sorted(m.step for m in client.get_metric_history(by_job["1"].info.run_id, "loss"))
    assert steps == list(range(0, 3 * (1297 // 50), 10))


def processes_in(folder):
    """Process ids of the live processes (other than this one) whose working folder is ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int(entry.name) != os.getpid() and (entry / "cwd").resolve() == folder:
                found.append(int(entry.name))
        except OSError:  # gone, or not ours
            pass
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM to the sweep", "Ctrl-C"])
def test_a_parallel_sweep_stopped_by_a_signal_stops_every_job_and_leaves_no_process(tmp_path, signum):
    sweep_dir = tmp_path / "sweep"
    # epochs of about half a second; jobs 2 and 3 wait for a worker
    overrides = ["-m", "optim.learning_rate=1e-2,2e-2,3e-2,4e-2", "model.hidden_dims=[1024,1024]",
                 "solver.num_epochs=10", "solver.verbose=false", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    process = start_nnplug(tmp_path, *overrides, f"hydra.sweep.dir={sweep_dir}", own_group=True)
    try:
        while not all((sweep_dir / job / "checkpoint" / "checkpoint.npz").exists() for job in ("0", "1")):
            assert process.poll() is None, process.communicate()
            time.sleep(0.02)
        if signum == signal.SIGINT:
            os.killpg(process.pid, signum)  # what a terminal does: every process of the command gets it
        else:
            process.send_signal(signum)  # kill, systemd, a batch system: the sweep process only
        _, stderr = process.communicate(timeout=120)
        deadline = time.monotonic() + 10
        while processes_in(tmp_path) and time.monotonic() < deadline:  # the forkserver leaves after its workers
            time.sleep(0.1)
        left = processes_in(tmp_path)
    finally:
        for pid in processes_in(tmp_path):  # whatever the outcome, nothing of this test runs on
            os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.communicate()

    assert process.returncode == 128 + signum and "Traceback" not in stderr, stderr
    command = shlex.join(["python", "-m", "nnplug", *overrides, "solver.resume=true", f"hydra.sweep.dir={sweep_dir}"])
    assert stderr.strip().splitlines() == [f"nnplug: training stopped by {signum.name}; resume with: {command}"]
    assert left == []
    client, found = runs(default_store(tmp_path))
    parent, children = split(found)
    assert parent.info.status == "FAILED"
    by_job = {Path(c.data.tags["nnplug.output_dir"]).name: c for c in children}
    assert sorted(by_job) == ["0", "1"]  # the jobs waiting for a worker never started
    for job in by_job.values():
        assert job.info.status == "KILLED"
        assert job.data.tags["nnplug.failure"].startswith(f"TrainingInterrupted: training stopped by {signum.name}")

    if signum == signal.SIGTERM:
        check(run_process(tmp_path, *shlex.split(command)[3:]))
        _, found = runs(default_store(tmp_path))
        resumed_parent, resumed_children = split(found)
        assert resumed_parent.info.run_id == parent.info.run_id and resumed_parent.info.status == "FINISHED"
        assert len(resumed_children) == 4 and all(c.info.status == "FINISHED" for c in resumed_children)
        resumed = {c.info.run_id: c for c in resumed_children}
        for job in by_job.values():  # went on in its own run, every step once
            steps = sorted(m.step for m in client.get_metric_history(job.info.run_id, "loss"))
            assert steps == list(range(0, 10 * (1297 // 50), 10)) and job.info.run_id in resumed


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]], ids=["basic", "joblib"])
def test_on_a_tie_the_summary_the_ranking_and_the_parent_name_the_same_best_job(tmp_path, launcher):
    # how often the loss is logged changes nothing the jobs learn: three jobs of equal best_val_acc
    overrides = ["-m", "tracking.log_every_n_steps=20,10,5", *QUICK, *launcher]
    done = check(run_process(tmp_path, *overrides) if launcher else run_nnplug(tmp_path, *overrides))

    _, found = runs(default_store(tmp_path))
    parent, children = split(found)
    assert len({c.data.metrics["best_val_acc"] for c in children}) == 1  # a tie, as meant
    [job_0] = [c for c in children if c.data.tags["nnplug.job"] == "0"]
    output = done.stdout + done.stderr
    assert f"Best: {job_0.info.run_name} (best_val_acc " in output
    ranking = output[output.index("Sweep ranking"):].splitlines()
    assert ranking[3].split()[:1] == ["1"] and ranking[3].split()[4] == "#0", ranking
    assert parent.data.tags["nnplug.best_child_run_name"] == job_0.info.run_name
