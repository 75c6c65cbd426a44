"""Figures of a training run: curves of the logged epochs and a picture of the problem.

The problem panel fits the data and the head: decision regions for
classes in the plane, the fitted curve for a regression on one feature, a
confusion matrix or predicted-against-true values otherwise. A network with
a convolution adds what its first block learnt: the first Conv2D's kernels
and one validation image's feature maps after the block.

matplotlib is imported inside the functions, so importing this module (and
starting main.py) costs nothing when no figure is drawn, and the
non-interactive Agg backend is used unless a window is asked for.
"""

import logging
from pathlib import Path

import numpy as np

from program import registry

log = logging.getLogger(__name__)


def _pyplot(show):
    import matplotlib

    if not show:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if show and matplotlib.get_backend().lower() in NON_INTERACTIVE:
        log.warning("--show: no display to open a window on; the figure is only saved")
    return plt


# matplotlib backends that draw into files only: --show cannot open a window with them.
NON_INTERACTIVE = ("agg", "cairo", "pdf", "pgf", "ps", "svg", "template")


def class_colours(n_classes):
    """One distinct colour per class, the same for regions and points."""
    import matplotlib

    palette = matplotlib.colormaps["tab10" if n_classes <= 10 else "turbo"]
    if n_classes <= 10:
        return [palette(i) for i in range(n_classes)]
    return [palette(i / (n_classes - 1)) for i in range(n_classes)]


# Colours of the optimizers compared by --optimizer all, none of them a class
# colour of ``class_colours``, so that one colour means one thing in a figure.
RUN_COLOURS = ("black", "#8e44ad", "#d81b60", "#b8860b", "#607d8b", "#795548")


def run_colour(index):
    return RUN_COLOURS[index % len(RUN_COLOURS)]


def _grid(x, resolution):
    """A resolution x resolution grid over the points' bounding box, padded."""
    pad = 0.25
    (x_min, y_min), (x_max, y_max) = x.min(axis=0) - pad, x.max(axis=0) + pad
    grid_x, grid_y = np.meshgrid(np.linspace(x_min, x_max, resolution),
                                 np.linspace(y_min, y_max, resolution))
    points = np.column_stack([grid_x.ravel(), grid_y.ravel()]).astype(x.dtype)
    return grid_x, grid_y, points


def region_values(network, x, resolution=200):
    """(grid_x, grid_y, values) over the points' box: what the regions are coloured by.

    ``values[i, j]`` is the network's answer at (grid_x[i, j], grid_y[i, j]):
    the predicted class, or for a binary head the probability of class 1.
    """
    grid_x, grid_y, points = _grid(x, resolution)
    if network.head.task == "binary":
        values = network.outputs(points)[:, 0]
    else:
        values = network.predict(points)
    return grid_x, grid_y, values.reshape(grid_x.shape)


def decision_regions(ax, network, x, y, class_names, resolution=200):
    """Colour the plane by the predicted class and scatter the points over it.

    A binary head shades the plane by its probability of class 1 instead,
    with the 0.5 boundary drawn.
    """
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.lines import Line2D

    colours = class_colours(len(class_names))
    grid_x, grid_y, _ = _grid(x, 2)
    if not network.is_finite():
        ax.text(0.5, 0.5, "weights are not finite:\nno regions to draw",
                transform=ax.transAxes, ha="center", va="center")
    elif network.head.task == "binary":
        grid_x, grid_y, probability = region_values(network, x, resolution)
        shades = LinearSegmentedColormap.from_list("classes", [colours[0], "white", colours[1]])
        filled = ax.contourf(grid_x, grid_y, probability, levels=np.linspace(0, 1, 11),
                             cmap=shades, alpha=0.45)
        ax.contour(grid_x, grid_y, probability, levels=[0.5], colors="black", linewidths=0.8)
        ax.figure.colorbar(filled, ax=ax, shrink=0.6, label=f"P(class {class_names[1]})")
    else:
        grid_x, grid_y, classes = region_values(network, x, resolution)
        ax.contourf(grid_x, grid_y, classes, levels=np.arange(len(class_names) + 1) - 0.5,
                    colors=colours, alpha=0.25)
    ax.scatter(x[:, 0], x[:, 1], c=[colours[label] for label in y], s=8, edgecolors="none")
    ax.set_xlim(grid_x.min(), grid_x.max())
    ax.set_ylim(grid_y.min(), grid_y.max())
    ax.set_aspect("equal")
    ax.set_title("decision regions (training points)")
    handles = [Line2D([], [], marker="o", linestyle="", color=colour, label=f"class {name}")
               for colour, name in zip(colours, class_names, strict=True)]
    if len(handles) <= 12:
        ax.legend(handles=handles, fontsize="small", loc="upper right")


