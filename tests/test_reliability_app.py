"""The app under bad input, divergence, a tracking server that is down, and a kill: ``python -m
nnplug`` stops with one line, leaves no half-written file and no open MLflow run, one diverging job
does not take a sweep down, and a killed run resumes into the very run it would have been."""
import io
import json
import shlex
import shutil
import signal
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from app_runner import QUICK, check, default_store, run_nnplug, runs, start_nnplug
from servers import free_port
from test_reliability_resume import assert_same

from nnplug.core import checkpoint

pytestmark = pytest.mark.slow

# Files nnplug itself writes into a run folder; Hydra's own (.hydra/, the log) are not nnplug's.
HYDRA_FILES = {".hydra", "nnplug.log"}


class Payload:
    """Unpickling this creates ``marker``: proof that a loader executed code from a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def arrays(**changes):
    rng = np.random.default_rng(0)
    data = {"X_train": rng.standard_normal((60, 8)).astype(np.float32), "y_train": rng.integers(0, 3, 60),
            "X_test": rng.standard_normal((20, 8)).astype(np.float32), "y_test": rng.integers(0, 3, 20)}
    data["y_train"][:3] = [0, 1, 2]
    return {**data, **changes}


def npz_file(folder, **changes):
    path = folder / "data.npz"
    np.savez(path, **arrays(**changes))
    return ["data=npz", f"data.path={path}"]


def pickled_object(folder):
    return npz_file(folder, X_train=np.array([Payload(folder / "payload-ran")] * 60, dtype=object))


def negative_label(folder):
    y = arrays()["y_train"].copy()
    y[5] = -1
    return npz_file(folder, y_train=y)


def label_beyond_class_names(folder):
    return npz_file(folder, class_names=np.array(["a", "b"]))  # labels go up to 2


BAD_CONFIGS = [
    (["optim.learning_rate=0"], "optim.learning_rate=0: expected a finite number > 0"),
    (["optim.learning_rate=-1e-3"], "optim.learning_rate=-0.001: expected a finite number > 0"),
    (["model.dropout=1"], "model.dropout=1: expected a number >= 0 and < 1"),
    (["model.dropout=-0.2"], "model.dropout=-0.2: expected a number >= 0 and < 1"),
    (["solver.batch_size=0"], "solver.batch_size=0: expected a whole number >= 1"),
    (["model.hidden_dims=[100,0]"], "model.hidden_dims=[100, 0]: expected a list of whole numbers >= 1"),
    (["solver.num_epochs=ten"], "solver.num_epochs='ten': expected a whole number"),
    (["model.dtype=float16"], "model.dtype='float16': expected one of float32, float64"),
    (["solver.lr_schedule=polynomial"], "solver.lr_schedule='polynomial': expected one of exponential, step, cosine, linear"),
    (["optim=adam", "optim.beta1=high"], "optim.beta1='high': expected a number"),
    (["layer.block=[affine,relu7]"], "layer.block[1]='relu7': unknown layer 'relu7'; did you mean 'relu'?"),
    (["loss.name=hinge"], "loss.name='hinge': unknown"),
    (["optim=adamm"], "optim=adamm: no such option in group 'optim'"),
    (["data=cifar100"], "data=cifar100: no such option in group 'data'"),
    (["+data.foo=1"], "data.foo: data set 'digits' has no such option (its options: seed, test_size)"),
    # options and hyperparameters of the wrong type or range
    (["layer=leaky", "layer.options.leaky_relu.alpha=abc"], "layer.options.leaky_relu.alpha='abc': expected a number"),
    (["+layer.options.batchnorm.momentum=abc"], "layer.options.batchnorm.momentum='abc': expected a number"),
    (["optim=adam", "optim.beta1=1.0"], "optim.beta1=1.0: expected a number >= 0 and < 1"),
    (["optim=adam", "optim.epsilon=-1"], "optim.epsilon=-1: expected a number > 0"),
    (["optim.learning_rate=1e400"], "optim.learning_rate=inf: expected a finite number > 0"),
    (["solver.batch_size=1000000000"], "solver.batch_size=1000000000: one training step would need about "),
]

BAD_DATA = {
    "missing_file": (lambda folder: ["data=npz", f"data.path={folder / 'absent.npz'}"], "No such file or directory"),
    "pickled_object": (pickled_object, "key 'X_train' holds Python objects, not numbers"),
    "negative_label": (negative_label, "key 'y_train' has label -1, expected labels from 0"),
    "input_size_mismatch": (lambda folder: npz_file(folder, X_test=np.zeros((20, 7), np.float32)),
                            "key 'X_test' has samples of shape (7,), expected (8,) like X_train"),
    "nan_values": (lambda folder: npz_file(folder, X_train=np.full((60, 8), np.nan, np.float32)),
                   "key 'X_train' holds NaN or infinite values"),
    "label_out_of_range": (label_beyond_class_names,
                           "y_train has labels from 0 to 2: expected 0 to 1 for the 2 class names"),
}


def assert_one_line_failure(process, expected):
    assert process.returncode != 0
    assert process.stderr.strip().splitlines() == [process.stderr.strip()], process.stderr
    assert process.stderr.startswith("nnplug: error: ") and expected in process.stderr, process.stderr


def files_written_by_nnplug(folder):
    """Every file under ``folder/outputs`` except the MLflow store and Hydra's own."""
    outputs = folder / "outputs"
    return [p for p in outputs.rglob("*") if p.is_file()
            and not HYDRA_FILES & set(p.relative_to(outputs).parts)
            and p.name != "mlflow.db"]


