"""The ``python_function`` flavor of an nnplug model: the ``loader_module`` its MLmodel file names.

``mlflow.pyfunc.load_model(uri)`` (and ``mlflow models serve``) imports this module and calls
``_load_pyfunc`` with the model's ``data/`` folder, which ``nnplug.core.trained_model`` wrote: no
pickle, no cloudpickled class; the code is the installed nnplug and its plugins.

``predict(raw_X)`` returns the predicted class of each raw sample (int64); with
``params={"output": "probabilities"}`` the ``(N, C)`` softmax of the scores instead; with
``params={"tta": "flip"}`` (or ``"flip_shift"``) the scores are averaged over views of each image
(``nnplug.core.tta``), as the run's ``test_acc_tta`` was scored.
"""
from pathlib import Path

import numpy as np

from nnplug.core.trained_model import TrainedModel
from nnplug.core.tta import TTA
from nnplug.tracking.model_folder import DATA, OWN_FILES as DATA_DIR

OUTPUTS = ("classes", "probabilities")
DEFAULT_OUTPUT = OUTPUTS[0]
DEFAULT_TTA = TTA[0]


def _load_pyfunc(data_path):  # the name MLflow's loader_module contract requires
    """The predictor of the model whose nnplug folder is ``data_path``: ``<model folder>/data/nnplug``,
    as every nnplug model writes it; a path that leads elsewhere (``..``, a symlink) is refused."""
    path = Path(data_path)
    if ".." in path.parts or path.parts[-2:] != (DATA, DATA_DIR) or \
            path.resolve() != path.parent.parent.resolve() / DATA / DATA_DIR:
        raise ValueError(f"{data_path}: an nnplug model's data is its folder's {DATA}/{DATA_DIR}; this "
                         f"MLmodel points elsewhere")
    return NnplugPredictor(TrainedModel.load(data_path))


class NnplugPredictor:
    """What ``mlflow.pyfunc`` wraps: ``predict(model_input, params=None)`` on raw samples."""

    def __init__(self, trained):
        self.trained = trained

    def predict(self, model_input, params=None):
        """Inputs: model_input, raw samples ``(N, *sample_shape)`` as the data set gives them;
        params: ``{"output": "classes" | "probabilities", "tta": "none" | "flip" | "flip_shift"}``
        (default classes, none).

        Returns ``(N,)`` int64 class indices, or ``(N, C)`` float64 probabilities. Input the model does
        not take (``TrainedModel.inputs``) raises MLflow's error for an invalid value, whose one-line
        message a model server passes on to its client (any other error it hides).
        """
        try:
            output = (params or {}).get("output", DEFAULT_OUTPUT)
            if output not in OUTPUTS:
                raise ValueError(f"params output={output!r}: expected one of {', '.join(OUTPUTS)}")
            tta = (params or {}).get("tta", DEFAULT_TTA)
            if tta not in TTA:
                raise ValueError(f"params tta={tta!r}: expected one of {', '.join(TTA)}")
            raw = np.asarray(model_input)
            return self.trained.predict(raw, tta) if output == "classes" else self.trained.probabilities(raw, tta)
        except ValueError as exc:
            from mlflow.exceptions import MlflowException

            raise MlflowException.invalid_parameter_value(str(exc)) from None

    def get_raw_model(self):
        """The ``TrainedModel`` (MLflow's ``PyFuncModel.get_raw_model()`` returns it)."""
        return self.trained