def fitted_curve(ax, network, x, y):
    """The data and the network's fit, for a regression on one feature."""
    order = np.argsort(x[:, 0])
    ax.scatter(x[order, 0], np.reshape(y, (len(y), -1))[order, 0], s=6, color="tab:blue",
               label="training data")
    if network.is_finite():
        ax.plot(x[order, 0], network.predict(x[order])[:, 0], color="tab:orange",
                label="network")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(fontsize="small")
    ax.set_title("fit (training data)")


def confusion_matrix(ax, network, x, y, class_names, which="training data"):
    """How often each true class (row) was predicted as each class (column)."""
    n = len(class_names)
    counts = np.zeros((n, n), dtype=int)
    if network.is_finite():
        np.add.at(counts, (y, network.predict(x).reshape(len(y))), 1)
    ax.imshow(counts, cmap="Blues")
    if n <= 20:
        for (row, column), count in np.ndenumerate(counts):
            ax.text(column, row, str(count), ha="center", va="center", fontsize="x-small")
        ax.set_xticks(range(n), class_names, rotation=90)
        ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"confusion matrix ({which})")


def misclassified(caption, axes, network, x, y, class_names, image_shape, scaler=None):
    """The first misclassified images, one per axis, titled true -> predicted.

    ``caption`` is an axis for the line that says how many there are; with
    ``scaler`` (mean, scale) the images are shown as they were read, not as
    the standardised features the network saw.
    """
    wrong = []
    if network.is_finite():
        predicted = network.predict(x).reshape(len(y))
        wrong = np.flatnonzero(predicted != y)
    for ax in (caption, *axes):
        ax.set_axis_off()
    pixels = x if scaler is None else x * scaler[1] + scaler[0]
    for ax, index in zip(axes, wrong, strict=False):
        ax.imshow(pixels[index].reshape(image_shape), cmap="gray")
        ax.set_title(f"{class_names[y[index]]} -> {class_names[predicted[index]]}",
                     fontsize="x-small", color="tab:red")
    caption.text(0.5, 0.5, f"misclassified (true -> predicted): {len(wrong)} of {len(y)}",
                 ha="center", va="center", fontsize="small")


def predicted_against_true(ax, network, x, y):
    """Each target value against its prediction, for a regression on many features.

    With several targets, the first one: the points and the perfect line alike.
    """
    first = np.reshape(y, (len(y), -1))[:, 0]
    if network.is_finite():
        ax.scatter(first, network.predict(x)[:, 0], s=6)
    low, high = float(first.min()), float(first.max())
    ax.plot([low, high], [low, high], color="black", linewidth=0.8, label="perfect")
    ax.set_xlabel("true value")
    ax.set_ylabel("predicted value")
    ax.legend(fontsize="small")
    ax.set_title("predictions (training data)")


def draw_problem(ax, network, dataset, resolution=200):
    """The picture that fits the data and the head (see the module's docstring)."""
    x, y = dataset.x_train, dataset.y_train
    if dataset.task == "classes" and x.shape[1] == 2:
        decision_regions(ax, network, x, y, dataset.class_names, resolution)
    elif dataset.task == "classes":
        confusion_matrix(ax, network, x, y, dataset.class_names)
    elif x.shape[1] == 1:
        fitted_curve(ax, network, x, y)
    else:
        predicted_against_true(ax, network, x, y)