@pytest.mark.parametrize("overrides,expected", BAD_CONFIGS, ids=[o[-1] for o, _ in BAD_CONFIGS])
def test_a_bad_config_exits_with_one_line_before_anything_is_written(tmp_path, overrides, expected):
    process = run_nnplug(tmp_path, *QUICK, *overrides)

    assert_one_line_failure(process, expected)
    assert not (tmp_path / "outputs").exists()  # no run folder, no store, nothing


@pytest.fixture(scope="module")
def store(tmp_path_factory, new_store):
    """One MLflow store for the data rows, with the ``nnplug`` experiment (its artifacts beside the store)."""
    from nnplug.tracking.store import open_experiment

    uri = new_store(tmp_path_factory.mktemp("store"))
    open_experiment(uri, "nnplug")
    return uri


@pytest.mark.parametrize("make,expected", BAD_DATA.values(), ids=BAD_DATA.keys())
def test_a_bad_data_file_exits_with_one_line_and_leaves_no_run_and_no_folder(tmp_path, store, make, expected):
    _, before = runs(store)
    process = run_nnplug(tmp_path, *QUICK, *make(tmp_path), f"tracking.uri={store}")

    assert_one_line_failure(process, expected)
    assert not (tmp_path / "payload-ran").exists()
    _, found = runs(store)
    assert len(found) == len(before)  # the data is read before the MLflow run is created
    assert not (tmp_path / "outputs").exists()  # nor is any run folder left


def test_a_diverging_job_fails_its_run_and_the_other_two_finish(workdir):
    process = run_nnplug(workdir, "-m", "optim.learning_rate=1e-3,1e6,3e-3", *QUICK)

    assert process.returncode != 0  # the sweep reports that a job failed ...
    errors = [line for line in process.stderr.splitlines() if line.startswith("nnplug: error:")]
    assert len(errors) == 1 and "learning rate 1e+06" in errors[0], process.stderr
    _, found = runs(default_store(workdir))
    children = {run.data.params["optim.learning_rate"]: run for run in found
                if "mlflow.parentRunId" in run.data.tags}
    assert set(children) == {"0.001", "1000000.0", "0.003"}
    failed = children.pop("1000000.0")
    assert failed.info.status == "FAILED"
    assert failed.data.tags["nnplug.failure"].startswith("DivergenceError: loss became nan at iteration")
    for run in children.values():  # ... after the other two trained to the end
        assert run.info.status == "FINISHED" and run.data.metrics["best_val_acc"] > 0.5
    assert all(run.info.status != "RUNNING" for run in found)
    job_folders = {p.parent for p in Path(workdir, "outputs", "multirun").rglob(".hydra")}
    with_params = [f for f in job_folders if (f / "best_params.npz").exists()]
    assert len(job_folders) == 3 and len(with_params) == 2


# Resuming. One epoch of this takes about half a second on one core: time enough to stop a run in
# the middle. Batch norm, dropout and Adam give a resume every kind of state to get right.
RESUMABLE = ["layer=bn", "optim=adam", "model.hidden_dims=[1024,1024]", "model.dropout=0.1",
             "solver.num_epochs=5", "solver.verbose=false", "tracking.log_every_n_steps=1"]
