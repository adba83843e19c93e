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
    tests copy it (``fresh_store``) because migrating a new store takes seconds."""
    from nnplug.tracking.sqlite_store import ensure_store

    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    ensure_store(db, db.parent / "mlartifacts")
    return db


@pytest.fixture
def fresh_store(tmp_path, store_file):
    """The URI of a new, empty store of this test's own (``tmp_path/mlflow.db``); the experiments
    nnplug creates in it keep their artifacts beside it, in ``tmp_path/mlartifacts``."""
    db = tmp_path / "mlflow.db"
    shutil.copyfile(store_file, db)
    return f"sqlite:///{db}"
