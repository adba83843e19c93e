"""Training-time transforms (data augmentation): each standard one keeps the contract and does what
it says; the Solver applies them to training minibatches only, and a resumed run draws exactly
what an uninterrupted one would."""
import numpy as np
import pytest

from nnplug.contract.kinds import Transform
from nnplug.contract.registry import default_registry
from nnplug.core.augmentation import build_transforms
from nnplug.core.network import Network
from nnplug.core.solver import Solver
from nnplug.testing import assert_transform_ok
from solver_listeners import Stop, StopAt

TRANSFORMS = default_registry().names("transforms")


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_every_registered_transform_keeps_the_contract(name):
    assert_transform_ok(name)


def test_random_crop_is_a_shifted_window_of_the_zero_padded_image():
    x = rng().standard_normal((64, 2, 6, 5))
    [crop] = build_transforms([{"random_crop": {"padding": 2}}], (2, 6, 5), seed=0)
    out = crop(x.copy())
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = set()
    for i in range(len(x)):
        matches = [(dy, dx) for dy in range(5) for dx in range(5) if np.array_equal(out[i], padded[i, :, dy:dy + 6, dx:dx + 5])]
        assert matches, i
        offsets.add(matches[0])
    assert len(offsets) > 10  # offsets vary from sample to sample


def test_horizontal_flip_mirrors_about_half_of_the_images_and_leaves_the_rest():
    x = rng().standard_normal((400, 3, 4, 4))
    [flip] = build_transforms(["horizontal_flip"], (3, 4, 4), seed=0)
    out = flip(x.copy())
    flipped = np.array([np.array_equal(o, xi[:, :, ::-1]) for o, xi in zip(out, x)])
    kept = np.array([np.array_equal(o, xi) for o, xi in zip(out, x)])
    assert np.all(flipped ^ kept) and 150 < flipped.sum() < 250


@pytest.mark.parametrize("shape", [(12,), (2, 12)])
def test_random_shift_moves_each_sequence_and_fills_with_zeros(shape):
    x = rng().standard_normal((50, *shape)) + 10  # no zeros of its own
    [shift] = build_transforms([{"random_shift": {"max_shift": 3}}], shape, seed=0)
    out = shift(x.copy())
    for o, xi in zip(out, x):
        found = [s for s in range(-3, 4) if np.array_equal(o, np.roll(np.pad(xi, [(0, 0)] * (xi.ndim - 1) + [(3, 3)]),
                                                                         s, axis=-1)[..., 3:-3])]
        assert found


@pytest.mark.parametrize("entries, shape, message", [
    (["random_crop"], (12,), "transform 1 'random_crop': random_crop takes (C, H, W) images"),
    (["horizontal_flip", "random_shift"], (3, 4, 4), "transform 2 'random_shift': random_shift takes (L,) or (C, L)"),
    ([{"random_crop": {"pading": 2}}], (3, 4, 4), "transform 'random_crop' has no option 'pading'"),
])
def test_a_transform_that_does_not_fit_says_which_and_why(entries, shape, message):
    with pytest.raises(ValueError) as raised:
        build_transforms(entries, shape, seed=0)
    assert message in str(raised.value)


class Recorder(Transform):
    """Counts the batches it sees and marks them: what the Solver hands to the model."""
    name = "recorder"

    def __init__(self, in_shape, **kwargs):
        super().__init__(in_shape, **kwargs)
        self.sizes = []

    def __call__(self, x):
        self.sizes.append(len(x))
        return x


def blobs(n=120):
    r = rng(0)
    y = r.integers(0, 3, n)
    X = (2 * r.standard_normal((3, 4, 5))[y] + r.standard_normal((n, 4, 5))).astype(np.float64)
    return {"X_train": X[:90], "y_train": y[:90], "X_val": X[90:], "y_val": y[90:]}


def solver(transforms, checkpoint_dir=None, listeners=()):
    model = Network(layers=[{"conv1d": {"filters": 6}}, "relu", "flatten", "affine"], input_dim=(4, 5),
                    num_classes=3, seed=0)
    return Solver(model, blobs(), update_rule="adam", batch_size=15, num_epochs=3, num_train_samples=30,
                  verbose=False, seed=1, transforms=transforms, checkpoint_dir=checkpoint_dir, listeners=listeners)


