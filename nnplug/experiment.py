"""One experiment, start to end: config -> data -> model -> Solver + tracker -> train -> test.

Hydra-free on purpose: ``nnplug.app`` hands in the composed config and where to write, so the
same function serves a single run, every job of a sweep, and a test.

A run folder's ``checkpoint/`` holds the Solver's checkpoint and ``run.json``, written as soon as
the MLflow run exists: that run's id, its store and the config it trains. ``solver.resume=true``
reads it to continue exactly that run, in the same MLflow run, from the last checkpoint.
"""
import json
import logging
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from omegaconf import OmegaConf

from nnplug import blas, checkpoint, collector, config, tracking
from nnplug.progress import Progress

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
RUN_RECORD = "run.json"


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
    samples_per_second: float | None = None  # None for a finished run that is only reported


def run(cfg, *, output_dir, cwd, parent_run_id=None, command="nnplug", job=None, registry=None,
        shares_cores=False):
    """Validate ``cfg``, train it with one MLflow run logged, and return the ``Result``.

    ``job`` (the number of a sweep job) tells apart the run names of jobs with the same plugins;
    ``registry`` defaults to the process-wide one. ``shares_cores`` says that other jobs run beside
    this one (a parallel sweep): no core is spare, so the metrics are stored inline, not by the
    writer process, and the Solver gathers its minibatches itself, not ahead on a helper thread.

    A small net trains with one BLAS thread and its metrics go to the writer process; a large one
    gives BLAS every core and stores its metrics inline (``nnplug.blas``). The run's
    ``nnplug.blas_threads`` tag says which.

    With ``solver.resume`` it continues the run recorded in ``output_dir`` instead, in its MLflow
    run and store, from its last checkpoint; a run that finished already is only reported. A
    sweep job (``job`` given) with nothing recorded starts now: the stopped sweep never got to it.

    Invalid configs, and a resume that does not fit (another config, no record, a run gone
    from its store), raise before anything is loaded or logged; every later failure ends the
    MLflow run FAILED with its reason and propagates.
    """
    from nnplug.registry import default_registry

    registry = registry or default_registry()
    settings = config.validate(cfg, registry)
    output_dir = Path(output_dir)
    checkpoint_dir = output_dir / CHECKPOINT_DIR
    name = run_name(settings) + (f" #{job}" if job is not None else "")
    resumed = read_run_record(output_dir, settings, in_sweep=job is not None) if settings["solver"]["resume"] else None
    if resumed is not None:
        finished = tracking.finished_metrics(resumed["tracking_uri"], resumed["run_id"])
        if finished is not None:
            log.info(f"MLflow run {resumed['run_id']} finished already: nothing to resume in {output_dir}")
            return finished_result(name, resumed, finished, output_dir)
    tracker = tracking.MlflowTracker(
        # the recorded store, not the default one under the cwd, which may be another folder now
        resumed["tracking_uri"] if resumed else tracking.tracking_uri(settings["tracking"]["uri"], cwd),
        settings["tracking"]["experiment"],
        run_name=name,
        params=flatten(settings),
        tags={**plugin_tags(registry, settings), "nnplug.command": command,
              "nnplug.output_dir": str(output_dir.resolve())},
        parent_run_id=parent_run_id,
        resume_run_id=resumed and resumed["run_id"],
        background=not shares_cores,
    )
    # sweep jobs may share a terminal with other jobs: labelled lines, no live bar
    progress = Progress(enabled=settings["solver"]["verbose"], live=False if job is not None else None,
                        label=None if job is None else f"#{job}")
    with tracker:
        if resumed is None:
            write_run_record(checkpoint_dir, tracker, settings)
        data = load_data(settings, registry)
        solver = build_solver(settings, data, registry, listeners=(tracker, progress),
                              checkpoint_dir=checkpoint_dir, prefetch=False if shares_cores else None)
        if resumed is not None and checkpoint.exists(checkpoint_dir):
            solver.restore(checkpoint_dir)
        collector.settle()  # all that lives until the process ends exists now
        small = blas.one_thread_suffices(solver.model, solver.batch_size)
        if not small:
            tracker.write_inline()  # BLAS takes every core: none is left for the writer process
        with blas.limited(1 if small else None):
            tracker.set_tags({"nnplug.blas_threads": str(blas.current_threads())})
            start = time.perf_counter()
            solver.train()  # ends with the best parameters swapped into the model
            seconds = time.perf_counter() - start
            test_acc = solver.check_accuracy(data["X_test"], data["y_test"])
        tracker.log_metrics({"best_val_acc": solver.best_val_acc, "test_acc": test_acc,
                             "train_seconds": seconds})
        tracker.log_artifacts(write_artifacts(output_dir, settings, solver, data))
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
        samples_per_second=progress.samples_per_second,
    )


