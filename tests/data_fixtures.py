"""Small data sets written in the exact published formats, and an HTTP server to download them from.

The CIFAR writer reproduces the Python 2 pickles of the official "CIFAR-10 python version": byte
strings as STRING opcodes (not Python 3's ``_codecs.encode``) and numpy's array reconstruction under
its pre-2.0 name ``numpy.core.multiarray._reconstruct``. The IDX writer produces the gzipped files of
MNIST and Fashion-MNIST with their magic numbers.
"""
import gzip
import hashlib
import http.server
import io
import os
import pickle
import struct
import tarfile
import threading

import numpy as np

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_reconstruct = np.ndarray.__reduce__(np.zeros(1, np.uint8))[0]


class Py2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote for the official CIFAR batch files."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj, name=None):
        if obj is _reconstruct:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)

    dispatch[type(len)] = save_global


def py2_pickle(obj):
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def dump_py2(obj, path):
    with open(path, "wb") as f:
        f.write(py2_pickle(obj))


def cifar_arrays(n_train=50, n_test=10, seed=0):
    """Random uint8 rows of 3,072 values and labels 0..9, as the official batches hold them."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n_train, 3072), dtype=np.uint8), rng.integers(0, 10, n_train),
            rng.integers(0, 256, (n_test, 3072), dtype=np.uint8), rng.integers(0, 10, n_test))


def write_cifar_folder(folder, n_train=50, n_test=10, seed=0):
    """A complete "cifar-10-batches-py" folder: five training batches, test_batch, batches.meta.

    Returns ``(x_train, y_train, x_test, y_test)`` with x as the N x 3072 rows that were written."""
    os.makedirs(folder, exist_ok=True)
    x_train, y_train, x_test, y_test = cifar_arrays(n_train, n_test, seed)
    for i, rows in enumerate(np.array_split(np.arange(n_train), 5)):
        _write_batch(os.path.join(folder, f"data_batch_{i + 1}"), x_train[rows], y_train[rows],
                     f"training batch {i + 1} of 5")
    _write_batch(os.path.join(folder, "test_batch"), x_test, y_test, "testing batch 1 of 1")
    dump_py2({b"label_names": [n.encode() for n in CIFAR_NAMES], b"num_cases_per_batch": n_train // 5,
              b"num_vis": 3072}, os.path.join(folder, "batches.meta"))
    return x_train, y_train, x_test, y_test


def _write_batch(path, x, y, label):
    dump_py2({b"batch_label": label.encode(), b"labels": [int(v) for v in y], b"data": x,
              b"filenames": [b"img_%05d.png" % i for i in range(len(y))]}, path)


def cifar_archive(tmp_dir, seed=0):
    """The bytes of a tar.gz laid out like the official one (one top folder cifar-10-batches-py)."""
    folder = os.path.join(tmp_dir, "cifar-10-batches-py")
    arrays = write_cifar_folder(folder, seed=seed)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return buffer.getvalue(), arrays


def idx_bytes(array):
    """An array of uint8 as an IDX file: magic 0x0000 08 <ndim>, big-endian dims, the values."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def mnist_files(n_train=30, n_test=10, seed=0, side=28):
    """The four gzipped IDX files as ``{file name: bytes}``, and the arrays in them."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    return {name: gzip.compress(idx_bytes(a)) for name, a in arrays.items()}, arrays


def write_files(folder, files):
    os.makedirs(folder, exist_ok=True)
    for name, content in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(content)


def md5(content):
    return hashlib.md5(content).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.routes[path] = (body, cut)``; with ``cut`` set it announces the full length,
    sends only the first ``cut`` bytes and closes the connection: an interrupted transfer."""

    def do_GET(self):
        body, cut = self.server.routes.get(self.path, (None, None))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if cut is None else body[:cut])
        self.close_connection = True

    def log_message(self, *args):  # keep test output clean
        pass


class LocalServer:
    """A real HTTP server on 127.0.0.1 and a free port, in a thread."""

    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.routes = {}
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # a short poll interval so that shutdown() returns at once instead of after 0.5 s
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def serve(self, path, body, cut=None):
        self.httpd.routes[path] = (body, cut)
        return self.url + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
