"""One experiment, start to end: config -> data -> model -> Solver + tracker -> train -> test.

Hydra-free on purpose: ``nnplug.app.main`` hands in the composed config and where to write, so the
same function serves a single run, every job of a sweep, and a test.
"""
import logging
import os
import uuid
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from threadpoolctl import threadpool_info

from nnplug.app import run_model, run_record
from nnplug.app.errors import ConfigError
from nnplug.app.run_lock import run_folder_locked
from nnplug.app.validate import validate
from nnplug.contract.registry import default_registry
from nnplug.core import checkpoint, layer_plan, tta
from nnplug.core.augmentation import build_transforms
from nnplug.core.nested import flatten
from nnplug.core.network import Network
from nnplug.core.solver import Solver
from nnplug.core.stops import UNNORMALISED_SCALE, input_scale
from nnplug.core.trained_model import PREDICTION_BATCH, predict_classes
from nnplug.data import load
from nnplug.display.plots import run_pictures, save
from nnplug.display.progress import Progress
from nnplug.tracking import runs, store
from nnplug.tracking.listener import MlflowTracker

log = logging.getLogger(__name__)


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
    test_acc_tta: float | None = None  # with test-time augmentation (solver.tta), if asked for


def run(cfg, *, output_dir, cwd, parent_run_id=None, command="nnplug", job=None, registry=None):
    """Validate ``cfg``, train it with one MLflow run logged, and return the ``Result``.

    ``job`` (the number of a sweep job) tells apart the run names of jobs with the same plugins;
    ``registry`` defaults to the process-wide one.

    With ``solver.resume`` it continues the run recorded in ``output_dir`` instead, in its MLflow
    run and store, from its last checkpoint; a run that finished already is only reported. A
    sweep job (``job`` given) with nothing recorded starts now: the stopped sweep never got to it.

    Invalid configs, a store that cannot be used, data that cannot be loaded, a model that cannot
    be built and a resume that does not fit raise before the MLflow run is created or reopened;
    every later failure ends the MLflow run FAILED with its reason and propagates.
    """
    registry = registry or default_registry()
    settings = validate(cfg, registry)
    output_dir = Path(output_dir)
    name = run_name(settings) + (f" #{job}" if job is not None else "")
    resumed = run_record.read(output_dir, settings, in_sweep=job is not None) if settings["solver"]["resume"] else None
    with run_folder_locked(output_dir / run_record.CHECKPOINT_DIR):
        if resumed is not None and resumed["run_id"]:
            finished = runs.finished_metrics(store.connect(resumed["tracking_uri"]), resumed["run_id"])
            if finished is not None:
                log.info(f"MLflow run {resumed['run_id']} finished already: nothing to resume in {output_dir}")
                return finished_result(name, resumed, finished, output_dir)
        return _train(settings, registry, output_dir, cwd, name, resumed, parent_run_id, command, job)


def _train(settings, registry, output_dir, cwd, name, resumed, parent_run_id, command, job):
    """The body of ``run``, with the run folder locked."""
    checkpoint_dir = output_dir / run_record.CHECKPOINT_DIR
    token = (resumed or {}).get("token") or uuid.uuid4().hex  # run_record: finds a run created but not recorded
    tracker = MlflowTracker(
        # the recorded store, not the default one under the cwd, which may be another folder now
        resumed["tracking_uri"] if resumed else store.tracking_uri(settings["tracking"]["uri"], cwd),
        settings["tracking"]["experiment"],
        run_name=name,
        params=flatten(settings),
        tags={**plugin_tags(registry, settings), "nnplug.command": command, runs.TOKEN_TAG: token,
              "nnplug.output_dir": str(output_dir.resolve()), "nnplug.blas_threads": str(blas_threads()),
              **({runs.JOB_TAG: str(job)} if job is not None else {})},
        parent_run_id=parent_run_id,
        resume_run_id=resumed and resumed["run_id"],
        log_every_n_steps=settings["tracking"]["log_every_n_steps"],
    )
    # sweep jobs may share a terminal with other jobs: labelled lines, no live bar
    progress = Progress(enabled=settings["solver"]["verbose"], live=False if job is not None else None,
                        label=None if job is None else f"#{job}")
    # what can fail on the user's input (data, model options, a checkpoint, the store) fails before
    # the run exists, and the store is opened last: a mistake leaves no store behind either
    data = load_data(settings, registry)
    tta.check(settings["solver"]["tta"], data["preprocessing"].sample_shape, key="solver.tta")  # images only
    watcher = run_model.diagnostics(settings, tracker)
    listeners = (tracker, progress) if watcher is None else (watcher, tracker, progress)
    solver = build_solver(settings, data, registry, listeners=listeners, checkpoint_dir=checkpoint_dir)
    run_model.start_from(solver.model, settings, tracker, registry)
    check_memory(solver)
    if resumed is not None and checkpoint.exists(checkpoint_dir):
        solver.restore(checkpoint_dir)
    if resumed is not None and not resumed["run_id"]:  # stopped between claiming the folder and recording its run
        tracker.resume_run_id = runs.find_run(store.connect(tracker.uri), resumed["experiment_id"], token)
    tracker.connect()
    warn_of_unnormalised_inputs(solver, settings)
    if tracker.resume_run_id is None:  # the folder is claimed before its run exists (run_record)
        run_record.write(checkpoint_dir, tracker, settings, token)
    with tracker:
        if resumed is None or not resumed["run_id"]:
            run_record.write(checkpoint_dir, tracker, settings, token)
        solver.train()  # ends with the best parameters swapped into the model
        seconds = solver.clock.seconds  # over every attempt: a resumed run's own time is only its last part
        y_pred = predict_classes(solver.model, data["X_test"])  # in Solver.check_accuracy's batches
        test_acc = float(np.mean(y_pred == data["y_test"]))
        # the logged model's predict(params={"tta": ...}) scores so too, in the same batches
        test_acc_tta = tta.accuracy(solver.model, data["X_test"], data["y_test"], settings["solver"]["tta"],
                                    data["preprocessing"].sample_shape, PREDICTION_BATCH)
        model_id = run_model.begin(tracker)
        tracker.log_metrics({"best_val_acc": solver.best_val_acc, "test_acc": test_acc, "train_seconds": seconds,
                             **({} if test_acc_tta is None else {"test_acc_tta": test_acc_tta})}, model_id=model_id)
        write_artifacts(output_dir, settings, solver, data, tracker, y_pred)
        run_model.keep(output_dir, tracker, solver, data, registry, watcher, y_pred, model_id,
                       register=settings["tracking"]["register"] if job is None else None)  # a sweep: its best
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
        test_acc_tta=test_acc_tta,
    )


