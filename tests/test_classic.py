"""Code written for CS231n runs against nnplug with only its imports changed."""
import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

NNPLUG = Path(__file__).resolve().parents[1] / "nnplug"

# A condensed CS231n assignment-2 notebook: the cells exactly as students write them, except the
# two import lines at the top (originally `from cs231n.classifiers.fc_net import *`,
# `from cs231n.solver import Solver`, `from cs231n.layers import *`, ...).
NOTEBOOK = textwrap.dedent('''
    import numpy as np
    from nnplug_std.classic import *

    np.random.seed(231)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    for reg in [0, 3.14]:
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2,
                                  dtype=np.float64)
        loss, grads = model.loss(X, y)
        print('Running check with reg = ', reg, 'Initial loss: ', loss)
        for name in sorted(grads):
            f = lambda _: model.loss(X, y)[0]
            grad_num = eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-5)
            print('%s relative error: %.2e' % (name, rel_error(grad_num, grads[name])))

    # batch normalization cell
    np.random.seed(231)
    x = np.random.randn(100, 5)
    bn_param = {'mode': 'train'}
    out, cache = batchnorm_forward(x, np.ones(5), np.zeros(5), bn_param)
    dx, dgamma, dbeta = batchnorm_backward(np.random.randn(100, 5), cache)
    dx2, _, _ = batchnorm_backward_alt(np.random.randn(100, 5), cache)

    # optimizer cell
    N, D = 4, 5
    w = np.linspace(-0.4, 0.6, num=N*D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N*D).reshape(N, D)
    m = np.linspace(0.6, 0.9, num=N*D).reshape(N, D)
    v = np.linspace(0.7, 0.5, num=N*D).reshape(N, D)
    config = {'learning_rate': 1e-2, 'm': m, 'v': v, 't': 5}
    next_w, _ = adam(w, dw, config=config)
    expected_next_w = np.asarray([
      [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
      [-0.1380274,  -0.08544591, -0.03286534,  0.01971428,  0.0722929],
      [ 0.1248705,   0.17744702,  0.23002243,  0.28259667,  0.33516969],
      [ 0.38774145,  0.44031188,  0.49288093,  0.54544852,  0.59801459]])
    print('adam next_w error: ', rel_error(expected_next_w, next_w))
    assert rel_error(expected_next_w, next_w) < 1e-6  # the reference is rounded to 8 digits

    # solver cell
    data = {'X_train': np.random.randn(200, 3, 8, 8), 'y_train': np.random.randint(10, size=200),
            'X_val': np.random.randn(20, 3, 8, 8), 'y_val': np.random.randint(10, size=20)}
    model = FullyConnectedNet([50, 50], input_dim=3*8*8, dropout=0.25, use_batchnorm=True, seed=1)
    solver = Solver(model, data, num_epochs=2, batch_size=50, update_rule='sgd_momentum',
                    optim_config={'learning_rate': 1e-2}, lr_decay=0.95, verbose=True, print_every=2)
    solver.train()
    print('best', solver.best_val_acc, len(solver.loss_history), len(solver.val_acc_history))
    model = TwoLayerNet(input_dim=3*8*8, hidden_dim=40, reg=0.1)
    Solver(model, data, num_epochs=1, verbose=False).train()
''')


@pytest.mark.slow
def test_a_cs231n_notebook_runs_with_only_its_imports_changed(tmp_path):
    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "(Epoch 2 / 2) train acc:" in out and "(Iteration 1 / 8) loss:" in out
    errors = [float(line.split(":")[1]) for line in out.splitlines() if "relative error" in line]
    # With CS231n's own weights the printed errors are CS231n's within float rounding, which dominates
    # the relative error of a gradient's smallest entries: its W2 at reg 0 printed 2.21e-05, this 2e-04.
    assert len(errors) == 12 and max(errors) < 1e-3 and sorted(errors)[6] < 1e-7
    assert any(line.startswith("best ") for line in out.splitlines())


def test_the_core_imports_nothing_from_the_plugins():
    offenders = []
    for path in NNPLUG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("nnplug_std", "plugins")]
    assert offenders == []


def cs231n_check_inputs():
    """The FullyConnectedNets notebook's check: its seed, then X and y drawn before the models."""
    np.random.seed(231)
    N, D, C = 2, 15, 10
    return np.random.randn(N, D), np.random.randint(C, size=(N,))


@pytest.mark.parametrize("use_batchnorm, expected", [
    (False, [2.300479089768492, 7.052114776533016]),  # the FullyConnectedNets notebook's printed losses
    (True, [2.2611955101340957, 6.996533220108303]),  # the BatchNormalization notebook's
])
def test_after_np_random_seed_the_notebooks_initial_losses_come_out_exactly(use_batchnorm, expected):
    from nnplug_std.classic import FullyConnectedNet

    X, y = cs231n_check_inputs()
    losses = []
    for reg in [0, 3.14]:  # the second model draws its weights after the first, from one generator
        model = FullyConnectedNet([20, 30], input_dim=15, num_classes=10, reg=reg, weight_scale=5e-2,
                                  dtype=np.float64, use_batchnorm=use_batchnorm)
        losses.append(model.loss(X, y)[0])
    assert losses == expected


def test_the_seed_fixes_the_dropout_mask_and_not_the_weights():
    from nnplug_std.classic import FullyConnectedNet

    weights = []
    for seed in (1, 2):
        np.random.seed(0)
        model = FullyConnectedNet([20], input_dim=15, dropout=0.5, seed=seed, dtype=np.float64)
        weights.append(model.params["W1"].copy())
        X, y = np.random.randn(4, 15), np.array([0, 1, 2, 3])
        assert model.loss(X, y)[0] == model.loss(X, y)[0]  # the same mask every call
    np.testing.assert_array_equal(*weights)


def test_two_layer_net_draws_w1_then_w2_from_the_global_generator():
    from nnplug_std.classic import TwoLayerNet

    np.random.seed(0)
    model = TwoLayerNet(input_dim=5, hidden_dim=4, num_classes=3, weight_scale=1e-3)
    np.random.seed(0)
    np.testing.assert_array_equal(model.params["W1"], 1e-3 * np.random.randn(5, 4))
    np.testing.assert_array_equal(model.params["W2"], 1e-3 * np.random.randn(4, 3))
    assert not model.params["b1"].any() and not model.params["b2"].any()
