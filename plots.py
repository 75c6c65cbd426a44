"""Figures of a training run: curves of the logged epochs and decision regions.

matplotlib is imported inside the functions, so importing this module (and
starting main.py) costs nothing when no figure is drawn, and the
non-interactive Agg backend is used unless a window is asked for.
"""

from pathlib import Path

import numpy as np


def _pyplot(show):
    import matplotlib

    if not show:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def class_colours(n_classes):
    """One distinct colour per class, the same for regions and points."""
    import matplotlib

    palette = matplotlib.colormaps["tab10" if n_classes <= 10 else "turbo"]
    if n_classes <= 10:
        return [palette(i) for i in range(n_classes)]
    return [palette(i / (n_classes - 1)) for i in range(n_classes)]


def decision_regions(ax, network, x, y, resolution=200):
    """Colour the plane by the predicted class and scatter the points over it."""
    pad = 0.25
    (x_min, y_min), (x_max, y_max) = x.min(axis=0) - pad, x.max(axis=0) + pad
    grid_x, grid_y = np.meshgrid(np.linspace(x_min, x_max, resolution),
                                 np.linspace(y_min, y_max, resolution))
    grid = np.column_stack([grid_x.ravel(), grid_y.ravel()]).astype(x.dtype)
    n_classes = network.dense_layers[-1].weights.shape[1]
    colours = class_colours(n_classes)
    if network.is_finite():
        classes = network.predict_proba(grid).argmax(axis=1).reshape(grid_x.shape)
        ax.contourf(grid_x, grid_y, classes, levels=np.arange(n_classes + 1) - 0.5,
                    colors=colours, alpha=0.25)
    else:
        ax.text(0.5, 0.5, "weights are not finite:\nno regions to draw",
                transform=ax.transAxes, ha="center", va="center")
    ax.scatter(x[:, 0], x[:, 1], c=[colours[label] for label in y], s=8, edgecolors="none")
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_aspect("equal")
    ax.set_title("decision regions (training points)")


def plot_training(rows, network, x, y, path, *, title="", show=False):
    """Loss, accuracy and learning rate per logged epoch, beside the decision regions.

    Saves a PNG to ``path`` (parent folders are created) and, with ``show``,
    also opens a window.
    """
    plt = _pyplot(show)
    epochs = [row["epoch"] for row in rows]
    fig = plt.figure(figsize=(13, 7.5), layout="constrained")
    grid = fig.add_gridspec(3, 2, width_ratios=(1.2, 1))
    ax_loss, ax_acc, ax_lr = (fig.add_subplot(grid[i, 0]) for i in range(3))
    ax_regions = fig.add_subplot(grid[:, 1])

    ax_loss.plot(epochs, [r["loss"] for r in rows], label="training (data + reg.)")
    ax_loss.plot(epochs, [r["data_loss"] for r in rows], label="training data loss",
                 linestyle=":")
    ax_loss.plot(epochs, [r["val_loss"] for r in rows], label="validation")
    ax_loss.set_ylabel("loss")
    ax_acc.plot(epochs, [r["accuracy"] for r in rows], label="training")
    ax_acc.plot(epochs, [r["val_accuracy"] for r in rows], label="validation")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1)
    ax_lr.plot(epochs, [r["learning_rate"] for r in rows], color="tab:green")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("epoch")
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.grid(alpha=0.3)
    ax_loss.legend(fontsize="small")
    ax_acc.legend(fontsize="small")
    decision_regions(ax_regions, network, x, y)
    if title:
        fig.suptitle(title)
    return _save(fig, plt, path, show)


def plot_comparison(runs, x, y, path, *, show=False):
    """Several optimizers' curves overlaid, and each one's decision regions.

    ``runs`` maps a name to ``(rows, network)``.
    """
    plt = _pyplot(show)
    fig = plt.figure(figsize=(4 * max(len(runs), 2), 8), layout="constrained")
    grid = fig.add_gridspec(2, max(len(runs), 2))
    curves = [fig.add_subplot(grid[0, i]) for i in range(2)]
    if len(runs) > 2:
        curves.append(fig.add_subplot(grid[0, 2:]))
    for name, (rows, _) in runs.items():
        epochs = [row["epoch"] for row in rows]
        line, = curves[0].plot(epochs, [r["loss"] for r in rows], label=f"{name} training")
        curves[0].plot(epochs, [r["val_loss"] for r in rows], color=line.get_color(),
                       linestyle="--", label=f"{name} validation")
        curves[1].plot(epochs, [r["accuracy"] for r in rows], color=line.get_color(),
                       label=f"{name} training")
        curves[1].plot(epochs, [r["val_accuracy"] for r in rows], color=line.get_color(),
                       linestyle="--", label=f"{name} validation")
        if len(curves) > 2:
            curves[2].plot(epochs, [r["learning_rate"] for r in rows], color=line.get_color(),
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
        decision_regions(ax, network, x, y)
        ax.set_title(f"{name}: validation accuracy {rows[-1]['val_accuracy']:.3f}")
    return _save(fig, plt, path, show)


def animate_training(rows, snapshots, network, x, y, path, *, title="", max_frames=100):
    """A GIF of the network learning: one frame per logged epoch, at most ``max_frames``.

    Each frame shows the decision regions of the weights saved at that epoch
    (``snapshots``, copies of ``network.flat_parameters``) beside the loss and
    accuracy curves up to it. The network is left with its final weights.
    """
    plt = _pyplot(False)
    from matplotlib.animation import PillowWriter

    frames = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), max_frames)).astype(int))
    final_weights = network.flat_parameters.copy()
    fig, (ax_regions, ax_loss, ax_acc) = plt.subplots(
        1, 3, figsize=(13, 4.3), layout="constrained", width_ratios=(1.1, 1, 1))
    epochs = [row["epoch"] for row in rows]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = PillowWriter(fps=10)
    try:
        with writer.saving(fig, path, dpi=70):
            for frame in frames:
                network.flat_parameters[...] = snapshots[frame]
                for ax in (ax_regions, ax_loss, ax_acc):
                    ax.clear()
                decision_regions(ax_regions, network, x, y, resolution=100)
                upto = slice(0, frame + 1)
                for ax, key, label in ((ax_loss, "loss", "loss"),
                                       (ax_acc, "accuracy", "accuracy")):
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
                writer.grab_frame()
    finally:
        network.flat_parameters[...] = final_weights
        plt.close(fig)
    return path


def _save(fig, plt, path, show):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    if show:
        plt.show()
    plt.close(fig)
    return path
