import csv
import io
import json
import logging
import os
import re
import sys

import numpy as np
import pytest

import main
from program import cli, experiment, interrupts, model, registry
from program.train import COLUMNS, REGRESSION_COLUMNS

SHORT = ["--epochs", "200", "--log-every", "50", "--samples", "30"]


def run(tmp_path, *flags, plot=False):
    """main() on a short run writing into tmp_path; returns (status, metrics rows)."""
    metrics = tmp_path / "metrics.csv"
    outputs = ["--metrics", str(metrics)]
    outputs += ["--plot", str(tmp_path / "figure.png")] if plot else ["--no-plot"]
    status = main.main([*SHORT, *outputs, *flags])
    rows = list(csv.DictReader(metrics.read_text().splitlines())) if metrics.exists() else None
    return status, rows


# Every optimizer of the registry, and every alias of one.
OPTIMIZER_NAMES = [*registry.OPTIMIZERS, *(alias for entry in registry.OPTIMIZERS.values()
                                           for alias in entry.aliases)]


@pytest.mark.parametrize("optimizer", OPTIMIZER_NAMES)
def test_every_optimizer_trains_and_writes_outputs(tmp_path, capsys, optimizer):
    # 400 epochs: gd's default rate (0.15, chosen on the full spiral) leaves it near chance
    # after SHORT's 200 on 90 points.
    status, rows = run(tmp_path, "--optimizer", optimizer, "--epochs", "400", "--log-every",
                       "100", plot=True)
    assert status == 0
    assert list(rows[0]) == list(COLUMNS)
    assert [int(r["epoch"]) for r in rows] == [1, 100, 200, 300, 400]
    first, last = rows[0], rows[-1]
    assert float(last["loss"]) < float(first["loss"])
    assert float(last["accuracy"]) > 0.45  # chance is 1/3
    assert (tmp_path / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((tmp_path / "figure.config.json").read_text())
    assert config["optimizer"] == registry.optimizer_name(optimizer)
    assert config["optimizer"] in registry.OPTIMIZERS
    out = capsys.readouterr().out
    assert "validation accuracy" in out and str(tmp_path / "figure.png") in out


def test_dropout_regularisation_and_mini_batches(tmp_path):
    status, rows = run(tmp_path, "--dropout", "0.1", "--l1", "1e-4", "--l2", "5e-4",
                       "--batch-size", "32", "--hidden", "16", "16", plot=False)
    assert status == 0
    for row in rows:
        loss, data_loss, reg_loss = (float(row[k]) for k in ("loss", "data_loss", "reg_loss"))
        assert reg_loss > 0
        assert loss == pytest.approx(data_loss + reg_loss, rel=1e-12)


def test_same_flags_and_seed_give_identical_metrics(tmp_path):
    flags = ["--dropout", "0.2", "--batch-size", "16", "--seed", "3"]
    run(tmp_path, *flags, plot=False)
    first = (tmp_path / "metrics.csv").read_bytes()
    run(tmp_path, *flags, plot=False)
    assert (tmp_path / "metrics.csv").read_bytes() == first
    run(tmp_path, "--dropout", "0.2", "--batch-size", "16", "--seed", "4", plot=False)
    assert (tmp_path / "metrics.csv").read_bytes() != first


def test_metrics_as_json(tmp_path):
    path = tmp_path / "m.json"
    assert main.main([*SHORT, "--no-plot", "--metrics", str(path)]) == 0
    saved = json.loads(path.read_text())
    assert saved["config"]["epochs"] == 200
    assert [list(r) for r in saved["epochs"]] == [list(COLUMNS)] * 5


BAD_FLAGS = [
    # Names with a space, which no registered part can take.
    (["--optimizer", "no such rule"], "--optimizer", "no such rule"),
    (["--epochs", "many"], "--epochs", "many"),
    (["--epochs", "-1"], "--epochs", "-1"),
    (["--learning-rate", "0"], "--learning-rate", "'0'"),
    (["--learning-rate", "-0.1"], "--learning-rate", "-0.1"),
    (["--learning-rate", "nan"], "--learning-rate", "nan"),
    (["--learning-rate", "inf"], "--learning-rate", "inf"),
    (["--dropout", "1"], "--dropout", "'1'"),
    (["--dropout", "-0.2"], "--dropout", "-0.2"),
    (["--batch-size", "0"], "--batch-size", "'0'"),
    (["--log-level", "chatty"], "--log-level", "CHATTY"),
    (["--log-every", "0"], "--log-every", "'0'"),
    (["--beta1", "1"], "--beta1", "'1'"),
    (["--momentum", "0.5"], "--momentum", "adam"),
    (["--hidden", "0"], "--hidden", "'0'"),
    (["--classes", "1"], "--classes", "'1'"),
    (["--no-plot", "--show"], "--no-plot", "--show"),
]


@pytest.mark.parametrize("flags, flag, value", BAD_FLAGS)
def test_bad_flag_is_one_line_and_status_2(tmp_path, monkeypatch, capsys, flags, flag, value):
    monkeypatch.chdir(tmp_path)
    assert main.main([*SHORT, "--metrics", "metrics.csv", *flags]) == 2
    assert list(tmp_path.iterdir()) == []  # refused before anything was trained or written
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and value in lines[0], captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("flag", ["--plot", "--metrics"])
def test_unwritable_output_path_is_refused_before_training(tmp_path, capsys, flag):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    status = main.main([*SHORT, flag, str(blocker / "out.png")])
    assert status == 2
    err = capsys.readouterr().err
    assert flag in err and "not a directory" in err and len(err.splitlines()) == 1


def test_help_and_version(capsys):
    assert main.main(["--help"]) == 0
    help_text = capsys.readouterr().out
    for flag in ("--optimizer", "--log-level", "--epochs", "--log-every", "--learning-rate",
                 "--decay", "--momentum", "--epsilon", "--rho", "--beta1", "--beta2",
                 "--hidden", "--dropout", "--l1", "--l2", "--samples", "--classes",
                 "--batch-size", "--seed", "--plot", "--no-plot", "--show", "--metrics",
                 "--version"):
        assert flag in help_text
    assert main.main(["--version"]) == 0
    assert cli.VERSION in capsys.readouterr().out


def test_divergence_stops_with_status_1_and_keeps_outputs(tmp_path, capsys):
    status, rows = run(tmp_path, "--optimizer", "gd", "--learning-rate", "1e300", plot=True)
    assert status == 1
    # The weights blow up in the first update: the validation loss shows it at once.
    assert not np.isfinite([float(rows[-1]["loss"]), float(rows[-1]["val_loss"])]).all()
    assert (tmp_path / "figure.png").exists()
    err = capsys.readouterr().err
    assert f"diverged at epoch {rows[-1]['epoch']}" in err and "lower --learning-rate" in err
    assert "RuntimeWarning" not in err


def test_ctrl_c_stops_and_keeps_outputs(tmp_path, monkeypatch):
    calls = 0
    backward = model.Network.backward

    def interrupted_backward(self, y):
        nonlocal calls
        calls += 1
        if calls == 120:
            raise KeyboardInterrupt
        backward(self, y)

    monkeypatch.setattr(model.Network, "backward", interrupted_backward)
    status, rows = run(tmp_path, plot=True)
    assert status == 130
    assert [int(r["epoch"]) for r in rows] == [1, 50, 100]
    assert (tmp_path / "figure.png").exists()


def test_log_levels(tmp_path, capsys):
    run(tmp_path, "--log-level", "warning", plot=False)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "validation accuracy" in captured.out
    run(tmp_path, "--log-level", "DEBUG", plot=False)
    err = capsys.readouterr().err
    assert err.count(" INFO ") == 6  # the configuration and five epochs
    assert err.count("|update|/|W|") == 10  # two layers at each of five epochs


def test_logged_epoch_line_format(tmp_path, capsys):
    run(tmp_path, plot=False)
    lines = [line for line in capsys.readouterr().err.splitlines() if "epoch 200/200" in line]
    assert len(lines) == 1
    number = r"[0-9.e+-]+"
    assert re.search(rf"epoch 200/200  loss {number} \(data {number} \+ reg {number}\)  "
                     rf"acc {number}  lr {number}  val_loss {number}  val_acc {number}$",
                     lines[0]), lines[0]


def test_optimizer_all_compares_every_registered_optimizer(tmp_path, capsys):
    status = main.main([*SHORT, "--optimizer", "all", "--plot", str(tmp_path / "all.png"),
                        "--metrics", str(tmp_path / "m.csv"), "--log-level", "warning"])
    assert status == 0
    names = list(registry.OPTIMIZERS)
    out = capsys.readouterr().out.splitlines()
    table = [line.split() for line in out[1:1 + len(names)]]
    assert [row[0] for row in table] == names
    assert out[1 + len(names)].startswith("wrote ")  # and no row more
    assert all(row[-1] == "completed" and 0 <= float(row[1]) <= 1 for row in table)
    assert (tmp_path / "all.png").exists()
    # Each optimizer goes through the single-run code: the same outputs as a single run.
    for name in names:
        assert (tmp_path / f"m-{name}.csv").exists()
        assert (tmp_path / f"all-{name}.png").exists()
        config = json.loads((tmp_path / f"all-{name}.config.json").read_text())
        assert config["optimizer"] == name
        assert config["hyperparameters"] == cli.optimizer_defaults(name, "spiral")


def test_optimizer_all_starts_every_optimizer_from_the_same_weights(monkeypatch):
    starts = []
    original = experiment.train_one

    def spy(config, dataset, trainee, *args, **kwargs):
        starts.append([array.copy() for _, array in trainee.network.parameters()])
        return original(config, dataset, trainee, *args, **kwargs)

    monkeypatch.setattr(experiment, "train_one", spy)
    assert main.main(["--epochs", "3", "--samples", "10", "--optimizer", "all",
                      "--no-plot"]) == 0
    assert len(starts) == len(registry.OPTIMIZERS)
    for start in starts[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(start, starts[0], strict=True))


@pytest.mark.parametrize("flags, message", [
    (["--optimizer", "all", "--learning-rate", "0.1"], "--learning-rate"),
    (["--optimizer", "all", "--load", "x.npz"], "--load"),
    (["--optimizer", "all", "--explain"], "--explain"),
    (["--min-delta", "0.1"], "--min-delta: needs --patience"),
    (["--animate", "movie.mp4"], "must end in .gif"),
    (["--patience", "0"], "--patience"),
    (["--dataset", "no such data"], "--dataset"),
])
def test_bad_combinations(tmp_path, monkeypatch, capsys, flags, message):
    monkeypatch.chdir(tmp_path)
    assert main.main([*SHORT, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_save_then_load_evaluates_identically(tmp_path, capsys):
    saved = tmp_path / "net.npz"
    status, rows = run(tmp_path, "--save", str(saved), "--hidden", "12", "--dropout", "0.1",
                       plot=False)
    assert status == 0 and saved.exists()
    reported = capsys.readouterr().out.splitlines()[0]
    # The saved run's settings (--hidden 12, --dropout 0.1...) come with the file.
    status = main.main(["--epochs", "0", "--load", str(saved), "--no-plot",
                        "--metrics", str(tmp_path / "again.csv")])
    assert status == 0
    again = list(csv.DictReader((tmp_path / "again.csv").read_text().splitlines()))
    assert len(again) == 1 and again[0]["epoch"] == "200"
    # The final report describes the network as returned: the same as evaluating it again.
    evaluated = capsys.readouterr()
    assert evaluated.out.splitlines()[0].split("epochs in")[1].split(";", 1)[1] == \
        reported.split("epochs in")[1].split(";", 1)[1]
    assert "trained for 200 epochs" in evaluated.err
    status, rows = run(tmp_path, "--load", str(saved), "--epochs", "100", plot=False)
    assert status == 0 and int(rows[-1]["epoch"]) == 300


@pytest.mark.parametrize("flags, flag", [
    (["--hidden", "8"], "--hidden"), (["--classes", "4"], "--classes"),
    (["--loss", "binary"], "--loss")])
def test_load_refuses_flags_that_contradict_the_file(tmp_path, capsys, flags, flag):
    saved = tmp_path / "net.npz"
    assert main.main([*SHORT, "--no-plot", "--save", str(saved), "--hidden", "12"]) == 0
    capsys.readouterr()
    assert main.main(["--epochs", "0", "--no-plot", "--load", str(saved), *flags]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"argument {flag}" in err and "net.npz" in err


def test_load_refusal_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a network")
    assert main.main([*SHORT, "--load", str(bad), "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--load" in err and "bad.npz" in err
    assert main.main([*SHORT, "--load", str(tmp_path / "absent.npz"), "--no-plot"]) == 2


def test_check_gradients_passes_then_trains(capsys):
    assert main.main([*SHORT, "--check-gradients", "--no-plot", "--hidden", "8",
                      "--dropout", "0.1", "--l2", "1e-3"]) == 0
    out = capsys.readouterr().out
    assert "all below 1e-5" in out and "completed: 200/200" in out


def test_check_gradients_fails_with_status_1(monkeypatch, capsys):
    import activations

    monkeypatch.setattr(activations.ReLU, "backward",
                        lambda self, dvalues: setattr(self, "dinputs", dvalues) or dvalues)
    assert main.main([*SHORT, "--check-gradients", "--no-plot", "--hidden", "8"]) == 1
    out = capsys.readouterr().out
    assert "above 1e-5" in out and "completed" not in out


def test_explain_runs_one_step_and_exits(capsys):
    assert main.main([*SHORT, "--explain", "--no-plot", "--batch-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "on 16 samples" in out and "UPDATE (Adam, step t = 0" in out


def test_animation_has_one_frame_per_logged_epoch(tmp_path):
    from PIL import Image

    path = tmp_path / "learn.gif"
    status, rows = run(tmp_path, "--animate", str(path), "--epochs", "60", "--log-every", "20",
                       plot=False)
    assert status == 0
    with Image.open(path) as gif:
        assert gif.n_frames == len(rows) == 4
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
    assert durations == [100, 100, 100, 2000]  # the last frame is held


def test_patience_and_vertical_dataset(tmp_path, capsys):
    status, rows = run(tmp_path, "--dataset", "vertical", "--patience", "2", "--log-every",
                       "10", "--epochs", "2000", plot=False)
    assert status == 0
    out = capsys.readouterr().out
    assert out.startswith("early stopped:")
    assert float(rows[-1]["accuracy"]) > 0.8


def test_binary_classification_from_the_command_line(tmp_path, capsys):
    status, rows = run(tmp_path, "--dataset", "spiral", "--classes", "2", "--loss", "binary",
                       "--epochs", "400", plot=True)
    assert status == 0 and list(rows[0]) == list(COLUMNS)
    assert float(rows[-1]["accuracy"]) > 0.85
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    config = json.loads((tmp_path / "figure.config.json").read_text())
    assert config["loss"] == "binary"


def test_sine_regression_from_the_command_line(tmp_path, capsys):
    status, rows = run(tmp_path, "--dataset", "sine", "--epochs", "300", "--log-every", "100",
                       plot=True)
    assert status == 0 and list(rows[0]) == list(REGRESSION_COLUMNS)
    assert float(rows[-1]["val_r2"]) > 0.9
    out = capsys.readouterr().out
    assert "R²" in out
    config = json.loads((tmp_path / "figure.config.json").read_text())
    assert config["hidden"] == [64, 64] and config["weight_scale"] == 0.1
    assert config["hyperparameters"]["learning_rate"] == 0.005


@pytest.mark.parametrize("flags, message", [
    (["--loss", "mse"], "argument --loss: mse does not fit --dataset spiral"),
    (["--loss", "binary"], "argument --loss: binary needs --classes 2, not 3"),
    (["--dataset", "sine", "--loss", "categorical"], "categorical does not fit --dataset sine"),
    (["--dataset", "sine", "--classes", "3"],
     "argument --classes: does not apply to --dataset sine"),
])
def test_loss_and_dataset_must_fit(tmp_path, monkeypatch, capsys, flags, message):
    monkeypatch.chdir(tmp_path)
    assert main.main([*SHORT, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_registered_optimizer_trains_from_main(tmp_path, capsys):
    """The README's recipe, followed literally: one class, one registration."""
    import numpy as np

    from optimizers import Optimizer

    class SignSGD(Optimizer):
        """Steps by the sign of the gradient.

        Update:    p <- p - lr_t sign(g)
        """

        def __init__(self, learning_rate=0.01, decay=0.0):
            super().__init__(learning_rate, decay)

        def update(self, param, grad, state, lr):
            param -= lr * np.sign(grad)

    registry.register_optimizer("my_signsgd", SignSGD,
                                defaults=dict(learning_rate=0.01, decay=0.0),
                                help="steps of the same size, by the gradient's sign")
    try:
        assert main.main(["--help"]) == 0
        assert "my_signsgd (steps of the same size" in " ".join(capsys.readouterr().out.split())
        status, rows = run(tmp_path, "--optimizer", "my_signsgd", "--learning-rate", "0.005",
                           plot=False)
        assert status == 0
        assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
        assert float(rows[-1]["learning_rate"]) == 0.005
        assert main.main([*SHORT, "--optimizer", "my_signsgd", "--momentum", "0.5"]) == 2
        assert "--momentum: does not apply to --optimizer my_signsgd" in capsys.readouterr().err
    finally:
        del registry.OPTIMIZERS["my_signsgd"]


# ---------------------------------------------------------------------------
# Nothing lost, nothing clobbered: outputs, signals and exact resume.

RESUMABLE = ["--samples", "30", "--log-every", "5", "--no-plot", "--log-level", "WARNING",
             "--dropout", "0.2", "--batch-size", "16"]


@pytest.mark.parametrize("optimizer", list(registry.OPTIMIZERS))
def test_load_continues_exactly_as_one_run_straight_through(tmp_path, optimizer):
    flags = [*RESUMABLE, "--optimizer", optimizer]
    straight, first, rest = (tmp_path / name for name in ("straight.csv", "a.csv", "b.csv"))
    saved = tmp_path / "a.npz"
    assert main.main([*flags, "--epochs", "40", "--metrics", str(straight)]) == 0
    assert main.main([*flags, "--epochs", "17", "--metrics", str(first),
                      "--save", str(saved)]) == 0
    # Every setting comes from the file: only how long to go on is given.
    assert main.main(["--load", str(saved), "--epochs", "23", "--metrics", str(rest),
                      "--no-plot", "--log-level", "WARNING"]) == 0
    straight_rows = straight.read_text().splitlines()
    rest_rows = rest.read_text().splitlines()
    expected = [straight_rows[0]] + [row for row in straight_rows[1:]
                                     if int(row.split(",")[0]) > 17]
    assert rest_rows == expected  # bit for bit: the same text of the same floats


def test_another_optimizer_on_load_starts_fresh_and_says_so(tmp_path, capsys):
    saved = tmp_path / "a.npz"
    assert main.main([*RESUMABLE, "--epochs", "5", "--save", str(saved)]) == 0
    capsys.readouterr()
    assert main.main(["--load", str(saved), "--epochs", "3", "--optimizer", "gd",
                      "--no-plot"]) == 0
    err = capsys.readouterr().err
    assert "the saved run used adam: a fresh gd starts" in err


def test_report_at_the_end_equals_an_evaluation_of_the_saved_file(tmp_path, capsys):
    saved = tmp_path / "a.npz"
    assert main.main([*RESUMABLE, "--epochs", "12", "--save", str(saved)]) == 0
    trained = capsys.readouterr().out.splitlines()[0]
    assert main.main(["--load", str(saved), "--epochs", "0", "--no-plot"]) == 0
    evaluated = capsys.readouterr().out.splitlines()[0]
    assert trained.split("; ", 1)[1] == evaluated.split("; ", 1)[1]


def test_a_failed_output_is_one_line_the_others_are_written_and_status_3(tmp_path, capsys):
    status = main.main([*SHORT, "--metrics", "/dev/full", "--plot", str(tmp_path / "f.png"),
                        "--save", str(tmp_path / "n.npz")])
    assert status == 3
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    assert lines == ["main.py: error: cannot write '/dev/full': No space left on device"]
    assert (tmp_path / "f.png").exists() and (tmp_path / "n.npz").exists()
    assert (tmp_path / "f.config.json").exists()


def test_a_device_is_written_through_never_replaced(tmp_path):
    import stat

    assert main.main([*SHORT, "--metrics", "/dev/null", "--no-plot"]) == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_pipe_nobody_reads_is_refused_without_hanging(tmp_path, capsys):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    assert main.main([*SHORT, "--metrics", str(fifo), "--no-plot"]) == 3
    assert "no process is reading the pipe" in capsys.readouterr().err
    assert stat_kind(fifo) == "fifo"


def stat_kind(path):
    import stat

    mode = os.lstat(path).st_mode
    return "fifo" if stat.S_ISFIFO(mode) else "file" if stat.S_ISREG(mode) else "other"


@pytest.mark.parametrize("flags, message", [
    (["--plot", "out.txt"], "argument --plot: cannot write 'out.txt': unknown figure format"),
    (["--metrics", "x.png", "--plot", "x.png"], "is the same file as"),
    (["--save", "/tmp"], "argument --save: cannot write '/tmp': it is a directory"),
    (["--save", "."], "argument --save: must name a file, not a folder: got '.'"),
])
def test_outputs_are_checked_before_training(tmp_path, monkeypatch, capsys, flags, message):
    monkeypatch.chdir(tmp_path)
    assert main.main([*SHORT, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_nothing_is_created_for_a_run_that_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main.main([*SHORT, "--no-plot"]) == 0
    assert list(tmp_path.iterdir()) == []


def test_outputs_honour_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        assert main.main([*SHORT, "--metrics", str(tmp_path / "m.csv"),
                          "--save", str(tmp_path / "n.npz"), "--no-plot"]) == 0
    finally:
        os.umask(previous)
    for name in ("m.csv", "n.npz"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o640


def test_a_signal_while_writing_outputs_does_not_interrupt_them(tmp_path, monkeypatch):
    import signal

    write = experiment.outputs.write

    def write_then_signal(path, produce):
        os.kill(os.getpid(), signal.SIGINT)  # lands while the outputs are being written
        return write(path, produce)

    monkeypatch.setattr(experiment.outputs, "write", write_then_signal)
    status = main.main([*SHORT, "--metrics", str(tmp_path / "m.csv"),
                        "--plot", str(tmp_path / "f.png"), "--save", str(tmp_path / "n.npz")])
    assert status == 130  # asked to stop: it says so, once every output is written
    for name in ("m.csv", "f.png", "f.config.json", "n.npz"):
        assert (tmp_path / name).exists(), name


def program(*flags, **kwargs):
    """main.py in a subprocess, from the repository, with its output pipes."""
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "main.py", *flags], cwd=REPOSITORY,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


REPOSITORY = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("signal_name, status", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_stops_after_the_epoch_and_writes_everything(tmp_path, signal_name, status):
    import signal

    metrics, saved = tmp_path / "m.csv", tmp_path / "n.npz"
    process = program("--epochs", "1000000", "--log-every", "50", "--samples", "20",
                      "--metrics", str(metrics), "--save", str(saved), "--no-plot")
    for line in process.stderr:  # wait until training is under way
        if "/1000000" in line:
            break
    process.send_signal(getattr(signal, signal_name))
    out, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert out.startswith("interrupted: ")
    assert f"{signal_name}: stopping after this epoch" in err and "Traceback" not in err
    rows = list(csv.DictReader(metrics.read_text().splitlines()))
    last = int(rows[-1]["epoch"])
    assert last > 1 and "epochs in" in out
    assert main.main(["--load", str(saved), "--epochs", "0", "--no-plot",
                      "--log-level", "WARNING"]) == 0


@pytest.mark.slow
def test_kill_9_loses_at_most_k_epochs_and_leaves_a_loadable_file(tmp_path, capsys):
    import signal
    import time

    saved = tmp_path / "n.npz"
    process = program("--epochs", "1000000", "--log-every", "100000", "--samples", "20",
                      "--save", str(saved), "--checkpoint-every", "200", "--no-plot")
    deadline = time.monotonic() + 60
    while not saved.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert main.main(["--load", str(saved), "--epochs", "0", "--no-plot"]) == 0
    out = capsys.readouterr()
    epoch = int(out.err.split("trained for ")[1].split()[0])
    assert epoch > 0 and epoch % 200 == 0


@pytest.mark.slow
@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_a_closed_pipe_ends_the_run_quietly(tmp_path, closed):
    saved = tmp_path / "n.npz"
    process = program("--epochs", "300", "--log-every", "1", "--samples", "20",
                      "--save", str(saved), "--no-plot")
    getattr(process, closed).close()
    other = process.stderr if closed == "stdout" else process.stdout
    rest = other.read()
    process.wait(timeout=60)
    assert process.returncode == 141
    assert "Traceback" not in rest and "Exception ignored" not in rest
    assert saved.exists()


# ---------------------------------------------------------------------------
# Real data, offline, and predictions on new inputs.

def write_csv(path, rows, header="x1,x2,label"):
    path.write_text("\n".join([header, *(",".join(map(str, row)) for row in rows)]) + "\n")
    return path


def two_blobs(n=60, seed=0):
    """Rows of two features and a text label: a cat is near (-1, -1), a dog near (1, 1)."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(n):
        name, centre = ("cat", -1.0) if index % 2 else ("dog", 1.0)
        x = centre + 0.4 * rng.standard_normal(2)
        rows.append([f"{x[0]:.4f}", f"{x[1]:.4f}", name])
    return rows


def test_own_csv_data_trains_saves_and_predicts_by_class_name(tmp_path, capsys):
    data_file = write_csv(tmp_path / "pets.csv", two_blobs())
    saved = tmp_path / "pets.npz"
    assert main.main(["--data", str(data_file), "--epochs", "40", "--no-plot",
                      "--log-level", "WARNING", "--save", str(saved)]) == 0
    assert "validation accuracy 1.000" in capsys.readouterr().out
    new = write_csv(tmp_path / "new.csv", [["-1.1", "-0.9"], ["1.2", "0.8"], ["5", "5"]],
                    header="x1,x2")
    assert main.main(["--load", str(saved), "--predict", str(new)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["new.csv:2", "cat"], ["new.csv:3", "dog"],
                                                    ["new.csv:4", "dog"]]
    assert all(0.5 < float(line.split("probability ")[1].rstrip(")")) <= 1 for line in lines)


def test_predict_refuses_inputs_that_do_not_fit_naming_the_shape(tmp_path, capsys):
    data_file = write_csv(tmp_path / "pets.csv", two_blobs())
    saved = tmp_path / "pets.npz"
    assert main.main(["--data", str(data_file), "--epochs", "2", "--no-plot",
                      "--save", str(saved), "--log-level", "WARNING"]) == 0
    capsys.readouterr()
    wide = write_csv(tmp_path / "wide.csv", [["1", "2", "3"]], header="a,b,c")
    assert main.main(["--load", str(saved), "--predict", str(wide)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "2 features" in err and "wide.csv" in err


def test_the_standardisation_travels_with_the_checkpoint(tmp_path, capsys):
    # Features on a scale of thousands: without the saved statistics the
    # predictions of the reloaded network would be wrong.
    rows = [[float(a) * 1000 + 5000, float(b) * 1000 - 3000, label]
            for a, b, label in two_blobs()]
    data_file = write_csv(tmp_path / "big.csv", rows)
    saved = tmp_path / "big.npz"
    assert main.main(["--data", str(data_file), "--epochs", "40", "--no-plot",
                      "--log-level", "WARNING", "--save", str(saved)]) == 0
    capsys.readouterr()
    # Named as the training columns were: the checkpoint keeps their names (issue 18).
    new = write_csv(tmp_path / "new.csv", [["4000", "-4000"], ["6000", "-2000"]],
                    header="x1,x2")
    assert main.main(["--load", str(saved), "--predict", str(new)]) == 0
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["cat", "dog"]


def image_folder(root, shape=(6, 5), per_class=12, seed=0):
    """Two classes of tiny greyscale images: bright on the left, or on the right."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, side in (("left", 0), ("right", 1)):
        folder = root / name
        folder.mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(0, 60, shape)
            half = shape[1] // 2
            pixels[:, side * half:(side + 1) * half] += 150
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{index}.png")
    return root


def test_image_folder_trains_draws_mistakes_and_predicts_an_image(tmp_path, capsys):
    from PIL import Image

    root = image_folder(tmp_path / "images")
    saved = tmp_path / "images.npz"
    figure = tmp_path / "images.png"
    assert main.main(["--data", str(root), "--epochs", "30", "--batch-size", "8",
                      "--plot", str(figure), "--save", str(saved), "--log-level", "WARNING"]) == 0
    assert figure.exists()
    capsys.readouterr()
    one = tmp_path / "one.png"
    pixels = np.full((6, 5), 20, dtype=np.uint8)
    pixels[:, 2:4] = 220
    Image.fromarray(pixels).save(one)
    assert main.main(["--load", str(saved), "--predict", str(one)]) == 0
    assert capsys.readouterr().out.split()[:2] == ["one.png", "right"]
    Image.fromarray(np.zeros((7, 5), np.uint8)).save(tmp_path / "tall.png")
    assert main.main(["--load", str(saved), "--predict", str(tmp_path / "tall.png")]) == 2
    assert "6" in capsys.readouterr().err


def test_malformed_data_is_one_line_naming_the_file_and_status_2(tmp_path, capsys):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,2,a\n3,b\n")
    assert main.main(["--data", str(ragged), "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "ragged.csv" in err


def test_digits_reach_the_target_with_their_defaults(capsys):
    assert main.main(["--dataset", "digits", "--no-plot", "--log-level", "WARNING"]) == 0
    out = capsys.readouterr().out
    assert float(out.split("validation accuracy ")[1].split(",")[0]) >= 0.97


def test_digits_without_scikit_learn_says_how_to_install_it(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert main.main(["--dataset", "digits", "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "pip install scikit-learn" in err


def test_regression_and_binary_predictions(tmp_path, capsys):
    sine = tmp_path / "sine.npz"
    assert main.main(["--dataset", "sine", "--epochs", "200", "--samples", "100", "--no-plot",
                      "--log-level", "WARNING", "--save", str(sine)]) == 0
    xs = write_csv(tmp_path / "xs.csv", [["0.25"], ["0.75"]], header="x")
    capsys.readouterr()
    assert main.main(["--load", str(sine), "--predict", str(xs)]) == 0
    values = [float(line.split()[1]) for line in capsys.readouterr().out.splitlines()]
    assert values[0] > 0.5 and values[1] < -0.5  # sin(pi / 2) = 1, sin(3 pi / 2) = -1
    binary = tmp_path / "binary.npz"
    assert main.main(["--classes", "2", "--loss", "binary", "--epochs", "50", "--no-plot",
                      "--samples", "30", "--log-level", "WARNING", "--save", str(binary)]) == 0
    points = write_csv(tmp_path / "points.csv", [["0.0", "0.5"]], header="a,b")
    capsys.readouterr()
    assert main.main(["--load", str(binary), "--predict", str(points)]) == 0
    line = capsys.readouterr().out.split()
    assert line[1] in ("0", "1") and 0.5 <= float(line[-1].rstrip(")")) <= 1


def test_gradient_check_of_a_sample_says_so(capsys):
    assert main.main([*SHORT, "--check-gradients", "--gradient-sample", "5", "--hidden", "8",
                      "--no-plot", "--epochs", "0"]) == 0
    out = capsys.readouterr().out
    assert "up to 5 random entries per array" in out
    counts = [int(line.split()[4]) + int(line.split()[5]) for line in out.splitlines()[2:6]]
    assert counts == [5, 5, 5, 3]  # checked + skipped; the output biases have only 3


@pytest.mark.slow
def test_threads_are_set_before_numpy_loads_unless_the_environment_says(tmp_path):
    import subprocess
    import sys

    code = ("import main, os; main.set_threads({}); "
            "print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])")
    clean = {key: value for key, value in os.environ.items()
             if key not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    for threads, env, expected in ((None, clean, "1 1"), (3, clean, "3 3"),
                                   (None, dict(clean, OPENBLAS_NUM_THREADS="2",
                                               OMP_NUM_THREADS="2"), "2 2")):
        out = subprocess.run([sys.executable, "-c", code.format(threads)], env=env,
                             capture_output=True, text=True, cwd=REPOSITORY, check=True).stdout
        assert out.split() == expected.split()


def test_optimizer_all_reports_divergence_and_interruption_by_status(tmp_path, monkeypatch):
    # One optimizer of the comparison diverges: the status says so.
    monkeypatch.setitem(registry.DATASETS, "spiral", registry.Dataset(
        "program.data:spiral", "test", "classes", options=("samples", "classes"),
        optimizer_defaults=dict(gd=dict(learning_rate=1e300))))
    assert main.main([*SHORT, "--optimizer", "all", "--no-plot", "--log-level", "ERROR"]) == 1
    # Ctrl-C during the second optimizer (the first takes 200 steps): the comparison stops
    # there, with 130.
    calls = 0
    backward = model.Network.backward

    def interrupted_backward(self, y):
        nonlocal calls
        calls += 1
        if calls == 250:
            raise KeyboardInterrupt
        backward(self, y)

    monkeypatch.setattr(model.Network, "backward", interrupted_backward)
    monkeypatch.setitem(registry.DATASETS, "spiral", registry.Dataset(
        "program.data:spiral", "test", "classes", options=("samples", "classes")))
    metrics = tmp_path / "m.csv"
    assert main.main([*SHORT, "--optimizer", "all", "--no-plot", "--log-level", "ERROR",
                      "--metrics", str(metrics)]) == 130
    first, second = list(registry.OPTIMIZERS)[:2]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"m-{first}.csv",
                                                                 f"m-{second}.csv"])


def test_no_checkpoint_is_saved_after_divergence(tmp_path, capsys):
    saved = tmp_path / "n.npz"
    assert main.main([*SHORT, "--optimizer", "gd", "--learning-rate", "1e300", "--no-plot",
                      "--save", str(saved)]) == 1
    assert not saved.exists()
    assert re.search(rf"^\d\d:\d\d:\d\d WARNING +not saving {re.escape(str(saved))}: the "
                     r"weights are not finite$", capsys.readouterr().err, re.MULTILINE)


@pytest.mark.parametrize("dataset", ["spiral", "vertical", "digits"])
def test_the_seed_reaches_the_data_and_the_weights(dataset):
    flags = ["--dataset", dataset, "--no-plot"]
    first = [experiment.load_dataset(cli.resolve(cli.parse([*flags, "--seed", str(seed)])))
             for seed in (1, 1, 2)]
    np.testing.assert_array_equal(first[0].x_train, first[1].x_train)
    assert not np.array_equal(first[0].x_train, first[2].x_train)


def test_explain_shows_the_parameters_before_and_after_the_step(capsys):
    assert main.main([*SHORT, "--explain", "--hidden", "3", "--no-plot", "--l2", "0"]) == 0
    text = capsys.readouterr().out
    before = [line for line in text.splitlines() if line.strip().startswith("before")]
    after = [line for line in text.splitlines() if line.strip().startswith("after")]
    assert len(before) == len(after) == 4
    assert all(b.split("=")[1] != a.split("=")[1] for b, a in zip(before, after, strict=True))
    # Adam's first step moves every weight by the learning rate, 0.07 here, when no weight's
    # gradient is near epsilon (an L2 penalty alone would give a dead unit's weights one).
    w_before = np.array(before[0].split("[", 2)[2].rstrip("]").split(), dtype=float)
    w_after = np.array(after[0].split("[", 2)[2].rstrip("]").split(), dtype=float)
    np.testing.assert_allclose(np.abs(w_after - w_before), 0.07, atol=1e-3)


def test_an_output_may_not_overwrite_an_input(tmp_path, capsys):
    data_file = write_csv(tmp_path / "pets.csv", two_blobs())
    before = data_file.read_text()
    assert main.main(["--data", str(data_file), "--metrics", str(data_file), "--no-plot"]) == 2
    assert "argument --metrics" in capsys.readouterr().err and data_file.read_text() == before
    saved = tmp_path / "n.npz"
    assert main.main([*SHORT, "--no-plot", "--save", str(saved)]) == 0
    assert main.main(["--load", str(saved), "--epochs", "0", "--metrics", str(saved)]) == 2
    assert "is the input of --load" in capsys.readouterr().err
    # Going on from a checkpoint and saving it again in the same file is fine.
    assert main.main(["--load", str(saved), "--epochs", "5", "--no-plot", "--save",
                      str(saved)]) == 0


def test_a_network_for_other_class_names_is_refused(tmp_path, capsys):
    saved = tmp_path / "pets.npz"
    assert main.main(["--data", str(write_csv(tmp_path / "pets.csv", two_blobs())),
                      "--epochs", "2", "--no-plot", "--save", str(saved)]) == 0
    renamed = [[a, b, {"cat": "ant", "dog": "bee"}[label]] for a, b, label in two_blobs()]
    other = write_csv(tmp_path / "bugs.csv", renamed)
    assert main.main(["--load", str(saved), "--data", str(other), "--epochs", "0",
                      "--no-plot"]) == 2
    assert "the network's classes are cat, dog" in capsys.readouterr().err


@pytest.mark.parametrize("flags, flag, message", [
    (["--weight-scale", "1e300"], "--weight-scale", "do not fit float32"),
    (["--hidden", "100000", "100000"], "--hidden", "parameters and would need"),
    (["--hidden", "100001"], "--hidden", "from 1 to 100000"),
    (["--samples", "1000001"], "--samples", "from 1 to 1000000"),
    (["--plot", ""], "--plot", "must be a path"),
    (["--explain", "--save", "x.npz"], "--explain", "cannot be combined with --save"),
])
def test_sizes_beyond_reach_are_refused_in_one_line(tmp_path, monkeypatch, capsys, flags, flag,
                                                    message):
    monkeypatch.chdir(tmp_path)
    assert main.main([*SHORT, *flags]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"argument {flag}" in err and message in err, err
    assert list(tmp_path.iterdir()) == []


def tampered(path, **changes):
    """The checkpoint at path with its header's config changed (or rng, for key "rng")."""
    archive = dict(np.load(path, allow_pickle=False))
    header = json.loads(archive["header"].tobytes())
    for key, value in changes.items():
        if key == "rng":
            header["rng"] = value
        else:
            header["config"][key] = value
    archive["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **archive)


@pytest.mark.parametrize("change, message", [
    (dict(dropout=1.5), "has dropout 1.5"), (dict(batch_size=2.5), "has batch_size 2.5"),
    (dict(optimizer="newton"), "has optimizer newton"), (dict(hidden="x"), "has hidden x"),
    (dict(hyperparameters={"learning_rate": -1}), "has hyperparameters"),
    (dict(rng={"shuffle": {"bit_generator": "PCG64", "state": {"state": -5, "inc": 3},
                           "has_uint32": 0, "uinteger": 0}}), "argument --load"),
])
def test_a_tampered_checkpoint_is_one_line_and_status_2(tmp_path, capsys, change, message):
    saved = tmp_path / "n.npz"
    assert main.main([*SHORT, "--no-plot", "--save", str(saved), "--hidden", "5"]) == 0
    capsys.readouterr()
    tampered(saved, **change)
    assert main.main(["--load", str(saved), "--epochs", "2", "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err


def test_a_file_whose_settings_contradict_its_network_is_refused_before_any_building(
        tmp_path, capsys, monkeypatch):
    saved = tmp_path / "n.npz"
    assert main.main([*SHORT, "--no-plot", "--save", str(saved), "--hidden", "5"]) == 0
    capsys.readouterr()
    # Settings that would build a network of gigabytes, in a file of kilobytes.
    tampered(saved, hidden=[100000, 2000])
    monkeypatch.setattr(experiment, "build", lambda *a, **k: pytest.fail("built a network"))
    assert main.main(["--load", str(saved), "--epochs", "2", "--no-plot"]) == 2
    assert capsys.readouterr().err == (
        f"main.py: error: argument --load: the run saved in {str(saved)!r} has hidden "
        "100000 2000, but the network it holds has hidden 5\n")
    # Settings are read as their flags read them: "5" is the width 5 (as --hidden 5 is).
    tampered(saved, hidden=["5"])
    monkeypatch.undo()
    assert main.main(["--load", str(saved), "--epochs", "0", "--no-plot"]) == 0


def test_json_metrics_of_a_diverged_run_are_strict_json(tmp_path):
    path = tmp_path / "m.json"
    assert main.main([*SHORT, "--optimizer", "gd", "--learning-rate", "1e300", "--no-plot",
                      "--metrics", str(path)]) == 1
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["epochs"][-1]["val_loss"] is None


@pytest.mark.slow
def test_a_signal_outside_training_stops_at_once(tmp_path):
    import signal

    process = program("--hidden", "256", "256", "--check-gradients", "--epochs", "1",
                      "--no-plot", "--samples", "50")
    for line in process.stderr:  # the check's first progress line: it is under way
        if "gradient check:" in line:
            break
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 143
    assert "main.py: stopped by SIGTERM" in err and "Traceback" not in err


# main.main's own job, with experiment.run replaced: the statuses and lines of
# what stops a run outside training, the threads flag, the log's closed pipe.

def _failing_run(error):
    def run(args, stop):
        raise error
    return run


@pytest.mark.parametrize("error, status, line", [
    (interrupts.Stopped("SIGTERM"), 143, "main.py: stopped by SIGTERM"),
    (interrupts.Stopped("SIGINT"), 130, "main.py: stopped by SIGINT"),
    (MemoryError("Unable to allocate 8.00 GiB"), 2,
     "main.py: error: not enough memory for this run (Unable to allocate 8.00 GiB)"),
])
def test_a_stop_or_a_want_of_memory_is_one_line_on_stderr_and_its_status(
        monkeypatch, capsys, error, status, line):
    monkeypatch.setattr(experiment, "run", _failing_run(error))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    assert main.main(["--no-plot"]) == status
    assert capsys.readouterr() == ("", line + "\n")
    assert root.handlers == handlers and root.level == level


def test_a_closed_standard_output_ends_quietly_with_status_141(monkeypatch):
    read_end, write_end = os.pipe()
    stdout = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(experiment, "run", _failing_run(BrokenPipeError()))
    try:
        assert main.main(["--no-plot"]) == 141
        # Standard output now leads nowhere, so what Python flushes at exit cannot fail.
        os.write(write_end, b"lost")
    finally:
        stdout.close()
    with os.fdopen(read_end, "rb") as pipe:
        assert pipe.read() == b""


def test_the_threads_flag_reaches_every_blas_variable(monkeypatch, caplog):
    clean = {key: value for key, value in os.environ.items()
             if key not in main.THREAD_VARIABLES}
    monkeypatch.setattr(os, "environ", clean)
    monkeypatch.setattr(experiment, "run", lambda args, stop: 0)
    assert main.main(["--threads", "2", "--no-plot"]) == 0
    assert [clean[name] for name in main.THREAD_VARIABLES] == ["2", "2", "2"]
    # NumPy is loaded in this process already: the user is told it is too late.
    assert "--threads 2 cannot take effect" in caplog.text


def test_a_closed_log_pipe_asks_the_run_to_stop_quietly(monkeypatch):
    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError

    monkeypatch.setattr(sys, "stderr", ClosedPipe())
    seen = []

    def run(args, stop):
        logging.getLogger("program.experiment").warning("a line nobody reads")
        seen.append((stop.requested, stop.cause))
        return 0

    monkeypatch.setattr(experiment, "run", run)
    assert main.main(["--no-plot"]) == 0
    assert seen == [(True, "SIGPIPE")]