def tile(images, columns=None):
    """The images (n, h, w) side by side in one array, ``columns`` to a row.

    Image ``i`` fills rows ``r h .. r h + h - 1`` and columns ``c w .. c w + w - 1``
    of the mosaic, with r = i // columns and c = i % columns; ``columns``
    defaults to ceil(sqrt(n)), a square-ish mosaic. Cells past the last image
    are NaN, which ``imshow`` leaves in the colour map's "bad" colour.
    """
    n, height, width = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = -(-n // columns)
    mosaic = np.full((rows * height, columns * width), np.nan)
    for index, image in enumerate(images):
        top, left = (index // columns) * height, (index % columns) * width
        mosaic[top:top + height, left:left + width] = image
    return mosaic


def first_conv(network):
    """The index of the network's first Conv2D layer (kind "conv2d"), or None."""
    kinds = [registry.kind_of(layer) for layer in network.layers]
    return kinds.index("conv2d") if "conv2d" in kinds else None


def first_block_maps(network, x):
    """One image's feature maps after the first convolution block: (maps, layer name).

    ``x`` is one input row, (1, features). The layers run forward (as in
    evaluation: dropout off, BatchNorm's running statistics) from the input.
    The block starts at the first Conv2D and ends before the next Conv2D or
    the first layer whose output is no longer a (1, C, H, W) image (a
    Flatten): in ``model.build``'s networks, Conv2D -> [Norm] -> activation
    -> MaxPool2D, so the maps are the first MaxPool2D's output, (C, H/2, W/2).
    """
    start = first_conv(network)
    maps, name = None, None
    for index, (layer, layer_name) in enumerate(zip(network.layers, network.names,
                                                    strict=True)):
        output = layer.forward(x, False)
        if index > start and (registry.kind_of(layer) == "conv2d" or output.ndim != 4):
            break
        if index >= start:
            maps, name = output[0], layer_name
        x = output
    return maps, name


def _mosaic(ax, images, cmap, limits, title, lines, label):
    """``tile(images)`` on ``ax`` with a colour bar, ticks off, cells parted by ``lines``."""
    import matplotlib

    colours = matplotlib.colormaps[cmap].with_extremes(bad="white")
    mosaic = tile(images)
    shown = ax.imshow(mosaic, cmap=colours, vmin=limits[0], vmax=limits[1])
    # Thin lines between the cells rather than blank pixels: a blank pixel
    # would be a third of a 3 x 3 kernel.
    height, width = images.shape[1:]
    for row in range(height, mosaic.shape[0], height):
        ax.axhline(row - 0.5, color=lines, linewidth=1.5)
    for column in range(width, mosaic.shape[1], width):
        ax.axvline(column - 0.5, color=lines, linewidth=1.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize="small")
    ax.figure.colorbar(shown, ax=ax, shrink=0.8, label=label)


def conv_kernels(ax, network):
    """The first Conv2D's kernels, one small image per output channel.

    Weights (O, C, k, k): each of the O kernels is drawn as its k x k weights
    (with C > 1 in-channels, their mean over the in-channels), all on one
    diverging scale centred on 0 (blue negative, red positive).
    """
    index = first_conv(network)
    weights = network.layers[index].weights
    n_out, n_in, k, _ = weights.shape
    title = f"{network.names[index]} kernels ({n_out}, {k}x{k}"
    title += ")" if n_in == 1 else f", mean of {n_in} in-channels)"
    if not network.is_finite():
        ax.set_axis_off()
        ax.set_title(title, fontsize="small")
        ax.text(0.5, 0.5, "weights are not finite:\nno kernels to draw",
                transform=ax.transAxes, ha="center", va="center")
        return
    kernels = weights.mean(axis=1)
    # One scale for every kernel, symmetric, so 0 is white in all of them.
    largest = float(np.abs(kernels).max()) or 1.0
    _mosaic(ax, kernels, "RdBu_r", (-largest, largest), title, lines="0.3",
            label="weight")


def feature_maps(ax_image, ax_maps, network, dataset, index=0):
    """Validation image ``index`` (as read, before scaling) and its maps after the first block.

    All maps share one colour scale, so a channel that stays dark is one
    that the image hardly excites (or a dead ReLU).
    """
    x = dataset.x_val[index:index + 1]
    pixels = x if dataset.scaler is None else x * dataset.scaler[1] + dataset.scaler[0]
    ax_image.set_axis_off()
    if dataset.image_shape is not None:
        ax_image.imshow(pixels.reshape(dataset.image_shape), cmap="gray")
    caption = f"validation image {index}"
    if dataset.task == "classes":
        caption += f"\n(class {dataset.class_names[dataset.y_val[index]]})"
    ax_image.set_title(caption, fontsize="small")
    if not network.is_finite():
        ax_maps.set_axis_off()
        ax_maps.text(0.5, 0.5, "weights are not finite:\nno feature maps to draw",
                     transform=ax_maps.transAxes, ha="center", va="center")
        return
    maps, layer_name = first_block_maps(network, x)
    channels, height, width = maps.shape
    _mosaic(ax_maps, maps, "viridis", (float(maps.min()), float(maps.max())),
            f"feature maps after block 1 ({layer_name}: {channels}, {height}x{width})",
            lines="white", label="activation")


def plot_training(rows, network, dataset, path, *, title="", show=False, restored=None):
    """Loss, accuracy (and R^2) and learning rate per logged epoch, beside the problem.

    Saves the figure to ``path`` (parent folders are created; the format is
    the suffix's) and, with ``show``, also opens a window. ``restored``: the
    epoch whose weights early stopping put back, marked on the curves.
    """
    plt = _pyplot(show)
    fig = training_figure(plt, rows, network, dataset, title, restored)
    return _save(fig, plt, path, show)


def training_figure(plt, rows, network, dataset, title="", restored=None):
    """The figure of ``plot_training``: curves on the left, the problem on the right.

    For images the right holds the confusion matrix of the validation data
    and its first misclassified images. A network with a Conv2D layer gets a
    third column, its axes after all the others: the first Conv2D's kernels
    above, the first validation image and its feature maps after the first
    block below.
    """
    epochs = [row["epoch"] for row in rows]
    conv = first_conv(network) is not None
    fig = plt.figure(figsize=(18.5 if conv else 13, 7.5), layout="constrained")
    grid = fig.add_gridspec(3, 3 if conv else 2,
                            width_ratios=(1.2, 1, 0.85) if conv else (1.2, 1))
    ax_loss, ax_acc, ax_lr = (fig.add_subplot(grid[i, 0]) for i in range(3))
    if dataset.image_shape is not None and dataset.task == "classes":
        right = grid[:, 1].subgridspec(2, 1, height_ratios=(1.4, 1))
        confusion_matrix(fig.add_subplot(right[0]), network, dataset.x_val, dataset.y_val,
                         dataset.class_names, "validation data")
        cells = right[1].subgridspec(3, 6, height_ratios=(0.3, 1, 1))
        misclassified(fig.add_subplot(cells[0, :]),
                      [fig.add_subplot(cells[i, j]) for i in (1, 2) for j in range(6)],
                      network, dataset.x_val, dataset.y_val, dataset.class_names,
                      dataset.image_shape, dataset.scaler)
    else:
        draw_problem(fig.add_subplot(grid[:, 1]), network, dataset)
    if conv:
        column = grid[:, 2].subgridspec(2, 1)
        conv_kernels(fig.add_subplot(column[0]), network)
        below = column[1].subgridspec(1, 2, width_ratios=(1, 2.5))
        feature_maps(fig.add_subplot(below[0]), fig.add_subplot(below[1]), network, dataset)

    ax_loss.plot(epochs, [r["loss"] for r in rows], label="training (data + reg.)")
    ax_loss.plot(epochs, [r["data_loss"] for r in rows], label="training data loss",
                 linestyle=":")
    ax_loss.plot(epochs, [r["val_loss"] for r in rows], label="validation")
    ax_loss.set_ylabel("loss")
    ax_acc.plot(epochs, [r["accuracy"] for r in rows], label="training")
    ax_acc.plot(epochs, [r["val_accuracy"] for r in rows], label="validation")
    if "r2" in rows[0]:
        ax_acc.plot(epochs, [r["r2"] for r in rows], label="training R²", linestyle=":")
        ax_acc.plot(epochs, [r["val_r2"] for r in rows], label="validation R²", linestyle=":")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1)
    ax_lr.plot(epochs, [r["learning_rate"] for r in rows], color="tab:green")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("epoch")
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.grid(alpha=0.3)
        if restored is not None:
            ax.axvline(restored, color="grey", linestyle="--", linewidth=1,
                       label=f"restored: epoch {restored}")
    ax_loss.legend(fontsize="small")
    ax_acc.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def plot_comparison(runs, dataset, path, *, show=False):
    """Several optimizers' curves overlaid, and each one's problem panel.

    ``runs`` maps a name to ``(rows, network)``.
    """
    plt = _pyplot(show)
    fig = plt.figure(figsize=(4 * max(len(runs), 2), 8), layout="constrained")
    grid = fig.add_gridspec(2, max(len(runs), 2))
    curves = [fig.add_subplot(grid[0, i]) for i in range(2)]
    if len(runs) > 2:
        curves.append(fig.add_subplot(grid[0, 2:]))
    for index, (name, (rows, _)) in enumerate(runs.items()):
        epochs = [row["epoch"] for row in rows]
        colour = run_colour(index)
        curves[0].plot(epochs, [r["loss"] for r in rows], color=colour, label=f"{name} training")
        curves[0].plot(epochs, [r["val_loss"] for r in rows], color=colour,
                       linestyle="--", label=f"{name} validation")
        curves[1].plot(epochs, [r["accuracy"] for r in rows], color=colour,
                       label=f"{name} training")
        curves[1].plot(epochs, [r["val_accuracy"] for r in rows], color=colour,
                       linestyle="--", label=f"{name} validation")
        if len(curves) > 2:
            curves[2].plot(epochs, [r["learning_rate"] for r in rows], color=colour,
                           label=name)
    for ax, label in zip(curves, ("loss", "accuracy", "learning rate"), strict=False):
        ax.set_ylabel(label)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small")
    curves[0].set_yscale("log")  # the optimizers' losses span orders of magnitude
    curves[1].set_ylim(0, 1)
    if len(curves) > 2:
        curves[2].set_yscale("log")
    for column, (name, (rows, network)) in enumerate(runs.items()):
        ax = fig.add_subplot(grid[1, column])
        draw_problem(ax, network, dataset)
        ax.set_title(f"{name}: validation accuracy {rows[-1]['val_accuracy']:.3f}",
                     color=run_colour(column))
    return _save(fig, plt, path, show)


def plot_sweep_curves(curves, path, *, title="", show=False):
    """A sweep's validation-loss curves (``sweep_curves_figure``), saved to ``path``."""
    plt = _pyplot(show)
    return _save(sweep_curves_figure(plt, curves, title), plt, path, show)


def sweep_curves_figure(plt, curves, title=""):
    """The validation loss of each run of a sweep, one curve per value on one axes.

    ``curves``: [(label, epochs, losses, band, best)]: ``band`` None or
    (lowest, highest) arrays at the same epochs (the range over seeds),
    drawn shaded; ``best`` None or the (epoch, loss) to mark with a dot (a
    collection of the axes, not one of its lines). The losses are drawn on
    a log scale when they span more than a factor of 10.
    """
    fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    palette = plt.get_cmap("tab10" if len(curves) <= 10 else "viridis")
    drawn = []
    for index, (label, epochs, losses, band, best) in enumerate(curves):
        colour = palette(index if len(curves) <= 10 else index / (len(curves) - 1))
        ax.plot(epochs, losses, color=colour, label=label)
        drawn.append(losses)
        if best is not None:
            ax.scatter([best[0]], [best[1]], color=colour, s=25, zorder=3)
        if band is not None:
            ax.fill_between(epochs, band[0], band[1], color=colour, alpha=0.2, linewidth=0)
            drawn += band
    finite = np.concatenate([np.ravel(d) for d in drawn]) if drawn else np.array([])
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size and finite.max() > 10 * finite.min():
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation loss")
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize="small")
    ax.set_title(title)
    return fig


