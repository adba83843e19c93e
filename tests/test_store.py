"""The local SQLite store: created whole however many runs start at once, refused in one line when
damaged, and never left half-made by a full disk or a kill."""
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from app_runner import QUICK, default_store, run_nnplug, runs, start_nnplug
from system import require

from nnplug.tracking.sqlite_store import StoreError, check_store, ensure_store

PER_EPOCH = 1297 // 50  # digits' training rows / the default batch size


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name not in ("mlflow.db", "mlflow.db.lock", "mlartifacts"))


def half_migrated(path, template):
    shutil.copy(template, path)
    with sqlite3.connect(path) as connection:  # what an interrupted alembic migration leaves
        connection.execute("CREATE TABLE _alembic_tmp_latest_metrics (x int)")


def other_sqlite(path, template):
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (text)")


DAMAGED = {
    "a directory": (lambda path, template: path.mkdir(), "is a directory, not an SQLite file"),
    "random bytes": (lambda path, template: path.write_bytes(os.urandom(4096)), "is not an SQLite database"),
    "half-migrated": (half_migrated, "is half-migrated (an interrupted schema migration left table "
                                     "_alembic_tmp_latest_metrics): move it aside"),
    "another program's SQLite": (other_sqlite, "is an SQLite database but not an MLflow tracking store"),
}


@pytest.mark.parametrize("make, expected", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_store_is_recognised_in_one_line_saying_how_to_recover(tmp_path, store_file, make, expected):
    db = tmp_path / "mlflow.db"
    make(db, store_file)

    with pytest.raises(StoreError) as error:
        ensure_store(db, tmp_path / "mlartifacts")
    assert expected in str(error.value) and "\n" not in str(error.value)
    assert str(db) in str(error.value)


def test_a_missing_or_empty_file_is_no_store_yet_and_a_migrated_one_is_healthy(tmp_path, store_file):
    assert check_store(tmp_path / "absent.db") is False and not (tmp_path / "absent.db").exists()
    (tmp_path / "empty.db").touch()
    assert check_store(tmp_path / "empty.db") is False
    assert check_store(store_file) is True


def test_a_new_store_keeps_its_default_experiments_artifacts_beside_it(store_file):
    with sqlite3.connect(store_file) as connection:
        (location,) = connection.execute("SELECT artifact_location FROM experiments WHERE experiment_id = 0").fetchone()
    assert location.endswith(str(store_file.parent / "mlartifacts" / "0"))  # not the creator's cwd, not the temp name


@pytest.mark.slow
@pytest.mark.parametrize("repetition", range(5))
def test_four_commands_started_together_on_a_new_store_all_finish_with_every_loss_row(tmp_path, repetition):
    overrides = ["solver.num_epochs=1", "solver.verbose=false", "tracking.log_every_n_steps=1"]
    processes = [start_nnplug(tmp_path, *overrides) for _ in range(4)]  # one folder: one new store
    outcomes = [process.communicate(timeout=600) for process in processes]

    for process, (_, stderr) in zip(processes, outcomes):
        assert process.returncode == 0, stderr
    client, found = runs(default_store(tmp_path))
    assert len(found) == 4
    for run in found:
        assert run.info.status == "FINISHED"
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "loss")) == list(range(PER_EPOCH))
    assert check_store(tmp_path / "outputs" / "mlflow.db") is True
    assert leftovers(tmp_path / "outputs") == ["runs"]


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 200 KiB at tmp_path/disk, too small for a store; ``grow()`` makes room. Needs root."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(disk)], capture_output=True)
    require(mounted.returncode == 0, "a small tmpfs to fill", f"root, to mount one: {mounted.stderr.decode().strip()}")
    yield disk, lambda options: subprocess.run(["mount", "-o", f"remount,{options}", str(disk)], check=True)
    if subprocess.run(["umount", str(disk)]).returncode:
        subprocess.run(["umount", "-l", str(disk)])


@pytest.mark.slow
def test_a_full_disk_while_the_store_is_created_leaves_no_store_and_one_line(tmp_path, small_disk):
    disk, remount = small_disk
    uri = f"sqlite:///{disk / 'mlflow.db'}"

    process = run_nnplug(tmp_path, *QUICK, f"tracking.uri={uri}")

    assert process.returncode == 1
    assert process.stderr.splitlines() == [process.stderr.strip()], process.stderr
    assert process.stderr.startswith(f"nnplug: error: tracking.uri={uri}: "), process.stderr
    assert "full" in process.stderr or "No space" in process.stderr, process.stderr
    assert not (disk / "mlflow.db").exists() and leftovers(disk) == []
    assert not (tmp_path / "outputs").exists()

    remount("size=16m")  # room again: the next run creates a working store
    assert run_nnplug(tmp_path, *QUICK, f"tracking.uri={uri}").returncode == 0
    client, (run,) = runs(uri)
    assert run.info.status == "FINISHED" and check_store(disk / "mlflow.db")


@pytest.mark.slow
def test_a_read_only_store_is_one_line_before_anything_runs(tmp_path, small_disk, store_file):
    disk, remount = small_disk
    remount("size=16m")
    shutil.copy(store_file, disk / "mlflow.db")
    remount("ro")
    process = run_nnplug(tmp_path, *QUICK, f"tracking.uri=sqlite:///{disk / 'mlflow.db'}")

    assert process.returncode == 1 and process.stderr.splitlines() == [process.stderr.strip()], process.stderr
    assert "is read-only (read-only file system)" in process.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_a_creator_killed_during_the_migration_leaves_no_store_and_the_next_run_makes_one(tmp_path):
    db = tmp_path / "mlflow.db"
    code = ("import sys; from pathlib import Path; from nnplug.tracking.sqlite_store import ensure_store; "
            "ensure_store(Path(sys.argv[1]), Path(sys.argv[1]).parent / 'mlartifacts')")
    creator = subprocess.Popen([sys.executable, "-c", code, str(db)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("mlflow.db.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # inside the migration
    creator.send_signal(signal.SIGKILL)
    creator.wait()

    assert not db.exists() and check_store(db) is False
    ensure_store(db, tmp_path / "mlartifacts")  # the lock died with the creator; its temporary file goes
    assert check_store(db) is True and leftovers(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("make, expected", DAMAGED.values(), ids=DAMAGED.keys())
def test_the_command_refuses_a_damaged_default_store_in_one_line(tmp_path, store_file, make, expected):
    (tmp_path / "outputs").mkdir()
    db = tmp_path / "outputs" / "mlflow.db"
    make(db, store_file)

    process = run_nnplug(tmp_path, *QUICK)

    assert process.returncode == 1 and process.stderr.splitlines() == [process.stderr.strip()], process.stderr
    assert process.stderr.startswith("nnplug: error: MLflow store ") and expected in process.stderr
    assert not (tmp_path / "outputs" / "runs").exists()
