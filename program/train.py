"""The training loop: epochs of forward, backward and update, with validation.

It knows nothing of flags, files or figures: it takes a network, an
optimizer and the data, and returns what happened as a list of rows, one per
logged epoch, with the columns of ``COLUMNS``.
"""

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from layers import parameter_names

log = logging.getLogger(__name__)

COLUMNS = ("epoch", "loss", "data_loss", "reg_loss", "accuracy", "learning_rate",
           "val_loss", "val_accuracy")
# A regression also reports R^2, on the training and the validation data.
REGRESSION_COLUMNS = (*COLUMNS[:5], "r2", *COLUMNS[5:], "val_r2")


def columns(head):
    """The columns of a logged row for a network with this head."""
    return REGRESSION_COLUMNS if head.task == "regression" else COLUMNS

# Why a run ended; main.py turns these into exit statuses.
COMPLETED, DIVERGED, INTERRUPTED = "completed", "diverged", "interrupted"
EARLY_STOPPED = "early stopped"


@dataclass
class Result:
    rows: list = field(default_factory=list)
    status: str = COMPLETED
    epochs_done: int = 0
    message: str = ""
    # The row that describes the network as it is returned: the last one,
    # or after early stopping the best one, whose weights were restored.
    final: dict = None


def batches(n, batch_size, rng, min_size=1):
    """Index arrays covering 0..n-1: one full batch, or shuffled mini-batches.

    A last mini-batch of fewer than ``min_size`` samples joins the one before
    it (a BatchNorm network cannot train on one sample).
    """
    if batch_size is None or batch_size >= n:
        return [slice(None)]
    order = rng.permutation(n)
    parts = [order[start:start + batch_size] for start in range(0, n, batch_size)]
    if len(parts) > 1 and len(parts[-1]) < min_size:
        parts[-2:] = [np.concatenate(parts[-2:])]
    return parts


