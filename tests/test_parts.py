"""Every part plugs in: a layer of the reader's own, through the whole program.

The parameter protocol (layers.py, ``parameter_names``) is the only thing the
program knows of a layer: a LayerNorm written here, in the test, and
registered as a normalisation trains through ``main``, is saved, loaded,
explained and gradient-checked, exactly as BatchNorm is. And the new parts'
state (BatchNorm's running statistics, dropout's generator, early stopping's
best evaluation) makes a resumed run equal to one straight run.
"""

import numpy as np
import pytest

import main
from program import checkpoint, registry


class LayerNorm:
    """Layer normalisation (Ba et al. 2016): each sample standardised over its features.

    Forward:   x_hat = (x - mean) / sqrt(var + epsilon)    mean, var over a row's F features
               Y = gain * x_hat + bias                      X, Y: (N, F)  gain, bias: (F,)
    Backward:  dgain = sum_rows(G * x_hat)   dbias = sum_rows(G)
               dX = (F Gh - sum(Gh) - x_hat sum(Gh * x_hat)) / (F sigma),   Gh = G * gain
    """

    parameters = ("gain", "bias")
    decayed = ()
    state = ()

    def __init__(self, n_features, *, epsilon=1e-5, dtype=np.float64):
        self.gain = np.ones(n_features, dtype)
        self.bias = np.zeros(n_features, dtype)
        self.epsilon = epsilon

    def forward(self, inputs, training=False):
        self.inputs = inputs
        mean = inputs.mean(axis=1, keepdims=True)
        self.sigma = np.sqrt(inputs.var(axis=1, keepdims=True) + self.epsilon)
        self.x_hat = (inputs - mean) / self.sigma
        self.output = self.gain * self.x_hat + self.bias
        return self.output

    def backward(self, dvalues):
        self.dgain = (dvalues * self.x_hat).sum(axis=0)
        self.dbias = dvalues.sum(axis=0)
        g = dvalues * self.gain
        n = g.shape[1]
        self.dinputs = (n * g - g.sum(axis=1, keepdims=True)
                        - self.x_hat * (g * self.x_hat).sum(axis=1, keepdims=True)) / (
                            n * self.sigma)
        return self.dinputs


@pytest.fixture
def layer_norm(monkeypatch):
    """LayerNorm registered as --norm my_layernorm, for this test only."""
    monkeypatch.setattr(registry, "LAYERS", dict(registry.LAYERS))
    registry.register_layer("my_layernorm", LayerNorm, role="norm",
                            help="layer normalisation over each sample's features")


SMALL = ["--samples", "30", "--hidden", "8", "--log-level", "WARNING", "--no-plot"]


def test_a_layer_defined_here_trains_saves_loads_explains_and_checks(layer_norm, tmp_path,
                                                                     capsys):
    path = tmp_path / "norm.npz"
    assert main.main([*SMALL, "--norm", "my_layernorm", "--epochs", "30",
                      "--save", str(path)]) == 0
    saved = checkpoint.load(path)
    assert saved.architecture["norm"] == "my_layernorm"
    described = [layer for layer in saved.header["layers"] if layer["kind"] == "my_layernorm"]
    assert [layer["name"] for layer in described] == ["my_layernorm0"]
    assert described[0]["parameters"] == dict(gain=[8], bias=[8])
    assert described[0]["settings"] == dict(n_features=8)
    # Its parameters were trained (they start at ones and zeros) and saved by their names.
    assert not np.array_equal(saved.parameters["my_layernorm0.gain"], np.ones(8))
    assert set(saved.optimizer_state["my_layernorm0.bias"]) == {"m", "v"}
    capsys.readouterr()

    # Loaded and trained on: the same network, its state taken up.
    assert main.main(["--load", str(path), "--epochs", "5", "--no-plot",
                      "--log-level", "WARNING"]) == 0
    assert "completed: 5/5 epochs" in capsys.readouterr().out

    assert main.main([*SMALL, "--norm", "my_layernorm", "--explain"]) == 0
    explained = capsys.readouterr().out
    assert "my_layernorm0.gain (8,)" in explained
    assert "x_hat = (x - mean) / sqrt(var + epsilon)" in explained  # its own formula

    assert main.main([*SMALL, "--norm", "my_layernorm", "--check-gradients",
                      "--epochs", "0"]) == 0
    checked = capsys.readouterr().out
    assert "my_layernorm0.gain" in checked and "all below 1e-5" in checked


def test_a_load_with_another_normalisation_is_refused_naming_the_flag(layer_norm, tmp_path,
                                                                     capsys):
    path = tmp_path / "norm.npz"
    assert main.main([*SMALL, "--norm", "my_layernorm", "--epochs", "2",
                      "--save", str(path)]) == 0
    capsys.readouterr()
    assert main.main(["--load", str(path), "--batch-norm", "--epochs", "1", "--no-plot"]) == 2
    assert capsys.readouterr().err == (
        f"main.py: error: argument --batch-norm: the network in {str(path)!r} has --norm "
        "my_layernorm, not batchnorm\n")


