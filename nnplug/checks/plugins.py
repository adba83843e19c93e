"""Checks of a plugin's contract, not only its gradients: what ``nnplug plugins --check`` runs and
what a plugin's own tests assert with one line each (``nnplug.testing``).

Each ``check_*`` returns a ``Report``: ``passed``, the problems found (one line each, naming the
input and the exception's message), and the largest relative gradient error where there are
gradients.
"""
import tempfile
from dataclasses import dataclass, field

import numpy as np

from nnplug.contract.registry import default_registry
from nnplug.core import checkpoint
from nnplug.checks.harness import make_layer
from nnplug.core.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, gradient_error, magnitudes
from nnplug.data.prepare import prepare

TOLERANCE = 1e-7  # relative error of an analytic gradient against centred differences (CS231n's yardstick)
BATCH = 4
DEFAULT_SHAPE = (6,)  # one sample for a layer that declares no check_shape
WIDTH = 5  # the width a resizing layer is given


@dataclass
class Report:
    passed: bool = True
    problems: list = field(default_factory=list)
    max_error: float | None = None

    def fail(self, problem):
        self.passed = False
        self.problems.append(problem)

    def error(self, value):
        self.max_error = value if self.max_error is None else max(self.max_error, value)


def _message(exc):
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}" if str(exc) else type(exc).__name__


def check_layer(layer, tol=TOLERANCE, registry=None):
    """Check a layer plugin (a class or a registered name) with its default options and each of its
    ``check_cases`` (dicts of options): forward returns ``(out, cache)`` with its declared output
    shape; backward returns ``dx`` of x's shape and one gradient per parameter of its shape; train
    and test mode run; float32 in gives float32 out; gradients agree with centred differences.
    The input shape is the layer's ``check_shape`` (default (6,))."""
    cls = (registry or default_registry()).get("layers", layer) if isinstance(layer, str) else layer
    report = Report()
    for options in [{}, *getattr(cls, "check_cases", [])]:
        where = f" with {options}" if options else ""
        try:
            _check_layer_case(cls, dict(options), where, tol, report, registry)
        except _Stop:
            pass
    return report


class _Stop(Exception):
    """A problem that leaves nothing further to check in this case."""


def _make(cls, shape, dtype, options, seed, registry=None):
    width = WIDTH if getattr(cls, "resizes", False) else None
    return make_layer(cls, shape, dtype, options, seed, width, registry)


def _call(report, what, function, *args):
    try:
        return function(*args)
    except Exception as exc:  # noqa: BLE001  the plugin's own failure, reported with its input
        report.fail(f"{what}: {_message(exc)}")
        raise _Stop from None


def _check_layer_case(cls, options, where, tol, report, registry=None):
    shape = tuple(getattr(cls, "check_shape", None) or DEFAULT_SHAPE)
    layer, params = _call(report, f"building it for samples of {shape}{where}", _make, cls, shape,
                          np.float64, options, 0, registry)
    x = np.random.default_rng(2).standard_normal((BATCH, *shape))
    given = f"x of shape {x.shape}{where}"
    state = layer.get_state()

    def forward(mode="train"):
        layer.set_state(state)
        returned = layer.forward(x, params, mode)
        if not (isinstance(returned, tuple) and len(returned) == 2):
            raise TypeError(f"forward returned {type(returned).__name__}, expected (out, cache)")
        return returned

    for mode in ("train", "test"):
        out, cache = _call(report, f"forward ({mode}) on {given}", forward, mode)
        expected = (BATCH, *layer.out_shape)
        if getattr(out, "shape", None) != expected:
            report.fail(f"forward ({mode}) on {given} returned shape {getattr(out, 'shape', None)}, but the layer "
                        f"says {expected} (its output_shape)")
            raise _Stop
    out, cache = forward("train")
    dout = np.random.default_rng(3).standard_normal(out.shape)
    returned = _call(report, f"backward on dout of shape {dout.shape}{where}", layer.backward, dout, cache)
    if not (isinstance(returned, tuple) and len(returned) == 2 and isinstance(returned[1], dict)):
        report.fail(f"backward{where} returned {type(returned).__name__}, expected (dx, grads)")
        raise _Stop
    dx, grads = returned
    if getattr(dx, "shape", None) != x.shape:
        report.fail(f"backward{where} returned dx of shape {getattr(dx, 'shape', None)} for x of shape {x.shape}")
    if set(grads) != set(params):
        report.fail(f"backward{where} returned gradients for {sorted(grads)}, the parameters are {sorted(params)}")
        raise _Stop
    for name, value in params.items():
        if getattr(grads[name], "shape", None) != value.shape:
            report.fail(f"backward{where}: the gradient of {name} has shape {grads[name].shape}, {name} {value.shape}")
    if not report.passed:
        raise _Stop
    compare_gradients(report, {"x": (dx, x), **{name: (grads[name], value) for name, value in params.items()}},
                      lambda: forward()[0], dout, where, tol)
    _check_float32(cls, shape, options, where, report, registry)


