"""Crash-safe training: a run killed or stopped after epoch k and resumed ends bit-identical to a run
never interrupted, and no checkpoint is ever written from a diverged state."""
import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from nnplug.core import checkpoint
from nnplug.core.augmentation import build_transforms
from nnplug.core.checkpoint import CheckpointError
from nnplug.core.network import Network
from nnplug.contract.registry import default_registry
from nnplug.core.solver import DivergenceError, Solver, TrainingInterrupted
from solver_listeners import Stop, StopAt

TESTS = os.path.dirname(os.path.abspath(__file__))
N_TRAIN, N_VAL, BATCH, EPOCHS = 180, 60, 30, 4
PER_EPOCH = N_TRAIN // BATCH


def blobs(dtype, dim=20, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = 2 * rng.standard_normal((classes, dim))
    y = rng.integers(0, classes, N_TRAIN + N_VAL)
    X = (centers[y] + rng.standard_normal((N_TRAIN + N_VAL, dim))).astype(dtype)
    return {"X_train": X[:N_TRAIN], "y_train": y[:N_TRAIN], "X_val": X[N_TRAIN:], "y_val": y[N_TRAIN:]}


def make_solver(checkpoint_dir=None, dtype="float64", update_rule="adam", listeners=()):
    """Everything random at once: minibatches, both accuracy subsamples, dropout masks, plus
    batch-norm running statistics, per-parameter optimizer state and a decaying learning rate."""
    model = Network([16, 12], input_dim=20, num_classes=4, block=["affine", "batchnorm", "relu"],
                    dropout=0.25, weight_scale=0.1, dtype=dtype, seed=3)
    return Solver(model, blobs(dtype), update_rule=update_rule, lr_decay=0.9, batch_size=BATCH,
                  num_epochs=EPOCHS, num_train_samples=100, num_val_samples=40, verbose=False, seed=5,
                  checkpoint_dir=checkpoint_dir, listeners=listeners)


def images(dtype, shape=(2, 6, 6), classes=3, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, N_TRAIN + N_VAL)
    X = (rng.standard_normal((classes, *shape))[y] + rng.standard_normal((N_TRAIN + N_VAL, *shape))).astype(dtype)
    return {"X_train": X[:N_TRAIN], "y_train": y[:N_TRAIN], "X_val": X[N_TRAIN:], "y_val": y[N_TRAIN:]}


PLAIN = [{"conv": {"filters": 4}}, "spatial_batchnorm", "relu", "max_pool", "affine"]
# batch-norm statistics inside a composite: averaged and checkpointed through the tree's state
RESIDUAL = [{"conv": {"filters": 4}}, {"residual": {"layers": [{"conv": {"filters": 4}}, "spatial_batchnorm"]}},
            "relu", "max_pool", "affine"]


def make_recipe_solver(checkpoint_dir=None, average="lookahead", listeners=(), dtype="float64", layers=PLAIN, **options):
    """The training techniques of a record recipe at once: a per-step warm-up and decay, Nesterov
    momentum with decoupled weight decay, an average of the weights (and of the batch-norm
    statistics), flips alternating by epoch, random flips, translation with reflect padding and
    label smoothing."""
    model = Network(layers=layers, input_dim=(2, 6, 6), num_classes=3, loss_options={"smoothing": 0.2}, dtype=dtype,
                    seed=3)
    transforms = build_transforms(["alternating_flip", {"random_crop": {"padding": 1, "padding_mode": "reflect"}},
                                   "horizontal_flip"], (2, 6, 6), seed=4)
    return Solver(model, images(dtype), update_rule="nesterov",
                  optim_config={"learning_rate": 0.05, "momentum": 0.85, "weight_decay": 5e-3,
                                "decoupled_weight_decay": True},
                  lr_schedule="linear", lr_warmup=0.25, lr_warmup_start=0.2, lr_min=0.005,
                  average=average, average_decay=0.9, average_every=2, average_ramp=3.0,
                  batch_size=BATCH, num_epochs=EPOCHS, num_train_samples=100, num_val_samples=40, verbose=False,
                  seed=5, transforms=transforms, checkpoint_dir=checkpoint_dir, listeners=listeners, **options)


# How long training took is the one part of the state that differs between a stopped and an uninterrupted run.
CLOCK = "train_seconds"


def assert_same(a, b, where="state"):
    """Equal to the last bit, dtype included, all the way down (the training time apart)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            if key != CLOCK:
                assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_run(resumed, uninterrupted):
    assert resumed.iteration == uninterrupted.iteration == EPOCHS * PER_EPOCH
    assert resumed.loss_history == uninterrupted.loss_history
    assert resumed.val_acc_history == uninterrupted.val_acc_history
    # parameters, best parameters, optimizer and batch-norm state, every generator, all histories
    assert_same(resumed.get_state(), uninterrupted.get_state())


@pytest.fixture(scope="module")
def uninterrupted():
    runs = {}
    for dtype in ("float64", "float32"):
        runs[dtype] = make_solver(dtype=dtype)
        runs[dtype].train()
    return runs


def run_script(tmp_path, body, *args):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""\
        import os, signal, sys
        sys.path.insert(0, {TESTS!r})
        from test_reliability_resume import PER_EPOCH, make_solver
        from nnplug.core.solver import TrainingInterrupted
        """) + textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sigkill_after_epoch_two_then_resume_is_exact(tmp_path, uninterrupted, dtype):
    folder = tmp_path / "checkpoint"
    proc = run_script(tmp_path, """
        class KillInEpochThree:  # the checkpoint of epoch 2 is on disk by now
            def on_iteration(self, solver, iteration, loss):
                if iteration == 2 * PER_EPOCH + 1:
                    os.kill(os.getpid(), signal.SIGKILL)
        make_solver(sys.argv[1], sys.argv[2], listeners=[KillInEpochThree()]).train()
        """, str(folder), dtype)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert checkpoint.load(checkpoint.path_in(folder))["epoch"] == 2

    resumed = make_solver(folder, dtype)
    assert resumed.restore() == 2 * PER_EPOCH
    resumed.train()
    assert_same_run(resumed, uninterrupted[dtype])


