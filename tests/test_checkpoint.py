"""Checkpoint files: exact round trips, atomic replacement, and refusal of anything that could run code."""
import os
import pickle
import re
import zipfile

import numpy as np
import pytest

from nnplug.core import checkpoint
from nnplug.core.checkpoint import CheckpointError


class Payload:
    """Unpickling this creates ``marker``: proof that a loader executed code from a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def sample_state():
    rng = np.random.default_rng(7)
    rng.random(3)  # a state other than the seed's
    return {
        "params": {"W1": rng.standard_normal((3, 4)), "b1": np.zeros(4, dtype=np.float32)},
        "optim": {"W1": {"learning_rate": 1e-3 * 0.95 ** 3, "t": 12, "m": np.full((3, 4), 0.1),
                         "beta": np.float32(0.9)}},
        "layers": [{"rng": rng.bit_generator.state, "running_mean": np.arange(4.0)}, None],
        "loss_history": [2.302585092994046, 0.1 + 0.2],
        "flag": True,
        "name": "adam",
    }


def test_round_trip_is_exact_in_values_dtypes_and_scalar_types(tmp_path):
    path = tmp_path / "checkpoint.npz"
    state = sample_state()
    checkpoint.save(path, state)
    back = checkpoint.load(path)
    assert back["params"]["b1"].dtype == np.float32
    np.testing.assert_array_equal(back["params"]["W1"], state["params"]["W1"])
    assert back["optim"]["W1"]["learning_rate"] == state["optim"]["W1"]["learning_rate"]  # float repr is exact
    assert type(back["optim"]["W1"]["beta"]) is np.float32 and type(back["optim"]["W1"]["t"]) is int
    assert back["layers"][0]["rng"] == state["layers"][0]["rng"]
    assert back["layers"][1] is None
    assert back["loss_history"] == state["loss_history"] and back["flag"] is True and back["name"] == "adam"


def test_file_is_an_npz_with_the_state_as_json(tmp_path):
    path = tmp_path / "checkpoint.npz"
    checkpoint.save(path, sample_state())
    with zipfile.ZipFile(path) as archive:
        assert "state.json" in archive.namelist() and "params/W1.npy" in archive.namelist()
    np.testing.assert_array_equal(np.load(path, allow_pickle=False)["params/W1"], sample_state()["params"]["W1"])


def test_replacing_is_all_or_nothing(tmp_path):
    path = tmp_path / "checkpoint.npz"
    checkpoint.save(path, {"epoch": 1})

    def crash(f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # as if killed while writing

    with pytest.raises(KeyboardInterrupt):
        checkpoint.atomic_write(path, crash)
    assert checkpoint.load(path) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["checkpoint.npz"]  # no temporary file left behind


@pytest.mark.parametrize("bad", [np.array([object()], dtype=object), {1: "not a string key"}, {1, 2}])
def test_what_only_a_pickle_could_hold_is_refused_on_save(tmp_path, bad):
    path = tmp_path / "checkpoint.npz"
    with pytest.raises(CheckpointError, match="checkpoint .*checkpoint.npz"):
        checkpoint.save(path, {"x": bad})
    assert not path.exists()


def test_non_finite_scalars_are_refused_on_save(tmp_path):
    with pytest.raises(CheckpointError, match="not finite"):
        checkpoint.save(tmp_path / "checkpoint.npz", {"best_val_acc": float("nan")})


def rewrite_member(path, member, write):
    """Copy the archive at ``path`` with ``member`` replaced by what ``write(file)`` writes."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            if name == member:
                with archive.open(name, "w") as f:
                    write(f)
            else:
                archive.writestr(name, data)


def test_a_pickled_object_inside_a_real_checkpoint_is_refused_without_running_it(tmp_path):
    path = tmp_path / "checkpoint.npz"
    marker = tmp_path / "payload-ran"
    checkpoint.save(path, sample_state())
    payload = np.array([Payload(marker)], dtype=object)
    rewrite_member(path, "params/W1.npy", lambda f: np.lib.format.write_array(f, payload, allow_pickle=True))

    refused = rf"checkpoint {re.escape(str(path))}: unreadable or corrupt .*pickle"
    with pytest.raises(CheckpointError, match=refused):
        checkpoint.load(path)
    assert not marker.exists()

    # the payload is live: a loader that allowed pickles would have run it
    np.load(path, allow_pickle=True)["params/W1"]
    assert marker.exists()


@pytest.mark.parametrize("craft", ["savez_object_array", "plain_pickle"])
def test_files_that_are_pickles_are_refused_without_running_them(tmp_path, craft):
    path = tmp_path / "checkpoint.npz"
    marker = tmp_path / "payload-ran"
    if craft == "savez_object_array":
        np.savez(path, params=np.array([Payload(marker)], dtype=object))
    else:
        path.write_bytes(pickle.dumps({"params": Payload(marker)}))
    with pytest.raises(CheckpointError, match=f"checkpoint {re.escape(str(path))}: "):
        checkpoint.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99])
def test_truncated_file_gives_one_error_naming_it(tmp_path, keep):
    path = tmp_path / "checkpoint.npz"
    checkpoint.save(path, sample_state())
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=f"^checkpoint {re.escape(str(path))}: unreadable or corrupt"):
        checkpoint.load(path)


