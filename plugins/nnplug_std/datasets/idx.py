"""The gzipped IDX files of MNIST and Fashion-MNIST, and the loader the two share.

IDX: a 4-byte magic number (two zero bytes, the type code 0x08 for unsigned bytes, the number of
dimensions), one big-endian uint32 per dimension, then the values in row-major order.
"""
import gzip
import os

import numpy as np

from nnplug.data.fetch import DownloadError, fetch_file

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (N,)
FILES = {
    "X_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "X_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def read_idx(path, magic):
    """The array stored in the gzipped IDX file ``path``, whose magic number must be ``magic``."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:  # not gzip at all (BadGzipFile), or cut short
        raise ValueError(f"{path}: not a gzipped IDX file as published ({exc or type(exc).__name__})") from None
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(f"{path}: IDX magic number {found:#010x}, expected {magic:#010x}")
    ndim = magic & 0xFF
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    if len(data) != offset + int(np.prod(shape)):
        raise ValueError(f"{path}: {len(data) - offset} bytes of values, expected {int(np.prod(shape))} for shape {shape}")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(shape)  # no copy: a view on the bytes


def load_idx_dataset(title, root, download, mirrors, md5, class_names):
    """Raw splits from the four IDX files in ``root``, fetching missing ones from ``mirrors`` in turn
    (verified against ``md5``, a dict keyed by file name) when ``download`` is set."""
    if download:
        for name in _missing(root):
            _fetch(name, root, mirrors, md5[name])
    missing = _missing(root)
    if missing:
        raise FileNotFoundError(
            f"{title} not found in {root}: missing {', '.join(missing)}; put the original gzipped IDX "
            f"files there, or set data.download=true to fetch them from {mirrors[0]}"
        )
    raw = {}
    for key, name in FILES.items():
        path = os.path.join(root, name)
        # images become (N, 1, H, W): one channel, the layout every image data set here uses
        raw[key] = read_idx(path, IMAGES_MAGIC)[:, None] if key.startswith("X") else read_idx(path, LABELS_MAGIC)
    raw["class_names"] = list(class_names)
    return raw


def _missing(root):
    return [name for name in FILES.values() if not os.path.isfile(os.path.join(root, name))]


def _fetch(name, root, mirrors, md5):
    errors = []
    for mirror in mirrors:
        try:
            return fetch_file(f"{mirror.rstrip('/')}/{name}", os.path.join(root, name), md5)
        except DownloadError as exc:  # mirrors come and go: try the next one
            errors.append(str(exc))
    raise DownloadError(f"no mirror could provide {name}: " + "; ".join(errors))