@pytest.mark.slow
@pytest.mark.parametrize("signum,times", [(signal.SIGTERM, 1), (signal.SIGINT, 1), (signal.SIGTERM, 2)])
def test_signal_saves_the_current_iteration_and_exits_non_zero(tmp_path, uninterrupted, signum, times):
    folder = tmp_path / "checkpoint"
    proc = run_script(tmp_path, f"""
        class Signal:
            def on_iteration(self, solver, iteration, loss):
                if iteration == 2 * PER_EPOCH + 2:
                    for _ in range({times}):
                        os.kill(os.getpid(), {int(signum)})
        try:
            make_solver(sys.argv[1], listeners=[Signal()]).train()
        except TrainingInterrupted as exc:
            print(exc)
            sys.exit(exc.exit_code)
        """, str(folder))
    assert proc.returncode == 128 + signum, proc.stderr
    assert f"training stopped by {signal.Signals(signum).name}" in proc.stdout
    saved = checkpoint.load(checkpoint.path_in(folder))
    if times == 1:  # saved after the iteration the signal arrived in, mid-epoch
        assert saved["iteration"] == 2 * PER_EPOCH + 3 and "resume from" in proc.stdout
    else:  # a second signal stops at once; the last complete checkpoint stays intact
        assert saved["iteration"] == 2 * PER_EPOCH

    resumed = make_solver(folder)
    resumed.restore()
    resumed.train()
    assert_same_run(resumed, uninterrupted["float64"])


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda signum: signum.name)
def test_a_signal_without_checkpoints_still_stops_between_steps(tmp_path, signum):
    proc = run_script(tmp_path, f"""
        class Signal:
            def on_iteration(self, solver, iteration, loss):
                if iteration == PER_EPOCH + 2:
                    os.kill(os.getpid(), {int(signum)})
        solver = make_solver(listeners=[Signal()])
        try:
            solver.train()
        except TrainingInterrupted as exc:
            print(exc, len(solver.loss_history))
            sys.exit(exc.exit_code)
        """)
    assert proc.returncode == 128 + signum, proc.stderr
    # after the iteration the signal arrived in, nothing saved and no resume offered
    assert proc.stdout.split("\n")[0] == f"training stopped by {signal.Signals(signum).name} {PER_EPOCH + 3}"
    assert list(tmp_path.iterdir()) == [tmp_path / "train.py"]