def test_a_flipped_byte_in_array_data_is_detected(tmp_path):
    path = tmp_path / "checkpoint.npz"
    checkpoint.save(path, {"w": np.zeros(1000)})
    data = bytearray(path.read_bytes())
    data[data.index(b"\x00" * 800) + 400] ^= 0xFF  # inside the array's 8,000 zero bytes
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="CRC"):
        checkpoint.load(path)


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ({"other.npy": np.zeros(2)}, "not an nnplug checkpoint"),
    ({"state.json": b'{"format": "nnplug-checkpoint", "version": 99, "state": {}}'}, "format version 99"),
    ({"state.json": b'{"format": "nnplug-checkpoint", "version": 1, "state": {"w": {"__ndarray__": "w"}}}'},
     "unreadable or corrupt"),  # names an array that is not there
    ({"state.json": b"{not json"}, "unreadable or corrupt"),
])
def test_files_that_are_not_checkpoints(tmp_path, content, message):
    path = tmp_path / "checkpoint.npz"
    if content is not None:
        with zipfile.ZipFile(path, "w") as archive:
            for name, value in content.items():
                if isinstance(value, np.ndarray):
                    with archive.open(name, "w") as f:
                        np.lib.format.write_array(f, value)
                else:
                    archive.writestr(name, value)
    with pytest.raises(CheckpointError, match=f"checkpoint {re.escape(str(path))}: {message}"):
        checkpoint.load(path)


# --- a Solver's checkpoint keeps each array's memory layout (float64 W1 with fan-in 600 is F-ordered)

def _layout(a):
    return "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else None


def _layout_solver(checkpoint_dir=None, listeners=()):
    from nnplug.core.classic_models import FullyConnectedNet
    from nnplug.core.solver import Solver

    rng = np.random.default_rng(0)
    centers = 2 * rng.standard_normal((4, 600))
    y = rng.integers(0, 4, 160)
    X = centers[y] + rng.standard_normal((160, 600))
    data = {"X_train": X[:120], "y_train": y[:120], "X_val": X[120:], "y_val": y[120:]}
    np.random.seed(1)  # CS231n's classes draw their weights from numpy's global generator
    model = FullyConnectedNet([12, 8], input_dim=600, num_classes=4, use_batchnorm=True, reg=1e-3,
                              weight_scale=5e-2, dtype=np.float64)
    return Solver(model, data, update_rule="adam", num_epochs=3, batch_size=30, verbose=False, seed=2,
                  checkpoint_dir=checkpoint_dir, listeners=listeners, optim_config={"learning_rate": 1e-3})


class _Stop(Exception):
    pass


class _StopAfter:
    def __init__(self, iteration):
        self.iteration = iteration

    def on_iteration(self, solver, iteration, loss):
        if iteration == self.iteration:
            raise _Stop  # after the epoch-1 checkpoint, mid epoch 2


def _interrupted_checkpoint(tmp_path):
    with pytest.raises(_Stop):
        _layout_solver(tmp_path, [_StopAfter(5)]).train()  # 4 iterations per epoch
    return checkpoint.path_in(tmp_path)


def test_arrays_keep_their_layout_on_disk(tmp_path):
    state = checkpoint.load(_interrupted_checkpoint(tmp_path))
    assert _layout(state["params"]["W1"]) == "F" and _layout(state["params"]["W2"]) == "C"
    assert _layout(state["best_params"]["W1"]) == "F"
    assert _layout(state["optim_configs"]["W1"]["m"]) == "F" and _layout(state["optim_configs"]["W1"]["v"]) == "F"


@pytest.mark.parametrize("stored", ["as saved", "all C-ordered"])
def test_a_restored_run_keeps_the_models_layout_and_finishes_bit_identical(tmp_path, stored):
    path = _interrupted_checkpoint(tmp_path)
    if stored == "all C-ordered":  # a checkpoint written before weights were F-ordered

        def to_c(obj):
            if isinstance(obj, np.ndarray):
                return np.ascontiguousarray(obj)
            if isinstance(obj, dict):
                return {k: to_c(v) for k, v in obj.items()}
            return [to_c(v) for v in obj] if isinstance(obj, list) else obj

        checkpoint.save(path, to_c(checkpoint.load(path)))
        assert _layout(checkpoint.load(path)["params"]["W1"]) == "C"
    reference = _layout_solver()
    reference.train()
    resumed = _layout_solver(tmp_path)
    layouts = {name: _layout(w) for name, w in resumed.model.params.items()}
    assert resumed.restore() == 4
    assert {name: _layout(w) for name, w in resumed.model.params.items()} == layouts
    assert {name: _layout(w) for name, w in resumed.best_params.items()} == layouts
    resumed.train()
    for name, w in resumed.model.params.items():
        assert _layout(w) == layouts[name], name
        for key in ("m", "v"):
            assert _layout(resumed.optim_configs[name][key]) == layouts[name], (name, key)
            np.testing.assert_array_equal(resumed.optim_configs[name][key], reference.optim_configs[name][key])
        np.testing.assert_array_equal(w, reference.model.params[name])
    assert resumed.loss_history == reference.loss_history