def finished_result(name, record, metrics, output_dir):
    """The ``Result`` of the recorded run, which finished already, from the metrics it logged."""
    return Result(name=name, best_val_acc=metrics["best_val_acc"], test_acc=metrics["test_acc"],
                  train_acc=metrics["train_acc"], val_acc=metrics["val_acc"], seconds=metrics["train_seconds"],
                  tracking_uri=record["tracking_uri"], experiment_id=record["experiment_id"],
                  run_id=record["run_id"], output_dir=output_dir)


def resumable_config(settings):
    """The settings a resumed run must share with the run it continues: all but ``solver.resume``."""
    flat = flatten(settings)
    del flat["solver.resume"]
    return json.loads(json.dumps(flat))  # as run.json gives it back: lists, not tuples


def write_run_record(checkpoint_dir, tracker, settings):
    """Record the MLflow run that ``tracker`` opened, where a resume will look for it."""
    record = {"run_id": tracker.run_id, "experiment_id": tracker.experiment_id, "tracking_uri": tracker.uri,
              "config": resumable_config(settings)}
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.atomic_write(checkpoint_dir / RUN_RECORD, lambda f: f.write(json.dumps(record, indent=1).encode()))


def read_run_record(output_dir, settings, in_sweep):
    """The run recorded in ``output_dir``, after checking that ``settings`` are the ones it trains.

    None for a sweep job without a record: the stopped sweep never started it.
    """
    path = output_dir / CHECKPOINT_DIR / RUN_RECORD
    if not path.is_file():
        if in_sweep:
            log.info(f"solver.resume=true: nothing to resume in {output_dir}; this job starts afresh")
            return None
        raise config.ConfigError([f"solver.resume=true: nothing to resume in {output_dir} "
                                  f"(set hydra.run.dir to the run's folder)"])
    try:
        record = json.loads(path.read_text())
        recorded = dict(record["config"])
        if not all(isinstance(record[key], str) for key in ("run_id", "experiment_id", "tracking_uri")):
            raise TypeError("run_id, experiment_id and tracking_uri must be strings")
    except (OSError, ValueError, LookupError, TypeError) as exc:
        raise checkpoint.CheckpointError(path, f"not a readable run record ({type(exc).__name__}: {exc})") from None
    now = resumable_config(settings)
    changed = [key for key in sorted(set(recorded) | set(now)) if recorded.get(key, ...) != now.get(key, ...)]
    if changed:
        def shown(values, key):
            return f"{values[key]!r}" if key in values else "unset"
        differences = "; ".join(f"{key} {shown(recorded, key)} there, {shown(now, key)} now" for key in changed)
        raise config.ConfigError([f"solver.resume=true: the run in {output_dir} has another config: "
                                  f"{differences} (resume it with the overrides it ran with)"])
    return record


def load_data(settings, registry):
    from nnplug.data import load

    return load(**settings["data"], registry=registry)


def build_solver(settings, data, registry, listeners=(), checkpoint_dir=None, prefetch=None):
    """The model and its Solver; it checkpoints into ``checkpoint_dir`` if ``solver.checkpoint`` is true."""
    from nnplug.model import Network
    from nnplug.solver import Solver

    layer, optim = settings["layer"], settings["optim"]
    # verbose goes to the Progress listener, which shows what the Solver's own prints would
    options = {key: value for key, value in settings["solver"].items()
               if key not in ("checkpoint", "resume", "verbose")}
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
        checkpoint_dir=checkpoint_dir if settings["solver"]["checkpoint"] else None,
        verbose=False,
        prefetch=prefetch,
        **options,
    )


def write_artifacts(output_dir, settings, solver, data):
    """The resolved config, the best parameters and the run's pictures, written to ``output_dir``."""
    import numpy as np

    from nnplug.plots import run_pictures

    output_dir.mkdir(parents=True, exist_ok=True)
    config_file = output_dir / "config.yaml"
    config_file.write_text(OmegaConf.to_yaml(settings))
    params_file = output_dir / "best_params.npz"
    np.savez(params_file, **solver.model.params)  # arrays only: loads with allow_pickle=False
    pictures = run_pictures(output_dir, solver, data, title=run_name(settings))
    return [config_file, params_file, *pictures]


def describe_model(settings):
    """``[affine, relu] x (100, 100) - affine - softmax``: the network as the run summary shows it."""
    block = ", ".join(settings["layer"]["block"])
    hidden = ", ".join(str(h) for h in settings["model"]["hidden_dims"])
    return f"[{block}] x ({hidden}) - affine - {settings['loss']['name']}"


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
