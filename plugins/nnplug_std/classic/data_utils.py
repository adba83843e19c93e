"""CS231n's ``cs231n.data_utils.get_CIFAR10_data``: CIFAR-10 as the assignment-2 notebooks load it."""
import numpy as np

from nnplug_std.datasets import cifar10


def get_CIFAR10_data(num_training=49000, num_validation=1000, num_test=1000, subtract_mean=True,
                     cifar10_dir=None, download=False):
    """Load CIFAR-10 and prepare it as CS231n's notebooks use it.

    Inputs:
    - num_training, num_validation, num_test: the first ``num_training`` training images train, the
      next ``num_validation`` validate, the first ``num_test`` test images test (49,000 / 1,000 / 1,000)
    - subtract_mean: subtract the mean training image from every split
    - cifar10_dir: the "cifar-10-batches-py" folder of the official archive (CS231n's
      ``cs231n/datasets/cifar-10-batches-py``); None: nnplug's, ``~/.cache/nnplug/cifar-10-batches-py``
    - download: fetch the official archive there when it is missing (its MD5 checked)

    Returns a dict with exactly the six arrays ``X_train, y_train, X_val, y_val, X_test, y_test``:
    images float64 of shape (N, 3, 32, 32), channels first; labels int64 of shape (N,).
    """
    raw = cifar10.load(root=cifar10_dir, download=download)
    x_train, y_train = raw["X_train"], raw["y_train"]
    if num_training + num_validation > len(x_train) or num_test > len(raw["X_test"]):
        raise ValueError(f"num_training={num_training} + num_validation={num_validation} and num_test={num_test}: "
                         f"the folder holds {len(x_train)} training and {len(raw['X_test'])} test images")
    data = {
        "X_train": x_train[:num_training].astype(np.float64), "y_train": y_train[:num_training].astype(np.int64),
        "X_val": x_train[num_training:num_training + num_validation].astype(np.float64),
        "y_val": y_train[num_training:num_training + num_validation].astype(np.int64),
        "X_test": raw["X_test"][:num_test].astype(np.float64), "y_test": raw["y_test"][:num_test].astype(np.int64),
    }
    if subtract_mean:
        mean_image = np.mean(data["X_train"], axis=0)
        for split in ("X_train", "X_val", "X_test"):
            data[split] -= mean_image
    return data
