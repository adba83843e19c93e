"""Faults and bad input, as a user meets them on the command line: one line on stderr naming what is
wrong, a non-zero exit, and nothing half-written (no run folder, no MLflow run, no temporary file)."""
import gzip
import http.server
import os
import subprocess
import textwrap
import threading
import time

import numpy as np
import pytest
from app_runner import QUICK, run_nnplug, run_process, runs, start_nnplug
from data_fixtures import mnist_files, write_cifar_folder, write_files
from servers import free_port
from system import require

pytestmark = pytest.mark.slow  # every case runs the command (in this process where the process is not the point)


def assert_one_line(process, expected):
    assert process.returncode != 0, process.stdout
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnplug: error: "), process.stderr
    assert expected in lines[0], lines[0]
    return lines[0]


def assert_nothing_left(cwd):
    """No run folder under ``cwd`` (and so no run): the command stopped before it began."""
    assert not (cwd / "outputs" / "runs").exists() and not (cwd / "outputs" / "multirun").exists()


@pytest.fixture
def store(tmp_path, new_store):
    """A store of its own with the ``nnplug`` experiment, outside the folder the command runs in, so
    that ``outputs/`` shows what the run left (the experiment keeps its artifacts beside the store)."""
    from nnplug.tracking.store import open_experiment

    uri = new_store(tmp_path / "store")
    open_experiment(uri, "nnplug")
    return uri


@pytest.fixture
def cwd(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


# --- data that is damaged ---------------------------------------------------------------------

def cifar_with(damage):
    def make(folder):
        root = folder / "cifar"
        write_cifar_folder(root)
        damage(root / "data_batch_3")
        return ["data=cifar10", f"data.root={root}"]
    return make


def replace_with_link(path):
    path.unlink()
    path.symlink_to("/etc/hostname")


def mnist_with(damage):
    def make(folder):
        files, _ = mnist_files()
        root = folder / "mnist"
        write_files(str(root), files)
        damage(root / "train-images-idx3-ubyte.gz")
        return ["data=mnist", f"data.root={root}"]
    return make


def mnist1d_missing(folder):
    """The mnist1d package as if it were not installed: a module of that name that cannot be imported."""
    (folder / "shadow" / "mnist1d").mkdir(parents=True)
    (folder / "shadow" / "mnist1d" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'mnist1d'\", name='mnist1d')\n")
    return ["data=mnist1d"]


def random_npz(folder):
    (folder / "junk.npz").write_bytes(os.urandom(4096))
    return ["data=npz", f"data.path={folder / 'junk.npz'}"]


DAMAGED_DATA = {
    "a CIFAR batch of random bytes": (cifar_with(lambda p: p.write_bytes(os.urandom(5000))),
                                      "data_batch_3: not a CIFAR-10 batch file as published"),
    "a truncated CIFAR batch": (cifar_with(lambda p: p.write_bytes(p.read_bytes()[:300])),
                                "data_batch_3: not a CIFAR-10 batch file as published (pickle data was truncated)"),
    "an empty CIFAR batch": (cifar_with(lambda p: p.write_bytes(b"")),
                             "data_batch_3: not a CIFAR-10 batch file as published (Ran out of input)"),
    "a CIFAR batch linked to another file": (cifar_with(replace_with_link),
                                             "data_batch_3: not a CIFAR-10 batch file as published"),
    "a truncated MNIST file": (mnist_with(lambda p: p.write_bytes(p.read_bytes()[:100])),
                               "train-images-idx3-ubyte.gz: not a gzipped IDX file as published"),
    "an MNIST file that is not gzip": (mnist_with(lambda p: p.write_bytes(gzip.decompress(p.read_bytes()))),
                                       "train-images-idx3-ubyte.gz: not a gzipped IDX file as published"),
    "an npz of random bytes": (random_npz, "junk.npz: not an .npz file of arrays"),
    "no mnist1d package": (mnist1d_missing, "data set 'mnist1d' needs the mnist1d package: pip install 'nnplug[data]'"),
}


@pytest.mark.parametrize("make, expected", DAMAGED_DATA.values(), ids=DAMAGED_DATA.keys())
def test_damaged_data_is_one_line_and_creates_no_run(cwd, store, make, expected):
    overrides = make(cwd)
    env = {"PYTHONPATH": str(cwd / "shadow"), "XDG_CACHE_HOME": str(cwd / "cache")} if (cwd / "shadow").exists() else None

    run = run_nnplug if env is None else run_process  # an interpreter without the package: a new one
    process = run(cwd, *QUICK, *overrides, f"tracking.uri={store}", env=env)

    line = assert_one_line(process, expected)
    assert "allow_pickle" not in line  # never advice to load a file unsafely
    assert runs(store)[1] == []
    assert_nothing_left(cwd)


# --- the tracking store -----------------------------------------------------------------------

class NotMlflow(http.server.BaseHTTPRequestHandler):
    """A web server that is not MLflow: 404 for everything."""

    def do_GET(self):
        self.send_error(404)

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def not_mlflow():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotMlflow)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_a_server_that_answers_404_is_one_line(cwd, not_mlflow):
    process = run_nnplug(cwd, *QUICK, f"tracking.uri={not_mlflow}")
    assert_one_line(process, f"tracking.uri={not_mlflow}: ")
    assert_nothing_left(cwd)


