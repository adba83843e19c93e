"""nnplug.tracking against a real SQLite MLflow store in a temporary folder."""
import http.server
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from servers import free_port

from nnplug import tracking


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the module: creating (migrating) a SQLite store takes seconds."""
    folder = tmp_path_factory.mktemp("store") / "nested"  # not there yet: open_experiment makes it
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="module")
def client(store):
    from mlflow import MlflowClient

    tracking.open_experiment(store, "setup")
    return MlflowClient(tracking_uri=store)


def tracker(store, experiment, **kwargs):
    options = dict(run_name="digits:affine-relu:sgd", params={"optim.name": "sgd"}, tags={"nnplug.data": "digits"})
    return tracking.MlflowTracker(store, experiment, **{**options, **kwargs})


@pytest.mark.parametrize("interval", [0, 3600])
def test_inline_metrics_of_short_epochs_are_stored_together(store, client, monkeypatch, interval):
    monkeypatch.setattr(tracking, "INLINE_FLUSH_SECONDS", interval)
    with tracker(store, "inline-epochs", background=False) as t:
        for epoch in range(3):
            t.on_iteration(None, epoch, 1.0)
            t.on_epoch_end(None, epoch, 0.5, 0.4, 0.01)
            stored = client.get_metric_history(t.run_id, "val_acc")
            # stored at each epoch end, or kept until the interval has passed
            assert len(stored) == (epoch + 1 if interval == 0 else 0)
        t.on_train_end(None)
        assert [m.step for m in client.get_metric_history(t.run_id, "loss")] == [0, 1, 2]
        assert len(client.get_metric_history(t.run_id, "val_acc")) == 3


@pytest.mark.parametrize("send_seconds", [0, 3600])
def test_the_writer_process_gets_losses_during_an_epoch_every_send_interval(store, client, monkeypatch,
                                                                              send_seconds):
    from nnplug import metric_sender

    monkeypatch.setattr(tracking, "SEND_SECONDS", send_seconds)
    with tracker(store, "sent-during-epochs") as t:
        for iteration in range(3):
            t.on_iteration(None, iteration, 1.0)
        metric_sender.sender().sync()  # everything the writer was sent is stored
        stored = [m.step for m in client.get_metric_history(t.run_id, "loss")]
        # handed over as it came (each step's own interval passed), or kept for the epoch's end
        assert stored == ([0, 1, 2] if send_seconds == 0 else [])
    assert len(client.get_metric_history(t.run_id, "loss")) == 3


def test_the_store_is_the_configured_uri_then_the_environment_then_outputs_under_the_cwd(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/outputs/mlflow.db"
    assert tracking.tracking_uri(None, tmp_path).startswith("sqlite:////")  # absolute
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.tracking_uri(None, tmp_path) == "http://127.0.0.1:5000"
    assert tracking.tracking_uri("sqlite:////data/runs.db", tmp_path) == "sqlite:////data/runs.db"


def test_a_local_store_keeps_its_artifacts_beside_the_database(store, client):
    _, experiment_id = tracking.open_experiment(store, "beside")
    _, again = tracking.open_experiment(store, "beside")

    database = tracking.sqlite_path(store)
    assert database.is_file()
    assert again == experiment_id
    assert client.get_experiment(experiment_id).artifact_location == (database.parent / "mlartifacts").as_uri()


@pytest.mark.parametrize("background", [True, False], ids=["writer-process", "inline"])
def test_losses_go_in_batches_and_accuracies_per_epoch_with_the_epoch_as_step(store, client, background):
    params = {f"p{i:03d}": i for i in range(250)}  # more than one log_batch may carry
    start = time.perf_counter()
    with tracker(store, "metrics", params=params, background=background) as t:
        for iteration in range(2500):  # more than one log_batch may carry
            t.on_iteration(None, iteration, 1.0 / (iteration + 1))
        for epoch in range(3):
            t.on_epoch_end(None, epoch, 0.5 + epoch / 10, 0.4 + epoch / 10, 0.01 * 0.9 ** epoch)
        t.on_train_end(None)
    # one log_metric per step costs 10-25 ms on SQLite: 2,500 of them would take far longer
    assert time.perf_counter() - start < 10

    run = client.get_run(t.run_id)
    assert run.info.status == "FINISHED"
    losses = client.get_metric_history(t.run_id, "loss")
    assert sorted(m.step for m in losses) == list(range(2500))
    assert {m.step: m.value for m in losses}[9] == pytest.approx(0.1)
    val_acc = {m.step: m.value for m in client.get_metric_history(t.run_id, "val_acc")}
    assert val_acc == pytest.approx({0: 0.4, 1: 0.5, 2: 0.6})
    assert sorted(m.step for m in client.get_metric_history(t.run_id, "learning_rate")) == [0, 1, 2]
    assert len(run.data.params) == 250 and run.data.params["p249"] == "249"
    assert run.data.tags["nnplug.data"] == "digits"
    assert run.info.run_name == "digits:affine-relu:sgd"


def test_a_param_longer_than_mlflow_allows_is_clipped(store, client):
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    with tracker(store, "clipped", params={"layer.options": "x" * (MAX_PARAM_VAL_LENGTH + 10)}) as t:
        pass

    value = client.get_run(t.run_id).data.params["layer.options"]
    assert len(value) == MAX_PARAM_VAL_LENGTH and value.endswith("...")


def test_an_exception_ends_the_run_failed_with_its_reason_and_no_active_run_is_left(store, client):
    import mlflow

    with pytest.raises(ZeroDivisionError):
        with tracker(store, "failures") as t:
            t.on_iteration(None, 0, 2.3)
            1 / 0

    run = client.get_run(t.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["nnplug.failure"] == "ZeroDivisionError: division by zero"
    assert [m.value for m in client.get_metric_history(t.run_id, "loss")] == [2.3]  # flushed on the way out
    assert mlflow.active_run() is None  # nothing for the next job in a reused worker to inherit


def test_an_interrupted_run_ends_killed(store, client):
    with pytest.raises(KeyboardInterrupt):
        with tracker(store, "failures") as t:
            raise KeyboardInterrupt

    assert client.get_run(t.run_id).info.status == "KILLED"


def test_the_sweep_parent_takes_the_best_finished_childs_params_and_metrics(store, client):
    parent_id = tracking.start_sweep_run(store, "sweep", "sweep optim=sgd,adam", {"nnplug.sweep": "parent"})
    for name, best_val_acc in [("sgd", 0.5), ("adam", 0.7)]:
        with tracker(store, "sweep", run_name=name, params={"optim.name": name}, parent_run_id=parent_id) as t:
            t.log_metrics({"best_val_acc": best_val_acc, "test_acc": best_val_acc - 0.1})
    with pytest.raises(RuntimeError):  # a failed job with a higher accuracy must not win
        with tracker(store, "sweep", run_name="rmsprop", parent_run_id=parent_id) as t:
            t.log_metrics({"best_val_acc": 0.9})
            raise RuntimeError("diverged")

    best, children, failed = tracking.finish_sweep_run(store, parent_id)

    parent = client.get_run(parent_id)
    assert (best.info.run_name, len(children), failed) == ("adam", 3, 1)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["nnplug.best_child_run_id"] == best.info.run_id
    assert parent.data.tags["nnplug.best_child_run_name"] == "adam"
    assert parent.data.params == {"optim.name": "adam"}
    assert parent.data.metrics == pytest.approx({"best_val_acc": 0.7, "test_acc": 0.6})
    assert best.data.tags["mlflow.parentRunId"] == parent_id


def test_a_sweep_that_stopped_early_ends_its_parent_failed(store, client):
    parent_id = tracking.start_sweep_run(store, "stopped", "sweep", {})
    with tracker(store, "stopped", parent_run_id=parent_id) as t:
        t.log_metrics({"best_val_acc": 0.8})

    tracking.finish_sweep_run(store, parent_id, completed=False)

    parent = client.get_run(parent_id)
    assert parent.info.status == "FAILED"
    assert parent.data.tags["nnplug.failure"] == "the sweep ended with an error; 0 of 1 runs failed"
    assert parent.data.tags["nnplug.best_child_run_id"] == t.run_id


def test_the_ui_hint_is_a_command_for_a_local_store_and_a_page_for_a_server():
    assert tracking.ui_hint("sqlite:////x/outputs/mlflow.db") == (
        "mlflow ui --backend-store-uri sqlite:////x/outputs/mlflow.db --workers 1")
    assert tracking.ui_hint("http://h:5000/", "3", "abc") == "http://h:5000/#/experiments/3/runs/abc"
    assert tracking.sqlite_path("http://h:5000") is None
    assert tracking.sqlite_path("sqlite:////x/y.db") == Path("/x/y.db")


def test_a_resumed_tracker_continues_its_run_and_leaves_out_the_steps_it_holds(store, client):
    with pytest.raises(KeyboardInterrupt):  # killed after flushing epoch 1, before its checkpoint
        with tracker(store, "resumed", params={"optim.name": "sgd"}) as first:
            for iteration in range(10):
                first.on_iteration(None, iteration, float(iteration))
                if iteration % 5 == 4:
                    first.on_epoch_end(None, iteration // 5, 0.5, 0.5, 0.1)
            raise KeyboardInterrupt
    assert client.get_run(first.run_id).info.status == "KILLED"

    # the Solver replays from its epoch-0 checkpoint: steps 5-9 and epoch 1 come again
    with tracker(store, "resumed", params={"optim.name": "ignored"}, resume_run_id=first.run_id) as again:
        for iteration in range(5, 15):
            again.on_iteration(None, iteration, float(iteration))
            if iteration % 5 == 4:
                again.on_epoch_end(None, iteration // 5, 0.5, 0.5, 0.1)

    assert again.run_id == first.run_id
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert "nnplug.failure" not in run.data.tags  # the kill is history once the run went on
    assert run.data.params == {"optim.name": "sgd"}  # kept, not logged again
    assert sorted(m.step for m in client.get_metric_history(first.run_id, "loss")) == list(range(15))
    for key in ("train_acc", "val_acc", "learning_rate"):
        assert sorted(m.step for m in client.get_metric_history(first.run_id, key)) == [0, 1, 2]
    assert len(client.search_runs([run.info.experiment_id])) == 1


def test_a_resumed_tracker_sends_the_steps_its_run_lacks_from_the_restored_solver_history(store, client):
    # the job was killed after its epoch-1 checkpoint, before the writer stored epoch 1's batch
    with pytest.raises(KeyboardInterrupt):
        with tracker(store, "resumed") as first:
            for iteration in range(5):
                first.on_iteration(None, iteration, float(iteration))
            first.on_epoch_end(None, 0, 0.5, 0.5, 0.1)
            first.flush()
            first._sender.sync()
            first._metrics.clear()  # what never reached the writer
            raise KeyboardInterrupt
    restored = SimpleNamespace(loss_history=[float(i) for i in range(10)], train_acc_history=[0.5, 0.6],
                               val_acc_history=[0.5, 0.6], lr_history=[0.1, 0.09])

    with tracker(store, "resumed", resume_run_id=first.run_id) as again:
        again.on_train_start(restored)
        for iteration in range(10, 15):
            again.on_iteration(None, iteration, float(iteration))
        again.on_epoch_end(None, 2, 0.7, 0.7, 0.08)

    losses = {m.step: m.value for m in client.get_metric_history(first.run_id, "loss")}
    assert losses == {step: float(step) for step in range(15)}
    assert {m.step: m.value for m in client.get_metric_history(first.run_id, "val_acc")} == {0: 0.5, 1: 0.6, 2: 0.7}
    assert len(client.get_metric_history(first.run_id, "train_acc")) == 3


@pytest.mark.parametrize("background", [True, False], ids=["writer-process", "inline"])
def test_metrics_the_store_refuses_fail_the_run_naming_why_and_the_next_run_logs_again(store, client, background):
    # the writer process reports the refusal when the run ends; inline, it is raised at once
    expected = "MetricsNotStored: MLflow did not store the metrics: " if background else "MlflowException: "
    with pytest.raises(Exception, match=r"a\?b") as refused:
        with tracker(store, "refused", background=background) as t:
            t.on_iteration(None, 0, 2.3)
            t.log_metrics({"a?b": 1.0})  # not a name MLflow accepts
    run = client.get_run(t.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["nnplug.failure"].startswith(expected)
    assert f"{type(refused.value).__name__}: " in expected

    with tracker(store, "refused", background=background) as after:  # a sweep's next job in this process
        after.on_iteration(None, 0, 1.5)
    assert client.get_run(after.run_id).info.status == "FINISHED"
    assert [m.value for m in client.get_metric_history(after.run_id, "loss")] == [1.5]


KILLED_TRAINER = """
import os, signal, sys
from nnplug.tracking import MlflowTracker
with MlflowTracker(sys.argv[1], "killed", run_name="killed", params={}, tags={}) as t:
    print(t.run_id, flush=True)
    for iteration in range(3000):
        t.on_iteration(None, iteration, float(iteration))
    t.on_epoch_end(None, 0, 0.5, 0.5, 0.1)  # handed to the writer, not stored yet
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_writer_stores_what_it_was_sent_when_the_training_process_is_killed(store, client):
    done = subprocess.run([sys.executable, "-c", KILLED_TRAINER, store], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    run_id = done.stdout.strip()

    deadline = time.monotonic() + 60
    while len(client.get_metric_history(run_id, "loss")) < 3000 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(m.step for m in client.get_metric_history(run_id, "loss")) == list(range(3000))
    assert [m.value for m in client.get_metric_history(run_id, "val_acc")] == [0.5]
    assert client.get_run(run_id).info.status == "RUNNING"  # nobody was left to end it


UNCONFIRMED_SENDER = """
import sys
from nnplug.metric_sender import sender
from nnplug.tracking import open_experiment
client, experiment_id = open_experiment(sys.argv[1], "unconfirmed")
run_id = client.create_run(experiment_id).info.run_id
sender().send(sys.argv[1], run_id, [["loss", float(i), 0, i] for i in range(2000)])
print(run_id)
"""


def test_a_process_that_exits_before_a_sync_waits_for_the_writer_to_store_its_metrics(store, client):
    # stderr not captured: the writer inherits it, and run() would wait for the writer to close it
    done = subprocess.run([sys.executable, "-c", UNCONFIRMED_SENDER, store], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
    assert done.returncode == 0
    history = client.get_metric_history(done.stdout.strip(), "loss")  # no waiting here: exiting did
    assert sorted(m.step for m in history) == list(range(2000))


CONTEXT_TAGS = """
import sys
from nnplug.tracking import context_tags
tags = context_tags({"nnplug.data": "digits"})
print(sorted(tags), "IPython" in sys.modules)
"""


def test_runs_get_mlflows_context_tags_without_importing_ipython():
    done = subprocess.run([sys.executable, "-c", CONTEXT_TAGS], capture_output=True, text=True, check=True)
    keys, ipython_loaded = done.stdout.rsplit(" ", 1)
    assert {"mlflow.user", "mlflow.source.name", "mlflow.source.type", "nnplug.data"} <= set(eval(keys))
    assert ipython_loaded.strip() == "False"


def test_resuming_a_run_the_store_does_not_have_says_so(store):
    with pytest.raises(ValueError, match=f"cannot resume MLflow run {'0' * 32}: .* has no such run"):
        with tracker(store, "resumed", resume_run_id="0" * 32):
            pass


class Answer(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the status in its path: ``/503/health`` -> 503."""

    def do_GET(self):
        self.send_response(int(self.path.split("/")[1]))
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_a_tracking_uri_where_nothing_listens_is_refused_at_once_naming_it_and_the_fallback():
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.perf_counter()
    with pytest.raises(tracking.TrackingUnavailable) as error:
        tracking.check_server(uri)
    assert time.perf_counter() - start < 2
    assert str(error.value) == (f"tracking.uri={uri}: no MLflow server answers ([Errno 111] Connection refused); "
                                f"start it, or log locally with tracking.uri=null (and unset MLFLOW_TRACKING_URI)")


def test_a_server_error_counts_as_down_and_a_client_error_as_a_server_that_answers(http_server):
    with pytest.raises(tracking.TrackingUnavailable, match=r"no MLflow server answers \(HTTP 503 "):
        tracking.check_server(f"{http_server}/503")
    tracking.check_server(f"{http_server}/401")  # MLflow's own error will say more
    tracking.check_server(f"{http_server}/200/")
    tracking.check_server("sqlite:////nowhere/mlflow.db")  # a local store: nothing to ask