ITERATIONS_PER_EPOCH = 1297 // 50  # digits' training split / the default batch size
LOGGED = ("loss", "train_acc", "val_acc", "learning_rate", "best_val_acc", "test_acc")
# The fast recipes' techniques on the same net: a per-step schedule, Nesterov momentum with decoupled
# weight decay, Lookahead's average (batch-norm statistics included), label smoothing and test-time
# augmentation (the digits are images, the MLP's inputs flattened ones).
RECIPE = ["optim=nesterov", "optim.weight_decay=5e-4", "optim.decoupled_weight_decay=true", "solver.lr_schedule=linear",
          "solver.lr_warmup=0.2", "solver.lr_warmup_start=0.2", "solver.lr_min=1e-3", "solver.average=lookahead",
          "solver.average_every=5", "solver.average_decay=0.77", "solver.average_ramp=3", "loss.smoothing=0.2",
          "solver.tta=flip"]


def checkpoint_epoch(folder):
    """The epoch of run folder ``folder``'s checkpoint (from its state.json alone); 0 before the first."""
    try:
        with zipfile.ZipFile(folder / "checkpoint" / "checkpoint.npz") as archive:
            return json.loads(archive.read("state.json"))["state"]["epoch"]
    except FileNotFoundError:
        return 0


def wait_for_checkpoint(process, folder, epoch, timeout=180):
    """Return as soon as ``folder`` holds the checkpoint of ``epoch`` (written atomically, so whole)."""
    deadline = time.monotonic() + timeout
    while checkpoint_epoch(folder) < epoch:
        if process.poll() is not None:
            pytest.fail(f"nnplug exited with {process.returncode} before epoch {epoch}:\n{process.communicate()}")
        assert time.monotonic() < deadline, f"no checkpoint of epoch {epoch} after {timeout} s"
        time.sleep(0.02)


def recorded_run_id(folder):
    return json.loads((folder / "checkpoint" / "run.json").read_text())["run_id"]


def history(client, run_id, key):
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


@pytest.mark.parametrize("techniques", [[], RECIPE], ids=["adam", "recipe"])
def test_a_run_killed_after_epoch_two_resumes_into_the_same_mlflow_run_as_if_never_stopped(tmp_path, store,
                                                                                         techniques):
    from mlflow import MlflowClient

    overrides = [*RESUMABLE, *techniques, f"tracking.uri={store}"]
    killed_dir, whole_dir = tmp_path / "killed", tmp_path / "whole"
    client = MlflowClient(tracking_uri=store)
    whole = start_nnplug(tmp_path, *overrides, f"hydra.run.dir={whole_dir}")  # alongside: two cores
    killed = start_nnplug(tmp_path, *overrides, f"hydra.run.dir={killed_dir}")
    try:
        wait_for_checkpoint(killed, killed_dir, epoch=2)
        killed.kill()  # SIGKILL: no handler runs, nothing is flushed or closed
        killed.communicate(timeout=60)
        assert checkpoint_epoch(killed_dir) == 2  # killed during epoch 3, as meant
        run_id = recorded_run_id(killed_dir)
        assert client.get_run(run_id).info.status == "RUNNING"  # left as the kill found it

        check(run_nnplug(tmp_path, *overrides, "solver.resume=true", f"hydra.run.dir={killed_dir}"))
        _, whole_err = whole.communicate(timeout=300)
        assert whole.returncode == 0, whole_err
    finally:
        for process in (killed, whole):
            if process.poll() is None:
                process.kill()
                process.communicate()

    assert recorded_run_id(killed_dir) == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and "nnplug.failure" not in run.data.tags
    found = client.search_runs([run.info.experiment_id], f"tags.`nnplug.output_dir` = '{killed_dir}'")
    assert [r.info.run_id for r in found] == [run_id]  # the same run, not a second one
    uninterrupted = recorded_run_id(whole_dir)
    for key in (*LOGGED, *(["test_acc_tta"] if techniques else [])):  # every step once, each value bit-identical
        assert history(client, run_id, key) == history(client, uninterrupted, key), key
    assert [step for step, _ in history(client, run_id, "loss")] == list(range(5 * ITERATIONS_PER_EPOCH))
    assert [step for step, _ in history(client, run_id, "val_acc")] == list(range(6))
    with np.load(killed_dir / "best_params.npz") as resumed, np.load(whole_dir / "best_params.npz") as reference:
        assert resumed.files == reference.files
        for name in reference.files:
            assert np.array_equal(resumed[name], reference[name]), name
    # parameters, Adam's moments, batch-norm statistics, every generator, all histories
    assert_same(checkpoint.load(checkpoint.path_in(killed_dir / "checkpoint")),
                checkpoint.load(checkpoint.path_in(whole_dir / "checkpoint")))


