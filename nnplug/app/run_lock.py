"""One process at a time trains a run folder: a lock on ``<run folder>/checkpoint/lock``.

Two resumes of one folder at once would both append to the same MLflow run and overwrite each
other's checkpoints. The lock is an ``flock`` on a file holding the holder's PID, so a second
process can say who holds it; the operating system releases it however the holder ends, so a
killed run never leaves a folder locked.
"""
import fcntl
import os
from contextlib import contextmanager

from nnplug.app.errors import ConfigError
from nnplug.app.run_record import LOCK_FILE
from nnplug.core import checkpoint


@contextmanager
def run_folder_locked(checkpoint_dir):
    """Hold the lock of the run folder whose checkpoint folder is ``checkpoint_dir`` for the block.

    Raises ``ConfigError`` naming the PID when another process trains the folder. Once locked,
    temporary files a killed writer left in the checkpoint folder are removed: nobody else writes
    there.
    """
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(checkpoint_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            raise ConfigError([f"{checkpoint_dir.parent} is being trained by process {holder}: wait for it "
                               f"to end, or stop it, before resuming it"]) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        checkpoint.remove_temporaries(checkpoint_dir)
        yield
    finally:
        os.close(fd)  # releases the lock
