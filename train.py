"""The training loop: epochs of forward, backward and update, with validation.

It knows nothing of flags, files or figures: it takes a network, an
optimizer and the data, and returns what happened as a list of rows, one per
logged epoch, with the columns of ``COLUMNS``.
"""

import logging
import math
import signal
from dataclasses import dataclass, field

import numpy as np

from model import accuracy

log = logging.getLogger(__name__)

COLUMNS = ("epoch", "loss", "data_loss", "reg_loss", "accuracy", "learning_rate",
           "val_loss", "val_accuracy")

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


def batches(n, batch_size, rng):
    """Index arrays covering 0..n-1: one full batch, or shuffled mini-batches."""
    if batch_size is None or batch_size >= n:
        return [slice(None)]
    order = rng.permutation(n)
    return [order[start:start + batch_size] for start in range(0, n, batch_size)]


def train(network, optimizer, x, y, x_val, y_val, *, epochs, log_every=100,
          batch_size=None, rng=None, on_log=None, layer_stats=False, start=0,
          patience=None, min_delta=0.0):
    """Train for ``epochs`` epochs and return a ``Result``.

    Training loss and accuracy of an epoch are averaged over its batches, as
    the forward passes saw them (dropout on). Validation is evaluated on the
    network after the epoch's updates, dropout off, data loss only. A row is
    logged at epoch 1, every ``log_every`` epochs and at the last epoch;
    ``on_log(row, network)`` is called with each.

    Training stops early, with the rows so far, when the loss or a parameter
    stops being finite (status DIVERGED) or on Ctrl-C, which is honoured once
    the current epoch is complete (status INTERRUPTED). With ``patience`` it
    also stops when the validation loss has not improved by more than
    ``min_delta`` for ``patience`` logged evaluations in a row, and puts back
    the weights of the best evaluation (status EARLY_STOPPED).

    Epochs are numbered from ``start + 1``, for a network that has already
    been trained for ``start`` epochs.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    result = Result()
    early = _EarlyStopping(patience, min_delta) if patience else None
    last_epoch = start + epochs
    stop = _InterruptFlag()
    # Overflow and NaN are detected and reported below; NumPy's own warnings
    # about them would only repeat it, less clearly.
    with stop, np.errstate(over="ignore", invalid="ignore"):
        try:
            for epoch in range(start + 1, last_epoch + 1):
                planned_log = (epoch == start + 1 or epoch % log_every == 0
                               or epoch == last_epoch)
                before = ([layer.weights.copy() for layer in network.dense_layers]
                          if layer_stats and planned_log else None)
                row = _epoch(network, optimizer, x, y, batch_size, rng, epoch)
                if before is not None:
                    row["layers"] = _layer_stats(network.dense_layers, before)
                result.epochs_done = epoch
                if not (math.isfinite(row["loss"]) and network.is_finite()):
                    result.status = DIVERGED
                    result.message = (
                        f"training diverged at epoch {epoch}: the loss or a weight became "
                        f"NaN or infinite with learning rate {row['learning_rate']:.6g}; "
                        "try a lower --learning-rate")
                    _log_row(result, row, network, y, x_val, y_val, on_log)
                    break
                if planned_log or stop.requested:
                    _log_row(result, row, network, y, x_val, y_val, on_log)
                    if early is not None and early.should_stop(row, network):
                        result.status = EARLY_STOPPED
                        break
                if stop.requested:
                    result.status = INTERRUPTED
                    break
        except KeyboardInterrupt:
            # An interrupt that got past the handler (raised inside an epoch):
            # the epoch in progress is dropped, the completed ones are kept.
            result.status = INTERRUPTED
    result.final = result.rows[-1] if result.rows else None
    if result.status == INTERRUPTED:
        result.message = f"interrupted after epoch {result.epochs_done} of {last_epoch}"
    elif result.status == EARLY_STOPPED:
        early.restore(network)
        result.final = early.best_row
        result.message = (
            f"early stopping at epoch {result.epochs_done}: the validation loss has not "
            f"improved by more than {min_delta:g} in {patience} evaluations; restored the "
            f"weights of epoch {early.best_row['epoch']} "
            f"(validation loss {early.best_row['val_loss']:.4f})")
    return result


class _EarlyStopping:
    """Remembers the best validation loss and the weights that gave it."""

    def __init__(self, patience, min_delta):
        self.patience, self.min_delta = patience, min_delta
        self.best_row, self.best_weights, self.waited = None, None, 0

    def should_stop(self, row, network):
        if self.best_row is None or row["val_loss"] < self.best_row["val_loss"] - self.min_delta:
            self.best_row = row
            self.best_weights = [array.copy() for _, array in network.parameters()]
            self.waited = 0
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self, network):
        for (_, array), saved in zip(network.parameters(), self.best_weights, strict=True):
            array[...] = saved


def _epoch(network, optimizer, x, y, batch_size, rng, epoch):
    """One pass over the training data; returns the epoch's row without validation.

    With one full batch the accuracy is left as None: the probabilities of
    the epoch's forward pass stay in ``network.loss.output``, and
    ``_log_row`` computes it only for the epochs that are logged.
    """
    data_loss_sum = correct = 0.0
    n = len(y)
    parts = batches(n, batch_size, rng)
    for index in parts:
        xb, yb = x[index], y[index]
        data_loss = network.forward(xb, yb, training=True)
        data_loss_sum += data_loss * len(yb)
        if len(parts) > 1:
            correct += accuracy(network.loss.output, yb) * len(yb)
        network.backward(yb)
        optimizer.step(network.dense_layers)
    data_loss = data_loss_sum / n
    reg_loss = network.regularization_loss()
    return dict(epoch=epoch, loss=data_loss + reg_loss, data_loss=data_loss,
                reg_loss=reg_loss, accuracy=correct / n if len(parts) > 1 else None,
                learning_rate=optimizer.current_learning_rate)


def _layer_stats(dense_layers, weights_before):
    stats = []
    for layer, before in zip(dense_layers, weights_before, strict=True):
        norm_before = float(np.linalg.norm(before))
        update = float(np.linalg.norm(layer.weights - before))
        stats.append(dict(weight_norm=float(np.linalg.norm(layer.weights)),
                          grad_norm=float(np.linalg.norm(layer.dweights)),
                          update_ratio=update / norm_before if norm_before else math.inf))
    return stats


def _log_row(result, row, network, y, x_val, y_val, on_log):
    if row["accuracy"] is None:  # full batch: before the validation pass overwrites it
        row["accuracy"] = accuracy(network.loss.output, y)
    val_loss, val_accuracy = network.evaluate(x_val, y_val)
    row.update(val_loss=val_loss, val_accuracy=val_accuracy)
    result.rows.append(row)
    if on_log is not None:
        on_log(row, network)


class _InterruptFlag:
    """While active, Ctrl-C (SIGINT) sets ``requested`` instead of raising.

    Outside the main thread signal handlers cannot be set; there the flag
    does nothing and a KeyboardInterrupt is caught by ``train`` instead.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True
        log.warning("Ctrl-C: stopping after this epoch (press again to stop now)")

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:
            self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False
