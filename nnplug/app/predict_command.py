"""``nnplug predict URI FILE``: a logged model's predictions for the raw samples in a file.

    nnplug predict runs:/<run id>/model samples.npz                # -> samples_predictions.npz
    nnplug predict models:/digits/1 samples.npz --probabilities -o out.npz

FILE is a ``.npz`` (the array under ``--key``: ``X`` by default, else ``X_test``, else its only
array) or a ``.npy``, read without pickle; its samples are raw, as the model's data set gives them
(the model applies the preprocessing it was trained with). The output ``.npz`` holds
``predictions`` (class indices), ``class_names`` and, with ``--probabilities``, ``probabilities``
(N, C); it is written whole or not at all.

Only argparse is imported before the arguments are parsed: ``nnplug predict --help`` is instant.
"""
import argparse
import os
import zipfile

DEFAULT_KEYS = ("X", "X_test")


def main(argv=None):
    args = parser().parse_args(argv)
    from nnplug.app.model_commands import run_command

    return run_command(lambda: predict(args))


def parser():
    p = argparse.ArgumentParser(prog="nnplug predict",
                                description="Write a logged model's predictions for the raw samples in FILE.")
    p.add_argument("uri", metavar="URI", help="runs:/<run id>/model, models:/<name>/<version>, "
                                              "models:/<name>@<alias>, or a model folder")
    p.add_argument("file", metavar="FILE", help="a .npz (the array under --key) or .npy of raw samples")
    p.add_argument("--key", help="the array of FILE to predict (default: X, else X_test, else its only array)")
    p.add_argument("-o", "--output", help="where to write the predictions (default: FILE's name + _predictions.npz "
                                          "in the current folder)")
    p.add_argument("--probabilities", action="store_true", help="also write each class's probability")
    p.add_argument("--tracking-uri", help="the MLflow store URI is looked up in "
                                          "(default: $MLFLOW_TRACKING_URI, else outputs/mlflow.db here)")
    return p


def predict(args):
    """Read, check and predict everything before writing anything; returns nothing, prints where it wrote."""
    import numpy as np

    from nnplug.app.model_commands import open_for_command

    key, samples = read_samples(args.file, args.key)
    path = args.output or f"{os.path.splitext(os.path.basename(args.file))[0]}_predictions.npz"
    if os.path.isdir(path):
        raise ValueError(f"--output {path}: is a folder; expected the name of the .npz file to write")
    found = open_for_command(args.uri, args.tracking_uri)
    try:
        found.trained.check(samples)
    except ValueError as exc:
        raise ValueError(f"{args.file}: {key or 'the array'} holds {exc} ({args.uri})") from None
    output = {"predictions": found.trained.predict(samples), "class_names": np.array(found.trained.class_names)}
    if args.probabilities:
        output["probabilities"] = found.trained.probabilities(samples)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"--output {path}: the folder {folder} does not exist")
    write_whole(path, lambda f: np.savez(f, **output))
    print(f"{len(samples):,} predictions by {args.uri} written to {path}")


def write_whole(path, write):
    """Create or replace ``path`` with what ``write(binary file)`` writes, all or nothing: into a temporary
    file beside it (opened as ``open`` opens files, so the user's umask applies), then renamed."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "xb") as f:
            write(f)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def read_samples(path, key=None):
    """``(key, array)`` of the raw samples in ``path`` (.npz under ``key``; a .npy's key is None);
    ValueError in one line when there is no such array."""
    import numpy as np

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError:  # a pickle, which is refused, or an object array
        raise ValueError(f"{path}: not a .npz or .npy file of numeric arrays (pickles are not read)") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:  # truncated, or not numpy's at all
        raise ValueError(f"{path}: not a readable .npz or .npy file ({exc})") from None
    if isinstance(loaded, np.ndarray):
        if key:
            raise ValueError(f"--key {key}: {path} is a .npy file, a single array without names")
        return None, loaded
    try:
        return _pick(loaded, path, key)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:  # a member cut short
        raise ValueError(f"{path}: not a readable .npz or .npy file ({exc})") from None
    finally:
        loaded.close()


def _pick(loaded, path, key):
    """``(key, array)`` from the open ``.npz`` ``loaded``."""
    names = loaded.files
    chosen = key or next((k for k in DEFAULT_KEYS if k in names), names[0] if len(names) == 1 else None)
    if chosen not in names:
        held = ", ".join(names) or "nothing"
        wanted = f"array {key!r}" if key else f"array named {' or '.join(DEFAULT_KEYS)}"
        raise ValueError(f"{path}: no {wanted} (it holds {held}); name one with --key")
    try:
        return chosen, loaded[chosen]
    except ValueError:
        raise ValueError(f"{path}: {chosen} holds Python objects, not numbers") from None

