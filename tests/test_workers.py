"""nnplug.workers: the joblib launcher's workers start with a job's imports already done."""
import subprocess
import sys
import textwrap

# Composes the real config with Hydra, runs the callback as a sweep start does, then starts loky
# workers the way Hydra's joblib launcher does and asks one what it found imported when it began.
SWEEP_START = textwrap.dedent("""
    import os, sys
    from hydra import compose, initialize_config_module
    from joblib import Parallel, delayed
    from omegaconf import open_dict
    from nnplug.workers import WarmWorkers

    def imported_at_start(_):
        import gc
        # the collector stays off until the worker's first job settles it (nnplug.collector)
        collector = ["collector on"] if gc.isenabled() else []
        return sorted(m for m in ("mlflow.tracking", "sqlalchemy", "nnplug.experiment") if m in sys.modules) + collector

    with initialize_config_module("nnplug.conf", version_base="1.3"):
        cfg = compose("config", overrides=sys.argv[1:], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.cwd = os.getcwd()
    WarmWorkers().on_multirun_start(cfg)
    print(Parallel(n_jobs=2, backend="loky")(delayed(imported_at_start)(i) for i in range(2)))
""")


def printed_by(script, tmp_path, *overrides):
    done = subprocess.run([sys.executable, "-c", script, *overrides], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def imported_by_workers(tmp_path, *overrides):
    return printed_by(SWEEP_START, tmp_path, *overrides)


def test_joblib_workers_start_with_mlflow_its_store_and_nnplug_imported(tmp_path):
    found = imported_by_workers(tmp_path, "hydra/launcher=joblib")
    assert found == str([["mlflow.tracking", "nnplug.experiment", "sqlalchemy"]] * 2)


def test_a_server_store_needs_no_database_modules(tmp_path):
    found = imported_by_workers(tmp_path, "hydra/launcher=joblib", "tracking.uri=http://127.0.0.1:1")
    assert found == str([["mlflow.tracking", "nnplug.experiment"]] * 2)


def test_other_launchers_leave_loky_as_it_is(tmp_path):
    assert imported_by_workers(tmp_path) == str([["collector on"]] * 2)  # the basic launcher: fresh workers


# What the sweep callback does at a sweep's end: one call, in an idle worker of a joblib sweep.
SWEEP_END = textwrap.dedent("""
    import os, sys
    from hydra import compose, initialize_config_module
    from nnplug.workers import call_in_a_worker

    with initialize_config_module("nnplug.conf", version_base="1.3"):
        cfg = compose("config", overrides=sys.argv[1:], return_hydra_config=True)
    print(call_in_a_worker(cfg, os.getpid) == os.getpid())
""")


def called_here(tmp_path, *overrides):
    return printed_by(SWEEP_END, tmp_path, *overrides)


def test_a_joblib_sweep_makes_its_last_call_in_a_worker_and_other_sweeps_here(tmp_path):
    assert called_here(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2") == "False"
    assert called_here(tmp_path) == "True"


def test_the_forkserver_leaves_without_running_exit_handlers(tmp_path):
    # it exits when the sweep process does, and the sweep's output stays open until it has
    code = "import atexit; atexit.register(print, 'exit handler ran'); import nnplug.forkserver_preload"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