def test_nothing_listening_is_one_line_within_seconds(cwd):
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    process = run_nnplug(cwd, *QUICK, f"tracking.uri={uri}")
    assert time.monotonic() - start < 30
    assert_one_line(process, f"tracking.uri={uri}: no MLflow server answers (connection refused)")
    assert_nothing_left(cwd)


def test_a_uri_no_store_understands_is_one_line(cwd):
    assert_one_line(run_nnplug(cwd, *QUICK, "tracking.uri=foo://bar"), "tracking.uri=foo://bar: ")
    assert_nothing_left(cwd)


def test_a_deleted_experiment_is_one_line_saying_how_to_restore_it(cwd, store):
    from mlflow import MlflowClient

    client = MlflowClient(store)
    client.delete_experiment(client.get_experiment_by_name("nnplug").experiment_id)
    assert_one_line(run_nnplug(cwd, *QUICK, f"tracking.uri={store}"),
                    "tracking.experiment=nnplug: the experiment is deleted in")
    assert_nothing_left(cwd)


# --- the file system --------------------------------------------------------------------------

@pytest.fixture
def mount(tmp_path):
    """``mount(folder, options)`` puts a tmpfs there (root only); all are unmounted afterwards."""
    mounted = []

    def make(folder, options):
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
        require(done.returncode == 0, "a tmpfs to fill or make read-only", "root, to mount one")
        mounted.append(folder)

    yield make
    for folder in reversed(mounted):
        if subprocess.run(["umount", str(folder)]).returncode:
            subprocess.run(["umount", "-l", str(folder)])


@pytest.mark.parametrize("where", ["cwd", "outputs"])
def test_a_read_only_folder_is_one_line(cwd, store, mount, where):
    mount(cwd if where == "cwd" else cwd / "outputs", "size=1m,ro")
    process = run_nnplug(cwd, *QUICK, f"tracking.uri={store}")
    assert_one_line(process, "Read-only file system; run from a folder you may write")
    assert runs(store)[1] == []


