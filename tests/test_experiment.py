"""The wiring of one run, called in-process on tiny settings: ``experiment.py`` and ``main.py``."""

import json
import logging
import types
from pathlib import Path

import numpy as np
import pytest

import main
from heads import Classes
from program import checkpoint, cli, data, experiment, interrupts, plots, registry
from program.model import build
from program.train import COMPLETED, DIVERGED, EARLY_STOPPED, INTERRUPTED, Result


def head(name):
    return registry.build(registry.HEADS[name])


def network(loss, n_inputs=2, hidden=(3,), n_outputs=1, dtype=np.float32, seed=0):
    return build(n_inputs, list(hidden), n_outputs, head(loss), weight_scale=1.0,
                 rng=np.random.default_rng(seed), dtype=dtype)


def save(path, net, loss, **fields):
    with open(path, "wb") as file:
        checkpoint.write(file, net, loss=loss, epoch=0, **fields)
    return path


def messages(caplog, logger="program.experiment"):
    return [record.getMessage() for record in caplog.records if record.name == logger]


# --predict: the saved network's answer for each input


def test_a_binary_answer_is_class_1_only_above_one_half():
    binary = head("binary")
    assert experiment._answer(binary, np.array([0.5]), ["cat", "dog"]) == \
        "cat  (probability 0.500)"
    assert experiment._answer(binary, np.array([0.8]), ["cat", "dog"]) == \
        "dog  (probability 0.800)"
    assert experiment._answer(binary, np.array([0.25]), None) == "0  (probability 0.750)"
    assert experiment._answer(binary, np.array([0.9]), None) == "1  (probability 0.900)"


def test_a_class_answer_is_the_most_probable_class_named_or_numbered():
    classes = head("categorical")
    assert experiment._answer(classes, np.array([0.2, 0.7, 0.1]), ["a", "b", "c"]) == \
        "b  (probability 0.700)"
    assert experiment._answer(classes, np.array([0.2, 0.1, 0.7]), None) == \
        "2  (probability 0.700)"
    # A name read from a file cannot send terminal escapes to the screen.
    assert experiment._answer(classes, np.array([0.7, 0.2, 0.1]), ["\x1b[31mred", "b", "c"]) \
        == "'\\x1b[31mred'  (probability 0.700)"


def test_a_regression_answer_is_every_value_to_six_significant_digits():
    assert experiment._answer(head("mse"), np.array([0.5, -1.234567891, 2e-7]), None) == \
        "0.5 -1.23457 2e-07"


def test_predictions_are_the_saved_networks_in_its_dtype_on_standardised_inputs(tmp_path, capsys):
    # y = 1e4 relu(x) - 1e4 near x = 1: float32 and float64 differ in the fourth digit, so
    # the answers show which precision computed them.
    net = network("mse", n_inputs=1, hidden=(1,), n_outputs=1)
    for layer, weight, bias in zip(net.trainable, (1.0, 1e4), (0.0, -1e4), strict=True):
        layer.weights[...], layer.biases[...] = weight, bias
    scaler = (np.array([[3.0]]), np.array([[2.0]]))
    model_path = save(tmp_path / "model.npz", net, "mse", scaler=scaler)
    raw = 5.0 + np.linspace(2e-4, 4e-3, 8).reshape(-1, 1)  # standardised: 1.0001 to 1.002
    rows = tmp_path / "rows.csv"
    rows.write_text("".join(f"{float(value)!r}\n" for value in raw[:, 0]))
    assert experiment.predict({"predict": rows}, checkpoint.load(model_path)) == 0
    values = net.outputs(data.standardise(raw, scaler).astype(np.float32))
    assert values.dtype == np.float32
    assert capsys.readouterr().out.splitlines() == [
        f"rows.csv:{line}  {value:.6g}" for line, (value,) in enumerate(values, start=1)]


# Going on from a saved network whose data was standardised with other statistics


def _standardised_dataset():
    x_train = np.array([[1.0, 2.0], [3.0, 6.0]])
    x_val = np.array([[0.5, -1.0]])
    y = np.array([0, 1])
    scaler = (np.array([[10.0, 20.0]]), np.array([[2.0, 4.0]]))
    return data.Dataset(x_train.copy(), y, x_val.copy(), y[:1], "classes", "t", ["a", "b"],
                        scaler=scaler)


def test_features_are_restandardised_with_the_saved_networks_statistics(caplog):
    caplog.set_level(logging.INFO)
    dataset = _standardised_dataset()
    raw_train, raw_val = dataset.x_train * [[2.0, 4.0]] + [[10.0, 20.0]], \
        dataset.x_val * [[2.0, 4.0]] + [[10.0, 20.0]]
    saved = (np.array([[12.0, 16.0]]), np.array([[4.0, 8.0]]))
    rescaled = experiment._rescaled(dataset, saved)
    np.testing.assert_array_equal(rescaled.x_train, (raw_train - saved[0]) / saved[1])
    np.testing.assert_array_equal(rescaled.x_val, (raw_val - saved[0]) / saved[1])
    assert rescaled.scaler is saved
    assert messages(caplog) == [
        "standardising the features with the statistics of the loaded network's data"]