def plot_sweep_grid(values, rows, columns, notes, path, *, title="", show=False):
    """A grid sweep's heatmap (``sweep_grid_figure``), saved to ``path``."""
    plt = _pyplot(show)
    return _save(sweep_grid_figure(plt, values, rows, columns, notes, title), plt, path, show)


def sweep_grid_figure(plt, values, rows, columns, notes, title=""):
    """The best validation loss of every pair of two flags' values, as a heatmap.

    ``values``: (rows, columns) array, NaN for a cell without a loss (drawn
    grey); ``rows`` and ``columns``: (flag name, value labels); ``notes``:
    {(row, column): text} written in a cell under its loss (or alone when it
    has none). A lower loss is darker; the lowest is written in bold.
    ``values`` itself is the image's array (``ax.images[0]``), one text per cell.
    """
    import matplotlib

    values = np.asarray(values, dtype=float)
    fig, ax = plt.subplots(figsize=(max(5.5, 1.3 * values.shape[1] + 2.5),
                                    max(4, 0.8 * values.shape[0] + 2)), layout="constrained")
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")
    finite = values[np.isfinite(values)]
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto",
                      vmin=finite.min() if finite.size else None,
                      vmax=finite.max() if finite.size else None)
    fig.colorbar(image, ax=ax, label="best validation loss")
    lowest = np.nanargmin(values) if finite.size else None
    for (row, column), value in np.ndenumerate(values):
        lines = [] if np.isnan(value) else [f"{value:.4g}"]
        if (row, column) in notes:
            lines.append(notes[row, column])
        shade = image.cmap(image.norm(value)) if np.isfinite(value) else (1, 1, 1, 1)
        dark = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2] < 0.5
        ax.text(column, row, "\n".join(lines), ha="center", va="center", fontsize="small",
                color="white" if dark else "black",
                fontweight="bold" if lowest is not None and lowest == row * values.shape[1]
                + column else "normal")
    ax.set_xticks(range(values.shape[1]), columns[1])
    ax.set_yticks(range(values.shape[0]), rows[1])
    ax.set_xlabel(columns[0])
    ax.set_ylabel(rows[0])
    ax.set_title(title)
    return fig