@pytest.mark.parametrize("flags, message", [
    (["--activation", "tanh"], "argument --activation: the network in {path} has "
                               "--activation relu, not tanh"),
    (["--conv", "4"], "argument --conv: the network in {path} has no --conv, not 4"),
    (["--norm", "batchnorm"], "argument --norm: the network in {path} has no --norm, "
                              "not batchnorm"),
])
def test_a_load_that_contradicts_the_saved_network_is_refused(tmp_path, capsys, flags,
                                                              message):
    path = tmp_path / "plain.npz"
    assert main.main([*SMALL, "--epochs", "2", "--save", str(path)]) == 0
    capsys.readouterr()
    assert main.main(["--load", str(path), *flags, "--epochs", "1", "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("main.py: error: " + message.format(path=repr(str(path))))


RESUMABLE = ["--samples", "40", "--log-every", "5", "--no-plot", "--log-level", "WARNING",
             "--batch-norm", "--dropout", "0.1", "--batch-size", "64", "--hidden", "16"]


def _resumed_equals_straight(tmp_path, flags, split, total):
    straight, rest = tmp_path / "straight.csv", tmp_path / "rest.csv"
    saved = tmp_path / "a.npz"
    assert main.main([*flags, "--epochs", str(total), "--metrics", str(straight)]) in (0,)
    assert main.main([*flags, "--epochs", str(split), "--save", str(saved)]) == 0
    assert main.main(["--load", str(saved), "--epochs", str(total - split), "--metrics",
                      str(rest), "--no-plot", "--log-level", "WARNING"]) == 0
    straight_rows = straight.read_text().splitlines()
    expected = [straight_rows[0]] + [row for row in straight_rows[1:]
                                     if int(row.split(",")[0]) > split]
    return rest.read_text().splitlines(), expected


def test_batch_norm_dropout_and_mini_batches_resume_row_for_row(tmp_path):
    got, expected = _resumed_equals_straight(tmp_path, RESUMABLE, 12, 30)
    assert got == expected  # bit for bit: running statistics, masks and order taken up


def test_a_schedule_with_warm_up_and_clipping_resumes_row_for_row(tmp_path):
    flags = [*RESUMABLE, "--schedule", "exponential", "--decay", "0.01", "--warmup", "20",
             "--clip-norm", "0.5", "--optimizer", "adamw"]
    got, expected = _resumed_equals_straight(tmp_path, flags, 12, 30)
    assert got == expected


def test_patience_resumes_to_the_same_stop_and_the_same_weights(tmp_path, capsys):
    flags = ["--samples", "40", "--log-every", "5", "--no-plot", "--hidden", "16",
             "--patience", "3", "--learning-rate", "0.2", "--log-level", "WARNING"]
    straight, resumed, first = (tmp_path / name for name in ("s.npz", "r.npz", "a.npz"))
    assert main.main([*flags, "--epochs", "400", "--save", str(straight)]) == 0
    stopped = capsys.readouterr().err
    assert "early stopping at epoch" in stopped
    straight_saved = checkpoint.load(straight)
    assert straight_saved.epoch < 400  # it did stop early
    split = straight_saved.epoch - 10  # after the best evaluation, before the stop
    assert main.main([*flags, "--epochs", str(split), "--save", str(first)]) == 0
    assert checkpoint.load(first).header["early_stopping"]["waited"] >= 0
    capsys.readouterr()
    assert main.main(["--load", str(first), "--epochs", str(400 - split), "--save",
                      str(resumed), "--no-plot", "--log-level", "WARNING"]) == 0
    # The same stop, word for word; each log line starts with its clock time (HH:MM:SS).
    assert [line[9:] for line in capsys.readouterr().err.splitlines()] == [
        line[9:] for line in stopped.splitlines()]
    resumed_saved = checkpoint.load(resumed)
    assert resumed_saved.epoch == straight_saved.epoch
    for name, array in straight_saved.parameters.items():
        np.testing.assert_array_equal(resumed_saved.parameters[name], array)


def test_a_last_batch_of_one_sample_joins_the_one_before_for_batch_norm(capsys):
    from program.train import batches

    rng = np.random.default_rng(0)
    assert [len(part) for part in batches(7, 3, rng)] == [3, 3, 1]
    assert [len(part) for part in batches(7, 3, rng, min_size=2)] == [3, 4]
    assert sorted(np.concatenate(batches(7, 3, rng, min_size=2))) == list(range(7))
    # The spiral's 300 samples in batches of 299 leave one: it trains, no traceback.
    assert main.main([*SMALL, "--samples", "100", "--batch-norm", "--batch-size", "299",
                      "--epochs", "2"]) == 0


def test_batch_norm_with_batches_of_one_sample_is_refused_before_training(capsys):
    assert main.main([*SMALL, "--batch-norm", "--batch-size", "1", "--epochs", "2"]) == 2
    assert capsys.readouterr().err == (
        "main.py: error: argument --batch-size: --norm batchnorm needs mini-batches of at "
        "least 2 samples, got 1\n")


def test_a_network_whose_last_evaluation_overflows_is_diverged_not_completed(tmp_path, capsys):
    # Weights finite but near 1e22 (a weight decay of 1e6): every step's loss was finite,
    # the trained network's is not. Exit 1 and nothing saved, never "completed" with NaN.
    saved = tmp_path / "n.npz"
    assert main.main([*SMALL, "--epochs", "5", "--optimizer", "adamw", "--weight-decay", "1e6",
                      "--save", str(saved)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("diverged: 5/5 epochs")
    assert "training diverged by epoch 5: the trained network's loss is not finite" in (
        captured.err)
    assert not saved.exists()


def test_a_negative_saved_variance_is_refused(tmp_path):
    path = tmp_path / "bn.npz"
    assert main.main([*SMALL, "--batch-norm", "--epochs", "2", "--save", str(path)]) == 0
    saved = checkpoint.load(path)
    saved.state["batchnorm0.running_var"][0] = -1.0
    with pytest.raises(checkpoint.CheckpointError, match="batchnorm0.running_var holds a "
                                                         "negative variance"):
        checkpoint._check_values("batchnorm0.running_var", saved.state["batchnorm0.running_var"])


@pytest.mark.parametrize("edit, message", [
    (lambda layers: layers[1].update(kind="conv3d"), "layer 1 of {path} is conv3d {{}}, but "
                                                     "the settings build relu {{}}"),
    (lambda layers: layers[0]["settings"].update(n_inputs=9), "layer 0 of {path} is dense"),
    (lambda layers: layers.insert(2, dict(kind="tanh", name="tanh0", settings={},
                                          parameters={}, state={})),
     "layer 2 of {path} is tanh {{}}, but the settings build dense"),
])
def test_a_saved_layer_that_is_not_the_network_built_is_refused(tmp_path, capsys, edit,
                                                                message):
    import io
    import json
    import zipfile

    from numpy.lib import format as npy

    path = tmp_path / "n.npz"
    assert main.main([*SMALL, "--epochs", "2", "--save", str(path)]) == 0
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = json.loads(np.load(path)["header"].tobytes())
    edit(header["layers"])
    buffer = io.BytesIO()
    npy.write_array(buffer, np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    members["header.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    (tmp_path / "x.csv").write_text("0.1,0.2\n")
    capsys.readouterr()
    for flags in (["--epochs", "1", "--no-plot"], ["--predict", str(tmp_path / "x.csv")]):
        assert main.main(["--load", str(path), *flags]) == 2
        err = capsys.readouterr().err
        assert message.format(path=repr(str(path))) in err, err


def test_a_convolution_stack_too_large_is_refused_naming_conv(capsys):
    pytest.importorskip("sklearn")
    assert main.main(["--dataset", "digits", "--conv", "4096", "4096", "--kernel", "31",
                      "--epochs", "1", "--no-plot"]) == 2
    assert capsys.readouterr().err.startswith(
        "main.py: error: argument --conv: a 1x8x8-conv4096-conv4096-64-10 network has "
        "16,127,898,314 parameters")


def test_weight_scale_with_another_initialisation_is_refused(capsys):
    assert main.main([*SMALL, "--init", "he", "--weight-scale", "0.5"]) == 2
    assert capsys.readouterr().err == (
        "main.py: error: argument --weight-scale: applies to --init normal only (he draws "
        "its own scale)\n")


def test_a_warm_up_longer_than_the_run_is_said(capsys):
    assert main.main([*SMALL, "--epochs", "5", "--warmup", "1000"]) == 0
    assert ("--warmup 1000 is longer than this run's 5 steps: the learning rate never reaches "
            "--learning-rate") in capsys.readouterr().err


def test_patience_after_an_early_stopped_file_never_restores_worse_weights(tmp_path, capsys):
    # A file saved by early stopping holds no --patience record: going on with --patience
    # once put back an epoch worse than the weights loaded (1.0868 against 1.0843).
    flags = ["--log-every", "1", "--no-plot", "--log-level", "WARNING"]
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    assert main.main([*flags, "--patience", "1", "--epochs", "50", "--save", str(first)]) == 0
    kept = checkpoint.load(first).header["metrics"]["val_loss"]
    assert main.main(["--load", str(first), "--patience", "1", "--epochs", "5", "--save",
                      str(second), "--no-plot", "--log-level", "WARNING"]) == 0
    assert checkpoint.load(second).header["metrics"]["val_loss"] <= kept


def test_a_loaded_run_past_its_warm_up_is_not_warned(tmp_path, capsys):
    saved = tmp_path / "w.npz"
    assert main.main([*SMALL, "--epochs", "30", "--warmup", "20", "--save", str(saved)]) == 0
    capsys.readouterr()
    for epochs in ("0", "2"):  # evaluated only, or 2 more epochs past the 20 warm-up steps
        assert main.main(["--load", str(saved), "--epochs", epochs, "--no-plot"]) == 0
        assert "--warmup" not in capsys.readouterr().err
