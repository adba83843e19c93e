"""Networks beyond chains: composite layers built through the registry, named by path, checked
numerically when nested, fused inside, carried through state, the logged architecture, warm starts
and diagnostics, and errors that name the layer inside a block."""
import numpy as np
import pytest

from nnplug import Composite, Layer
from nnplug.checks.plugins import check_layer
from nnplug.core import layer_plan
from nnplug.core.diagnostics import blocks
from nnplug.core.gradcheck import gradient_error
from nnplug.core.network import LayerError, Network
from nnplug.core.trained_model import TrainedModel
from nnplug.core.preprocessing import Preprocessing
from nnplug.core.warm_start import copy_weights
from nnplug_std.layers.conv_chain import ConvChain

# tanh, not relu, between the layers: a numeric gradient across a relu's kink is no yardstick
NESTED = [
    {"conv": {"filters": 3}}, "spatial_batchnorm", "tanh",
    {"widths": [4], "layers": [{"repeat": 2, "first": {"stride": 2}, "layers": ["basic"]}]},
    {"parallel": {"branches": [[{"conv": {"filters": 2}}, "tanh"], [{"conv": {"filters": 3, "size": 1}}]],
                  "join": "concat"}},
    {"residual": {"layers": [{"conv": {"filters": 6, "stride": 2}}], "shortcut": "pool"}},
    {"residual": {"layers": [{"conv": {"filters": 7, "stride": 2}}], "shortcut": "pad"}},
    {"parallel": {"branches": [["tanh"], [{"conv": {"filters": 7, "size": 1}}]]}},
    {"sequence": {"label": "head", "layers": ["global_avg_pool", "affine"]}},
]


BLOCKS = {"basic": {"options": {"stride": 1}, "layers": [
    {"residual": {"layers": [{"conv": {"stride": "$stride"}}, "spatial_batchnorm", "tanh", "conv", "spatial_batchnorm"],
                  "activation": "tanh", "shortcut": "projection"}}]}}


def nested(seed=0, layers=NESTED, **options):
    return Network(layers=layers, blocks=BLOCKS, input_dim=(2, 8, 8), num_classes=3, seed=seed, dtype=np.float64,
                   **options)


def test_nested_combinators_with_every_kind_of_shortcut_pass_the_numeric_gradient_check():
    net = nested()
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((3, 2, 8, 8)), np.array([0, 1, 2])
    _, grads = net.loss(X, y)
    grads = {name: g.copy() for name, g in grads.items()}
    for name, w in net.params.items():
        picked = rng.choice(w.size, min(w.size, 6), replace=False)  # six entries of each parameter
        analytic = grads[name].ravel()[picked]
        numeric = np.array([numeric_entry(lambda: net.loss(X, y)[0], w, i) for i in picked])
        assert gradient_error(analytic, numeric) < 1e-6, name


def numeric_entry(f, w, i, h=1e-5):
    """d f / d w.flat[i] by centred differences at h and 2h combined (Richardson): batch norm over
    three samples curves too much for plain centred differences to reach 1e-6."""
    def centred(step):
        old = w.flat[i]
        w.flat[i] = old + step
        plus = f()
        w.flat[i] = old - step
        minus = f()
        w.flat[i] = old
        return (plus - minus) / (2 * step)
    return (4 * centred(h) - centred(2 * h)) / 3


def test_parameters_are_named_by_where_they_sit():
    names = list(nested().params)
    assert names[:4] == ["W1", "b1", "gamma1", "beta1"]  # a plain chain keeps CS231n's names
    # the repeat's first block (stride 2, a projection shortcut), then the second (identity)
    assert [n for n in names if n.startswith("residual4.")] == [
        "residual4.W1", "residual4.b1", "residual4.gamma1", "residual4.beta1",
        "residual4.W2", "residual4.b2", "residual4.gamma2", "residual4.beta2",
        "residual4.shortcut.W1", "residual4.shortcut.b1", "residual4.shortcut.gamma1", "residual4.shortcut.beta1"]
    assert "residual5.W1" in names and not any(n.startswith("residual5.shortcut") for n in names)
    assert {"parallel6.branch1.W1", "parallel6.branch2.W1", "residual7.W1", "residual8.W1",
            "parallel9.branch2.W1", "head.W1", "head.b1"} <= set(names)


def test_the_repeats_first_block_takes_the_stride_and_the_width_reaches_inside():
    net = nested()
    first, second = net.root.nodes[3], net.root.nodes[4]
    assert first.layer.in_shape == (3, 8, 8) and first.layer.out_shape == (4, 4, 4)
    assert second.layer.out_shape == (4, 4, 4) and second.layer.kind == "identity"


def test_the_fused_conv_chain_runs_inside_a_block():
    net = Network(layers=[{"conv": {"filters": 4}}, "spatial_batchnorm", "relu",
                          {"residual": {"layers": [{"conv": {"filters": 4}}, "spatial_batchnorm", "relu",
                                                   {"conv": {"filters": 4}}, "spatial_batchnorm", "relu"]}},
                          "global_avg_pool", "affine"], input_dim=(3, 8, 8), num_classes=2, seed=0)
    body = net.root.nodes[3].branches[0]
    assert [type(run.runner) for run in body.runs] == [ConvChain]
    plain = Network.from_architecture(net.architecture(), seed=0, fuse=False)
    for name in net.params:
        np.copyto(plain.params[name], net.params[name])
    X, y = np.random.default_rng(0).standard_normal((4, 3, 8, 8)), np.array([0, 1, 0, 1])
    (loss, grads), (plain_loss, plain_grads) = net.loss(X, y), plain.loss(X, y)
    assert loss == pytest.approx(plain_loss, rel=1e-10)
    assert all(np.allclose(grads[n], plain_grads[n], atol=1e-10) for n in grads)