def compare_gradients(report, pairs, output, dout, where, tol):
    """Each ``name: (analytic gradient, the array it is of)`` against centred differences of
    ``sum(output() * dout)``; a failure names the array and shows the magnitudes."""
    for name, (analytic, value) in pairs.items():
        numeric = eval_numerical_gradient_array(lambda _: output(), value, dout)
        error = gradient_error(analytic, numeric)
        report.error(error)
        if not error < tol:
            report.fail(f"the gradient of {name}{where} is off: relative error {error:.1e} (tolerance {tol:.0e}; "
                        f"{magnitudes(analytic, numeric)})")


def _check_float32(cls, shape, options, where, report, registry=None):
    layer, params = _call(report, f"building it in float32{where}", _make, cls, shape, np.float32, options, 0,
                          registry)
    x = np.random.default_rng(2).standard_normal((BATCH, *shape)).astype(np.float32)
    for mode in ("test", "train"):  # the train pass last: backward takes its cache
        out, cache = _call(report, f"forward ({mode}) on float32 x{where}", layer.forward, x, params, mode)
        if out.dtype != np.float32:
            report.fail(f"forward ({mode}) on float32 x{where} returned {out.dtype}, expected float32")
    dx, grads = _call(report, f"backward in float32{where}", layer.backward, np.ones_like(out), cache)
    wrong = [name for name, g in {"dx": dx, **grads}.items() if getattr(g, "dtype", None) != np.float32]
    if wrong:
        report.fail(f"backward in float32{where} returned {', '.join(wrong)} in another dtype, expected float32")


def check_loss(loss, tol=TOLERANCE, registry=None, num_classes=5, batch=8):
    """Check a loss plugin: ``(loss, dscores)`` with a float loss and dscores of the scores' shape,
    and its gradient against centred differences, with its default options and its ``check_cases``."""
    fn = (registry or default_registry()).get("losses", loss) if isinstance(loss, str) else loss
    report = Report()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((batch, num_classes)), rng.integers(0, num_classes, batch)
    for options in [{}, *getattr(fn, "check_cases", [])]:
        where = f" with {options}" if options else ""
        try:
            value, dx = _call(report, f"scores of shape {x.shape}{where}", lambda: fn(x, y, **{**fn.options, **options}))
        except _Stop:
            continue
        if not isinstance(value, float) or getattr(dx, "shape", None) != x.shape:
            report.fail(f"returned {type(value).__name__} and {getattr(dx, 'shape', None)}{where}, expected a float "
                        f"and dscores of shape {x.shape}")
            continue
        numeric = eval_numerical_gradient(lambda s: fn(s, y, **{**fn.options, **options})[0], x, verbose=False)
        error = gradient_error(dx, numeric)
        report.error(error)
        if not error < tol:
            report.fail(f"the gradient{where} is off: relative error {error:.1e} (tolerance {tol:.0e}; "
                        f"{magnitudes(dx, numeric)})")
    return report