@pytest.fixture(scope="module")
def stopped(tmp_path_factory, store):
    """A run stopped with SIGTERM during epoch 2, and how it ended (before any test resumes it)."""
    from mlflow import MlflowClient

    cwd = tmp_path_factory.mktemp("stopped")
    overrides = [*RESUMABLE, f"tracking.uri={store}"]
    folder = cwd / "run"
    process = start_nnplug(cwd, *overrides, f"hydra.run.dir={folder}")
    wait_for_checkpoint(process, folder, epoch=1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    run = MlflowClient(tracking_uri=store).get_run(recorded_run_id(folder))
    return {"folder": folder, "overrides": overrides, "returncode": process.returncode, "stderr": stderr,
            "run": run, "state": checkpoint.load(checkpoint.path_in(folder / "checkpoint"))}


def test_sigterm_saves_where_training_was_ends_the_run_killed_and_prints_how_to_resume(stopped, store):
    from mlflow import MlflowClient

    assert stopped["returncode"] == 128 + signal.SIGTERM
    command = shlex.join(["python", "-m", "nnplug", *stopped["overrides"], "solver.resume=true",
                          f"hydra.run.dir={stopped['folder']}"])
    assert stopped["stderr"].splitlines() == [f"nnplug: training stopped by SIGTERM; resume with: {command}"]
    run = stopped["run"]
    assert run.info.status == "KILLED"
    assert run.data.tags["nnplug.failure"].startswith("TrainingInterrupted: training stopped by SIGTERM")
    # the checkpoint holds the iteration the signal arrived in, and MLflow every loss up to it
    iteration = stopped["state"]["iteration"]
    assert iteration >= ITERATIONS_PER_EPOCH and len(stopped["state"]["loss_history"]) == iteration
    losses = MlflowClient(tracking_uri=store).get_metric_history(run.info.run_id, "loss")
    assert sorted(m.step for m in losses) == list(range(iteration))


def test_sigterm_without_checkpoints_ends_the_run_killed_and_says_it_cannot_resume(tmp_path, store):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store)
    folder = tmp_path / "run"
    process = start_nnplug(tmp_path, *RESUMABLE, "solver.num_epochs=200", "solver.checkpoint=false",
                           f"tracking.uri={store}", f"hydra.run.dir={folder}")
    deadline = time.monotonic() + 180
    while not (folder / "checkpoint" / "run.json").exists() or not client.get_metric_history(
            recorded_run_id(folder), "loss"):  # training, its first losses stored
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no loss stored after 180 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 128 + signal.SIGTERM
    assert stderr.splitlines() == ["nnplug: training stopped by SIGTERM; solver.checkpoint=false, so it cannot be resumed"]
    run = client.get_run(recorded_run_id(folder))
    assert run.info.status == "KILLED"
    assert run.data.tags["nnplug.failure"] == "TrainingInterrupted: training stopped by SIGTERM"
    assert not (folder / "checkpoint" / "checkpoint.npz").exists()