def test_output_to_a_full_device_is_one_line(cwd, store):
    with open("/dev/full", "w") as full:
        process = subprocess.run(["python", "-m", "nnplug", *QUICK, "solver.verbose=true", f"tracking.uri={store}"],
                                 cwd=cwd, stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert process.returncode == 1
    assert process.stderr.strip().splitlines() == ["nnplug: error: cannot write the output: No space left on device"]


def test_a_checkpoint_on_a_full_disk_is_one_line_and_the_run_failed(cwd, store, mount):
    folder = cwd / "run"
    mount(folder, "size=64k")  # room for Hydra's files, not for a checkpoint of this net
    process = run_nnplug(cwd, *QUICK, "model.hidden_dims=[200,200]", f"tracking.uri={store}",
                         f"hydra.run.dir={folder}")
    assert_one_line(process, "checkpoint.npz: could not be written: No space left on device")
    (run,) = runs(store)[1]
    assert run.info.status == "FAILED" and "No space left on device" in run.data.tags["nnplug.failure"]
    assert not [name for name in os.listdir(folder / "checkpoint") if name.endswith(".tmp")]


def test_a_store_that_fills_up_mid_run_is_one_line(cwd, mount):
    disk = cwd / "disk"
    mount(disk, "size=4m")
    uri = f"sqlite:///{disk / 'mlflow.db'}"
    folder = cwd / "run"
    process = start_nnplug(cwd, "solver.num_epochs=500", "solver.verbose=false", f"tracking.uri={uri}",
                           "tracking.log_every_n_steps=1", f"hydra.run.dir={folder}")
    deadline = time.monotonic() + 120
    while not (folder / "checkpoint" / "checkpoint.npz").exists():  # the run exists and trains
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    subprocess.run(["dd", "if=/dev/zero", f"of={disk / 'filler'}", "bs=64k"], capture_output=True)  # until full
    _, stderr = process.communicate(timeout=300)

    assert process.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nnplug: error: the store {uri} refused the run's metrics: "), stderr
    assert "full" in lines[0]


# --- the config search path and downloads ------------------------------------------------------

def test_broken_yaml_on_the_config_search_path_is_one_line(cwd):
    (cwd / "mine" / "optim").mkdir(parents=True)
    (cwd / "mine" / "optim" / "broken.yaml").write_text("name: sgd\nlearning_rate: [0.1\n")
    process = run_nnplug(cwd, *QUICK, f"hydra.searchpath=[file://{cwd / 'mine'}]", "optim=broken")
    assert_one_line(process, "broken.yaml")
    assert_nothing_left(cwd)


def test_a_failed_download_is_one_line_and_leaves_nothing(cwd, store):
    url = f"http://127.0.0.1:{free_port()}/cifar-10-python.tar.gz"  # nothing listens there
    process = run_nnplug(cwd, *QUICK, "data=cifar10", "data.download=true", f"data.url={url}",
                         f"data.root={cwd / 'data' / 'cifar'}", f"tracking.uri={store}")
    assert_one_line(process, f"could not download {url}: ")
    assert not (cwd / "data").exists() and runs(store)[1] == []


# --- a sweep ------------------------------------------------------------------------------------

def test_an_invalid_sweep_stops_before_its_parent_run_or_any_folder_exists(cwd, store):
    process = run_nnplug(cwd, "-m", "optim=sgd,adma", *QUICK, f"tracking.uri={store}")
    line = assert_one_line(process, "): optim=adma: no such option in group 'optim'; did you mean 'adam'?")
    assert line.startswith("nnplug: error: job 1 (optim=adma ")
    assert "Open the UI" not in process.stdout + process.stderr
    assert runs(store)[1] == []
    assert_nothing_left(cwd) and line


def test_a_sweep_says_where_to_open_the_ui_once(cwd, store):
    process = run_nnplug(cwd, "-m", "optim=sgd,adam", *QUICK, f"tracking.uri={store}")
    assert process.returncode == 0, process.stderr
    assert (process.stdout + process.stderr).count("Open the UI") == 1


def test_a_yaml_of_ones_own_works_alongside(cwd):
    """The control for the broken-YAML case: the same search path with valid YAML trains."""
    (cwd / "mine" / "optim").mkdir(parents=True)
    (cwd / "mine" / "optim" / "fine.yaml").write_text(textwrap.dedent("""\
        name: sgd
        learning_rate: 0.1
        """))
    process = run_nnplug(cwd, *QUICK, f"hydra.searchpath=[file://{cwd / 'mine'}]", "optim=fine")
    assert process.returncode == 0, process.stderr


# --- settings and files that trained the wrong thing, or crashed far from their cause ---------

def labelled_npz(folder, y_train, y_test, n_train=None):
    rng = np.random.default_rng(0)
    n_train = len(y_train) if n_train is None else n_train
    np.savez(folder / "data.npz", X_train=rng.standard_normal((n_train, 8)), y_train=np.asarray(y_train),
             X_test=rng.standard_normal((len(y_test), 8)), y_test=np.asarray(y_test))
    return ["data=npz", f"data.path={folder / 'data.npz'}"]


NOT_WHAT_WAS_MEANT = {
    "a model name MLflow refuses": (lambda folder: ["tracking.register=a/b"],
                                    "tracking.register='a/b': not a registered model name MLflow takes; expected a "
                                    "name without '/' or ':'"),
    "a negative model seed, named once": (lambda folder: ["model.seed=-1"], "model.seed=-1: expected null or a whole number >= 0"),
    "a block that takes no width": (lambda folder: ["layer.block=[relu]"],
                                    "layer.block=['relu']: none of its layers takes a width (as affine does), so "
                                    "model.hidden_dims=[100, 100] would go unused"),
    "a VGG of depth 0": (lambda folder: ["model=vgg", "model.depth=0"],
                         "model.depth=0: the net would have none of the layers it repeats (conv, spatial_batchnorm, "
                         "relu); expected a whole number >= 1"),
    "a VGG without stages": (lambda folder: ["model=vgg", "model.widths=[]"],
                             "model.widths=[]: the net would have none of the layers it repeats (conv, "
                             "spatial_batchnorm, relu, max_pool); expected a non-empty list"),
    "a test label no training row has": (lambda folder: labelled_npz(folder, [0, 1, 2] * 20, [0, 1, 50]),
                                         "data.npz: key 'y_test' has label 50, which no training row has (their "
                                         "labels go from 0 to 2)"),
    "a label of a billion": (lambda folder: labelled_npz(folder, [0, 1, 10**9] * 20, [0, 1, 1]),
                             "data.npz: key 'y_train' has label 1000000000, which would make 1,000,000,001 classes "
                             "for 60 training rows"),
    "one training row": (lambda folder: labelled_npz(folder, [0], [0, 0]),
                         "data.npz: the training split has 1 row: too few to hold out a validation split "
                         "(data.val_size) and train on the rest"),
}


@pytest.mark.parametrize("make, expected", NOT_WHAT_WAS_MEANT.values(), ids=NOT_WHAT_WAS_MEANT.keys())
def test_what_would_train_the_wrong_thing_is_refused_in_one_line_before_anything_exists(cwd, store, make, expected):
    process = run_nnplug(cwd, *QUICK, *make(cwd), f"tracking.uri={store}")

    assert_one_line(process, expected)
    assert "out of memory" not in process.stderr
    assert_nothing_left(cwd) and runs(store)[1] == []


def test_resuming_a_folder_that_holds_no_run_refuses_and_leaves_it_as_it_was(cwd):
    folder = cwd / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my own files")

    process = run_nnplug(cwd, *QUICK, "solver.resume=true", f"hydra.run.dir={folder}")

    assert_one_line(process, f"solver.resume=true: nothing to resume in {folder}")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]  # no .hydra/, no nnplug.log


