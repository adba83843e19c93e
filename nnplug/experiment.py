"""One experiment, start to end: config -> data -> model -> Solver + tracker -> train -> test.

Hydra-free on purpose: ``nnplug.app`` hands in the composed config and where to write, so the
same function serves a single run, every job of a sweep, and a test.
"""
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from omegaconf import OmegaConf

from nnplug import config, tracking


@dataclass(frozen=True)
class Result:
    name: str
    best_val_acc: float
    test_acc: float
    train_acc: float  # at the last check
    val_acc: float  # at the last check
    seconds: float  # training
    tracking_uri: str
    experiment_id: str
    run_id: str
    output_dir: Path


def run(cfg, *, output_dir, cwd, parent_run_id=None, command="nnplug", tags=None, job=None, registry=None):
    """Validate ``cfg``, train it with one MLflow run logged, and return the ``Result``.

    ``job`` (the number of a sweep job) tells apart the run names of jobs with the same plugins;
    ``registry`` defaults to the process-wide one.

    Invalid configs raise ``config.ConfigError`` before anything is loaded or logged; every
    later failure ends the MLflow run FAILED with its reason and propagates.
    """
    from nnplug.registry import default_registry

    registry = registry or default_registry()
    settings = config.validate(cfg, registry)
    output_dir = Path(output_dir)
    name = run_name(settings) + (f" #{job}" if job is not None else "")
    tracker = tracking.MlflowTracker(
        tracking.tracking_uri(settings["tracking"]["uri"], cwd),
        settings["tracking"]["experiment"],
        run_name=name,
        params=flatten(settings),
        tags={**plugin_tags(registry, settings), "nnplug.command": command,
              "nnplug.output_dir": str(output_dir.resolve()), **(tags or {})},
        parent_run_id=parent_run_id,
    )
    with tracker:
        data = load_data(settings, registry)
        solver = build_solver(settings, data, registry, listeners=(tracker,))
        start = time.perf_counter()
        solver.train()  # ends with the best parameters swapped into the model
        seconds = time.perf_counter() - start
        test_acc = solver.check_accuracy(data["X_test"], data["y_test"])
        tracker.log_metrics({"best_val_acc": solver.best_val_acc, "test_acc": test_acc,
                             "train_seconds": seconds})
        tracker.log_artifacts(write_artifacts(output_dir, settings, solver))
    return Result(
        name=name,
        best_val_acc=float(solver.best_val_acc),
        test_acc=float(test_acc),
        train_acc=float(solver.train_acc_history[-1]) if solver.train_acc_history else float("nan"),
        val_acc=float(solver.val_acc_history[-1]) if solver.val_acc_history else float("nan"),
        seconds=seconds,
        tracking_uri=tracker.uri,
        experiment_id=tracker.experiment_id,
        run_id=tracker.run_id,
        output_dir=output_dir,
    )


def load_data(settings, registry):
    from nnplug.data import load

    return load(**settings["data"], registry=registry)


def build_solver(settings, data, registry, listeners=()):
    from nnplug.model import Network
    from nnplug.solver import Solver

    layer, optim = settings["layer"], settings["optim"]
    model = Network(
        input_dim=data["input_dim"],
        num_classes=data["num_classes"],
        block=tuple(layer["block"]),
        loss=settings["loss"]["name"],
        layer_options=layer["options"] or None,
        registry=registry,
        **settings["model"],
    )
    return Solver(
        model,
        data,
        registry=registry,
        update_rule=optim["name"],
        optim_config={key: value for key, value in optim.items() if key != "name"},
        listeners=listeners,
        **settings["solver"],
    )


def write_artifacts(output_dir, settings, solver):
    """The resolved config, the best parameters and the training curves, written to ``output_dir``."""
    import numpy as np

    from nnplug.plots import training_curves

    output_dir.mkdir(parents=True, exist_ok=True)
    config_file = output_dir / "config.yaml"
    config_file.write_text(OmegaConf.to_yaml(settings))
    params_file = output_dir / "best_params.npz"
    np.savez(params_file, **solver.model.params)  # arrays only: loads with allow_pickle=False
    curves_file = training_curves(solver.loss_history, solver.train_acc_history, solver.val_acc_history,
                                  output_dir / "curves.png", title=run_name(settings))
    return [config_file, params_file, curves_file]


def run_name(settings):
    """Names the chosen plugins: ``digits:affine-batchnorm-relu:adam``."""
    block = "-".join(settings["layer"]["block"])
    return f"{settings['data']['name']}:{block}:{settings['optim']['name']}"


def flatten(settings, prefix=""):
    """``{"optim": {"learning_rate": 0.001}}`` -> ``{"optim.learning_rate": 0.001}``; lists stay whole."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def plugin_tags(registry, settings):
    """The chosen plugins and the distribution and version that provide each."""
    layers = list(settings["layer"]["block"])
    if settings["model"]["dropout"] > 0:
        layers.append("dropout")
    used = [("datasets", settings["data"]["name"]), ("losses", settings["loss"]["name"]),
            ("optimizers", settings["optim"]["name"]), *(("layers", name) for name in dict.fromkeys(layers))]
    tags = {
        "nnplug.data": settings["data"]["name"],
        "nnplug.layer": "-".join(settings["layer"]["block"]),
        "nnplug.loss": settings["loss"]["name"],
        "nnplug.optim": settings["optim"]["name"],
        "nnplug.version": _version("nnplug"),
    }
    for kind, name in used:
        info = registry.info(kind, name)
        tags[f"nnplug.plugin.{kind}.{name}"] = f"{info.dist} {info.version}"
    return tags


def _version(dist):
    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"
