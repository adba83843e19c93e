"""Fashion-MNIST from the original gzipped IDX files in ``root``, optionally downloaded.

Debian's ``dataset-fashion-mnist`` package installs those files in ``/usr/share/datasets/fashion-mnist``;
that is the default root where it exists. (Its files are recompressed, so their MD5s differ from the
published ones; checksums apply to downloads only.)
"""
import os

from nnplug.data import default_root
from nnplug.contract.kinds import Dataset

from .idx import load_idx_dataset

SYSTEM_ROOT = "/usr/share/datasets/fashion-mnist"
MIRRORS = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def load(root=None, download=False, url=None, md5=MD5):
    """``url``: one mirror (a folder URL) to use instead of the published one."""
    if not root:
        root = SYSTEM_ROOT if os.path.isdir(SYSTEM_ROOT) else default_root("fashion-mnist")
    root = os.path.expanduser(root)
    return load_idx_dataset("Fashion-MNIST", root, download, [url] if url else MIRRORS, md5, CLASS_NAMES)


DATASET = Dataset(
    "fashion_mnist", load,
    "Fashion-MNIST, 60,000/10,000 28x28 clothing images in 10 classes, from the original gzipped IDX files",
    {"root": None, "download": False, "url": None, "md5": MD5},
    option_types={"root": (str, type(None)), "url": (str, type(None))},
)