@pytest.mark.parametrize("update_rule", default_registry().names("optimizers"))
def test_every_update_rule_resumes_exactly(tmp_path, update_rule):
    reference = make_solver(update_rule=update_rule)
    reference.train()
    with pytest.raises(Stop):
        make_solver(tmp_path, update_rule=update_rule, listeners=[StopAt(2 * PER_EPOCH + 1)]).train()
    resumed = make_solver(tmp_path, update_rule=update_rule)
    resumed.restore()
    resumed.train()
    assert_same_run(resumed, reference)


class SaveAndStop:
    """Checkpoints after step ``iteration`` (mid-epoch, as SIGTERM would) and stops there."""

    def __init__(self, iteration):
        self.iteration = iteration

    def on_iteration(self, solver, iteration, loss):
        if iteration == self.iteration:
            solver.save_checkpoint()
            raise Stop


SHUFFLED = {"sampling": "shuffle", "micro_batch": 12}  # 12, 12 and 6 rows of each batch of 30


@pytest.mark.parametrize("average, stop, layers, options", [
    ("ema", StopAt(2 * PER_EPOCH + 1), PLAIN, {}), ("ema", SaveAndStop(2 * PER_EPOCH + 2), PLAIN, {}),
    ("lookahead", StopAt(2 * PER_EPOCH + 1), PLAIN, {}), ("lookahead", SaveAndStop(2 * PER_EPOCH + 2), PLAIN, {}),
    ("lookahead", SaveAndStop(2 * PER_EPOCH + 2), RESIDUAL, {}),
    ("lookahead", StopAt(2 * PER_EPOCH + 1), PLAIN, SHUFFLED), ("lookahead", SaveAndStop(2 * PER_EPOCH + 2), PLAIN, SHUFFLED),
], ids=["ema-epoch_end", "ema-mid_epoch", "lookahead-epoch_end", "lookahead-mid_epoch", "lookahead-residual",
        "shuffle-micro_batch-epoch_end", "shuffle-micro_batch-mid_epoch"])
def test_the_recipe_techniques_resume_exactly(tmp_path, average, stop, layers, options):
    reference = make_recipe_solver(average=average, layers=layers, **options)
    reference.train()
    with pytest.raises(Stop):
        make_recipe_solver(tmp_path, average, listeners=[stop], layers=layers, **options).train()
    resumed = make_recipe_solver(tmp_path, average, layers=layers, **options)
    resumed.restore()
    resumed.train()
    assert_same_run(resumed, reference)


@pytest.mark.slow
def test_the_recipe_techniques_killed_by_sigkill_resume_exactly(tmp_path):
    reference = make_recipe_solver()
    reference.train()
    folder = tmp_path / "checkpoint"
    proc = run_script(tmp_path, """
        from test_reliability_resume import make_recipe_solver
        class KillInEpochThree:
            def on_iteration(self, solver, iteration, loss):
                if iteration == 2 * PER_EPOCH + 1:
                    os.kill(os.getpid(), signal.SIGKILL)
        make_recipe_solver(sys.argv[1], listeners=[KillInEpochThree()]).train()
        """, str(folder))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    resumed = make_recipe_solver(folder)
    assert resumed.restore() == 2 * PER_EPOCH
    resumed.train()
    assert_same_run(resumed, reference)


def test_a_checkpoint_of_another_run_is_refused_and_changes_nothing(tmp_path):
    with pytest.raises(Stop):
        make_solver(tmp_path, listeners=[StopAt(PER_EPOCH)]).train()
    other = make_solver(update_rule="sgd_momentum")
    before = other.get_state()
    with pytest.raises(CheckpointError, match=(
            rf"checkpoint {re.escape(str(tmp_path))}/checkpoint.npz: it was written by a different run: "
            r"solver.update_rule_name: checkpoint has 'adam', this run has 'sgd_momentum'")):
        other.restore(tmp_path)
    assert_same(other.get_state(), before)


def wrong_width(state):
    state["model_state"][1]["running_mean"] = np.zeros(3)


def broken_generator(state):
    state["rng"]["state"] = "not a generator state"  # only noticed after parameters are copied


