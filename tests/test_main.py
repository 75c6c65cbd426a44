import csv
import json
import re

import numpy as np
import pytest

import main
import model
from train import COLUMNS

SHORT = ["--epochs", "200", "--log-every", "50", "--samples", "30"]


def run(tmp_path, *flags, plot=True):
    """main() on a short run writing into tmp_path; returns (status, metrics rows)."""
    metrics = tmp_path / "metrics.csv"
    outputs = ["--metrics", str(metrics)]
    outputs += ["--plot", str(tmp_path / "figure.png")] if plot else ["--no-plot"]
    status = main.main([*SHORT, *outputs, *flags])
    rows = list(csv.DictReader(metrics.read_text().splitlines())) if metrics.exists() else None
    return status, rows


@pytest.mark.parametrize("optimizer", ["adam", "gd", "sgd", "adagrad", "rmsprop"])
def test_every_optimizer_trains_and_writes_outputs(tmp_path, capsys, optimizer):
    status, rows = run(tmp_path, "--optimizer", optimizer)
    assert status == 0
    assert list(rows[0]) == list(COLUMNS)
    assert [int(r["epoch"]) for r in rows] == [1, 50, 100, 150, 200]
    first, last = rows[0], rows[-1]
    assert float(last["loss"]) < float(first["loss"])
    assert float(last["accuracy"]) > 0.45  # chance is 1/3
    assert (tmp_path / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((tmp_path / "figure.config.json").read_text())
    assert config["optimizer"] == ("gd" if optimizer == "sgd" else optimizer)
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
    (["--optimizer", "newton"], "--optimizer", "newton"),
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
    assert main.VERSION in capsys.readouterr().out


def test_divergence_stops_with_status_1_and_keeps_outputs(tmp_path, capsys):
    status, rows = run(tmp_path, "--optimizer", "gd", "--learning-rate", "1e300")
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
    status, rows = run(tmp_path)
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