def check_memory(solver):
    """``ConfigError`` when one training step could not fit in this machine's memory, before it starts.

    A step holds the gathered minibatch and its indices, and for each layer its output, its cache
    and its gradient: about three arrays of the layer's output per sample.
    """
    model, batch_size, key = solver.model, solver.batch_size, "batch_size"
    if solver.micro_batch is not None and solver.micro_batch < batch_size:  # one pass holds a micro-batch
        batch_size, key = solver.micro_batch, "micro_batch"
    outputs = sum(layer.out_dim for layer, _ in getattr(model, "layers", ()))
    per_sample = solver.X_train[:1].nbytes + 8 + 3 * outputs * model.dtype.itemsize
    have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if batch_size * per_sample > have:
        raise ConfigError([f"solver.{key}={batch_size}: one training step would need about "
                           f"{batch_size * per_sample / 2**30:,.1f} GiB of memory and this machine has "
                           f"{have / 2**30:,.1f} GiB; expected at most {have // per_sample:,}"])


def warn_of_unnormalised_inputs(solver, settings):
    """One warning line when the inputs are far from standardised: the first losses will be huge."""
    scale = input_scale(solver.X_train)
    if scale > UNNORMALISED_SCALE:
        log.warning(f"the inputs' standard deviation is {scale:.3g} (data.normalize={settings['data']['normalize']}), "
                    f"far from the 1 of standardised inputs: expect huge first losses; data.normalize=auto "
                    f"standardises them")


def finished_result(name, record, metrics, output_dir):
    """The ``Result`` of the recorded run, which finished already, from the metrics it logged."""
    return Result(name=name, best_val_acc=metrics["best_val_acc"], test_acc=metrics["test_acc"],
                  train_acc=metrics["train_acc"], val_acc=metrics["val_acc"], seconds=metrics["train_seconds"],
                  tracking_uri=record["tracking_uri"], experiment_id=record["experiment_id"],
                  run_id=record["run_id"], output_dir=output_dir, test_acc_tta=metrics.get("test_acc_tta"))


def load_data(settings, registry):
    return load(**settings["data"], registry=registry)


def build_solver(settings, data, registry, listeners=(), checkpoint_dir=None):
    """The model and its Solver; it checkpoints into ``checkpoint_dir`` if ``solver.checkpoint`` is true."""
    layer, optim = settings["layer"], settings["optim"]
    # verbose goes to the Progress listener, which shows what the Solver's own prints would
    # tta is the test's, after training
    options = {key: value for key, value in settings["solver"].items()
               if key not in ("checkpoint", "resume", "verbose", "tta")}
    model = Network(
        input_dim=data["input_shape"],
        num_classes=data["num_classes"],
        block=tuple(layer["block"]),
        loss=settings["loss"]["name"],
        loss_options={key: value for key, value in settings["loss"].items() if key != "name"},
        layer_options=layer["options"] or None,
        registry=registry,
        sample=data["X_train"],  # for layers built from the training images (whiten)
        **network_options(settings["model"]),
    )
    return Solver(
        model,
        data,
        registry=registry,
        update_rule=optim["name"],
        optim_config={key: value for key, value in optim.items() if key != "name"},
        listeners=listeners,
        checkpoint_dir=checkpoint_dir if settings["solver"]["checkpoint"] else None,
        transforms=build_transforms(settings["augment"]["transforms"], data["input_shape"],
                                    seed=settings["solver"]["seed"], registry=registry),
        verbose=False,
        **options,
    )


