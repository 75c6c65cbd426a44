import math

import numpy as np
import pytest

from heads import Classes, SquaredError
from optimizers import SGD, Adam
from program.model import build
from program.train import (
    COLUMNS,
    COMPLETED,
    DIVERGED,
    EARLY_STOPPED,
    INTERRUPTED,
    REGRESSION_COLUMNS,
    batches,
    columns,
    train,
)


def net():
    return build(2, [8], 2, Classes())


def problem(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((60, 2))
    y = (x[:, 0] > 0).astype(int)
    return x, y, x[:30], y[:30]


def test_batches_cover_every_index_once():
    rng = np.random.default_rng(0)
    parts = batches(10, 3, rng)
    assert [len(p) for p in parts] == [3, 3, 3, 1]
    assert sorted(np.concatenate(parts)) == list(range(10))
    assert batches(10, None, rng) == [slice(None)] == batches(10, 10, rng)


def test_learns_a_separable_problem_and_logs_the_planned_epochs():
    x, y, xv, yv = problem()
    result = train(net(), Adam(0.05), x, y, xv, yv, epochs=250, log_every=100)
    assert result.status == COMPLETED and result.epochs_done == 250
    assert [row["epoch"] for row in result.rows] == [1, 100, 200, 250]
    assert result.rows[-1]["accuracy"] > 0.95 and result.rows[-1]["val_accuracy"] > 0.9
    assert result.final is result.rows[-1]


def test_no_epoch_gives_no_rows_and_no_final_row():
    x, y, xv, yv = problem()
    result = train(net(), Adam(0.05), x, y, xv, yv, epochs=0)
    assert result.status == COMPLETED and result.rows == [] and result.final is None


def test_divergence_is_reported():
    x, y, xv, yv = problem()
    result = train(net(), Adam(1e308), x, y, xv, yv, epochs=50)
    assert result.status == DIVERGED
    assert result.message == (
        f"training diverged at epoch {result.epochs_done}: the loss or a weight became NaN or "
        f"infinite with learning rate {result.rows[-1]['learning_rate']:.6g}; try a lower "
        "--learning-rate")


class _Stop:
    requested = now = False


def test_a_stop_during_the_last_epoch_leaves_the_run_complete():
    x, y, xv, yv = problem()
    stop = _Stop()

    def on_epoch(epoch):
        stop.requested = epoch >= 9  # asked during epoch 10, the last

    result = train(net(), Adam(0.01), x, y, xv, yv, epochs=10, stop=stop, on_epoch=on_epoch)
    assert result.status == COMPLETED and result.epochs_done == 10
    stop.requested = False
    result = train(net(), Adam(0.01), x, y, xv, yv, epochs=12, stop=stop, on_epoch=on_epoch)
    assert result.status == INTERRUPTED and result.epochs_done == 10


def test_interrupt_inside_an_epoch_keeps_completed_epochs():
    x, y, xv, yv = problem()
    seen = []

    def on_log(row, network):
        seen.append(row["epoch"])
        if row["epoch"] == 20:
            raise KeyboardInterrupt

    result = train(net(), Adam(0.01), x, y, xv, yv, epochs=100,
                   log_every=10, on_log=on_log)
    assert result.status == INTERRUPTED and seen == [1, 10, 20]
    assert "interrupted after epoch 20" in result.message


def test_layer_stats_on_logged_rows():
    x, y, xv, yv = problem()
    result = train(net(), Adam(0.01), x, y, xv, yv, epochs=3, log_every=10,
                   layer_stats=True)
    for row in result.rows:
        assert len(row["layers"]) == 2
        assert all(stats["update_ratio"] > 0 for stats in row["layers"])


def test_early_stopping_restores_the_best_weights():
    x, y, xv, yv = problem()
    xv, yv = -xv, yv  # a validation set the network gets steadily worse at
    seen = {}

    def on_log(row, network):
        seen[row["epoch"]] = [array.copy() for _, array in network.parameters()]

    network = net()
    result = train(network, Adam(0.05), x, y, xv, yv, epochs=1000, log_every=10,
                   patience=3, on_log=on_log)
    assert result.status == EARLY_STOPPED
    best = min(result.rows, key=lambda row: row["val_loss"])
    assert result.final is best and result.epochs_done == result.rows[-1]["epoch"]
    assert [r["epoch"] for r in result.rows].index(result.epochs_done) == \
        [r["epoch"] for r in result.rows].index(best["epoch"]) + 3
    for (_, array), saved in zip(network.parameters(), seen[best["epoch"]], strict=True):
        np.testing.assert_array_equal(array, saved)
    assert f"restored the weights of epoch {best['epoch']}" in result.message


def test_epochs_continue_from_start():
    x, y, xv, yv = problem()
    result = train(net(), Adam(0.05), x, y, xv, yv, epochs=20, log_every=10,
                   start=100)
    # Logged epochs depend on their number only: no row for 101, the first of this run.
    assert [row["epoch"] for row in result.rows] == [110, 120]


def test_columns_fit_the_head():
    assert columns(Classes()) == COLUMNS
    assert columns(SquaredError()) == REGRESSION_COLUMNS
    assert REGRESSION_COLUMNS == ("epoch", "loss", "data_loss", "reg_loss", "accuracy", "r2",
                                  "learning_rate", "val_loss", "val_accuracy", "val_r2")


@pytest.mark.parametrize("head, targets", [
    (SquaredError(), lambda rng, x: np.sin(3 * x[:, :1]) + 0.1 * rng.standard_normal((60, 1))),
    (Classes(), lambda rng, x: (x[:, 0] > 0.3).astype(int)),
])
@pytest.mark.parametrize("batch_size", [None, 7])
def test_epoch_figures_cover_every_output_against_its_own_label(head, targets, batch_size):
    # A learning rate of 1e-12 leaves the weights as they are, so the figures
    # of the epoch's forward passes are those of the network before it.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 2))
    y = targets(rng, x)
    network = build(2, [8], 1 if head.task == "regression" else 2, head, weight_scale=1.0,
                    rng=rng)
    before = network.evaluate(x, y)
    result = train(network, SGD(1e-12), x, y, x, y, epochs=1, batch_size=batch_size,
                   rng=np.random.default_rng(1))
    row = result.rows[0]
    for name, value in before.items():
        if name != "loss":
            assert row[name] == pytest.approx(value, rel=1e-9), name
    assert row["data_loss"] == pytest.approx(before["loss"], rel=1e-9)
    if head.task == "regression":
        assert set(REGRESSION_COLUMNS) <= set(row) and row["r2"] != 0


def test_every_epoch_shuffles_the_mini_batches_anew():
    x, y, xv, yv = problem()
    seen = []

    class Spy(type(net())):
        def forward(self, x, y, training=False):
            if training:
                seen.append(x[:, 0].copy())
            return super().forward(x, y, training)

    network = net()
    network.__class__ = Spy
    train(network, SGD(1e-12), x, y, xv, yv, epochs=3, batch_size=30,
          rng=np.random.default_rng(0))
    assert len(seen) == 6  # two batches an epoch
    epochs = [np.concatenate(seen[i:i + 2]) for i in (0, 2, 4)]
    for first, second in zip(epochs[:-1], epochs[1:], strict=True):
        assert sorted(first) == sorted(second) == sorted(x[:, 0])
        assert not np.array_equal(first, second)


def test_the_logged_learning_rate_is_that_of_the_epochs_last_step():
    x, y, xv, yv = problem()
    result = train(net(), SGD(0.1, decay=0.5), x, y, xv, yv, epochs=3, log_every=1,
                   batch_size=20)  # three steps an epoch: t = 0, 1, 2 then 3, 4, 5...
    rates = [row["learning_rate"] for row in result.rows]
    assert rates == [0.1 / (1 + 0.5 * 2), 0.1 / (1 + 0.5 * 5), 0.1 / (1 + 0.5 * 8)]


def test_a_weight_that_becomes_infinite_is_divergence_even_with_a_finite_loss():
    x, y, xv, yv = problem()

    class Breaks(SGD):
        """An update that sends one hidden bias to -inf: its ReLU unit then
        outputs 0, and the loss stays finite."""

        def step(self, layers):
            super().step(layers)
            layers[0].biases[0, 0] = -np.inf

    result = train(net(), Breaks(0.01), x, y, xv, yv, epochs=5)
    assert result.status == DIVERGED and result.epochs_done == 1
    assert np.isfinite(result.rows[-1]["data_loss"])


class Frozen(SGD):
    """An optimizer that leaves the weights as they are: the validation loss never moves."""

    def step(self, layers):
        pass


def test_an_epochs_losses_are_the_means_over_its_samples_of_unequal_batches():
    x, y, xv, yv = problem()
    network = build(2, [8], 2, Classes(), l2=0.1, weight_scale=1.0,
                    rng=np.random.default_rng(3))
    # Frozen weights: every batch pays the same penalty, and the data losses of
    # batches of 25, 25 and 10 samples, weighted by size, make the full batch's.
    result = train(network, Frozen(0.1), x, y, xv, yv, epochs=1, batch_size=25)
    row = result.rows[0]
    assert row["reg_loss"] == pytest.approx(network.regularization_loss(), rel=1e-12)
    assert row["reg_loss"] > 0.01
    assert row["data_loss"] == pytest.approx(network.evaluate(x, y)["loss"], rel=1e-12)
    assert row["loss"] == row["data_loss"] + row["reg_loss"]


@pytest.mark.parametrize("min_delta", [0.0, 0.1])
def test_a_validation_loss_that_does_not_move_is_no_improvement(min_delta):
    x, y, xv, yv = problem()
    result = train(net(), Frozen(0.1), x, y, xv, yv, epochs=10, log_every=1, patience=2,
                   min_delta=min_delta)
    assert result.status == EARLY_STOPPED
    assert [row["epoch"] for row in result.rows] == [1, 2, 3]
    assert result.final is result.rows[0]
    assert result.message == (
        f"early stopping at epoch 3: the validation loss has not improved by more than "
        f"{min_delta:g} in 2 evaluations; restored the weights of epoch 1 "
        f"(validation loss {result.rows[0]['val_loss']:.4f})")


def test_layer_stats_are_the_norms_of_the_weights_the_gradient_and_the_update():
    x, y, xv, yv = problem()
    network = net()
    before = [layer.weights.copy() for layer in network.trainable]
    result = train(network, SGD(0.5), x, y, xv, yv, epochs=1, layer_stats=True)
    for layer, old, stats in zip(network.trainable, before, result.rows[0]["layers"],
                                 strict=True):
        assert stats == dict(weight_norm=float(np.linalg.norm(layer.weights)),
                             grad_norm=float(np.linalg.norm(layer.dweights)),
                             update_ratio=float(np.linalg.norm(layer.weights - old))
                             / float(np.linalg.norm(old)))


def test_the_update_ratio_of_weights_that_were_all_zero_is_infinite():
    x, y, xv, yv = problem()
    network = net()
    network.trainable[1].weights[...] = 0
    result = train(network, SGD(0.5), x, y, xv, yv, epochs=1, layer_stats=True)
    stats = result.rows[0]["layers"][1]
    assert stats["update_ratio"] == math.inf and stats["weight_norm"] > 0


def test_without_a_generator_the_batches_are_shuffled_as_seed_0_shuffles_them():
    x, y, xv, yv = problem()
    runs = []
    for rng in (None, np.random.default_rng(0)):
        network = net()
        train(network, Adam(), x, y, xv, yv, epochs=3, log_every=1, batch_size=7, rng=rng)
        runs.append([array.copy() for _, array in network.parameters()])
    for first, second in zip(*runs, strict=True):
        np.testing.assert_array_equal(first, second)


def test_layer_statistics_only_when_asked():
    x, y, xv, yv = problem()
    plain = train(net(), Adam(), x, y, xv, yv, epochs=1, log_every=1)
    assert "layers" not in plain.rows[-1]
    asked = train(net(), Adam(), x, y, xv, yv, epochs=1, log_every=1, layer_stats=True)
    assert len(asked.rows[-1]["layers"]) == 2


def test_an_epoch_cut_short_says_after_how_many_mini_batches(caplog):
    from program import interrupts

    x, y, xv, yv = problem()
    stop = interrupts.Stop()
    stop.request("SIGINT")
    stop.request("SIGINT")  # the second request: stop after the current mini-batch
    train(net(), Adam(), x, y, xv, yv, epochs=5, batch_size=20, rng=np.random.default_rng(0),
          stop=stop)
    assert [record.getMessage() for record in caplog.records
            if "cut short" in record.getMessage()] == [
        "epoch 1 cut short after 1 of 3 mini-batches"]
