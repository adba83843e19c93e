"""A local MLflow SQLite store, created so that it is either absent or complete, and checked cheaply.

MLflow migrates a new SQLite store in place with alembic. SQLite DDL is not transactional
through pysqlite, so several processes migrating one new file at once, or one that hits a full
disk, leave a store that no later run can open (leftover ``_alembic_tmp_*`` tables). Here the
first process to need the store takes an inter-process lock (``<db>.lock`` beside it), creates
and migrates the store in a temporary file beside it (``<db>.<pid>-<n>.tmp``) and renames it into
place once it is complete; the others wait on the lock and find the finished store. Each attempt
has a file name of its own because MLflow keeps one database engine per URI for the life of the
process: an attempt that failed (a full disk) would hand its half-made file's connection to the
next attempt of the same process.

When the store exists, ``ensure_store`` reads its table names with the stdlib ``sqlite3`` and
imports nothing of MLflow. The lock file stays on purpose: deleting it while another process
waits on it would let two processes hold "the" lock; the lock dies with its holder, so a stale
file never blocks a later run.
"""
import contextlib
import fcntl
import itertools
import logging
import os
import sqlite3
from pathlib import Path
from urllib.request import pathname2url

SQLITE_MAGIC = b"SQLite format 3\x00"
# Tables every MLflow tracking schema has: they tell an MLflow store from another SQLite file.
CORE_TABLES = {"experiments", "runs", "metrics", "params", "tags"}
SIDE_FILES = ("", "-journal", "-wal", "-shm")
_attempts = itertools.count()  # numbers this process's temporary stores apart


class StoreError(ValueError):
    """A file or folder at the store's path that MLflow cannot use; the message says how to recover."""


def check_store(db_path):
    """Whether ``db_path`` holds a healthy MLflow SQLite store this process can write.

    Inputs:
    - db_path: path of the .db file.

    Returns True for a complete store, False when there is none yet (no file, an empty file, or
    SQLite without tables, which MLflow treats as new too).

    Raises ``StoreError`` in one line when the path is a directory, not SQLite, not an MLflow
    store, half-migrated, or cannot be written.
    """
    p = Path(db_path)
    if p.is_dir():
        raise StoreError(f"MLflow store {p} is a directory, not an SQLite file: remove or rename it, "
                         f"or point tracking.uri at a .db file")
    try:
        with open(p, "rb") as f:
            header = f.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return False
    except PermissionError:
        raise StoreError(f"MLflow store {p} cannot be read (permission denied): fix its permissions "
                         f"or point tracking.uri elsewhere") from None
    if not header:
        return False
    if header != SQLITE_MAGIC:
        raise StoreError(_aside(p, "is not an SQLite database"))
    try:
        # mode=rw never creates a missing file, and unlike mode=ro it rolls back a journal left by
        # a writer killed mid-transaction (a write-protected file still opens, read-only)
        connection = sqlite3.connect(f"file:{pathname2url(str(p))}?mode=rw", uri=True, timeout=30)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            version = None
            if "alembic_version" in tables:
                row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
                version = row[0] if row else None
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(_aside(p, f"cannot be read as SQLite ({exc})")) from None
    if not tables:
        return False
    leftovers = sorted(t for t in tables if t.startswith("_alembic_tmp_"))
    if not (leftovers or tables & (CORE_TABLES | {"alembic_version"})):
        raise StoreError(_aside(p, "is an SQLite database but not an MLflow tracking store"))
    if leftovers:
        raise StoreError(_aside(p, f"is half-migrated (an interrupted schema migration left table {leftovers[0]})"))
    if version is None or not CORE_TABLES <= tables:
        raise StoreError(_aside(p, "is half-migrated (its schema is incomplete)"))
    _check_writable(p)
    return True


def ensure_store(db_path, artifact_root):
    """Make sure a complete, migrated MLflow SQLite store exists at ``db_path``, however many
    processes ask at the same moment.

    Inputs:
    - db_path: path of the .db file; missing parent folders are created.
    - artifact_root: where the store's "Default" experiment (id 0) keeps artifacts, if the store
      is new (MLflow would record the creating process's cwd).

    Raises ``StoreError`` for a damaged store (see ``check_store``), and whatever creating it
    raised (a full disk's OSError, MLflow's errors): nothing is left behind then, no store and no
    temporary file, so a later call starts afresh.
    """
    p = Path(db_path)
    if check_store(p):
        return
    p.parent.mkdir(parents=True, exist_ok=True)
    with _locked(p.with_name(p.name + ".lock")):
        if not check_store(p):  # another process may have created it while this one waited
            _create(p, artifact_root)


def _create(p, artifact_root):
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    for stale in p.parent.glob(p.name + ".*.tmp"):  # the lock is ours: these are from creators that died
        _remove(stale)
    tmp = p.with_name(f"{p.name}.{os.getpid()}-{next(_attempts)}.tmp")
    chatty = logging.getLogger("mlflow.store.db.utils")  # "Creating initial MLflow database tables..."
    level = chatty.level
    chatty.setLevel(logging.WARNING)
    try:
        # the constructor migrates the schema and inserts experiment 0 with this artifact root
        SqlAlchemyStore(f"sqlite:///{tmp}", str(Path(artifact_root).absolute()))
        if not check_store(tmp):
            raise StoreError(f"MLflow created no tables in {tmp}")
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        _remove(tmp)
        raise
    finally:
        chatty.setLevel(level)
    _fsync_dir(p.parent)


@contextlib.contextmanager
def _locked(lock_path):
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _remove(tmp):
    for suffix in SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{tmp}{suffix}")


def _fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_writable(p):
    readonly = " (read-only file system)" if os.statvfs(p).f_flag & os.ST_RDONLY else ""
    if not os.access(p, os.W_OK):
        raise StoreError(f"MLflow store {p} is read-only{readonly} and MLflow must write to it to log runs: "
                         f"make it writable (chmod u+w {p}), or point tracking.uri elsewhere")
    if not os.access(p.parent, os.W_OK | os.X_OK):
        raise StoreError(f"the folder of MLflow store {p} is read-only{readonly}; SQLite writes its journal "
                         f"there: make the folder writable, or point tracking.uri elsewhere")


def _aside(p, what):
    return (f"MLflow store {p} {what}: move it aside (mv {p} {p}.broken) and run again to create a new "
            f"store, or point tracking.uri elsewhere")