@pytest.mark.parametrize("damage", [wrong_width, broken_generator])
def test_a_damaged_state_inside_a_valid_file_is_refused_and_changes_nothing(tmp_path, damage):
    with pytest.raises(Stop):
        make_solver(tmp_path, listeners=[StopAt(PER_EPOCH)]).train()
    state = checkpoint.load(checkpoint.path_in(tmp_path))
    damage(state)
    checkpoint.save(checkpoint.path_in(tmp_path), state)
    fresh = make_solver(tmp_path)
    before = fresh.get_state()
    with pytest.raises(CheckpointError, match=f"checkpoint {re.escape(str(tmp_path))}/checkpoint.npz: "):
        fresh.restore()
    assert_same(fresh.get_state(), before)


@pytest.mark.parametrize("checkpointing", [True, False])
def test_signal_handlers_only_while_training_in_the_main_thread(tmp_path, checkpointing):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    seen = []

    class Look:
        def on_iteration(self, solver, iteration, loss):
            seen.append(signal.getsignal(signal.SIGTERM))

    make_solver(tmp_path if checkpointing else None, listeners=[Look()]).train()
    assert seen[0] != before[signal.SIGTERM]  # installed while training
    assert {s: signal.getsignal(s) for s in before} == before  # and given back

    errors = []
    worker = threading.Thread(target=lambda: _train_collecting(make_solver(tmp_path / "t"), errors))
    worker.start()
    worker.join()
    assert errors == [] and checkpoint.exists(tmp_path / "t")


def _train_collecting(solver, errors):
    try:
        solver.train()
    except Exception as exc:  # signal.signal outside the main thread would raise ValueError
        errors.append(exc)


def test_divergence_never_writes_a_checkpoint(tmp_path):
    model = Network([16], input_dim=20, num_classes=4, seed=0)
    solver = Solver(model, blobs("float64"), optim_config={"learning_rate": 1e6}, num_epochs=20,
                    batch_size=BATCH, verbose=False, seed=0, checkpoint_dir=tmp_path)
    with pytest.raises(DivergenceError, match=r"iteration \d+ .*learning rate 1e\+06"):
        solver.train()
    if checkpoint.exists(tmp_path):  # one from before the blow-up is fine, if all finite
        saved = checkpoint.load(checkpoint.path_in(tmp_path))
        assert saved["iteration"] < solver.iteration + 1
        assert all(np.isfinite(w).all() for w in saved["params"].values())


class OverflowingGradient:
    """A finite loss whose gradient turns infinite from ``start`` on: parameters blow up silently."""

    def __init__(self, start):
        self.params = {"W": np.ones((20, 4))}
        self.calls = 0
        self.start = start

    def loss(self, X, y=None):
        if y is None:
            return X @ self.params["W"]
        self.calls += 1
        grad = np.full((20, 4), np.inf if self.calls > self.start else 0.0)
        return 1.0, {"W": grad}


def test_non_finite_parameters_at_epoch_end_stop_training_instead_of_checkpointing(tmp_path):
    solver = Solver(OverflowingGradient(start=PER_EPOCH + 2), blobs("float64"), num_epochs=3,
                    batch_size=BATCH, verbose=False, seed=0, checkpoint_dir=tmp_path)
    with pytest.raises(DivergenceError, match=r"parameters W became non-finite by iteration 12"):
        solver.train()
    assert checkpoint.load(checkpoint.path_in(tmp_path))["iteration"] == PER_EPOCH  # epoch 1's, intact


def test_an_interruption_survives_the_trip_back_from_a_parallel_sweep_job():
    back = pickle.loads(pickle.dumps(TrainingInterrupted(signal.SIGTERM, "/run/checkpoint/checkpoint.npz")))

    assert (back.signum, back.checkpoint, back.exit_code) == (signal.SIGTERM, "/run/checkpoint/checkpoint.npz", 143)
    assert str(back) == "training stopped by SIGTERM; resume from /run/checkpoint/checkpoint.npz"


def test_the_training_time_is_kept_in_the_checkpoint_and_goes_on_after_a_restore(tmp_path):
    with pytest.raises(Stop):
        make_solver(tmp_path, listeners=[StopAt(2 * PER_EPOCH + 1)]).train()
    saved = checkpoint.load(checkpoint.path_in(tmp_path))[CLOCK]  # at the end of epoch 2

    resumed = make_solver(tmp_path)
    resumed.restore()
    assert resumed.clock.seconds == saved > 0
    resumed.train()

    assert resumed.clock.seconds > saved  # epochs 3 and 4 added to the first two
    assert checkpoint.load(checkpoint.path_in(tmp_path))[CLOCK] > saved
