"""Minibatches: which training rows each step takes, and how a batch's gradients are gathered.

``sampling='replacement'`` draws each minibatch with replacement, as CS231n's Solver does (an
epoch of N/B batches then sees about 63% of the rows); ``'shuffle'`` cuts a fresh permutation of
the rows into batches each epoch, every row once but the N mod B left over, which sit out that epoch
(PyTorch's ``DataLoader(shuffle=True, drop_last=True)``, Keras's ``shuffle=True``).

``micro_batch`` M runs a batch through the model M rows at a time and averages the passes'
gradients by their share of it (gradient accumulation): one update per batch, a pass's memory.
Batch norm then normalises each pass by its own statistics ("ghost batch norm").
"""
SAMPLING = ("replacement", "shuffle")


def check(sampling, micro_batch):
    """ValueError in one line unless ``sampling`` is one of ``SAMPLING`` and ``micro_batch`` None or >= 1."""
    if sampling not in SAMPLING:
        raise ValueError(f"Invalid sampling {sampling!r}: expected one of {', '.join(SAMPLING)}")
    if micro_batch is not None and int(micro_batch) < 1:
        raise ValueError(f"Invalid micro_batch {micro_batch!r}: expected an integer >= 1, or None for whole batches")


def draw_rows(sampling, rng, n, batch_size, position, order):
    """The training rows of the batch at ``position`` (0, 1, ...) in its epoch, and the epoch's order.

    Inputs:
    - sampling: one of ``SAMPLING``; rng: the numpy Generator every draw comes from
    - n: training rows; batch_size: rows per batch
    - order: the epoch's permutation (N,) for 'shuffle', drawn anew at position 0; else unused

    Returns ``(rows, order)``: rows an integer array (batch_size,), order for the next call.
    """
    if sampling == "replacement":  # CS231n's
        return rng.integers(0, n, batch_size), order
    if position == 0:
        order = rng.permutation(n)
    return order[position * batch_size:(position + 1) * batch_size], order


def loss_and_gradients(model, X, y, micro_batch=None):
    """A model's mean loss on ``X`` (N, ...) with labels ``y`` (N,) and its gradients, in passes of at
    most ``micro_batch`` rows (None: one pass).

    Each pass counts by its share of the rows, so with no layer that mixes samples the result is the
    whole batch's, up to rounding. Returns ``(loss, {parameter name: gradient})`` as ``model.loss``.
    """
    n = X.shape[0]
    size = micro_batch or n
    if size >= n:
        return model.loss(X, y)
    total, grads = 0.0, {}
    for start in range(0, n, size):
        stop = min(start + size, n)
        share = (stop - start) / n
        loss, part = model.loss(X[start:stop], y[start:stop])
        total += share * loss
        for name, g in part.items():  # share * g is a copy: a model may reuse its gradient arrays
            if name in grads:
                grads[name] += share * g
            else:
                grads[name] = share * g
    return total, grads