def test_features_standardised_as_the_saved_network_saw_them_are_left_alone(caplog):
    caplog.set_level(logging.INFO)
    dataset = _standardised_dataset()
    x_train, x_val, own = dataset.x_train.copy(), dataset.x_val.copy(), dataset.scaler
    same = tuple(part.copy() for part in own)
    assert experiment._rescaled(dataset, same) is dataset
    np.testing.assert_array_equal(dataset.x_train, x_train)
    np.testing.assert_array_equal(dataset.x_val, x_val)
    assert dataset.scaler is own
    assert messages(caplog) == []


# --check-gradients: the table, the verdict and the progress


@pytest.fixture
def fake_check(monkeypatch):
    """check_network replaced by one that reports ``progress`` calls and given results."""
    calls = {}

    def install(left_out, results, progress=()):
        def check_network(network, x, y, sample=None, progress=None):
            calls.update(sample=sample, samples=len(y))
            for args in progress_calls:
                progress(*args)
            return left_out, results

        progress_calls = list(progress)
        monkeypatch.setattr(experiment, "check_network", check_network)
        return calls

    return install


def _checked_network_and_data(samples):
    net = network("categorical", n_inputs=2, hidden=(3,), n_outputs=2)
    dataset = types.SimpleNamespace(x_train=np.zeros((samples, 2)),
                                    y_train=np.zeros(samples, dtype=int))
    return net, dataset


def test_gradient_check_prints_a_table_and_passes_at_exactly_the_tolerance(fake_check, capsys):
    fake_check(3, [("dense0.weights", 1e-5, 6, 0), ("dense0.biases", 2.5e-9, 2, 1),
                   ("dense1.weights", 0.0, 6, 0), ("dense1.biases", 1e-7, 2, 0)])
    net, dataset = _checked_network_and_data(150)
    assert experiment.report_gradient_check(net, dataset) is True
    assert capsys.readouterr().out.splitlines() == [
        "gradient check: backpropagation against central differences (float64, h = 1e-5, "
        "dropout masks fixed), every entry, on 97 samples (3 left out: they sit on a ReLU "
        "kink)",
        "  parameter             shape  relative error  checked  skipped",
        "  dense0.weights       (2, 3)        1.00e-05        6        0",
        "  dense0.biases        (1, 3)        2.50e-09        2        1",
        "  dense1.weights       (3, 2)        0.00e+00        6        0",
        "  dense1.biases        (1, 2)        1.00e-07        2        0",
        "worst relative error 1.00e-05: all below 1e-5",
    ]


def test_gradient_check_above_the_tolerance_fails_and_marks_the_array(fake_check, capsys):
    calls = fake_check(0, [("dense0.weights", 1.5e-5, 6, 0), ("dense0.biases", 0.0, 3, 0),
                           ("dense1.weights", 0.0, 6, 0), ("dense1.biases", 0.0, 2, 0)])
    net, dataset = _checked_network_and_data(40)
    assert experiment.report_gradient_check(net, dataset, sample=4) is False
    assert calls == dict(sample=4, samples=40)
    out = capsys.readouterr().out.splitlines()
    assert "up to 4 random entries per array, on 40 samples (0 left out" in out[0]
    assert out[2] == ("  dense0.weights       (2, 3)        1.50e-05        6        0"
                      "  <- above 1e-5")
    assert out[3] == "  dense0.biases        (1, 3)        0.00e+00        3        0"
    assert out[-1] == "worst relative error 1.50e-05: FAILED, above 1e-5; not training"


def test_gradient_check_progress_says_how_long_is_left(fake_check, caplog, capsys):
    fake_check(0, [("dense0.weights", 0.0, 6, 0)], progress=[(0, 40, 0.4), (10, 40, 2.0)])
    net, dataset = _checked_network_and_data(5)
    experiment.report_gradient_check(net, dataset)
    assert messages(caplog) == [
        "gradient check: 0 of 40 entries in 0 s, about nan s left",
        "gradient check: 10 of 40 entries in 2 s, about 6 s left",
    ]
    assert all(record.levelno == logging.WARNING for record in caplog.records)


# main.py: the log handler when standard error goes away


