"""Parallel sweep jobs logging into one local SQLite MLflow store lose nothing and never fail.

What MLflow does and recommends for several writers on one SQLite file:
- Its SQL store opens every SQLite session with ``PRAGMA busy_timeout = 20000``
  (mlflow/store/db/utils.py; added in mlflow PR #6490 for concurrent ``log_metric``), so a writer
  that finds the database locked waits up to 20 s for its turn instead of failing at once.
- Creating a fresh store runs the schema migration, which is NOT safe to run from several processes
  at once (``duplicate column name: step``): create and migrate the store once, in the parent, before
  the jobs start (nnplug's sweep callback does this).
- Fewer, larger transactions: ``log_batch`` instead of one ``log_metric`` per step.
- Beyond one machine or many writers, MLflow's answer is a tracking server (``mlflow server``) in
  front of one database, PostgreSQL or MySQL rather than SQLite.

This test applies the first three: the parent migrates the store, four processes then log 500
steps each at the same moment (a start gate), and the parent holds SQLite's write lock for a while
meanwhile, so the writers must wait on it rather than fail.
"""
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.slow

WRITERS, STEPS, PER_BATCH = 4, 500, 10

WRITER = textwrap.dedent(f"""\
    import sys, time
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    uri, experiment_id, worker = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = MlflowClient(uri)
    run_id = client.create_run(experiment_id, run_name=f"writer {{worker}}").info.run_id
    print(run_id, flush=True)
    sys.stdin.readline()  # the start gate: all writers begin together
    for start in range(0, {STEPS}, {PER_BATCH}):
        now = int(time.time() * 1000)
        metrics = [Metric("loss", worker + step / {STEPS}, now, step) for step in range(start, start + {PER_BATCH})]
        client.log_batch(run_id, metrics=metrics)
    client.set_terminated(run_id, "FINISHED")
    """)


def test_four_processes_log_500_steps_each_into_one_sqlite_store(tmp_path):
    from mlflow import MlflowClient

    database = tmp_path / "mlflow.db"
    uri = f"sqlite:///{database}"
    client = MlflowClient(uri)
    # creates and migrates the store, once, before any writer opens it
    experiment_id = client.create_experiment("concurrent", artifact_location=(tmp_path / "mlartifacts").as_uri())

    writers = [subprocess.Popen([sys.executable, "-c", WRITER, uri, experiment_id, str(worker)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for worker in range(WRITERS)]
    try:
        run_ids = [writer.stdout.readline().strip() for writer in writers]
        assert all(len(run_id) == 32 for run_id in run_ids), run_ids

        blocker = sqlite3.connect(database, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # take the write lock before anyone writes
        for writer in writers:
            writer.stdin.write("go\n")
            writer.stdin.flush()
        time.sleep(2)
        blocker.execute("COMMIT")
        blocker.close()

        results = [writer.communicate(timeout=240) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()

    for writer, (_, stderr) in zip(writers, results):
        assert writer.returncode == 0, stderr
        assert "database is locked" not in stderr and "Traceback" not in stderr, stderr
    total = 0
    for worker, run_id in enumerate(run_ids):
        history = client.get_metric_history(run_id, "loss")
        assert sorted(m.step for m in history) == list(range(STEPS))
        assert all(m.value == worker + m.step / STEPS for m in history)
        assert client.get_run(run_id).info.status == "FINISHED"
        total += len(history)
    assert total == WRITERS * STEPS