def test_the_solver_transforms_training_batches_only():
    recorder = Recorder((4, 5))
    s = solver([recorder])
    s.train()
    assert recorder.sizes == [15] * s.num_iterations  # every step's batch, none of the accuracy checks


def test_a_resumed_run_draws_the_same_augmentations(tmp_path):
    entries = [{"random_shift": {"max_shift": 2}}]
    reference = solver(build_transforms(entries, (4, 5), seed=7))
    reference.train()
    with pytest.raises(Stop):
        solver(build_transforms(entries, (4, 5), seed=7), tmp_path, [StopAt(8)]).train()
    resumed = solver(build_transforms(entries, (4, 5), seed=7), tmp_path)
    resumed.restore()
    resumed.train()
    assert resumed.loss_history == reference.loss_history
    assert all(np.array_equal(resumed.model.params[k], reference.model.params[k]) for k in reference.model.params)


def test_augmenting_changes_the_training_and_another_seed_changes_it_again():
    runs = {}
    for key, transforms in {"none": [], "a": build_transforms(["random_shift"], (4, 5), seed=1),
                            "b": build_transforms(["random_shift"], (4, 5), seed=2)}.items():
        s = solver(transforms)
        s.train()
        runs[key] = s.loss_history
    assert runs["none"] != runs["a"] != runs["b"]


def test_random_crop_with_reflect_padding_is_a_shifted_window_of_the_reflected_image():
    x = rng().standard_normal((64, 2, 6, 5))
    [crop] = build_transforms([{"random_crop": {"padding": 2, "padding_mode": "reflect"}}], (2, 6, 5), seed=0)
    out = crop(x.copy())
    # reflection without repeating the border pixel: row -1 is row 1, as torch's F.pad(mode="reflect")
    rows = [2, 1, 0, 1, 2, 3, 4, 5, 4, 3]
    cols = [2, 1, 0, 1, 2, 3, 4, 3, 2]
    padded = x[:, :, rows][:, :, :, cols]
    shifts = set()
    for i in range(len(x)):
        matches = [(dy, dx) for dy in range(5) for dx in range(5)
                   if np.array_equal(out[i], padded[i, :, dy:dy + 6, dx:dx + 5])]
        assert matches, i
        shifts.add(matches[0])
    assert len(shifts) > 10


def test_reflect_padding_as_wide_as_the_image_is_refused():
    with pytest.raises(ValueError, match=r"random_crop reflects at most 3 pixels of \(1, 4, 4\) images, not padding=4"):
        build_transforms([{"random_crop": {"padding": 4, "padding_mode": "reflect"}}], (1, 4, 4), seed=0)


def test_alternating_flip_mirrors_every_image_on_odd_epochs_and_none_on_even_ones():
    x = rng().standard_normal((8, 3, 4, 5))
    [flip] = build_transforms(["alternating_flip"], (3, 4, 5), seed=0)
    for epoch in range(4):
        flip.set_epoch(epoch)
        out = flip(x.copy())
        np.testing.assert_array_equal(out, x[..., ::-1] if epoch % 2 else x)


class EpochRecorder(Transform):
    """Records the epoch the Solver tells it before each batch."""
    name = "epoch_recorder"

    def __init__(self, in_shape, **kwargs):
        super().__init__(in_shape, **kwargs)
        self.epochs = []

    def __call__(self, x):
        self.epochs.append(self.epoch)
        return x


def test_the_solver_tells_transforms_the_epoch_before_every_batch_also_after_a_resume(tmp_path):
    recorder = EpochRecorder((4, 5))
    s = solver([recorder])
    s.train()
    per_epoch = s.iterations_per_epoch
    assert recorder.epochs == [t // per_epoch for t in range(s.num_iterations)]

    class SaveAndStop:  # mid-epoch, as SIGTERM would
        def on_iteration(self, solver, iteration, loss):
            if iteration == per_epoch + 1:
                solver.save_checkpoint()
                raise Stop

    with pytest.raises(Stop):
        solver([EpochRecorder((4, 5))], tmp_path, [SaveAndStop()]).train()
    resumed_recorder = EpochRecorder((4, 5))
    resumed = solver([resumed_recorder], tmp_path)
    resumed.restore()  # mid-epoch 1: a new transform, at epoch 0 until the Solver says otherwise
    resumed.train()
    assert resumed_recorder.epochs == recorder.epochs[per_epoch + 2:]