def write_artifacts(output_dir, settings, solver, data, tracker, y_pred=None):
    """The resolved config, the best parameters and the run's pictures (``y_pred``: the test predictions
    they show): into ``output_dir`` and the run."""
    output_dir.mkdir(parents=True, exist_ok=True)
    config_file = output_dir / "config.yaml"
    config_file.write_text(OmegaConf.to_yaml(settings))
    params_file = output_dir / "best_params.npz"
    np.savez(params_file, **solver.model.params)  # arrays only: loads with allow_pickle=False
    # each picture is drawn once, into the run folder, and that file is what the run stores
    pictures = [save(figure, output_dir / file_name)
                for file_name, figure in run_pictures(solver, data, y_pred, title=run_name(settings)).items()]
    tracker.log_artifacts([config_file, params_file, *pictures])


def blas_threads():
    """How many threads numpy's BLAS uses in this process (what the environment or the launcher set)."""
    return max((info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"), default=1)


def network_options(model):
    """The ``Network`` arguments of a model section: its fields, without its name and knobs."""
    return {key: value for key, value in model.items() if key in NETWORK_FIELDS}


NETWORK_FIELDS = ("layers", "blocks", "hidden_dims", "dropout", "init", "weight_scale", "reg", "dtype", "seed", "fuse")


def describe_model(settings, registry=None):
    """The network as the run summary shows it: ``[affine, relu] x (100, 100) - affine - softmax``
    for the MLP, ``conv - relu - max_pool - affine - relu - affine - softmax`` for a layer list (a
    layer repeated in a row once, with a count: ``residual x9``)."""
    model, loss = settings["model"], settings["loss"]["name"]
    if model.get("layers") is None:
        block = ", ".join(settings["layer"]["block"])
        hidden = ", ".join(str(h) for h in model["hidden_dims"])
        return f"[{block}] x ({hidden}) - affine - {loss}"
    return " - ".join([*_runs_of(step.label for step in model_steps(model, registry)), loss])


def _runs_of(labels):
    """``["conv", "residual x9", "affine"]``: each label once per run of it in a row, with the count."""
    runs = []
    for label in labels:
        if runs and runs[-1][0] == label:
            runs[-1][1] += 1
        else:
            runs.append([label, 1])
    return [label if count == 1 else f"{label} x{count}" for label, count in runs]


def model_steps(model, registry=None):
    """The top-level ``Step`` of a model section's layer list (blocks and repeats unrolled)."""
    return layer_plan.expand(model["layers"], blocks=model.get("blocks"),
                             plugin=layer_plan.lookup(registry or default_registry()))


def run_name(settings):
    """Names the chosen plugins: ``digits:affine-batchnorm-relu:adam`` for the MLP (its block),
    ``cifar10:vgg:sgd_momentum`` for another architecture (its name), ``digits:conv-relu-affine:sgd``
    for a layer list given to the MLP's config (``model.layers=[...]``)."""
    return f"{settings['data']['name']}:{architecture_name(settings)}:{settings['optim']['name']}"


def architecture_name(settings):
    model = settings["model"]
    if model.get("layers") is None:
        return "-".join(settings["layer"]["block"])
    if model["name"] == "mlp":  # the MLP's own config, given a layer list: name it after its layers
        return "-".join(dict.fromkeys(step.label for step in model_steps(model)))
    return model["name"]


def layers_used(settings, registry=None):
    """The layer plugins the network is made of (inside composite layers too), each once, in order."""
    model = settings["model"]
    if model.get("layers") is None:
        names = list(settings["layer"]["block"]) + (["dropout"] if model["dropout"] > 0 else []) + ["affine"]
    else:
        names = [step.label for step in layer_plan.walk(model_steps(model, registry))]
    return list(dict.fromkeys(names))


def plugin_tags(registry, settings):
    """The chosen plugins and the distribution and version that provide each."""
    used = [("datasets", settings["data"]["name"]), ("losses", settings["loss"]["name"]),
            ("optimizers", settings["optim"]["name"]), *(("layers", name) for name in layers_used(settings, registry))]
    tags = {
        "nnplug.data": settings["data"]["name"],
        "nnplug.model": settings["model"]["name"],
        "nnplug.layer": architecture_name(settings),
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