def animate_training(rows, snapshots, network, dataset, path, *, title="", max_frames=100,
                     frame_ms=100, last_ms=2000):
    """A GIF of the network learning: one frame per logged epoch, at most ``max_frames``.

    Each frame shows the problem panel drawn with the parameters saved at
    that epoch (``snapshots``: one list of arrays, in ``network.parameters()``
    order, per row) beside the loss and accuracy curves up to it. Frames
    last ``frame_ms``, the last one ``last_ms``, so the end can be seen. The
    network is left with its final parameters.
    """
    plt = _pyplot(False)
    from PIL import Image

    frames = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), max_frames)).astype(int))
    parameters = [array for _, array in network.parameters()]
    final = [array.copy() for array in parameters]
    fig, (ax_problem, ax_loss, ax_acc) = plt.subplots(
        1, 3, figsize=(13, 4.3), dpi=70, layout="constrained", width_ratios=(1.1, 1, 1))
    epochs = [row["epoch"] for row in rows]
    images = []
    try:
        for frame in frames:
            for array, saved in zip(parameters, snapshots[frame], strict=True):
                array[...] = saved
            for ax in (ax_problem, ax_loss, ax_acc):
                ax.clear()
            draw_problem(ax_problem, network, dataset, resolution=100)
            upto = slice(0, frame + 1)
            for ax, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "accuracy", "accuracy")):
                ax.plot(epochs[upto], [r[key] for r in rows[upto]], label="training")
                ax.plot(epochs[upto], [r[f"val_{key}"] for r in rows[upto]],
                        label="validation")
                ax.set_xlim(epochs[0], max(epochs[-1], epochs[0] + 1))
                ax.set_xlabel("epoch")
                ax.set_ylabel(label)
                ax.grid(alpha=0.3)
                ax.legend(fontsize="small", loc="center right")
            finite = [r[k] for r in rows for k in ("loss", "val_loss") if np.isfinite(r[k])]
            ax_loss.set_ylim(0, max(finite, default=1.0) * 1.05)
            ax_acc.set_ylim(0, 1)
            fig.suptitle(f"{title} epoch {epochs[frame]}".strip())
            fig.canvas.draw()
            images.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB"))
    finally:
        for array, saved in zip(parameters, final, strict=True):
            array[...] = saved
        plt.close(fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    durations = [frame_ms] * (len(images) - 1) + [last_ms]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=durations, loop=0)
    return path


def _save(fig, plt, path, show):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    if show:
        plt.show()
    plt.close(fig)
    return path