def check_update_rule(rule, registry=None, tmp_dir=None):
    """Check an update rule: a classic call leaves the caller's arrays alone; two steps straight
    equal a first step, a checkpoint round trip of its config and a second step (state kept
    outside the config dict shows as a difference); ``out=w`` updates w in place to the same
    values; float32 stays float32. ``tmp_dir`` is where the round trip's checkpoint is written."""
    rule = (registry or default_registry()).get("optimizers", rule) if isinstance(rule, str) else rule
    report = Report()
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((6, 4))
    g1, g2 = rng.standard_normal(w0.shape), rng.standard_normal(w0.shape)
    try:
        w = w0.copy()
        w1, config = _call(report, "a first step (a classic call)", rule, w, g1, {})
        if not np.array_equal(w, w0):
            report.fail("a classic call (no out=) changed the caller's w")
        originals = {k: v for k, v in config.items() if isinstance(v, np.ndarray)}
        copies = {k: v.copy() for k, v in originals.items()}
        w2, _ = _call(report, "a second step (a classic call)", rule, w1.copy(), g2, config)
        touched = [k for k in originals if not np.array_equal(originals[k], copies[k])]
        if touched:
            report.fail(f"a classic call changed the caller's state arrays in place: {', '.join(sorted(touched))}")

        again, fresh = _call(report, "a first step from a new config", rule, w0.copy(), g1, {})
        with tempfile.TemporaryDirectory(dir=tmp_dir) as folder:
            path = f"{folder}/state.npz"
            _call(report, "a checkpoint of its config", checkpoint.save, path, {"config": fresh})
            restored = checkpoint.load(path)["config"]
        resumed, _ = _call(report, "a second step after the checkpoint", rule, again.copy(), g2, restored)
        if not (np.array_equal(again, w1) and np.array_equal(resumed, w2)):
            report.fail("two steps straight differ from a first step, a checkpoint of its config and a second "
                        "step: keep every piece of state in the config dict (a checkpoint saves only that)")

        w = w0.copy()
        result, config = _call(report, "a step with out=w", rule, w, g1, {}, w)
        if result is not w:
            report.fail("with out=w the rule must update w and return it")
        else:
            result, _ = _call(report, "a second step with out=w", rule, w, g2, config, w)
            if not np.array_equal(result, w2):
                report.fail("steps with out=w give other values than classic calls")

        w32, config32 = _call(report, "a float32 step", rule, w0.astype(np.float32), g1.astype(np.float32), {})
        wrong = [k for k, v in {"w": w32, **config32}.items() if isinstance(v, np.ndarray) and v.dtype != np.float32]
        if wrong:
            report.fail(f"a float32 step returned {', '.join(wrong)} in another dtype, expected float32")
    except _Stop:
        pass
    return report


def check_dataset(dataset, registry=None, **options):
    """Check a data set plugin: ``load(**options)`` returns the keys, row counts, sample shapes and
    labels in range that ``nnplug.data.prepare`` needs."""
    dataset = (registry or default_registry()).get("datasets", dataset) if isinstance(dataset, str) else dataset
    report = Report()
    try:
        raw = _call(report, f"load({', '.join(f'{k}={v!r}' for k, v in options.items())})",
                    lambda: dataset.load(**{**dataset.options, **options}))
        if not isinstance(raw, dict):
            report.fail(f"load returned {type(raw).__name__}, expected a dict of splits")
            raise _Stop
        _call(report, "preparing what it returned", lambda: prepare(raw, val_size=1 if "X_val" not in raw else None))
    except _Stop:
        pass
    return report



def check_transform(transform, registry=None, tmp_dir=None):
    """Check a transform plugin with its default options, on a minibatch of its ``check_shape``:
    it returns the batch's shape and dtype (float32 and float64); its randomness all comes from its
    generator, so the same state gives the same output, also after a checkpoint round trip of
    ``get_state()`` (which a resumed run relies on). ``tmp_dir`` is where that checkpoint is written."""
    cls = (registry or default_registry()).get("transforms", transform) if isinstance(transform, str) else transform
    report = Report()
    shape = tuple(cls.check_shape)
    try:
        instance = _call(report, f"building it for samples of shape {shape}",
                         lambda: cls(shape, rng=np.random.default_rng(0)))
        for dtype in (np.float64, np.float32):
            x = np.random.default_rng(1).standard_normal((BATCH, *shape)).astype(dtype)
            out = _call(report, f"a {np.dtype(dtype).name} batch", instance, x.copy())
            if not isinstance(out, np.ndarray) or out.shape != x.shape or out.dtype != x.dtype:
                got = f"{out.shape} {out.dtype}" if isinstance(out, np.ndarray) else type(out).__name__
                report.fail(f"a {np.dtype(dtype).name} batch of shape {x.shape} came back as {got}")
                raise _Stop
        x = np.random.default_rng(2).standard_normal((BATCH, *shape))
        state = instance.get_state()
        first = np.array(_call(report, "a batch", instance, x.copy()))
        instance.set_state(state)
        again = _call(report, "the same batch from the same state", instance, x.copy())
        with tempfile.TemporaryDirectory(dir=tmp_dir) as folder:
            path = f"{folder}/state.npz"
            _call(report, "a checkpoint of its state", checkpoint.save, path, {"state": state})
            restored = checkpoint.load(path)["state"]
        fresh = cls(shape, rng=np.random.default_rng(99))
        _call(report, "restoring its state", fresh.set_state, restored)
        resumed = _call(report, "the same batch after a checkpoint", fresh, x.copy())
        if not (np.array_equal(first, again) and np.array_equal(first, resumed)):
            report.fail("the same state gave another batch: draw everything random from self.rng and keep "
                        "any other state in get_state()")
    except _Stop:
        pass
    return report
