"""Pictures of a run: curves, confusion matrix, misclassified images, first-layer weights.

Each function takes arrays or histories and returns a matplotlib ``Figure``; ``save`` writes one
as a PNG, and ``MlflowClient.log_figure`` logs one. Figures are made with matplotlib's object API:
no pyplot, so no global figure state, no display needed, and a notebook's own backend is left
alone (a notebook shows a returned figure as it is). matplotlib is imported inside the functions
because importing it costs the command line a noticeable part of a second.

Every picture has a fixed layout: margins in inches, sized for what it shows (the longest class
name, say). A layout engine would measure every label of every picture again at each save, and
that cost more than drawing the run's pictures does.
"""
from pathlib import Path

import numpy as np

DPI = 100
TEXT_INCH = 0.075  # the width of one character of a 10-point label, about


def training_curves(loss_history, train_acc_history, val_acc_history, title=None):
    """Loss per iteration (with its moving average) beside train and validation accuracy per check."""
    fig = _figure(11, 4, top=0.7 if title else 0.4, wspace=0.25)
    ax_loss, ax_acc = fig.subplots(1, 2)
    loss = np.asarray(loss_history, dtype=float)
    ax_loss.plot(np.arange(1, loss.size + 1), loss, color="tab:blue", alpha=0.3, lw=0.8, label="loss")
    window = max(loss.size // 50, 1)
    if window > 1:
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax_loss.plot(np.arange(window, loss.size + 1), smooth, color="tab:blue", lw=1.8,
                     label=f"mean of {window}")
    ax_loss.set(xlabel="iteration", ylabel="training loss", title="Loss")
    ax_loss.legend(loc="upper right")
    # accuracy is measured after the first iteration (check 0) and at each epoch end
    checks = np.arange(len(val_acc_history))
    ax_acc.plot(checks, train_acc_history, "o-", ms=3, label="train")
    ax_acc.plot(checks, val_acc_history, "o-", ms=3, label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy", ylim=(0, 1.02))
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    return fig


def confusion_counts(y_true, y_pred, num_classes):
    """``counts[i, j]``: how many samples of class i were predicted as class j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return counts


def confusion_matrix(y_true, y_pred, class_names, title="Confusion matrix (test)"):
    """Rows are true classes, columns predictions; each cell shows its count."""
    counts = confusion_counts(y_true, y_pred, len(class_names))
    size = 2.5 + 0.45 * len(class_names)
    # room for the longest name at 45 degrees below the matrix and level beside it
    longest = TEXT_INCH * max((len(str(name)) for name in class_names), default=1)
    fig = _figure(size + 1 + longest, size + 0.7 * longest, left=0.6 + longest, bottom=0.6 + 0.7 * longest,
                  right=1.1)
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, use_gridspec=False)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    if len(class_names) <= 20:  # beyond that the numbers no longer fit their cells
        threshold = counts.max() / 2
        for (i, j), n in np.ndenumerate(counts):
            ax.text(j, i, n, ha="center", va="center", fontsize=8,
                    color="white" if n > threshold else "black")
    return fig


def misclassified_grid(images, y_true, y_pred, class_names, image_shape=None, limit=36,
                       mean=None, std=None):
    """The first ``limit`` misclassified images, each labelled 'true -> predicted'.

    ``images`` are ``(N, C, H, W)``, ``(N, H, W)`` or flat ``(N, D)`` with ``image_shape``; ``mean``
    and ``std`` (the statistics the data were normalised with) are undone before display.
    """
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))[:limit]
    tiles = [_displayable(_denormalize(images[i], mean, std), image_shape) for i in wrong]
    labels = [f"{class_names[y_true[i]]} -> {class_names[y_pred[i]]}" for i in wrong]
    title = f"Misclassified test images: {len(wrong)} shown" + ("" if len(wrong) else " (none)")
    return _mosaic(tiles, title, labels=labels, cols=9, tile_inches=1.3)


def sweep_curves(curves, ylabel="validation accuracy", title="Sweep: validation accuracy per job"):
    """One line per job; ``curves`` maps a job's name to its values per epoch. Best final value first."""
    # the legend stands to the right of the axes: a line sample, then the name in 8-point text
    fig = _figure(10, 5, right=0.8 + TEXT_INCH * 0.9 * max((len(name) for name in curves), default=1))
    ax = fig.subplots()
    ranked = sorted(curves.items(), key=lambda kv: -(kv[1][-1] if len(kv[1]) else -np.inf))
    for name, values in ranked:
        ax.plot(np.arange(len(values)), values, "o-", ms=2.5, lw=1.2, label=name)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    return fig


DIAGNOSTICS_PANELS = (("update_ratio", "update / weight ratio", "log"), ("grad_norm", "gradient norm", "log"),
                      ("activation_mean", "activation mean (band: +-1 std)", "linear"),
                      ("dead_fraction", "units that never fire (probe batch)", "linear"))


def training_diagnostics(history, title=None, rule_of_thumb=1e-3):
    """Per parameterised layer, per check: update/weight ratio (with CS231n's ~1e-3 marked), gradient
    norm, activation mean and standard deviation, and the fraction of ReLU units that never fire.

    ``history`` is ``[(epoch, {layer: {metric: value}}), ...]`` as ``nnplug.core.diagnostics`` keeps it.
    """
    fig = _figure(11, 6.5, left=0.9, top=0.7, wspace=0.25, hspace=0.15)
    axes = fig.subplots(2, 2, sharex=True).ravel()
    layers = list(dict.fromkeys(layer for _, record in history for layer in record))
    for ax, (metric, label, scale) in zip(axes, DIAGNOSTICS_PANELS):
        positive = False  # a log scale needs a value above 0: a run whose updates are all zero has none
        for layer in layers:
            points = [(epoch, record[layer]) for epoch, record in history if metric in record.get(layer, {})]
            if not points:
                continue
            epochs = np.array([epoch for epoch, _ in points])
            values = np.array([values[metric] for _, values in points])
            (line,) = ax.plot(epochs, values, "o-", ms=3, lw=1.2, label=layer)
            positive = positive or bool(np.nanmax(values) > 0)
            if metric == "activation_mean":
                spread = np.array([values.get("activation_std", 0.0) for _, values in points])
                ax.fill_between(epochs, values - spread, values + spread, color=line.get_color(), alpha=0.15)
        if metric == "update_ratio":
            ax.axhline(rule_of_thumb, color="gray", ls="--", lw=1, label="~1e-3 (CS231n)")
        if metric == "dead_fraction":
            ax.set_ylim(-0.02, 1.02)
        if scale == "log" and positive:
            ax.set_yscale("log")
        ax.set(ylabel=label, xlabel="epoch" if ax in axes[2:] else "")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(title or "Training diagnostics per layer")
    return fig


def first_layer_weights(W, image_shape, limit=100, title="First-layer weights"):
    """Each hidden unit's weight column ``W[:, j]`` shown as an image of ``image_shape`` (C, H, W).

    Each filter is scaled to its own range, as CS231n's ``visualize_grid`` does: the pattern, not the
    magnitude, is what the picture is for.
    """
    W = np.asarray(W, dtype=np.float64)
    tiles = [_displayable(W[:, j], image_shape) for j in range(min(W.shape[1], limit))]
    return _mosaic(tiles, title, cols=int(np.ceil(np.sqrt(len(tiles)))))


def conv_filters(W, limit=64, title="First conv layer's filters"):
    """The filters of a convolution, each as an image: CS231n's picture of a conv net's first layer.

    Inputs:
    - W: filters of shape (F, C, HH, WW) (C = 3: colour images; C = 1: grey) or (F, C, K) of a
      1-D convolution (each filter shown as a C x K grey image)
    - limit: at most this many filters are shown

    Each filter is scaled to its own range, as ``first_layer_weights`` does.
    """
    W = np.asarray(W, dtype=np.float64)[:limit]
    if W.ndim == 4 and W.shape[1] not in (1, 3):
        W = W[:, :1]  # neither grey nor colour: the first input channel
    tiles = [_displayable(w) for w in W]
    return _mosaic(tiles, title, cols=int(np.ceil(np.sqrt(len(tiles)))), tile_inches=0.5)


def _mosaic(tiles, title, labels=None, cols=10, tile_inches=0.9):
    """Images of one size laid out in one picture, with an optional label above each.

    One ``imshow`` of an assembled array: a hundred small axes would take seconds to lay out.
    """
    cols = max(min(cols, len(tiles)), 1)
    rows = max(-(-len(tiles) // cols), 1)
    height, width = tiles[0].shape[:2] if tiles else (1, 1)
    channels = 3 if tiles and tiles[0].ndim == 3 else 1
    pad = max(height // 8, 1)
    cell_w = width + pad
    # a line of 8-point text above each labelled tile: about 0.2 inch, in tile pixels
    label_room = 0 if labels is None else int(np.ceil(0.2 * cell_w / tile_inches))
    cell_h = height + pad + label_room
    canvas = np.ones((rows * cell_h + pad, cols * cell_w + pad, channels))
    for k, tile in enumerate(tiles):
        top = (k // cols) * cell_h + pad + label_room
        left = (k % cols) * cell_w + pad
        canvas[top:top + height, left:left + width] = tile.reshape(height, width, channels)
    width_inches, height_inches = tile_inches * cols + 0.3, tile_inches * rows * cell_h / cell_w + 0.5
    fig = _figure(width_inches, height_inches, left=0.15, right=0.15, bottom=0.1, top=0.4)
    ax = fig.subplots()
    ax.imshow(canvas[..., 0] if channels == 1 else canvas, cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.axis("off")
    for k, label in enumerate(labels or []):
        x = (k % cols) * cell_w + pad + width / 2
        y = (k // cols) * cell_h + pad + label_room - 1
        ax.text(x, y, label, ha="center", va="bottom", fontsize=8)
    ax.set_title(title)
    return fig


def run_pictures(solver, data, y_pred=None, title=None):
    """Every picture that fits one finished run: ``{file name: Figure}``.

    Curves always; the confusion matrix when there is a test split; misclassified images and
    first-layer weights when the data are images (``data["image_shape"]``) and ``W1`` sees them;
    the first convolution's filters when ``W1`` is one.
    """
    pictures = {"curves.png": training_curves(solver.loss_history, solver.train_acc_history,
                                              solver.val_acc_history, title=title)}
    if data.get("X_test") is None:
        return pictures
    if y_pred is None:
        y_pred = predict(solver.model, data["X_test"])
    y_test = data["y_test"]
    names = data.get("class_names") or [str(c) for c in range(int(max(y_test.max(), y_pred.max())) + 1)]
    pictures["confusion_matrix.png"] = confusion_matrix(y_test, y_pred, names)
    shape = data.get("image_shape")
    if shape:
        pictures["misclassified.png"] = misclassified_grid(data["X_test"], y_test, y_pred, names, image_shape=shape,
                                                           mean=data.get("mean"), std=data.get("std"))
        W1 = solver.model.params.get("W1")
        if W1 is not None and W1.ndim == 2 and W1.shape[0] == int(np.prod(shape)):
            pictures["first_layer_weights.png"] = first_layer_weights(W1, shape)
    W1 = solver.model.params.get("W1")
    if W1 is not None and W1.ndim in (3, 4):  # a conv net's first layer: its filters
        pictures["first_conv_filters.png"] = conv_filters(W1)
    return pictures


def predict(model, X, batch_size=500):
    """Predicted classes of ``X`` by a model with CS231n's ``loss(X)`` returning scores."""
    return np.concatenate([np.argmax(model.loss(X[i:i + batch_size]), axis=1)
                           for i in range(0, X.shape[0], batch_size)])


def _denormalize(x, mean, std):
    x = np.asarray(x, dtype=np.float64)
    if std is not None:
        x = x * std
    return x if mean is None else x + mean


def _displayable(x, image_shape=None):
    """One sample as an (H, W) or (H, W, 3) array in [0, 1]."""
    x = np.asarray(x, dtype=np.float64)
    if image_shape is not None:
        x = x.reshape(image_shape)
    if x.ndim == 3:  # (C, H, W)
        x = x[0] if x.shape[0] == 1 else np.transpose(x, (1, 2, 0))
    low, high = x.min(), x.max()
    return (x - low) / (high - low) if high > low else np.zeros_like(x)


def _figure(width, height, left=0.8, right=0.2, bottom=0.6, top=0.4, wspace=0.2, hspace=0.2):
    """A ``Figure`` of ``width`` x ``height`` inches whose axes keep the given margins, in inches
    (``wspace``, ``hspace``: the gaps between axes, as fractions of an axes' size, as matplotlib has them)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                        wspace=wspace, hspace=hspace)
    return fig


def save(fig, path):
    """Write ``fig`` to ``path`` as a PNG (making its folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
