"""Networks composed from layer plugins, and the CS231n front doors onto them."""
import numpy as np
import pytest

from nnplug.core.gradcheck import eval_numerical_gradient, rel_error
from nnplug.core.network import Network
from nnplug.core.classic_models import FullyConnectedNet, TwoLayerNet
from nnplug.core.solver import Solver


def test_two_layer_net_matches_cs231n_values():
    N, D, H, C = 3, 5, 50, 7
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-3)
    assert set(model.params) == {"W1", "b1", "W2", "b2"}
    assert abs(model.params["W1"].std() - 1e-3) < 1e-3 / 5 and np.all(model.params["b1"] == 0)
    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    correct_scores = np.asarray(
        [[11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
         [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135, 16.18839143],
         [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506, 16.28463190]])
    assert np.abs(model.loss(X) - correct_scores).sum() < 1e-6
    y = np.asarray([0, 5, 1])
    assert abs(model.loss(X, y)[0] - 3.4702243556) < 1e-10
    model.reg = 1.0  # CS231n changes reg after construction
    assert abs(model.loss(X, y)[0] - 26.5948426952) < 1e-10


@pytest.mark.parametrize("use_batchnorm", [False, True])
@pytest.mark.parametrize("dropout", [0, 0.3])
@pytest.mark.parametrize("reg", [0.0, 3.14])
def test_fully_connected_net_gradients(use_batchnorm, dropout, reg):
    N, D, H1, H2, C = 8, 15, 20, 30, 10
    rng = np.random.default_rng(231)
    X, y = rng.standard_normal((N, D)), rng.integers(0, C, N)
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=2e-1,
                              use_batchnorm=use_batchnorm, dropout=dropout, seed=123, dtype=np.float64)
    loss, grads = model.loss(X, y)
    for name in sorted(model.params):
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False)
        # A whole net's loss carries ~1e-10 of finite-difference noise, which is a large relative error
        # on tiny entries (a bias before batch norm has an exact gradient of 0): compare elementwise.
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-8, err_msg=name)


def test_parameters_follow_spec_naming_and_init():
    model = FullyConnectedNet([10, 20], input_dim=8, num_classes=3, use_batchnorm=True, weight_scale=1e-2,
                              dtype=np.float32, seed=0)
    assert set(model.params) == {"W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"}
    assert model.params["W1"].shape == (8, 10) and model.params["W3"].shape == (20, 3)
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert np.all(model.params["gamma2"] == 1) and np.all(model.params["beta1"] == 0)
    scores = model.loss(np.zeros((4, 8), dtype=np.float32))
    assert scores.shape == (4, 3) and scores.dtype == np.float32


def test_initial_softmax_loss_is_log_c():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((200, 50)), rng.integers(0, 10, 200)
    loss, _ = FullyConnectedNet([40, 40], input_dim=50, num_classes=10, weight_scale=1e-3, seed=0).loss(X, y)
    assert abs(loss - np.log(10)) < 0.02


@pytest.mark.parametrize("init", ["he", "xavier"])
def test_he_and_xavier_scale_with_fan_in(init):
    model = Network([400], input_dim=900, num_classes=10, init=init, seed=0)
    expected = np.sqrt(2 / 900) if init == "he" else np.sqrt(2 / 1300)
    assert abs(model.params["W1"].std() - expected) / expected < 0.02


def test_any_registered_block_composes():
    model = Network([7, 6], input_dim=5, num_classes=3, block=["affine", "layernorm", "tanh", "affine", "sigmoid"],
                    seed=1)
    # the index grows at each layer with a weight matrix, as in CS231n's models
    assert set(model.params) == {"W1", "b1", "gamma1", "beta1", "W2", "b2", "W3", "b3", "gamma3", "beta3", "W4", "b4",
                                 "W5", "b5"}
    X, y = np.random.default_rng(0).standard_normal((4, 5)), np.array([0, 1, 2, 0])
    loss, grads = model.loss(X, y)
    for name in model.params:
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-8, err_msg=name)


def test_same_seed_same_network():
    a = Network([5], input_dim=4, num_classes=2, seed=3, dropout=0.5)
    b = Network([5], input_dim=4, num_classes=2, seed=3, dropout=0.5)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def overfit(hidden_dims, weight_scale, learning_rate, update_rule="sgd"):
    # 50 samples of 3x32x32 random images with random labels: pure memorisation
    rng = np.random.default_rng(0)
    data = {"X_train": rng.standard_normal((50, 3, 32, 32)), "y_train": rng.integers(0, 10, 50)}
    data["X_val"], data["y_val"] = data["X_train"][:10], data["y_train"][:10]
    np.random.seed(0)  # CS231n's classes draw their weights from numpy's global generator
    model = FullyConnectedNet(hidden_dims, weight_scale=weight_scale)
    solver = Solver(model, data, print_every=1000, num_epochs=20, batch_size=25, update_rule=update_rule,
                    optim_config={"learning_rate": learning_rate}, verbose=False, seed=0)
    solver.train()
    return solver


def test_three_layer_net_overfits_50_samples():
    assert overfit([100, 100], weight_scale=5e-2, learning_rate=1e-1).train_acc_history[-1] == 1.0


def test_five_layer_net_overfits_50_samples():
    assert overfit([100, 100, 100, 100], weight_scale=1e-1, learning_rate=2e-2).train_acc_history[-1] == 1.0


def test_unseeded_networks_follow_numpys_global_seed_as_in_cs231n():
    np.random.seed(1)
    a = FullyConnectedNet([5], input_dim=4, dropout=0.5)
    np.random.seed(1)
    b = FullyConnectedNet([5], input_dim=4, dropout=0.5)
    c = FullyConnectedNet([5], input_dim=4, dropout=0.5)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["W1"], c.params["W1"])


@pytest.mark.parametrize("use_batchnorm", [False, True])
def test_a_net_with_an_f_ordered_first_weight_matches_its_c_ordered_twin_and_the_numeric_gradient(use_batchnorm):
    # fan-in 512 in float64: W1 is F-ordered (nnplug_std.kernels.products.weight_order)
    N, D, H, C = 5, 512, 4, 3
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((N, D)), rng.integers(0, C, N)
    np.random.seed(3)  # CS231n's classes draw their weights from numpy's global generator
    model = FullyConnectedNet([H], input_dim=D, num_classes=C, reg=0.7, weight_scale=5e-2,
                              use_batchnorm=use_batchnorm, dtype=np.float64)
    np.random.seed(3)
    twin = FullyConnectedNet([H], input_dim=D, num_classes=C, reg=0.7, weight_scale=5e-2,
                             use_batchnorm=use_batchnorm, dtype=np.float64)
    twin.params = {k: np.ascontiguousarray(v) for k, v in twin.params.items()}
    assert model.params["W1"].flags.f_contiguous and not model.params["W1"].flags.c_contiguous
    loss, grads = model.loss(X, y)
    twin_loss, twin_grads = twin.loss(X, y)
    assert grads["W1"].flags.f_contiguous and not grads["W1"].flags.c_contiguous
    assert twin_grads["W1"].flags.c_contiguous
    assert loss == pytest.approx(twin_loss, rel=1e-13)
    for name in model.params:
        np.testing.assert_allclose(grads[name], twin_grads[name], rtol=1e-11, atol=1e-15, err_msg=name)
    numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params["W1"], verbose=False)
    np.testing.assert_allclose(grads["W1"], numeric, rtol=1e-5, atol=1e-8)