def train(network, optimizer, x, y, x_val, y_val, *, epochs, log_every=100,
          batch_size=None, rng=None, on_log=None, on_epoch=None, layer_stats=False,
          start=0, patience=None, min_delta=0.0, stop=None, early_stopping=None):
    """Train for ``epochs`` epochs and return a ``Result``.

    Training loss and figures (accuracy...) of an epoch are those of its
    forward passes, batch by batch, as they saw them (dropout on). Validation
    is evaluated on the network after the epoch's updates, dropout off, data
    loss only. A row is logged at epoch 1, every ``log_every`` epochs and at
    the last epoch; ``on_log(row, network)`` is called with each, and
    ``on_epoch(epoch)`` after every epoch.

    Training stops early, with the rows so far, when the loss or a parameter
    stops being finite (status DIVERGED) or when ``stop.requested`` becomes
    true (status INTERRUPTED, after the epoch in progress; a
    KeyboardInterrupt raised inside an epoch drops that epoch). With
    ``patience`` it also stops when the validation loss has not improved by
    more than ``min_delta`` for ``patience`` logged evaluations in a row, and
    puts back the weights of the best evaluation (status EARLY_STOPPED).
    ``early_stopping``: an ``EarlyStopping`` to go on with (a resumed run's,
    with its best evaluation and count so far); by default a fresh one.

    Epochs are numbered from ``start + 1``, for a network that has already
    been trained for ``start`` epochs; which epochs are logged depends only
    on their number, so a run continued from epoch N logs the rows that one
    run straight through would have logged after N.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    result = Result()
    early = early_stopping
    if early is None and patience:
        early = EarlyStopping(patience, min_delta)
    last_epoch = start + epochs
    # Overflow and NaN are detected and reported below; NumPy's own warnings
    # about them would only repeat it, less clearly.
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            for epoch in range(start + 1, last_epoch + 1):
                planned_log = epoch == 1 or epoch % log_every == 0 or epoch == last_epoch
                before = ([_first_parameter(layer).copy() for layer in network.trainable]
                          if layer_stats and planned_log else None)
                row, seen = _epoch(network, optimizer, x, y, batch_size, rng, epoch, stop)
                if before is not None:
                    row["layers"] = _layer_stats(network.trainable, before)
                result.epochs_done = epoch
                if not (math.isfinite(row["loss"]) and network.is_finite()):
                    result.status = DIVERGED
                    result.message = (
                        f"training diverged at epoch {epoch}: the loss or a weight became "
                        f"NaN or infinite with learning rate {row['learning_rate']:.6g}; "
                        "try a lower --learning-rate")
                    _log_row(result, row, seen, network, y, x_val, y_val, on_log)
                    break
                # A stop asked for during the last epoch finds the run complete.
                interrupted = stop is not None and stop.requested and epoch < last_epoch
                if planned_log or interrupted:
                    _log_row(result, row, seen, network, y, x_val, y_val, on_log)
                    if early is not None and early.should_stop(row, network):
                        result.status = EARLY_STOPPED
                        break
                if on_epoch is not None:
                    on_epoch(epoch)
                if interrupted:
                    result.status = INTERRUPTED
                    break
        except KeyboardInterrupt:
            # An interrupt that got past the stop flag (raised inside an
            # epoch): the epoch in progress is dropped, the completed ones kept.
            result.status = INTERRUPTED
    result.final = result.rows[-1] if result.rows else None
    if result.status == INTERRUPTED:
        result.message = f"interrupted after epoch {result.epochs_done} of {last_epoch}"
    elif result.status == EARLY_STOPPED:
        early.restore(network)
        result.final = early.best_row
        result.message = (
            f"early stopping at epoch {result.epochs_done}: the validation loss has not "
            f"improved by more than {early.min_delta:g} in {early.patience} evaluations; "
            "restored the "
            f"weights of epoch {early.best_row['epoch']} "
            f"(validation loss {early.best_row['val_loss']:.4f})")
    return result


class EarlyStopping:
    """Remembers the best validation loss and the weights (and state) that gave it.

    ``best`` holds copies of every parameter and state array by name, as
    ``Network.parameters`` and ``Network.state`` name them; ``waited``
    counts the evaluations since the best. A checkpoint saves all three,
    so that a resumed run stops where one straight run would have.
    """

    def __init__(self, patience, min_delta=0.0, *, best_row=None, best=None, waited=0):
        self.patience, self.min_delta = patience, min_delta
        self.best_row, self.best, self.waited = best_row, best, waited

    def remember(self, row, network):
        """Take ``row`` as the best evaluation, and a copy of the network as it stands."""
        self.best_row = row
        self.best = {name: array.copy()
                     for name, array in (*network.parameters(), *network.state())}
        self.waited = 0

    def should_stop(self, row, network):
        if self.best_row is None or row["val_loss"] < self.best_row["val_loss"] - self.min_delta:
            self.remember(row, network)
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self, network):
        for name, array in (*network.parameters(), *network.state()):
            array[...] = self.best[name]


def _epoch(network, optimizer, x, y, batch_size, rng, epoch, stop=None):
    """One pass over the training data.

    Returns the epoch's row, without its figures or validation, and what
    the forward passes saw: [(batch indices, the head's outputs)], from
    which ``_log_row`` computes the figures, only for the epochs it logs.
    The losses (data and penalty) are those of the weights each forward pass
    used, averaged over the epoch's samples.
    A ``stop.now`` request cuts the epoch short after the batch in progress.
    """
    data_loss_sum = reg_loss_sum = 0.0
    n = 0
    seen = []
    parts = batches(len(y), batch_size, rng, network.min_batch)
    for index in parts:
        yb = y[index]
        data_loss = network.forward(x[index], yb, training=True)
        # The penalty of the weights this forward pass used, before they are updated.
        reg_loss_sum += network.regularization_loss() * len(yb)
        data_loss_sum += data_loss * len(yb)
        n += len(yb)
        seen.append((index, network.head.output))
        network.backward(yb)
        optimizer.step(network.trainable)
        if stop is not None and stop.now and len(seen) < len(parts):
            log.warning("epoch %d cut short after %d of %d mini-batches", epoch, len(seen),
                        len(parts))
            break
    data_loss, reg_loss = data_loss_sum / n, reg_loss_sum / n
    return dict(epoch=epoch, loss=data_loss + reg_loss, data_loss=data_loss,
                reg_loss=reg_loss, learning_rate=optimizer.current_learning_rate), seen


def _first_parameter(layer, prefix=""):
    """A layer's first parameter (a Dense's weights, a BatchNorm's gamma), or its gradient."""
    return getattr(layer, prefix + parameter_names(layer)[0])


def _layer_stats(layers, weights_before):
    """Per trainable layer: the norms of its first parameter, that one's gradient and update."""
    stats = []
    for layer, before in zip(layers, weights_before, strict=True):
        weights = _first_parameter(layer)
        norm_before = float(np.linalg.norm(before))
        update = float(np.linalg.norm(weights - before))
        stats.append(dict(weight_norm=float(np.linalg.norm(weights)),
                          grad_norm=float(np.linalg.norm(_first_parameter(layer, "d"))),
                          update_ratio=update / norm_before if norm_before else math.inf))
    return stats


def _log_row(result, row, seen, network, y, x_val, y_val, on_log):
    """Complete a row with the head's figures and the validation, and record it."""
    if len(seen) == 1:
        index, outputs = seen[0]
    else:  # mini-batches: every output of the epoch, against its label
        index = np.concatenate([part for part, _ in seen])
        outputs = np.concatenate([part for _, part in seen])
    row.update(network.head.metrics(outputs, y[index]))
    row.update({f"val_{name}": value for name, value in network.evaluate(x_val, y_val).items()})
    result.rows.append(row)
    if on_log is not None:
        on_log(row, network)
