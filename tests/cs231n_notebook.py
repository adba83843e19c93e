"""A CS231n assignment-2 notebook in the shape students run it (data, a gradient check, a dropout cell,
a short Solver run), written against nnplug's classic front door; ``python cs231n_notebook.py DIR``
with DIR a "cifar-10-batches-py" folder. Its cells are CS231n's, with the imports changed and the
data set cut to what a test's small CIFAR folder holds."""
import sys

import numpy as np
from nnplug_std.classic import *  # noqa: F403  (was: from cs231n.classifiers.fc_net import * and the rest)

# Load the (preprocessed) CIFAR10 data.
data = get_CIFAR10_data(num_training=40, num_validation=10, num_test=10, cifar10_dir=sys.argv[1])  # noqa: F405
for k, v in data.items():
    print('%s: ' % k, v.shape)

# Fully-connected nets with dropout: gradient check
np.random.seed(231)
N, D, H1, H2, C = 2, 15, 20, 30, 10
X = np.random.randn(N, D)
y = np.random.randint(C, size=(N,))
for dropout in [0, 0.25, 0.5]:
    print('Running check with dropout = ', dropout)
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2, dtype=np.float64,  # noqa: F405
                              dropout=dropout, seed=123)
    loss, grads = model.loss(X, y)
    print('Initial loss: ', loss)
    for name in sorted(grads):
        f = lambda _: model.loss(X, y)[0]  # noqa: E731
        grad_num = eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-5)  # noqa: F405
        print('%s relative error: %.2e' % (name, rel_error(grad_num, grads[name])))  # noqa: F405

# Dropout forward pass
np.random.seed(231)
x = np.random.randn(500, 500) + 10
for p in [0.3, 0.6, 0.75]:
    out, _ = dropout_forward(x, {'mode': 'train', 'p': p})  # noqa: F405
    out_test, _ = dropout_forward(x, {'mode': 'test', 'p': p})  # noqa: F405
    print('Running tests with p = ', p)
    print('Mean of train-time output: ', out.mean())
    print('Fraction of train-time output set to zero: ', (out == 0).mean())

# Regularization experiment: a short Solver run on the data
np.random.seed(231)
small_data = {'X_train': data['X_train'], 'y_train': data['y_train'], 'X_val': data['X_val'], 'y_val': data['y_val']}
model = FullyConnectedNet([100, 100], dropout=0.25)  # noqa: F405
solver = Solver(model, small_data, num_epochs=4, batch_size=10, update_rule='adam',  # noqa: F405
                optim_config={'learning_rate': 5e-4}, verbose=True, print_every=3)
solver.train()
print('train acc history', solver.train_acc_history, 'val acc history', solver.val_acc_history)
