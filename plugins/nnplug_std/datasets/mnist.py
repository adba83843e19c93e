"""MNIST from the original gzipped IDX files in ``root``, optionally downloaded from a mirror."""
import os

from nnplug.data import default_root
from nnplug.contract.kinds import Dataset

from .idx import load_idx_dataset

# The original host (yann.lecun.com) now often refuses downloads; PyTorch's mirror serves the same files.
MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def load(root=None, download=False, url=None, md5=MD5):
    """``url``: one mirror (a folder URL) to use instead of the published ones."""
    root = os.path.expanduser(root) if root else default_root("mnist")
    return load_idx_dataset("MNIST", root, download, [url] if url else MIRRORS, md5, [str(d) for d in range(10)])


DATASET = Dataset(
    "mnist", load,
    "MNIST, 60,000/10,000 28x28 handwritten digits, from the original gzipped IDX files",
    {"root": None, "download": False, "url": None, "md5": MD5},
    option_types={"root": (str, type(None)), "url": (str, type(None))},
)
