"""A kit for plugin authors: one-line checks of a plugin's contract and a pytest plugin.

    from nnplug.testing import assert_layer_ok, assert_update_rule_ok

    def test_my_layer():
        assert_layer_ok(MyLayer)          # shapes, gradients, train and test mode, float32

The pytest plugin (registered through pytest's own ``pytest11`` entry point, as ``pytester`` is)
gives every test suite the ``nnplug_app`` fixture, which runs ``python -m nnplug`` with a config
and returns the run's metrics (``nnplug.testing.pytest_plugin``).
"""
from nnplug.checks.plugins import check_dataset, check_layer, check_loss, check_transform, check_update_rule


def _assert(report, what):
    if not report.passed:
        raise AssertionError(f"{what} breaks the plugin contract: " + "; ".join(report.problems))


def assert_layer_ok(layer, **kwargs):
    """``AssertionError`` listing what ``check_layer`` found wrong with ``layer`` (a class or a name)."""
    _assert(check_layer(layer, **kwargs), f"layer {getattr(layer, 'name', layer)!r}")


def assert_loss_ok(loss, **kwargs):
    """``AssertionError`` listing what ``check_loss`` found wrong with ``loss``."""
    _assert(check_loss(loss, **kwargs), f"loss {getattr(loss, 'name', loss)!r}")


def assert_update_rule_ok(rule, **kwargs):
    """``AssertionError`` listing what ``check_update_rule`` found wrong with ``rule``."""
    _assert(check_update_rule(rule, **kwargs), f"update rule {getattr(rule, 'name', rule)!r}")


def assert_transform_ok(transform, **kwargs):
    """``AssertionError`` listing what ``check_transform`` found wrong with ``transform``."""
    _assert(check_transform(transform, **kwargs), f"transform {getattr(transform, 'name', transform)!r}")


def assert_dataset_ok(dataset, **options):
    """``AssertionError`` listing what ``check_dataset`` found wrong with ``dataset`` loaded with ``options``."""
    _assert(check_dataset(dataset, **options), f"data set {getattr(dataset, 'name', dataset)!r}")


__all__ = ["assert_dataset_ok", "assert_layer_ok", "assert_loss_ok", "assert_transform_ok", "assert_update_rule_ok",
           "check_dataset", "check_layer", "check_loss", "check_transform", "check_update_rule"]
