import numpy as np

from model import Network
from optimizers import Adam
from train import COMPLETED, DIVERGED, EARLY_STOPPED, INTERRUPTED, batches, train


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
    result = train(Network(2, [8], 2), Adam(0.05), x, y, xv, yv, epochs=250, log_every=100)
    assert result.status == COMPLETED and result.epochs_done == 250
    assert [row["epoch"] for row in result.rows] == [1, 100, 200, 250]
    assert result.rows[-1]["accuracy"] > 0.95 and result.rows[-1]["val_accuracy"] > 0.9


def test_divergence_is_reported():
    x, y, xv, yv = problem()
    result = train(Network(2, [8], 2), Adam(1e308), x, y, xv, yv, epochs=50)
    assert result.status == DIVERGED
    assert "epoch" in result.message and "learning rate" in result.message


def test_interrupt_inside_an_epoch_keeps_completed_epochs():
    x, y, xv, yv = problem()
    seen = []

    def on_log(row, network):
        seen.append(row["epoch"])
        if row["epoch"] == 20:
            raise KeyboardInterrupt

    result = train(Network(2, [8], 2), Adam(0.01), x, y, xv, yv, epochs=100,
                   log_every=10, on_log=on_log)
    assert result.status == INTERRUPTED and seen == [1, 10, 20]
    assert "interrupted after epoch 20" in result.message


def test_layer_stats_on_logged_rows():
    x, y, xv, yv = problem()
    result = train(Network(2, [8], 2), Adam(0.01), x, y, xv, yv, epochs=3, log_every=10,
                   layer_stats=True)
    for row in result.rows:
        assert len(row["layers"]) == 2
        assert all(stats["update_ratio"] > 0 for stats in row["layers"])


def test_early_stopping_restores_the_best_weights():
    x, y, xv, yv = problem()
    xv, yv = -xv, yv  # a validation set the network gets steadily worse at
    seen = {}

    def on_log(row, network):
        seen[row["epoch"]] = network.flat_parameters.copy()

    net = Network(2, [8], 2)
    result = train(net, Adam(0.05), x, y, xv, yv, epochs=1000, log_every=10,
                   patience=3, on_log=on_log)
    assert result.status == EARLY_STOPPED
    best = min(result.rows, key=lambda row: row["val_loss"])
    assert result.final is best and result.epochs_done == result.rows[-1]["epoch"]
    assert [r["epoch"] for r in result.rows].index(result.epochs_done) == \
        [r["epoch"] for r in result.rows].index(best["epoch"]) + 3
    np.testing.assert_array_equal(net.flat_parameters, seen[best["epoch"]])
    assert f"restored the weights of epoch {best['epoch']}" in result.message


def test_epochs_continue_from_start():
    x, y, xv, yv = problem()
    result = train(Network(2, [8], 2), Adam(0.05), x, y, xv, yv, epochs=20, log_every=10,
                   start=100)
    assert [row["epoch"] for row in result.rows] == [101, 110, 120]