class _Closed:
    """A stream whose reader has gone: every write is a broken pipe."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        pass


class _Failing:
    def write(self, text):
        raise ValueError("the disk is on fire")

    def flush(self):
        pass


def _record(message):
    return logging.LogRecord("program.experiment", logging.INFO, __file__, 1, message, None, None)


def test_a_closed_log_pipe_asks_for_a_quiet_stop_and_silences_the_log(capsys):
    stop = interrupts.Stop()
    handler = main._LogHandler(stop)
    handler.stream = _Closed()
    handler.handle(_record("epoch 1"))
    assert stop.requested and stop.cause == "SIGPIPE" and not stop.now
    handler.handle(_record("epoch 2"))  # dropped: nobody reads the log
    assert not stop.now
    assert capsys.readouterr().err == ""


def test_any_other_failure_of_the_log_is_reported_as_logging_reports_it(capsys):
    stop = interrupts.Stop()
    handler = main._LogHandler(stop)
    handler.stream = _Failing()
    handler.handle(_record("epoch 1"))
    assert not stop.requested
    err = capsys.readouterr().err
    assert "--- Logging error ---" in err and "ValueError: the disk is on fire" in err
    assert "Message: 'epoch 1'" in err


# The report, the logged line and the exit status


ROW = dict(epoch=7, loss=0.123456, data_loss=0.1, reg_loss=0.023456, accuracy=0.8125,
           learning_rate=0.0123456789, val_loss=0.5, val_accuracy=0.75)


def test_a_logged_epoch_is_one_fixed_format_line():
    assert experiment.format_row(ROW, 1000) == (
        "epoch    7/1000  loss 0.1235 (data 0.1000 + reg 0.0235)  acc 0.812  lr 0.0123457  "
        "val_loss 0.5000  val_acc 0.750")
    regression = dict(ROW, r2=0.91234, val_r2=-0.5)
    assert experiment.format_row(regression, 7) == (
        "epoch 7/7  loss 0.1235 (data 0.1000 + reg 0.0235)  acc 0.812  r2 0.9123  "
        "lr 0.0123457  val_loss 0.5000  val_acc 0.750  val_r2 -0.5000")


def _outcome(status=COMPLETED, epochs_done=10, failed=0, name="adam", final=ROW, written=()):
    result = Result(rows=[final], status=status, epochs_done=epochs_done, final=final)
    return experiment.Outcome(name, result, dict(final), 1.234, list(written), failed)


def test_the_report_is_the_final_evaluation_and_the_files_written(capsys):
    outcome = _outcome(epochs_done=25, written=[Path("m.csv"), Path("plots/adam.png")])
    experiment.report(outcome, dict(epochs=20), start=5)
    assert capsys.readouterr().out.splitlines() == [
        "completed: 20/20 epochs in 1.23 s; training accuracy 0.812, loss 0.123; "
        "validation accuracy 0.750, loss 0.5",
        "wrote m.csv",
        "wrote plots/adam.png",
    ]
    experiment.report(_outcome(final=dict(ROW, r2=0.91234, val_r2=-0.5)), dict(epochs=10), 0)
    assert capsys.readouterr().out == (
        "completed: 10/10 epochs in 1.23 s; training accuracy 0.812, R² 0.912, loss 0.123; "
        "validation accuracy 0.750, R² -0.500, loss 0.5\n")


@pytest.mark.parametrize("statuses, failed, cause, expected", [
    ([COMPLETED], 0, None, 0),
    ([COMPLETED, EARLY_STOPPED], 0, None, 0),
    ([COMPLETED], 1, None, 3),
    ([COMPLETED, DIVERGED], 1, None, 1),
    ([INTERRUPTED], 0, None, 130),
    ([DIVERGED, INTERRUPTED], 1, None, 130),
    ([COMPLETED], 0, "SIGTERM", 143),  # asked while the outputs were written
    ([INTERRUPTED, DIVERGED], 1, "SIGPIPE", 141),
])
def test_exit_status_a_signal_first_then_divergence_then_a_failed_output(
        statuses, failed, cause, expected):
    stop = interrupts.Stop()
    stop.cause = cause
    outcomes = [_outcome(status) for status in statuses]
    outcomes[-1].failed = failed
    assert experiment.exit_status(outcomes, stop) == expected


# --optimizer all: every optimizer through the single-run code, then a comparison


@pytest.fixture
def figures(monkeypatch):
    """The figures drawn, as (function, keyword arguments); each file holds b"figure"."""
    drawn = []

    def recorder(kind):
        def draw(*args, **kwargs):
            drawn.append((kind, kwargs))
            Path(args[-1]).write_bytes(b"figure")
        return draw

    for kind in ("plot_training", "plot_comparison", "animate_training"):
        monkeypatch.setattr(plots, kind, recorder(kind))
    return drawn


TINY = ["--epochs", "2", "--samples", "5", "--hidden", "2", "--log-level", "warning"]


def test_optimizer_all_draws_each_run_and_the_comparison_shown_if_asked(
        tmp_path, capsys, figures):
    plot = tmp_path / "all.png"
    assert main.main([*TINY, "--optimizer", "all", "--plot", str(plot), "--show"]) == 0
    names = list(registry.OPTIMIZERS)
    assert [(kind, kwargs["show"]) for kind, kwargs in figures] == [
        *(("plot_training", True) for _ in names), ("plot_comparison", True)]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "optimizer  train acc train loss  val acc val loss  seconds  status"
    assert [line.split()[0] for line in out[1:1 + len(names)]] == names
    assert out[1 + len(names):] == [f"wrote {tmp_path / name}" for optimizer in names
                       for name in (f"all-{optimizer}.png", f"all-{optimizer}.config.json")] + \
        [f"wrote {plot}"]


def test_optimizer_all_with_a_failed_comparison_keeps_the_rest_and_exits_3(
        tmp_path, capsys, monkeypatch, figures):
    def no_room(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plots, "plot_comparison", no_room)
    plot = tmp_path / "all.png"
    assert main.main([*TINY, "--optimizer", "all", "--plot", str(plot)]) == 3
    captured = capsys.readouterr()
    assert captured.err == f"main.py: error: cannot write {str(plot)!r}: No space left on device\n"
    assert not plot.exists()
    assert sorted(path.name for path in tmp_path.glob("all-*.png")) == [
        f"all-{name}.png" for name in sorted(registry.OPTIMIZERS)]
    assert f"wrote {plot}" not in captured.out


def test_a_failed_comparison_counts_on_top_of_the_last_runs_own_failure(
        tmp_path, capsys, monkeypatch, figures):
    # The last optimizer's own figure fails, then the comparison: two failures, status 3.
    last = list(registry.OPTIMIZERS)[-1]
    drawn = plots.plot_training

    def no_room(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plots, "plot_training", lambda *args, **kwargs: (
        no_room() if f"all-{last}." in Path(args[-1]).name else drawn(*args, **kwargs)))
    monkeypatch.setattr(plots, "plot_comparison", no_room)
    assert main.main([*TINY, "--optimizer", "all", "--plot", str(tmp_path / "all.png")]) == 3
    assert capsys.readouterr().err.count("No space left on device") == 2


def test_a_comparison_stopped_at_the_first_optimizer_still_reports_a_failed_figure(
        tmp_path, capsys, monkeypatch, figures):
    def no_room(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plots, "plot_comparison", no_room)
    plot = tmp_path / "all.png"
    stop = interrupts.Stop()
    stop.request("SIGINT")  # Ctrl-C before the first epoch ends
    args = cli.parse([*TINY, "--optimizer", "all", "--plot", str(plot)])
    assert experiment.run(args, stop) == 130
    captured = capsys.readouterr()
    assert captured.err == f"main.py: error: cannot write {str(plot)!r}: No space left on device\n"
    first = list(registry.OPTIMIZERS)[0]
    assert [line.split()[0] for line in captured.out.splitlines()[1:]] == [first, "wrote", "wrote"]


# A saved network and the configured data must fit each other


def _saved(n_inputs=2, outputs=3, classes=None):
    header = dict(classes=classes)
    architecture = dict(n_inputs=n_inputs, outputs=outputs)
    return types.SimpleNamespace(architecture=architecture, header=header)


def _data(n_features=2, class_names=("a", "b", "c")):
    return types.SimpleNamespace(n_features=n_features,
                                 class_names=None if class_names is None else list(class_names))


CONFIG = dict(dataset="file", loss="categorical")


@pytest.mark.parametrize("saved, dataset, n_outputs, message", [
    (_saved(n_inputs=4), _data(), 3,
     "argument --load: the network takes 4 features; --dataset file has 2"),
    (_saved(outputs=2), _data(), 3,
     "argument --load: the network has 2 outputs; --dataset file with --loss categorical "
     "needs 3"),
    (_saved(classes=["x", "y", "z"]), _data(), 3,
     "argument --load: the network's classes are x, y, z; --dataset file has a, b, c"),
])
def test_a_saved_network_that_does_not_fit_the_data_is_refused(saved, dataset, n_outputs,
                                                               message):
    with pytest.raises(cli.UsageError) as refused:
        experiment._check_fits(saved, dataset, n_outputs, CONFIG)
    assert str(refused.value) == message


def test_a_saved_network_that_fits_the_data_is_taken():
    experiment._check_fits(_saved(classes=["a", "b", "c"]), _data(), 3, CONFIG)
    experiment._check_fits(_saved(classes=None), _data(), 3, CONFIG)
    experiment._check_fits(_saved(classes=["x", "y", "z"]), _data(class_names=None), 3, CONFIG)


def test_an_input_too_large_for_a_float32_network_is_refused_by_name(tmp_path):
    net = build(2, [4], 3, Classes(), rng=np.random.default_rng(0), dtype=np.float32)
    path = tmp_path / "net.npz"
    checkpoint.write(path, net, loss="categorical", epoch=0)
    rows = tmp_path / "rows.csv"
    rows.write_text("1,2\n1e39,1e39\n")  # finite in float64, infinite in float32
    with pytest.raises(data.DataError) as error:
        experiment.predict(dict(predict=str(rows)), checkpoint.load(path))
    assert str(error.value) == (f"'{rows.name}:2' has values too large for the network "
                                "(float32): its output is not finite")


# What one run wires together


def test_early_stopping_marks_its_restored_epoch_in_the_figure_and_only_then(tmp_path, figures):
    plot = tmp_path / "run.png"
    # No improvement can exceed 10: the second evaluation stops the run, the first is kept.
    assert main.main([*TINY, "--epochs", "5", "--log-every", "1", "--patience", "1",
                      "--min-delta", "10", "--plot", str(plot)]) == 0
    assert figures[-1][1]["restored"] == 1
    assert main.main([*TINY, "--epochs", "5", "--plot", str(plot)]) == 0
    assert figures[-1][1]["restored"] is None


def test_checkpoint_every_k_epochs_saves_at_each_multiple_then_at_the_end(tmp_path,
                                                                         monkeypatch):
    saved = []
    real = experiment.save_checkpoint

    def recording(config, dataset, trainee, epoch, *args, **kwargs):
        saved.append(epoch)
        return real(config, dataset, trainee, epoch, *args, **kwargs)

    monkeypatch.setattr(experiment, "save_checkpoint", recording)
    assert main.main([*TINY, "--epochs", "5", "--checkpoint-every", "2", "--no-plot",
                      "--save", str(tmp_path / "net.npz")]) == 0
    assert saved == [2, 4, 5]


def test_parameters_are_kept_per_logged_epoch_only_for_an_animation(tmp_path, monkeypatch,
                                                                   figures):
    kept = []
    real = experiment.train_one

    def recording(*args, **kwargs):
        result = real(*args, **kwargs)
        kept.append(result[2])
        return result

    monkeypatch.setattr(experiment, "train_one", recording)
    assert main.main([*TINY, "--epochs", "3", "--log-every", "1", "--no-plot"]) == 0
    assert kept[-1] is None
    assert main.main([*TINY, "--epochs", "3", "--log-every", "1", "--no-plot",
                      "--animate", str(tmp_path / "run.gif")]) == 0
    assert len(kept[-1]) == 3 and all(len(arrays) == 4 for arrays in kept[-1])


@pytest.mark.parametrize("dtype, itemsize", [("float64", 8), ("float32", 4)])
def test_a_network_is_refused_when_it_and_its_optimizer_would_not_fit_in_memory(monkeypatch,
                                                                               dtype, itemsize):
    config = cli.resolve(cli.parse(["--hidden", "3", "--dtype", dtype, "--l1", "0.01"]))
    dataset = types.SimpleNamespace(n_features=2)
    # 2-3-4: 9 + 16 = 25 parameters, four arrays each (weights, gradients, m, v)
    monkeypatch.setattr(experiment, "MAX_NETWORK_BYTES", 4 * 25 * itemsize)
    trainee = experiment._trainees(config, dataset, 4)("adam", config["hyperparameters"])
    assert [layer.weight_regularizer_l1 for layer in trainee.network.trainable] == [0.01, 0.0]
    monkeypatch.setattr(experiment, "MAX_NETWORK_BYTES", 4 * 25 * itemsize - 1)
    with pytest.raises(cli.UsageError, match=r"^argument --hidden: a 2-3-4 network has 25 "):
        experiment._trainees(config, dataset, 4)


def test_blas_threads_come_from_the_flag_else_the_environment_else_one(monkeypatch, caplog):
    for name in main.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    main.set_threads(None)  # nothing said anywhere: one thread
    assert [main.os.environ[name] for name in main.THREAD_VARIABLES] == ["1", "1", "1"]
    for name in main.THREAD_VARIABLES:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    main.set_threads(None)  # the environment's choice stands
    assert [main.os.environ.get(name) for name in main.THREAD_VARIABLES] == [None, "3", None]
    assert caplog.records == []
    main.set_threads(2)  # the flag wins; NumPy is loaded in a test, so it says it is too late
    assert [main.os.environ[name] for name in main.THREAD_VARIABLES] == ["2", "2", "2"]
    assert [record.getMessage() for record in caplog.records] == [
        "--threads 2 cannot take effect: NumPy was loaded before main.main(); set "
        "OPENBLAS_NUM_THREADS before Python starts instead"]


def test_an_output_that_is_an_input_is_refused_naming_both_flags(tmp_path):
    rows = tmp_path / "rows.csv"
    for flags, message in [
            (["--data", str(rows), "--metrics", str(rows)], "is the input of --data,"),
            (["--load", str(tmp_path / "n.npz"), "--metrics", str(tmp_path / "n.npz")],
             "is the input of --load,")]:
        config = cli.resolve(cli.parse([*flags, "--no-plot"]))
        with pytest.raises(cli.UsageError) as error:
            experiment._check_inputs_are_not_outputs(config)
        assert str(error.value) == (f"argument --metrics: {str(flags[3])!r} {message} "
                                    "which it would overwrite")


def test_a_foreign_checkpoints_settings_are_its_architecture_and_dtype(tmp_path):
    net = network("mse", hidden=(3,), dtype=np.float64)
    saved = checkpoint.load(save(tmp_path / "f.npz", net, "mse"))
    assert experiment._saved_config(saved) == dict(hidden=[3], loss="mse", dtype="float64",
                                                   conv=[], norm=None, activation="relu")


@pytest.mark.parametrize("key, value, shown, held", [
    ("hidden", [32], "32", "3"),
    ("hidden", [], "[]", "3"),
    ("loss", "mae", "mae", "mse"),
    ("activation", "tanh", "tanh", "relu"),
    ("conv", [8], "8", "[]"),
    ("norm", "batchnorm", "batchnorm", "None"),
])
def test_settings_that_contradict_the_saved_network_are_refused(tmp_path, key, value, shown,
                                                                 held):
    net = network("mse", hidden=(3,), dtype=np.float64)
    saved = checkpoint.load(save(tmp_path / "f.npz", net, "mse"))
    # A dense network has no kernel: any --kernel passes this check (cli refuses it alone).
    config = dict(hidden=[3], loss="mse", activation="relu", conv=[], norm=None, kernel=5)
    experiment._check_settings_fit_network(config, saved, "f.npz")
    config[key] = value
    with pytest.raises(cli.UsageError) as error:
        experiment._check_settings_fit_network(config, saved, "f.npz")
    assert str(error.value) == (f"argument --load: the run saved in 'f.npz' has {key} {shown}, "
                                f"but the network it holds has {key} {held}")


def test_the_memory_refusal_says_how_much_is_allowed(monkeypatch):
    config = cli.resolve(cli.parse(["--hidden", "3", "--dtype", "float64"]))
    monkeypatch.setattr(experiment, "MAX_NETWORK_BYTES", 3 << 30)
    monkeypatch.setattr(experiment.np, "dtype", lambda name: types.SimpleNamespace(
        itemsize=2**30))  # one "GiB" per parameter
    with pytest.raises(cli.UsageError) as error:
        experiment._trainees(config, types.SimpleNamespace(n_features=2), 4)
    assert str(error.value) == ("argument --hidden: a 2-3-4 network has 25 parameters and "
                                "would need 100 GiB with its optimizer, more than 3 GiB")


def test_initial_weights_come_from_the_first_child_of_the_seed(monkeypatch):
    config = cli.resolve(cli.parse(["--hidden", "3", "--seed", "5"]))
    trainee = experiment._trainees(config, types.SimpleNamespace(n_features=2), 4)(
        "adam", config["hyperparameters"])
    expected = build(2, [3], 4, head("categorical"), dtype=np.float32,
                     rng=np.random.default_rng(np.random.SeedSequence(5).spawn(2)[0]))
    for (_, got), (_, want) in zip(trainee.network.parameters(), expected.parameters(),
                                   strict=True):
        np.testing.assert_array_equal(got, want)


def test_an_evaluation_rows_loss_is_its_data_loss_plus_its_penalty():
    dataset = data.spiral(samples=10, classes=3)
    net = build(2, [4], 3, head("categorical"), l2=0.5, weight_scale=1.0,
                rng=np.random.default_rng(0))
    row = experiment.evaluation_row(net, types.SimpleNamespace(current_learning_rate=0.1),
                                    dataset, 3)
    assert row["reg_loss"] > 0
    assert row["loss"] == row["data_loss"] + row["reg_loss"]


def test_an_overflowing_network_is_evaluated_to_its_figures_without_a_warning():
    # A loaded network may hold finite weights whose products overflow: the
    # row shows what came out (inf, NaN), and NumPy's warnings (errors here) stay quiet.
    dataset = data.spiral(samples=10, classes=3)
    dataset.x_train, dataset.x_val = (dataset.x_train.astype(np.float32),
                                      dataset.x_val.astype(np.float32))  # as a run has them
    net = build(2, [4], 3, head("categorical"), dtype=np.float32)
    hidden, output = net.trainable
    hidden.weights[...] = 3e38                 # hidden units overflow to +inf (or 0 after ReLU)
    output.weights[...] = [3e38, -3e38, 0.0]   # scores +inf, -inf, and inf * 0 = NaN
    row = experiment.evaluation_row(net, types.SimpleNamespace(current_learning_rate=0.1),
                                    dataset, 3)
    assert np.isnan(row["loss"]) and np.isnan(row["val_loss"])


def test_a_dropout_networks_masks_have_a_generator_of_their_own_named_dropout():
    # The checkpoint saves each generator under its name, and going on restores it by name.
    config = cli.resolve(cli.parse(["--hidden", "3", "--dropout", "0.2"]))
    trainee = experiment._trainees(config, types.SimpleNamespace(n_features=2), 3)(
        "adam", config["hyperparameters"])
    dropout = next(layer for layer in trainee.network.layers if hasattr(layer, "rate"))
    assert set(trainee.rngs) == {"shuffle", "dropout"} and trainee.rngs["dropout"] is dropout.rng
    no_dropout = cli.resolve(cli.parse(["--hidden", "3"]))
    assert set(experiment._trainees(no_dropout, types.SimpleNamespace(n_features=2), 3)(
        "adam", no_dropout["hyperparameters"]).rngs) == {"shuffle"}


def test_a_saved_value_beyond_the_runs_dtype_is_refused_naming_it(tmp_path, capsys):
    net = network("categorical", hidden=(2,), n_outputs=3, dtype=np.float64)
    net.trainable[0].weights[0, 0] = 1e300  # finite in float64, inf in float32
    path = save(tmp_path / "n.npz", net, "categorical")
    assert main.main(["--load", str(path), "--epochs", "0", "--samples", "5", "--no-plot",
                      "--dtype", "float32"]) == 2
    assert capsys.readouterr().err == (
        "main.py: error: argument --load: dense0.weights holds 1e+300, beyond float32's "
        "largest finite value 3.40282e+38\n")
    # The saved dtype itself holds it.
    assert main.main(["--load", str(path), "--epochs", "0", "--samples", "5", "--no-plot",
                      "--dtype", "float64"]) == 0
    capsys.readouterr()
    # Every array of the file must fit, the state of an optimizer not taken up included.
    net.trainable[0].weights[0, 0] = 1.0
    adam = registry.build(registry.OPTIMIZERS["adam"])
    adam.state(net.trainable[1].biases)["v"][...] = 1e300
    with open(path, "wb") as file:
        checkpoint.write(file, net, loss="categorical", epoch=0, optimizer=adam)
    assert main.main(["--load", str(path), "--epochs", "0", "--samples", "5", "--no-plot",
                      "--dtype", "float32", "--optimizer", "gd"]) == 2
    assert capsys.readouterr().err == (
        "main.py: error: argument --load: optimizer.dense1.biases.v holds 1e+300, beyond "
        "float32's largest finite value 3.40282e+38\n")


def test_the_configuration_is_logged_as_json_before_training(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    assert main.main([*TINY, "--no-plot", "--seed", "3", "--log-level", "info"]) == 0
    first = messages(caplog)[0]
    assert first.startswith("configuration: {")
    config = json.loads(first.removeprefix("configuration: "))
    assert config["seed"] == 3 and config["epochs"] == 2 and config["hidden"] == [2]
    assert config["plot"] is None and config["optimizer"] == "adam"


def test_loading_a_checkpoint_without_optimizer_state_says_a_fresh_one_starts(tmp_path,
                                                                             caplog):
    caplog.set_level(logging.INFO)
    net = network("categorical", hidden=(2,), n_outputs=3)
    path = save(tmp_path / "n.npz", net, "categorical")
    assert main.main(["--load", str(path), "--epochs", "0", "--samples", "5",
                      "--no-plot"]) == 0
    assert "the checkpoint holds no optimizer state: a fresh adam starts" in messages(caplog)


def test_loading_says_what_was_loaded_and_that_another_optimizer_starts_fresh(tmp_path,
                                                                             caplog):
    caplog.set_level(logging.INFO)
    net = network("categorical", hidden=(2,), n_outputs=3)
    gd = experiment.make_optimizer("gd", cli.optimizer_defaults("gd", "spiral"))
    path = save(tmp_path / "n.npz", net, "categorical", optimizer=gd, optimizer_name="gd")
    assert main.main(["--load", str(path), "--epochs", "0", "--samples", "5", "--no-plot",
                      "--optimizer", "adagrad"]) == 0
    assert messages(caplog)[:2] == [
        f"loaded {path}: a 2-2-3 network trained for 0 epochs",
        "the saved run used gd: a fresh adagrad starts, with no state"]


@pytest.mark.parametrize("dataset", ["spiral", "sine"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_data_comes_in_the_configured_dtype_and_class_labels_stay_integers(dataset,
                                                                               dtype):
    config = cli.resolve(cli.parse(["--dataset", dataset, "--dtype", dtype, "--samples", "5"]))
    loaded = experiment.load_dataset(config)
    assert loaded.x_train.dtype == loaded.x_val.dtype == np.dtype(dtype)
    labels = {loaded.y_train.dtype, loaded.y_val.dtype}
    assert labels == ({np.dtype(dtype)} if dataset == "sine" else {np.dtype(np.int64)})


def test_the_planned_outputs_are_named_by_their_flags_with_their_kinds(tmp_path):
    paths = {flag: tmp_path / name for flag, name in (
        ("--metrics", "m.csv"), ("--plot", "p.png"), ("--animate", "a.gif"), ("--save", "s.npz"))}
    config = cli.resolve(cli.parse([part for flag, path in paths.items()
                                    for part in (flag, str(path))]))
    assert experiment.planned_outputs(config) == {
        "--metrics": (paths["--metrics"], "metrics"), "--plot": (paths["--plot"], "figure"),
        "--animate": (paths["--animate"], "gif"), "--save": (paths["--save"], "checkpoint"),
        "--plot (its .config.json)": (tmp_path / "p.config.json", "metrics")}


def test_each_output_that_fails_is_counted_once(tmp_path, monkeypatch):
    real_write, counted = experiment.outputs.write, []

    def full_disk(path, produce):
        if str(path).endswith(".csv"):
            raise experiment.outputs.OutputError(f"cannot write {str(path)!r}: no space")
        return real_write(path, produce)

    real_outputs = experiment.write_outputs

    def counting(*args, **kwargs):
        written, failed = real_outputs(*args, **kwargs)
        counted.append(failed)
        return written, failed

    monkeypatch.setattr(experiment.outputs, "write", full_disk)
    monkeypatch.setattr(experiment, "write_outputs", counting)
    assert main.main([*TINY, "--no-plot", "--metrics", str(tmp_path / "m.csv")]) == 3
    assert counted == [1]


def test_the_threads_warning_comes_from_mains_logger(monkeypatch, caplog):
    for name in main.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    main.set_threads(3)
    assert [record.name for record in caplog.records] == ["main"]


def test_the_log_handler_writes_to_stderr_with_the_time_and_keeps_other_libraries_quiet():
    handler = main._LogHandler(interrupts.Stop())
    assert handler.stream is main.sys.stderr
    record = logging.LogRecord("program.experiment.child", logging.INFO, __file__, 1, "hello", None,
                               None)
    assert handler.filter(record)  # this program's loggers, children included
    line = handler.format(record)
    assert line.endswith(" INFO    hello")
    assert len(line.split()[0]) == 8 and line.split()[0].count(":") == 2  # HH:MM:SS
    other = logging.LogRecord("matplotlib.font", logging.WARNING, __file__, 1, "x", None,
                              None)
    assert handler.filter(other)  # another library's warning is shown
    other.levelno = logging.INFO
    assert not handler.filter(other)  # and its chatter is not


def test_a_saved_config_without_the_hidden_widths_takes_them_from_the_network(tmp_path):
    # Issue 18, group 11: such a file was blamed for "hidden 64", a value it never held.
    net = network("mse", hidden=(12,), dtype=np.float64)
    path = save(tmp_path / "f.npz", net, "mse")
    saved = checkpoint.load(path)
    saved.header["config"] = {"seed": 3}  # written by hand, without "hidden"
    settings = experiment._saved_config(saved)
    assert settings["hidden"] == [12] and settings["seed"] == 3
    config = dict(hidden=settings["hidden"], loss="mse", activation="relu", conv=[],
                  norm=None, kernel=3)
    experiment._check_settings_fit_network(config, saved, path)  # no refusal


def test_a_runs_configuration_goes_beside_its_figure_or_where_a_sweep_puts_it(tmp_path):
    config = cli.resolve(cli.parse(["--plot", str(tmp_path / "p.png")]))
    assert experiment.config_file(config) == tmp_path / "p.config.json"
    assert experiment.config_file(dict(config, plot=None)) is None
    own = dict(config, plot=None, config_file=tmp_path / "s-l2-0.config.json")
    assert experiment.config_file(own) == tmp_path / "s-l2-0.config.json"
    assert experiment.planned_outputs(own) == {
        "--plot (its .config.json)": (tmp_path / "s-l2-0.config.json", "metrics")}


def test_a_warmup_longer_than_the_runs_steps_is_warned_of_counting_a_loaded_runs_epochs():
    dataset = types.SimpleNamespace(y_train=np.zeros(100))
    config = cli.resolve(cli.parse(["--epochs", "10", "--warmup", "40", "--batch-size", "25"]))
    assert experiment.warmup_warning(config, dataset) is None  # 10 epochs of 4 steps
    config = dict(config, warmup=41)
    assert experiment.warmup_warning(config, dataset) == (
        "--warmup 41 is longer than this run's 40 steps: the learning rate never reaches "
        "--learning-rate")
    assert experiment.warmup_warning(config, dataset, start=1) is None
    assert experiment.warmup_warning(dict(config, epochs=0), dataset) is None
