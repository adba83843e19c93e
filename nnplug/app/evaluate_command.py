"""``nnplug evaluate URI data=...``: a logged model's accuracy on the test split of any data set it fits.

    nnplug evaluate models:/digits/1                              # the data set it was trained on
    nnplug evaluate runs:/<run id>/model data=npz data.path=other.npz --log

The data set is the one the model's run trained on (its logged config's ``data``), or chosen as for
training (``data=NAME`` and ``data.KEY=VALUE`` overrides, composed by Hydra from the same config
tree; a model folder that no run logged gets the config's default, digits); its raw test samples go
through the model's own preprocessing
(the statistics of the split it was trained on), not the data set's. It prints the accuracy and
writes ``confusion_matrix.png``, ``confusion.csv``, ``predictions.npz`` and ``evaluation.json``
into ``--output`` (default ``outputs/evaluate/<date>/<time>``); ``--log`` also records them as an
MLflow run (tagged ``nnplug.evaluation``) with ``test_acc``, the model as its input. ``--tta flip``
(or ``flip_shift``) also scores the images with test-time augmentation: ``test_acc_tta``.

Only argparse is imported before the arguments are parsed: ``nnplug evaluate --help`` is instant.
"""
import argparse


def main(argv=None):
    args = parser().parse_intermixed_args(argv)  # overrides may come before or after the options
    from nnplug.app.model_commands import run_command

    return run_command(lambda: evaluate(args))


def parser():
    p = argparse.ArgumentParser(prog="nnplug evaluate",
                                description="A logged model's accuracy and confusion matrix on a data set's test split.")
    p.add_argument("uri", metavar="URI", help="runs:/<run id>/model, models:/<name>/<version>, "
                                              "models:/<name>@<alias>, or a model folder")
    p.add_argument("overrides", nargs="*", metavar="data=NAME|data.KEY=VALUE",
                   help="the data set, as for training (default: the one the model's run trained on)")
    p.add_argument("--log", action="store_true", help="also log the evaluation as an MLflow run")
    p.add_argument("--tta", choices=("flip", "flip_shift"),
                   help="also the accuracy with test-time augmentation: each image with its mirror "
                        "(flip_shift: and both shifted by one pixel)")
    p.add_argument("--experiment", default="nnplug", help="the MLflow experiment of --log (default: %(default)s)")
    p.add_argument("-o", "--output", help="the folder to write into (default: outputs/evaluate/<date>/<time>)")
    p.add_argument("--tracking-uri", help="the MLflow store: where URI is looked up and --log logs "
                                          "(default: $MLFLOW_TRACKING_URI, else outputs/mlflow.db here)")
    return p


def evaluate(args):
    """Check and compute everything, then write; prints the accuracy and where the files are."""
    import numpy as np

    from nnplug.app import evaluation
    from nnplug.app.model_commands import open_for_command

    evaluation.check_output(args.output)
    data = evaluation.data_settings(args.overrides) if args.overrides else None  # checked before the model is read
    found = open_for_command(args.uri, args.tracking_uri)
    if data is None:
        data = evaluation.data_settings([], evaluation.trained_on(found, args.tracking_uri))
    raw = evaluation.test_split(data, found)
    evaluation.check_tta(args.tta, found)
    logging_to = evaluation.open_store(args.tracking_uri, args.experiment) if args.log else None
    y_pred = found.trained.predict(raw["X_test"])
    accuracy = float(np.mean(y_pred == raw["y_test"]))
    tta = evaluation.with_tta(args.tta, found, raw)
    folder = evaluation.write(args.output, found, data, raw["y_test"], y_pred, accuracy, tta)
    correct = int(np.sum(y_pred == raw["y_test"]))
    print(f"test accuracy {accuracy:.4f} ({correct:,} of {len(y_pred):,}) of {args.uri} on {data['name']}")
    if tta is not None:
        print(f"test accuracy {tta['test_acc']:.4f} with test-time augmentation ({args.tta})")
    if logging_to is not None:
        client, experiment_id, uri = logging_to
        run_id = evaluation.log(client, experiment_id, found, data, accuracy, folder, tta)
        print(f"MLflow run {run_id} (experiment {experiment_id}) in {uri}")
    print(f"Outputs: {folder}")