def truncated(folder):
    path = folder / "checkpoint" / "checkpoint.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def pickled_object(folder):
    """The checkpoint with its first weight matrix replaced by an object array: a pickle inside."""
    path = folder / "checkpoint" / "checkpoint.npz"
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    member = io.BytesIO()
    np.save(member, np.array([Payload(folder / "payload-ran")], dtype=object), allow_pickle=True)
    members["params/W1.npy"] = member.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def another_configs_checkpoint(folder):
    """In its place, the checkpoint of a run of the same net trained with SGD instead of Adam."""
    from hydra import compose, initialize_config_module

    from nnplug.app import experiment, schema
    from nnplug.app.validate import validate
    from nnplug.contract.registry import default_registry

    schema.register()
    with initialize_config_module(config_module="nnplug.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*RESUMABLE, "optim=sgd"])
    settings = validate(cfg, default_registry())
    data = experiment.load_data(settings, default_registry())
    solver = experiment.build_solver(settings, data, default_registry(), checkpoint_dir=folder / "checkpoint")
    solver.save_checkpoint()


def files_of_nnplug(folder):
    """Each file under ``folder`` but Hydra's own and the folder's lock (it names its last holder), with its bytes."""
    return {p: p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not HYDRA_FILES & set(p.relative_to(folder).parts) and p.name != "lock"}


def another_store(folder):
    record = folder / "checkpoint" / "run.json"
    record.write_text(record.read_text().replace(recorded_run_id(folder), "0" * 32))


def nothing(folder):
    shutil.rmtree(folder)
    folder.mkdir()


# name: (what is done to a copy of the stopped run's folder, overrides changed, does the resume
# reopen the MLflow run before it fails, what the one line says)
BAD_RESUMES = {
    "truncated_checkpoint": (truncated, [], False, "checkpoint.npz: unreadable or corrupt (BadZipFile"),
    "pickle_in_checkpoint": (pickled_object, [], False,
                             "checkpoint.npz: unreadable or corrupt (ValueError: Object arrays cannot be loaded when allow_pickle=False"),
    "another_configs_checkpoint": (another_configs_checkpoint, [], False,
                                   "checkpoint.npz: it was written by a different run: "
                                   "solver.optim_config.beta1: checkpoint has no value, this run has 0.9; "),
    "another_config": (None, ["optim.learning_rate=2e-3"], False,
                       "has another config: optim.learning_rate 0.001 there, 0.002 now"),
    "run_not_in_the_store": (another_store, [], False, f"cannot resume MLflow run {'0' * 32}: "),
    "nothing_to_resume": (nothing, [], False, "solver.resume=true: nothing to resume in "),
}


@pytest.mark.parametrize("damage,changed,reopens,expected", BAD_RESUMES.values(), ids=BAD_RESUMES.keys())
def test_a_resume_that_cannot_go_on_exits_with_one_line_and_changes_no_file(
        tmp_path, stopped, store, damage, changed, reopens, expected):
    from mlflow import MlflowClient

    folder = tmp_path / "run"
    shutil.copytree(stopped["folder"], folder)
    if damage:
        damage(folder)
    before = files_of_nnplug(folder)
    overrides = [*stopped["overrides"], *changed, "solver.resume=true", f"hydra.run.dir={folder}"]

    process = run_nnplug(tmp_path, *overrides)

    assert_one_line_failure(process, expected)
    assert files_of_nnplug(folder) == before  # nothing written, nothing half-written, no payload ran
    assert not (folder / "best_params.npz").exists()
    run = MlflowClient(tracking_uri=store).get_run(stopped["run"].info.run_id)
    assert run.info.status != "RUNNING"
    if reopens:  # it failed after the run was reopened: the run says why
        assert run.info.status == "FAILED" and expected in run.data.tags["nnplug.failure"]


@pytest.mark.parametrize("sweep", [[], ["-m", "optim.learning_rate=1e-2,1e-3"]], ids=["run", "sweep"])
def test_a_tracking_server_that_is_down_stops_the_run_at_once_naming_it(tmp_path, sweep):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    start = time.monotonic()
    process = run_nnplug(tmp_path, *sweep, *QUICK, f"tracking.uri={uri}")
    seconds = time.monotonic() - start

    assert_one_line_failure(process, f"tracking.uri={uri}: no MLflow server answers (")
    assert "log locally with tracking.uri=null" in process.stderr
    assert "Retrying" not in process.stdout + process.stderr  # urllib3's warning per retry: noise before the line
    assert seconds < 30, seconds  # MLflow's own retries of an unreachable server took over 2 minutes
    outputs = tmp_path / "outputs"
    assert not any(outputs.rglob("checkpoint*")) and not any(outputs.rglob("best_params.npz"))
    assert not (outputs / "mlflow.db").exists()
    assert not (outputs / "multirun").exists()  # no sweep job started


def test_a_folder_being_trained_refuses_a_second_resume_naming_the_training_process(tmp_path, store):
    from mlflow import MlflowClient

    folder = tmp_path / "run"
    overrides = [*RESUMABLE, "solver.num_epochs=200", f"tracking.uri={store}"]
    first = start_nnplug(tmp_path, *overrides, f"hydra.run.dir={folder}")
    try:
        wait_for_checkpoint(first, folder, epoch=1)
        second = run_nnplug(tmp_path, *overrides, "solver.resume=true", f"hydra.run.dir={folder}")
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)

    assert_one_line_failure(second, f"{folder} is being trained by process {first.pid}")
    run_id = recorded_run_id(folder)
    steps = [m.step for m in MlflowClient(tracking_uri=store).get_metric_history(run_id, "loss")]
    assert len(steps) == len(set(steps))  # the refused resume logged nothing into the run


def test_a_resume_removes_the_temporary_files_killed_checkpoint_writes_left(tmp_path, stopped):
    folder = tmp_path / "run"
    shutil.copytree(stopped["folder"], folder)
    leftovers = [folder / "checkpoint" / name for name in (".checkpoint.npz.k1ll3d.tmp", ".run.json.x9.tmp")]
    for path in leftovers:
        path.write_bytes(b"\0" * 1000)
    overrides = [*stopped["overrides"], "solver.num_epochs=5", "solver.resume=true", f"hydra.run.dir={folder}"]

    check(run_nnplug(tmp_path, *overrides))

    assert not any(path.exists() for path in leftovers)
    assert sorted(p.name for p in (folder / "checkpoint").iterdir()) == ["checkpoint.npz", "lock", "run.json"]
