"""The MLflow Model folder of a trained nnplug model, written file by file.

The folder is what ``mlflow.pyfunc.save_model`` would write for a ``loader_module`` model, laid out
as MLflow's model format documents it:

    MLmodel                     the python_function flavor (``mlflow.pyfunc.add_to_model``),
                                signature, input-example info, metadata
    data/nnplug/                the model's own files (``nnplug.core.trained_model``)
    requirements.txt            pinned requirements: MLflow, nnplug, numpy, the plugins' distributions
    python_env.yaml, conda.yaml the same requirements for ``--env-manager virtualenv`` and conda
    input_example.json,         a few raw samples, as MLflow writes a tensor example
    serving_input_example.json  (``mlflow.models.convert_input_example_to_serving_input``)

It is written here rather than by ``save_model`` because ``save_model`` checks every given
requirement against the installed distributions, indexing the files of every package on the
machine, and that took longer than training the default experiment. The requirements written
here are the ones the running process has, so there is nothing to check. MLflow is imported
inside the function (``nnplug.tracking``).
"""
import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml

DATA = "data"
OWN_FILES = "nnplug"  # data/nnplug: the model's own files (nnplug.core.trained_model's folder)
ENV_FILES = {"requirements": "requirements.txt", "virtualenv": "python_env.yaml", "conda": "conda.yaml"}
EXAMPLE_FILE, SERVING_EXAMPLE_FILE = "input_example.json", "serving_input_example.json"
BUILD_PACKAGES = ("pip", "setuptools", "wheel")


def write(folder, model, loader_module, data, requirements, example):
    """Write the MLflow Model folder ``folder`` (it must not exist yet).

    Inputs:
    - model: the ``mlflow.models.Model`` describing it (ids, signature, metadata); this adds the
      python_function flavor and the input example's info to it, then saves it as ``MLmodel``;
    - loader_module: the module ``mlflow.pyfunc`` loads the model with;
    - data: ``(name, save)``: the model's own files are written by ``save(path)``
      (``TrainedModel.save``) into the folder ``data/<name>``;
    - requirements: pinned ``dist==version`` lines besides MLflow's own;
    - example: a few raw samples, an ndarray ``(k, *sample_shape)``.
    """
    import mlflow
    import mlflow.pyfunc
    from mlflow.models import convert_input_example_to_serving_input

    folder = Path(folder)
    data_name, save = data
    save(folder / DATA / data_name)
    pins = [f"mlflow=={mlflow.__version__}", *requirements]
    (folder / ENV_FILES["requirements"]).write_text("\n".join(pins))
    python = platform.python_version()
    build = [_pin(package) for package in BUILD_PACKAGES]
    _write_yaml(folder / ENV_FILES["virtualenv"],
                {"python": python, "build_dependencies": build, "dependencies": [f"-r {ENV_FILES['requirements']}"]})
    _write_yaml(folder / ENV_FILES["conda"], {"name": "mlflow-env", "channels": ["conda-forge"], "dependencies": [
        f"python={python}", build[0].replace("==", "<="), {"pip": pins}]})
    serving = convert_input_example_to_serving_input(example)
    (folder / SERVING_EXAMPLE_FILE).write_text(serving)
    (folder / EXAMPLE_FILE).write_text(json.dumps(json.loads(serving)["inputs"]))
    model.saved_input_example_info = {"artifact_path": EXAMPLE_FILE, "serving_input_path": SERVING_EXAMPLE_FILE,
                                      "type": "ndarray"}
    mlflow.pyfunc.add_to_model(model, loader_module=loader_module, data=f"{DATA}/{data_name}",
                               conda_env=ENV_FILES["conda"], python_env=ENV_FILES["virtualenv"], streamable=False)
    model.model_size_bytes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    model.save(str(folder / "MLmodel"))


def _pin(package):
    try:
        return f"{package}=={version(package)}"
    except PackageNotFoundError:
        return package


def _write_yaml(path, content):
    path.write_text(yaml.safe_dump(content, sort_keys=False, default_flow_style=False))
