"""nnplug.tracking against a real SQLite MLflow store in a temporary folder (and real HTTP servers)."""
import http.server
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from servers import free_port

from nnplug.tracking import store as stores
from nnplug.tracking import sweep_runs
from nnplug.tracking.listener import MetricsRefused, MlflowTracker


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the module: creating (migrating) a SQLite store takes seconds."""
    folder = tmp_path_factory.mktemp("store") / "nested"  # not there yet: open_experiment makes it
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="module")
def client(store):
    from mlflow import MlflowClient

    stores.open_experiment(store, "setup")
    return MlflowClient(tracking_uri=store)


def tracker(store, experiment, **kwargs):
    options = dict(run_name="digits:affine-relu:sgd", params={"optim.name": "sgd"}, tags={"nnplug.data": "digits"})
    return MlflowTracker(store, experiment, **{**options, **kwargs})


def solver(losses, per_epoch):
    """What the tracker reads of a Solver: its loss history and epoch length."""
    return SimpleNamespace(loss_history=losses, iterations_per_epoch=per_epoch, train_acc_history=[],
                           val_acc_history=[], lr_history=[])


def train(t, epochs, per_epoch, loss=lambda step: 1.0 / (step + 1)):
    """Feed ``t`` the events of a Solver's training: one check after step 0, one per epoch end."""
    fake = solver([], per_epoch)
    t.on_train_start(fake)
    for step in range(epochs * per_epoch):
        fake.loss_history.append(loss(step))
        t.on_iteration(fake, step, loss(step))
        epoch_end = (step + 1) % per_epoch == 0
        if step == 0 or epoch_end:
            epoch = (step + 1) // per_epoch
            t.on_epoch_end(fake, epoch, 0.5 + epoch / 10, 0.4 + epoch / 10, 0.01 * 0.9 ** epoch)
    t.on_train_end(fake)


