"""Shared test set-up. Append fixtures below; keep this header first."""
import os
import shutil

import pytest

# One BLAS thread per process: tests run beside servers and sweep jobs, and BLAS threads that
# share cores with other processes make small matrix products far slower. Subprocesses inherit it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


@pytest.fixture(scope="session")
def store_file(tmp_path_factory):
    """One real MLflow SQLite store, created and migrated by nnplug once per test session;
    tests copy it (``new_store``, ``fresh_store``) because migrating a new store takes seconds."""
    from nnplug.tracking.sqlite_store import ensure_store

    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    ensure_store(db, db.parent / "mlartifacts")
    return db


@pytest.fixture(scope="session")
def new_store(store_file):
    """``new_store(folder)``: the URI of a new, empty store in ``folder`` (``folder/mlflow.db``, a
    copy of ``store_file``); the experiments nnplug creates in it keep their artifacts beside it."""
    def make(folder):
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(store_file, os.path.join(folder, "mlflow.db"))
        return f"sqlite:///{os.path.join(folder, 'mlflow.db')}"

    return make


@pytest.fixture
def fresh_store(tmp_path, new_store):
    """A new, empty store of this test's own: ``tmp_path/mlflow.db``."""
    return new_store(tmp_path)


@pytest.fixture
def workdir(tmp_path, new_store):
    """A folder to run the command in whose default store (``outputs/mlflow.db``) exists already, as
    after a user's first run: the command's runs there skip creating the store. Tests of what the
    first run leaves behind start from a bare ``tmp_path`` instead."""
    new_store(tmp_path / "outputs")
    return tmp_path


# What a run or an MLflow client writes relative to its working folder; the suite runs from the
# checkout, and every test must write into its own temporary folder instead.
CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRAY = ("mlruns", "mlartifacts", "outputs", "multirun", "mlflow.db")
_there_before = pytest.StashKey[set]()


def pytest_sessionstart(session):
    session.config.stash[_there_before] = {name for name in STRAY if os.path.exists(os.path.join(CHECKOUT, name))}


def pytest_sessionfinish(session, exitstatus):
    new = [name for name in STRAY if os.path.exists(os.path.join(CHECKOUT, name))
           and name not in session.config.stash.get(_there_before, set())]
    if new:
        print(f"\nthe tests left {', '.join(new)} in the checkout {CHECKOUT}", flush=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
