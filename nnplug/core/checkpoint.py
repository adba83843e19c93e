"""Checkpoint files: a nested state of arrays and plain values, written atomically, read without pickle.

On disk a checkpoint is ONE file, ``<dir>/checkpoint.npz``: a zip archive in numpy's ``.npz``
layout holding

- ``state.json``: the state's tree as JSON (counters, histories, scalars, random generator states,
  the fingerprint of the run), where each array is replaced by ``{"__ndarray__": "<member>"}`` and
  each numpy scalar by ``{"__scalar__": "<member>"}``;
- one ``<member>.npy`` per array, named by its path in the tree (``params/W1``,
  ``optim_configs/W1/m``, ``model_state/2/running_mean``).

One file because only one file can be replaced atomically: the archive is written to a temporary
file in the same folder, flushed and fsynced, renamed over the old checkpoint with ``os.replace``,
and the folder is fsynced so the rename itself survives a power cut. A reader therefore sees the
previous checkpoint or the new one, never a mixture. Inspect one with
``unzip -p checkpoint.npz state.json`` or ``np.load(path)["params/W1"]``.

Nothing here can execute code from a file: arrays are written and read with pickling disabled
(``allow_pickle=False``), the tree is JSON, and any damage (truncation, a flipped byte, an object
array, a missing member) is reported as one ``CheckpointError`` naming the file.
"""
import contextlib
import json
import os
import tempfile
import zipfile

import numpy as np

FILENAME = "checkpoint.npz"
STATE_MEMBER = "state.json"
FORMAT = "nnplug-checkpoint"
VERSION = 1
_ARRAY, _SCALAR = "__ndarray__", "__scalar__"
TEMPORARY = ".tmp"  # the suffix of atomic_write's temporary files (".checkpoint.npz.x8f2.tmp")


class CheckpointError(Exception):
    """A checkpoint could not be written, read, or does not fit the run; the message names the file."""

    def __init__(self, path, reason):
        super().__init__(f"checkpoint {os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


def path_in(directory):
    """The checkpoint file of ``directory``."""
    return os.path.join(os.fspath(directory), FILENAME)


def exists(directory):
    return os.path.isfile(path_in(directory))


def remove_temporaries(directory):
    """Remove the temporary files ``atomic_write`` leaves in ``directory`` when killed mid-write.

    Only call this where no other process writes into ``directory``.
    """
    for name in os.listdir(directory):
        if name.startswith(".") and name.endswith(TEMPORARY):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))


def atomic_write(path, write):
    """Create or replace ``path`` with what ``write(binary_file)`` writes, all or nothing.

    The temporary file lives in the same folder (a rename is only atomic within one file system)
    and is removed again when writing fails or is interrupted.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=TEMPORARY, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def _fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(path, state):
    """Write ``state`` (nested dicts/lists of arrays, numpy scalars and JSON values) to ``path``."""
    arrays = {}
    tree = {"format": FORMAT, "version": VERSION, "state": _split(state, "", arrays, path)}
    try:
        text = json.dumps(tree, allow_nan=False, indent=1)
    except ValueError as exc:  # NaN or inf outside an array: a diverged state is never saved
        raise CheckpointError(path, f"state is not finite: {exc}") from None

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            archive.writestr(STATE_MEMBER, text)
            for name, array in arrays.items():
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)

    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        atomic_write(path, write)
    except OSError as exc:  # a full disk: the previous checkpoint, if any, is still whole
        raise CheckpointError(path, f"could not be written: {exc.strerror or exc}") from None


def check_archive(path):
    """ValueError unless the ``.npz`` at ``path`` is laid out as ``np.savez`` and ``save`` write it: every
    member stored uncompressed and named once, so that reading it takes no more memory than the file
    is large (a compressed member could unpack to any size)."""
    with zipfile.ZipFile(path) as archive:
        names = [info.filename for info in archive.infolist()]
        packed = [info.filename for info in archive.infolist() if info.compress_type != zipfile.ZIP_STORED]
    if packed:
        raise ValueError(f"member {packed[0]} is compressed; nnplug writes its archives uncompressed")
    if len(set(names)) != len(names):
        raise ValueError(f"member {next(n for n in names if names.count(n) > 1)} is in it twice")


def load(path):
    """Read what ``save`` wrote; any damage raises ``CheckpointError`` naming ``path``."""
    if not os.path.isfile(path):
        raise CheckpointError(path, "no such file")
    try:
        check_archive(path)
        with np.load(path, allow_pickle=False) as archive:
            if STATE_MEMBER not in archive.files:
                raise CheckpointError(path, f"not an nnplug checkpoint (no {STATE_MEMBER} inside)")
            tree = json.loads(archive[STATE_MEMBER])
            if not isinstance(tree, dict) or tree.get("format") != FORMAT:
                raise CheckpointError(path, "not an nnplug checkpoint (unknown format)")
            if tree.get("version") != VERSION:
                raise CheckpointError(path, f"format version {tree.get('version')!r}; "
                                            f"this nnplug reads version {VERSION}")
            return _join(tree["state"], archive, set())
    except CheckpointError:
        raise
    except Exception as exc:  # zip, npy header, JSON, pickle refusal, CRC, missing member ...
        raise CheckpointError(path, f"unreadable or corrupt ({type(exc).__name__}: {exc})") from exc


def _split(obj, where, arrays, path):
    """The JSON tree of ``obj``, moving every array into ``arrays`` under its path."""
    if isinstance(obj, (np.ndarray, np.generic)):  # np.float64 is a float: test it first
        array = np.asarray(obj)
        if array.dtype.hasobject:
            raise CheckpointError(path, f"{where or '/'} holds Python objects, which only a pickle could store")
        name = where.lstrip("/") or "root"
        if name in arrays:
            raise CheckpointError(path, f"two arrays would share the member name {name!r}")
        arrays[name] = array
        return {_SCALAR if isinstance(obj, np.generic) else _ARRAY: name}
    if isinstance(obj, dict):
        if not all(isinstance(key, str) for key in obj):
            raise CheckpointError(path, f"{where or '/'} has a key that is not a string")
        return {key: _split(value, f"{where}/{key}", arrays, path) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split(value, f"{where}/{i}", arrays, path) for i, value in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise CheckpointError(path, f"{where or '/'} is a {type(obj).__name__}, which a checkpoint cannot hold")


def _join(tree, archive, used):
    """The state ``tree`` describes, each member read once: ``save`` names each array once, so a member
    named twice is damage, and reading it again and again could take far more memory than the file."""
    if isinstance(tree, dict):
        if len(tree) == 1 and (_ARRAY in tree or _SCALAR in tree):
            member = tree.get(_ARRAY, tree.get(_SCALAR))
            if member in used:
                raise ValueError(f"the state names member {member!r} more than once")
            used.add(member)
            return archive[member] if _ARRAY in tree else archive[member][()]
        return {key: _join(value, archive, used) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_join(value, archive, used) for value in tree]
    return tree