def test_the_store_is_the_configured_uri_then_the_environment_then_outputs_under_the_cwd(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert stores.tracking_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/outputs/mlflow.db"
    assert stores.tracking_uri(None, tmp_path).startswith("sqlite:////")  # absolute
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert stores.tracking_uri(None, tmp_path) == "http://127.0.0.1:5000"
    assert stores.tracking_uri("sqlite:////data/runs.db", tmp_path) == "sqlite:////data/runs.db"


def test_a_local_store_keeps_its_artifacts_beside_the_database(store, client):
    _, experiment_id = stores.open_experiment(store, "beside")
    _, again = stores.open_experiment(store, "beside")

    database = stores.sqlite_path(store)
    assert database.is_file()
    assert again == experiment_id
    assert client.get_experiment(experiment_id).artifact_location == (database.parent / "mlartifacts").as_uri()


@pytest.mark.parametrize("every", [1, 10, 50])
def test_the_loss_goes_every_n_steps_and_the_epoch_metrics_every_check(store, client, every):
    params = {f"p{i:03d}": i for i in range(250)}  # more than one log_batch may carry
    with tracker(store, "metrics", params=params, log_every_n_steps=every) as t:
        train(t, epochs=3, per_epoch=1000)  # 3,000 steps: more rows than one log_batch may carry at every=1

    run = client.get_run(t.run_id)
    assert run.info.status == "FINISHED"
    losses = {m.step: m.value for m in client.get_metric_history(t.run_id, "loss")}
    assert sorted(losses) == list(range(0, 3000, every))  # step 0 always: the curve starts at the first loss
    assert losses[every] == pytest.approx(1.0 / (every + 1))
    val_acc = {m.step: m.value for m in client.get_metric_history(t.run_id, "val_acc")}
    assert val_acc == pytest.approx({0: 0.4, 1: 0.5, 2: 0.6, 3: 0.7})
    assert sorted(m.step for m in client.get_metric_history(t.run_id, "learning_rate")) == [0, 1, 2, 3]
    # every step counts in its epoch's mean, whatever the interval
    epoch_loss = {m.step: m.value for m in client.get_metric_history(t.run_id, "epoch_loss")}
    assert epoch_loss == pytest.approx({e: sum(1.0 / (s + 1) for s in range((e - 1) * 1000, e * 1000)) / 1000
                                        for e in (1, 2, 3)})
    assert len(run.data.params) == 250 and run.data.params["p249"] == "249"
    assert run.data.tags["nnplug.data"] == "digits"
    assert run.info.run_name == "digits:affine-relu:sgd"
    assert {"mlflow.user", "mlflow.source.name", "mlflow.source.type"} <= set(run.data.tags)  # MLflow's context


def test_an_interval_that_is_not_a_whole_number_is_refused(store):
    with pytest.raises(ValueError, match=r"log_every_n_steps=0: expected a whole number >= 1"):
        tracker(store, "metrics", log_every_n_steps=0)


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
            t.on_iteration(solver([2.3], 5), 0, 2.3)
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
    parent_id, _ = sweep_runs.start_sweep_run(store, "sweep", "sweep optim=sgd,adam", {"nnplug.sweep": "parent"})
    for name, best_val_acc in [("sgd", 0.5), ("adam", 0.7)]:
        with tracker(store, "sweep", run_name=name, params={"optim.name": name}, parent_run_id=parent_id) as t:
            t.log_metrics({"best_val_acc": best_val_acc, "test_acc": best_val_acc - 0.1})
    with pytest.raises(RuntimeError):  # a failed job with a higher accuracy must not win
        with tracker(store, "sweep", run_name="rmsprop", parent_run_id=parent_id) as t:
            t.log_metrics({"best_val_acc": 0.9})
            raise RuntimeError("diverged")

    best, children, failed = sweep_runs.finish_sweep_run(store, parent_id)

    parent = client.get_run(parent_id)
    assert (best.info.run_name, len(children), failed) == ("adam", 3, 1)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["nnplug.best_child_run_id"] == best.info.run_id
    assert parent.data.tags["nnplug.best_child_run_name"] == "adam"
    assert parent.data.params == {"optim.name": "adam"}
    assert parent.data.metrics == pytest.approx({"best_val_acc": 0.7, "test_acc": 0.6})
    assert best.data.tags["mlflow.parentRunId"] == parent_id


def test_a_sweep_that_stopped_early_ends_its_parent_failed(store, client):
    parent_id, _ = sweep_runs.start_sweep_run(store, "stopped", "sweep", {})
    with tracker(store, "stopped", parent_run_id=parent_id) as t:
        t.log_metrics({"best_val_acc": 0.8})

    sweep_runs.finish_sweep_run(store, parent_id, completed=False)

    parent = client.get_run(parent_id)
    assert parent.info.status == "FAILED"
    assert parent.data.tags["nnplug.failure"] == "the sweep ended with an error; 0 of 1 runs failed"
    assert parent.data.tags["nnplug.best_child_run_id"] == t.run_id


def test_the_ui_hint_is_a_command_for_a_local_store_and_a_page_for_a_server():
    assert stores.ui_hint("sqlite:////x/outputs/mlflow.db", "3") == (
        "mlflow ui --backend-store-uri sqlite:////x/outputs/mlflow.db --workers 1, then open "
        "http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning")
    assert stores.ui_hint("http://h:5000/", "3", "abc") == \
        "http://h:5000/#/experiments/3/runs/abc?workflowType=machine_learning"
    assert stores.run_url("sqlite:////x/y.db", "3", "abc") is None
    assert stores.sqlite_path("http://h:5000") is None
    assert stores.sqlite_path("sqlite:////x/y.db") == Path("/x/y.db")


def test_a_resumed_tracker_continues_its_run_and_leaves_out_the_steps_it_holds(store, client):
    fake = solver([float(i) for i in range(15)], 5)
    with pytest.raises(KeyboardInterrupt):  # killed after storing epoch 1, before its checkpoint
        with tracker(store, "resumed", params={"optim.name": "sgd"}, log_every_n_steps=1) as first:
            for iteration in range(10):
                first.on_iteration(fake, iteration, float(iteration))
                if iteration % 5 == 4:
                    first.on_epoch_end(fake, iteration // 5 + 1, 0.5, 0.5, 0.1)
            raise KeyboardInterrupt
    assert client.get_run(first.run_id).info.status == "KILLED"

    # the Solver replays from its epoch-1 checkpoint: steps 5-9 and epoch 2 come again
    with tracker(store, "resumed", params={"optim.name": "ignored"}, resume_run_id=first.run_id,
                 log_every_n_steps=1) as again:
        for iteration in range(5, 15):
            again.on_iteration(fake, iteration, float(iteration))
            if iteration % 5 == 4:
                again.on_epoch_end(fake, iteration // 5 + 1, 0.5, 0.5, 0.1)

    assert again.run_id == first.run_id
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert "nnplug.failure" not in run.data.tags  # the kill is history once the run went on
    assert run.data.params == {"optim.name": "sgd"}  # kept, not logged again
    assert sorted(m.step for m in client.get_metric_history(first.run_id, "loss")) == list(range(15))
    for key in ("train_acc", "val_acc", "learning_rate", "epoch_loss"):
        assert sorted(m.step for m in client.get_metric_history(first.run_id, key)) == [1, 2, 3]
    assert len(client.search_runs([run.info.experiment_id])) == 1


def test_a_resumed_tracker_sends_the_steps_its_run_lacks_from_the_restored_solver_history(store, client):
    with pytest.raises(KeyboardInterrupt):  # killed before the epoch's rows were stored
        with tracker(store, "resumed", log_every_n_steps=2) as first:
            first.on_iteration(solver([0.0], 5), 0, 0.0)
            first.on_epoch_end(solver([0.0], 5), 0, 0.4, 0.4, 0.1)  # the check after the first step
            for iteration in range(1, 5):
                first.on_iteration(None, iteration, float(iteration))
            first._rows.clear()  # what never reached the store
            raise KeyboardInterrupt
    restored = SimpleNamespace(loss_history=[float(i) for i in range(10)], train_acc_history=[0.4, 0.5, 0.6],
                               val_acc_history=[0.4, 0.5, 0.6], lr_history=[0.1, 0.1, 0.09], iterations_per_epoch=5)

    with tracker(store, "resumed", resume_run_id=first.run_id, log_every_n_steps=2) as again:
        again.on_train_start(restored)
        for iteration in range(10, 15):
            restored.loss_history.append(float(iteration))
            again.on_iteration(restored, iteration, float(iteration))
        again.on_epoch_end(restored, 3, 0.7, 0.7, 0.08)

    losses = {m.step: m.value for m in client.get_metric_history(first.run_id, "loss")}
    assert losses == {step: float(step) for step in range(0, 15, 2)}
    assert {m.step: m.value for m in client.get_metric_history(first.run_id, "val_acc")} == {
        0: 0.4, 1: 0.5, 2: 0.6, 3: 0.7}
    assert {m.step: m.value for m in client.get_metric_history(first.run_id, "epoch_loss")} == pytest.approx(
        {1: 2.0, 2: 7.0, 3: 12.0})


def test_metrics_the_store_refuses_fail_the_run_naming_why_and_the_next_run_logs_again(store, client):
    with pytest.raises(MetricsRefused, match=r"the store .* refused the run's metrics: .*a\?b") as refused:
        with tracker(store, "refused") as t:
            t.on_iteration(solver([2.3], 5), 0, 2.3)
            t.log_metrics({"a?b": 1.0})  # not a name MLflow accepts
    assert "\n" not in str(refused.value)
    run = client.get_run(t.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["nnplug.failure"].startswith("MetricsRefused: the store ")

    with tracker(store, "refused") as after:  # a sweep's next job in this process
        after.on_iteration(solver([1.5], 5), 0, 1.5)
    assert client.get_run(after.run_id).info.status == "FINISHED"
    assert [m.value for m in client.get_metric_history(after.run_id, "loss")] == [1.5]


def test_resuming_a_run_the_store_does_not_have_says_so(store):
    with pytest.raises(ValueError, match=f"cannot resume MLflow run {'0' * 32}: .* has no such run"):
        with tracker(store, "resumed", resume_run_id="0" * 32):
            pass


def test_a_deleted_experiment_is_one_line_saying_how_to_restore_it(store, client):
    _, experiment_id = stores.open_experiment(store, "deleted")
    client.delete_experiment(experiment_id)

    with pytest.raises(stores.TrackingUnavailable) as error:
        stores.open_experiment(store, "deleted")
    assert str(error.value) == (
        f"tracking.experiment=deleted: the experiment is deleted in {store}; restore it "
        f"(mlflow experiments restore --experiment-id {experiment_id}) or pick another name")


class Answer(http.server.BaseHTTPRequestHandler):
    """Answers every request with the status in its path: ``/404/api/...`` -> 404."""

    def do_GET(self):
        self.send_response(int(self.path.split("/")[1]))
        self.end_headers()

    do_POST = do_GET

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


@pytest.fixture
def brief_retries(monkeypatch):
    """What the command line sets: MLflow's HTTP client gives up within seconds."""
    for name, value in stores.COMMAND_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@pytest.mark.slow
def test_a_tracking_uri_where_nothing_listens_is_one_line_within_seconds(brief_retries):
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.perf_counter()
    with pytest.raises(stores.TrackingUnavailable) as error:
        stores.open_experiment(uri, "nnplug")
    assert time.perf_counter() - start < 15
    assert str(error.value) == (f"tracking.uri={uri}: no MLflow server answers (connection refused); start it, "
                                f"or log locally with tracking.uri=null (and unset MLFLOW_TRACKING_URI)")


@pytest.mark.slow
def test_a_server_that_is_not_mlflow_is_one_line(http_server, brief_retries):
    with pytest.raises(stores.TrackingUnavailable) as error:
        stores.open_experiment(f"{http_server}/404", "nnplug")
    assert str(error.value).startswith(f"tracking.uri={http_server}/404: ")
    assert "\n" not in str(error.value)


def test_a_uri_no_store_understands_is_one_line():
    with pytest.raises(stores.TrackingUnavailable) as error:
        stores.open_experiment("foo://bar", "nnplug")
    assert str(error.value).startswith("tracking.uri=foo://bar: ") and "\n" not in str(error.value)


@pytest.mark.slow
def test_importing_the_tracking_modules_loads_no_mlflow():
    code = ("import sys, nnplug.tracking.listener, nnplug.tracking.sweep_runs\n"
            "print('mlflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