def test_the_architecture_state_and_a_saved_model_round_trip(tmp_path):
    net = nested()
    X = np.random.default_rng(2).standard_normal((5, 2, 8, 8))
    net.loss(X, np.array([0, 1, 2, 0, 1]))  # train mode: the children's running statistics move
    trained = TrainedModel(net, Preprocessing((2, 8, 8), "float64", "float64", False), ["a", "b", "c"])
    trained.save(tmp_path / "model")
    back = TrainedModel.load(tmp_path / "model").network
    assert list(back.params) == list(net.params)
    assert np.array_equal(back.loss(X), net.loss(X))  # test mode: the running statistics came back too


def test_a_warm_start_copies_every_child_and_refuses_another_tree():
    source, target = nested(), nested(seed=5)
    copied, fresh = copy_weights(target, source)
    assert fresh == [] and set(copied) == set(source.params)
    assert all(np.array_equal(target.params[n], source.params[n]) for n in copied)
    other = nested(layers=NESTED[:3] + NESTED[4:])
    with pytest.raises(ValueError, match=r"its layers are conv - spatial_batchnorm - tanh - residual \[conv 4 - "):
        copy_weights(other, source)


def test_diagnostics_measure_each_child_not_the_block():
    found = blocks(nested())
    assert {"W1", "residual4.W1", "residual4.gamma1", "residual4.shortcut.W1", "parallel6.branch1.W1",
            "head.W1"} <= set(found)
    assert "residual4" not in found


def test_a_build_error_names_the_path_inside_the_block():
    layers = [{"conv": {"filters": 4}},
              {"residual": {"layers": [{"conv": {"filters": 4}}, {"max_pool": {"size": 9}}]}}, "affine"]
    with pytest.raises(ValueError, match=r"^layer 2 residual > 2 'max_pool' \(nnplug [^)]*\): max_pool windows of 9"):
        Network(layers=layers, input_dim=(3, 8, 8), num_classes=2)


def test_a_layer_returning_a_wrong_gradient_shape_is_named_itself():
    class Truncating(Layer):
        name = "truncating"

        def forward(self, x, params, mode):
            return x, None

        def backward(self, dout, cache):
            return dout[:, :-1], {}

    net = Network(layers=[{"affine": {"units": 4}}, {"sequence": {"layers": ["tanh", Truncating]}}, "affine"],
                  input_dim=3, num_classes=2, seed=0)
    with pytest.raises(LayerError, match=r"layer 2 sequence > 2 'truncating' .* backward pass .* input gradient of "
                                         r"shape \(2, 3\) for its input of shape \(2, 4\)"):
        net.loss(np.ones((2, 3)), np.array([0, 1]))


def test_blocks_are_written_once_and_used_with_options():
    blocks_ = {"unit": {"options": {"size": 3}, "layers": [{"conv": {"size": "$size"}}, "relu"]}}
    steps = layer_plan.expand([{"widths": [8], "layers": ["unit", {"unit": {"size": 1}}]}], blocks=blocks_)
    assert [(s.label, s.options, s.width) for s in steps] == [
        ("conv", {"size": 3}, 8), ("relu", {}, 8), ("conv", {"size": 1}, 8), ("relu", {}, 8)]
    with pytest.raises(ValueError, match=r"layers\[0\]\.unit\.sise: block 'unit' has no such option"):
        layer_plan.expand([{"unit": {"sise": 1}}], blocks=blocks_)
    with pytest.raises(ValueError, match=r"\$stride is not one of the block's options \(size\)"):
        layer_plan.expand(["bad"], blocks={"bad": {"options": {"size": 3}, "layers": [{"conv": {"stride": "$stride"}}]}})


def test_repeat_first_needs_a_layer_that_has_the_option():
    with pytest.raises(ValueError, match=r"first\.stirde: no layer or block of the repeated layers has this option"):
        Network(layers=[{"repeat": 2, "first": {"stirde": 2}, "layers": [{"conv": {"filters": 2}}]}, "affine"],
                input_dim=(1, 4, 4), num_classes=2)


def test_a_composite_of_ones_own_is_checked_like_any_layer():
    class Doubled(Composite):
        name = "doubled"
        options = {"layers": []}
        layer_lists = {"layers": 1}
        check_shape = (2, 4, 4)
        check_cases = ({"layers": [{"conv": {"filters": 2}}, "spatial_batchnorm"]},)

        def output_shape(self, in_shape):
            self.body = self.child(self.layers, in_shape, "body")
            return self.body.out_shape

        def forward(self, x, params, mode):
            y, cache = self.body.forward(x, mode)
            return 2 * y, cache

        def backward(self, dout, cache):
            return self.body.backward(2 * dout, cache), {}

    report = check_layer(Doubled)
    # the conv's bias feeds batch norm: its true gradient is 0, which the check's floor lets pass
    assert report.passed, report.problems

    class Wrong(Doubled):
        name = "wrong"

        def backward(self, dout, cache):
            return self.body.backward(dout, cache), {}

    report = check_layer(Wrong)
    assert not report.passed
    assert any("relative error" in p and "largest |analytic|" in p and "|numeric|" in p for p in report.problems)


def test_an_option_default_of_the_wrong_type_is_reported_when_the_plugin_loads():
    import warnings

    from nnplug.contract.registry import Registry

    class Strided(Layer):
        name = "strided"
        options = {"stride": "1"}
        option_types = {"stride": int}

    registry = Registry(autoload=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        registry.register(Strided)
        assert "strided" not in registry.names("layers")
    assert "option default does not have its own option type: stride='1': expected a whole number" in \
        str(registry.failures[0])