@pytest.mark.parametrize("overrides, expected", [
    (["=5"], "=5: an override needs a key before its '=' (key=value or group=option)"),
    (["model.init_from=ftp://x/y"], "model.init_from=ftp://x/y: not a model URI nnplug reads (expected runs:/"),
])
def test_an_override_without_a_key_and_a_uri_of_no_store_are_one_line(cwd, overrides, expected):
    process = run_nnplug(cwd, *QUICK, *overrides)

    assert_one_line(process, expected)
    assert list(cwd.iterdir()) == []  # no store looked for at the default path, none made


def test_resuming_a_run_whose_recorded_store_does_not_answer_is_one_line(cwd, store):
    import json

    from servers import free_port

    folder = cwd / "run"
    overrides = [*QUICK, f"tracking.uri={store}", f"hydra.run.dir={folder}"]
    assert run_nnplug(cwd, *overrides).returncode == 0
    record = folder / "checkpoint" / "run.json"
    recorded = json.loads(record.read_text())
    unreachable = f"http://127.0.0.1:{free_port()}"
    record.write_text(json.dumps({**recorded, "tracking_uri": unreachable}))

    process = run_nnplug(cwd, *overrides, "solver.resume=true")

    assert_one_line(process, f"cannot resume MLflow run {recorded['run_id']}: its store {unreachable} (recorded in "
                             f"its run folder): no MLflow server answers")


def test_evaluate_on_a_full_disk_is_one_line_and_leaves_nothing(cwd, store, mount):
    assert run_nnplug(cwd, *QUICK, f"tracking.uri={store}").returncode == 0
    (run,) = runs(store)[1]
    disk = cwd / "disk"
    mount(disk, "size=16k")  # the confusion matrix picture alone is larger

    process = run_nnplug(cwd, "evaluate", f"runs:/{run.info.run_id}/model", "--tracking-uri", store,
                         "-o", str(disk / "evaluation"))

    assert_one_line(process, f"cannot write {disk / 'evaluation'}/confusion_matrix.png: No space left on device")
    assert list(disk.iterdir()) == []
