import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cli
import registry

README = Path(__file__).resolve().parent.parent / "README.md"


def resolve(*flags, saved=None):
    return cli.resolve(cli.parse(list(flags)), saved)


def test_defaults_are_the_books_spiral_run():
    config = resolve()
    for key in ("optimizer", "dataset", "epochs", "hidden", "weight_scale", "dropout", "l1",
                "l2", "batch_size", "dtype", "seed", "samples", "classes", "log_every"):
        assert config[key] == cli.DEFAULTS[key], key
    assert config["loss"] == "categorical"
    assert config["hyperparameters"] == registry.OPTIMIZERS["adam"].defaults
    assert config["plot"] == Path("plots/adam.png")
    assert cli.DEFAULTS["optimizer"] == "adam" and cli.DEFAULTS["epochs"] == 10000
    assert cli.DEFAULTS["hidden"] == [64] and cli.DEFAULTS["dtype"] == "float32"
    assert cli.DEFAULTS["samples"] == 100 and cli.DEFAULTS["classes"] == 3


def test_a_dataset_brings_its_own_defaults():
    config = resolve("--dataset", "sine")
    assert config["loss"] == "mse" and config["hidden"] == [64, 64]
    assert config["weight_scale"] == 0.1 and config["samples"] == 1000
    assert config["hyperparameters"]["learning_rate"] == 0.005
    assert config["hyperparameters"]["decay"] == 1e-3
    assert config["plot"] == Path("plots/sine-adam.png")
    # A flag still wins over the dataset's default.
    assert resolve("--dataset", "sine", "--hidden", "8")["hidden"] == [8]
    assert resolve("--dataset", "sine", "--learning-rate", "0.1")["hyperparameters"][
        "learning_rate"] == 0.1


def test_hyperparameters_of_each_optimizer():
    assert resolve("--optimizer", "sgd", "--momentum", "0.5")["hyperparameters"] == dict(
        learning_rate=0.3, decay=0.0, momentum=0.5)
    assert resolve("--optimizer", "RMSPROP")["optimizer"] == "rmsprop"
    assert resolve("--optimizer", "all")["hyperparameters"] is None
    with pytest.raises(cli.UsageError,
                       match="^argument --rho: does not apply to --optimizer adam$"):
        resolve("--rho", "0.5")
    with pytest.raises(cli.UsageError, match="each optimizer uses its defaults"):
        resolve("--optimizer", "all", "--decay", "0.1")


SAVED = dict(cli.DEFAULTS, hidden=[12], dropout=0.1, seed=7, optimizer="gd", loss="categorical",
             hyperparameters=dict(learning_rate=0.05, decay=0.0, momentum=0.8))


def test_load_takes_the_saved_runs_settings():
    config = resolve("--load", "x.npz", saved=SAVED)
    assert config["hidden"] == [12] and config["dropout"] == 0.1 and config["seed"] == 7
    assert config["optimizer"] == "gd" and config["hyperparameters"]["momentum"] == 0.8
    assert config["epochs"] == cli.DEFAULTS["epochs"]  # how long to go on is this run's choice
    config = resolve("--load", "x.npz", "--learning-rate", "0.01", saved=SAVED)
    assert config["hyperparameters"] == dict(learning_rate=0.01, decay=0.0, momentum=0.8)
    # Another optimizer starts from its own defaults.
    config = resolve("--load", "x.npz", "--optimizer", "adam", saved=SAVED)
    assert config["hyperparameters"] == registry.OPTIMIZERS["adam"].defaults


def test_load_without_dataset_goes_on_with_the_saved_runs_dataset():
    saved = dict(cli.DEFAULTS, dataset="sine", samples=1000, loss="mse", hidden=[64, 64],
                 weight_scale=0.1, optimizer="adam",
                 hyperparameters=dict(registry.OPTIMIZERS["adam"].defaults))
    config = resolve("--load", "x.npz", saved=saved)
    assert config["dataset"] == "sine" and config["loss"] == "mse"
    assert config["plot"] == Path("plots/sine-adam.png")


def test_a_binary_network_saved_with_other_classes_names_the_file_and_the_fix():
    saved = dict(SAVED, loss="binary", classes=3)
    with pytest.raises(cli.UsageError, match="^" + re.escape(
            "argument --classes: the network in 'x.npz' is binary: give --classes 2, not 3")
            + "$"):
        resolve("--load", "x.npz", saved=saved)


@pytest.mark.parametrize("flags", [
    ["--no-plot"],
    ["--explain"],
    ["--load", "x.npz", "--predict", "new.csv"],
], ids=["no-plot", "explain", "predict"])
def test_runs_that_draw_no_figure_plan_none(flags):
    # The planned figure is logged with the configuration: it must not name one never drawn.
    assert resolve(*flags, saved=SAVED if "--load" in flags else None)["plot"] is None


@pytest.mark.parametrize("flags, message", [
    (["--hidden", "64"], "argument --hidden: the network in 'x.npz' has --hidden 12, not 64"),
    (["--classes", "4"], "argument --classes: the network in 'x.npz' has --classes 3, not 4"),
    (["--loss", "mse"], "argument --loss: the network in 'x.npz' has --loss categorical, not mse"),
])
def test_load_refuses_contradicting_architecture(flags, message):
    with pytest.raises(cli.UsageError, match=re.escape(message)):
        resolve("--load", "x.npz", *flags, saved=SAVED)
    # The same values as the file are fine.
    assert resolve("--load", "x.npz", "--hidden", "12", saved=SAVED)["hidden"] == [12]


@pytest.mark.parametrize("flags, message", [
    (["--seed", "4294967296"], "--seed: must be a whole number from 0 to 4294967295"),
    (["--classes", "257"], "--classes: must be a whole number from 2 to 256"),
    (["--classes", "1"], "--classes: must be a whole number from 2 to 256"),
    (["--weight-scale", "-1"], "--weight-scale: must be a finite number >= 0"),
    (["--hidden"], "--hidden: expected at least one argument"),
    (["--loss", "hinge"], "--loss: invalid choice: 'hinge'"),
    (["--data", ""], "argument --data: must be a path, got '' (see --help)"),
])
def test_bad_values_are_one_line_and_status_2(capsys, flags, message):
    with pytest.raises(SystemExit) as done:
        cli.parse(flags)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err, err


def test_help_lists_every_flag_and_every_registered_part(capsys):
    with pytest.raises(SystemExit):
        cli.parse(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for action in cli.build_parser()._actions:
        for flag in action.option_strings:
            assert flag in text
    for table in (registry.OPTIMIZERS, registry.HEADS, registry.DATASETS):
        for name, entry in table.items():
            assert f"{name}" in text and entry.help in text
    assert ("(default: gd 0.3, adagrad 1, rmsprop 0.03, adam 0.07; sine: adam 0.005; "
            "digits: adam 0.005, gd 0.05, adagrad 0.1, rmsprop 0.003; file: adam 0.005)") in text
    for status in ("0 done", "1 training diverged", "2 bad input", "3 an output could not",
                   "130 stopped by Ctrl-C", "141 standard output or error closed",
                   "143 stopped by SIGTERM"):
        assert status in text


def test_every_flag_in_the_readme_table_exists_with_its_default():
    flags = {flag for action in cli.build_parser()._actions for flag in action.option_strings}
    table = README.read_text().split("## Flags", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(--[a-z0-9-]+)", table))
    assert documented == flags - {"-h", "--help"}
    for line in table.splitlines():
        match = re.match(r"\| `(--[a-z0-9-]+)[^|]*\| `([^`]+)` \|", line)
        if match and match.group(1)[2:].replace("-", "_") in cli.DEFAULTS:
            default = cli.DEFAULTS[match.group(1)[2:].replace("-", "_")]
            shown = " ".join(map(str, default)) if isinstance(default, list) else str(default)
            assert match.group(2) == shown, line


def test_parsing_imports_no_numpy():
    code = ("import cli, sys; cli.resolve(cli.parse(['--dataset', 'sine'])); "
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=README.parent).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("flag, inside, outside", [
    ("--dropout", ["0", "0.999"], ["1", "-0.001"]),
    ("--momentum", ["0", "0.99"], ["1", "-0.1"]),
    ("--rho", ["0", "0.99"], ["1"]),
    ("--beta1", ["0", "0.99"], ["1"]),
    ("--beta2", ["0", "0.9999"], ["1"]),
    ("--learning-rate", ["1e-9", "5"], ["0", "-1", "inf", "nan"]),
    ("--decay", ["0", "1"], ["-1e-9", "inf"]),
    ("--epsilon", ["0", "1"], ["-1"]),
    ("--l1", ["0", "2"], ["-0.5"]),
    ("--l2", ["0", "2"], ["-0.5"]),
    ("--weight-scale", ["0", "1"], ["-0.1"]),
    ("--epochs", ["0", "5"], ["-1", "1.5"]),
    ("--batch-size", ["1"], ["0"]),
    ("--samples", ["1"], ["0"]),
    ("--classes", ["2", "256"], ["1", "257"]),
    ("--seed", ["0", "4294967295"], ["-1", "4294967296"]),
    ("--log-every", ["1"], ["0"]),
    ("--patience", ["1"], ["0"]),
    ("--min-delta", ["0"], ["-1"]),
    ("--threads", ["1", "4"], ["0"]),
    ("--checkpoint-every", ["1"], ["0"]),
    ("--gradient-sample", ["1"], ["0"]),
])
def test_documented_ranges_hold_at_their_edges(capsys, flag, inside, outside):
    for value in inside:
        assert getattr(cli.parse([flag, value]), flag[2:].replace("-", "_")) is not None
    for value in outside:
        with pytest.raises(SystemExit) as done:
            cli.parse([f"{flag}={value}"])  # "=": argparse takes "-1e-9" alone for a flag
        assert done.value.code == 2
        assert f"argument {flag}: must be" in capsys.readouterr().err


def test_each_optimizer_takes_exactly_its_own_flags():
    for name, entry in registry.OPTIMIZERS.items():
        for hyperparameter, spec in cli.hyperparameter_flags().items():
            args = cli.parse(["--optimizer", name, spec.flag, "0.5"])
            if hyperparameter in entry.defaults:
                assert cli.resolve(args)["hyperparameters"][hyperparameter] == 0.5
            else:
                with pytest.raises(cli.UsageError, match=f"does not apply to --optimizer {name}"):
                    cli.resolve(args)


@pytest.mark.parametrize("flags, message", [
    (["--checkpoint-every", "5"], "argument --checkpoint-every: needs --save"),
    (["--gradient-sample", "5"], "argument --gradient-sample: needs --check-gradients"),
    (["--predict", "x.csv"], "argument --predict: needs --load MODEL.npz"),
    (["--predict", "x.csv", "--load", "m.npz", "--epochs", "3"],
     "argument --predict: only predicts; it cannot be combined with --epochs"),
    (["--predict", "x.csv", "--load", "m.npz", "--save", "n.npz"],
     "argument --predict: only predicts; it cannot be combined with --save"),
    (["--dataset", "file"], "argument --dataset: file needs --data"),
    (["--data", "x.csv", "--dataset", "spiral"], "argument --data: does not apply"),
    (["--dataset", "digits", "--samples", "10"], "argument --samples: does not apply"),
])
def test_flags_that_need_or_exclude_each_other(flags, message):
    with pytest.raises(cli.UsageError, match="^" + re.escape(message)):
        resolve(*flags)


def test_data_alone_means_the_file_dataset_and_its_defaults():
    config = resolve("--data", "pets.csv")
    assert config["dataset"] == "file" and config["data"] == "pets.csv"
    assert config["hidden"] == [64] and config["batch_size"] == 32 and config["epochs"] == 200
    assert config["plot"] == Path("plots/pets-adam.png")


def test_the_readme_holds_the_whole_help_text(capsys):
    with pytest.raises(SystemExit):
        cli.parse(["--help"])
    text = capsys.readouterr().out
    readme = README.read_text()
    copy = readme.split("<summary>The whole of <code>python main.py --help</code>", 1)[1]
    copy = copy.split("```\n", 1)[1].split("```", 1)[0]
    assert copy == text


def test_a_refused_list_is_shown_as_it_is_typed():
    saved = dict(SAVED, hidden=[12, 8])
    with pytest.raises(cli.UsageError, match=re.escape(
            "argument --hidden: the network in 'x.npz' has --hidden 12 8, not 64 64")):
        resolve("--load", "x.npz", "--hidden", "64", "64", saved=saved)


@pytest.mark.parametrize("key, value, message", [
    ("hidden", 12, "has hidden 12, which must be a list of one or more values"),
    ("seed", [1], "has seed 1, which must be a value as on the command line"),
    ("batch_size", True, "has batch_size True, which must be N as on the command line"),
])
def test_a_saved_setting_of_the_wrong_type_is_refused_naming_it(key, value, message):
    with pytest.raises(cli.UsageError, match="^" + re.escape(
            f"argument --load: the run saved in 'x.npz' {message}") + "$"):
        resolve("--load", "x.npz", saved=dict(SAVED, **{key: value}))


@pytest.mark.parametrize("loss", ["binary", "mse", "mae"])
def test_another_programs_network_of_any_head_predicts_without_naming_a_dataset(loss):
    # A checkpoint written elsewhere records its network only, not the data it saw.
    foreign = dict(hidden=[8], loss=loss, dtype="float64")
    config = resolve("--load", "x.npz", "--predict", "new.csv", saved=foreign)
    assert config["loss"] == loss and config["predict"] == Path("new.csv")
    # Training or evaluating it still needs data that fits its head.
    with pytest.raises(cli.UsageError, match=f"has the {loss} head|is binary: give --classes 2"):
        resolve("--load", "x.npz", saved=foreign)


def test_a_long_saved_value_is_cut_short_in_its_refusal():
    with pytest.raises(cli.UsageError) as error:
        resolve("--load", "x.npz", saved=dict(SAVED, hidden=[64] * 200_000 + ["a"]))
    assert str(error.value) == (
        "argument --load: the run saved in 'x.npz' has hidden " + "64 " * 26 + "64... "
        "(600,001 characters), which must be a whole number from 1 to 100000, got 'a'")
    assert cli.shown([8, 16]) == "8 16" and cli.shown([]) == "[]" and cli.shown(0.5) == "0.5"
    assert cli.shown("x" * 80) == "x" * 80  # the limit itself is shown whole


def test_a_saved_network_without_hidden_layers_is_taken_as_it_is():
    # --hidden cannot say "none", but a checkpoint (another program's) can hold such a network.
    config = resolve("--load", "x.npz", "--predict", "new.csv",
                     saved=dict(hidden=[], loss="mse", dtype="float64"))
    assert config["hidden"] == []


def test_each_saved_item_of_a_list_flag_is_checked_as_the_flag_checks_it():
    # No list flag has choices today; one that does must not lose them for
    # its items when a saved run is read back.
    flag = argparse.ArgumentParser().add_argument("--widths", nargs="+", type=int,
                                                  choices=[8, 16], metavar="W")
    assert cli._as_flag(flag, [16, 8]) == [16, 8]
    with pytest.raises(ValueError, match="^is not one of 8, 16$"):
        cli._as_flag(flag, [8, 32])
    with pytest.raises(ValueError, match="^must be W as on the command line$"):
        cli._as_flag(flag, [8, [16]])
    with pytest.raises(ValueError, match="^must be a list of one or more values$"):
        cli._as_flag(flag, [])


def test_a_head_from_the_file_and_a_head_given_are_refused_in_their_own_words():
    saved = dict(SAVED, loss="mse")
    with pytest.raises(cli.UsageError) as error:
        resolve("--load", "x.npz", saved=saved)
    assert str(error.value) == ("argument --dataset: the network in 'x.npz' has the mse head, "
                                "which does not fit --dataset spiral (classes)")
    with pytest.raises(cli.UsageError) as error:
        resolve("--load", "x.npz", "--loss", "mse", saved=saved)
    assert str(error.value) == ("argument --loss: mse does not fit --dataset spiral (classes); "
                                "choose categorical or binary")
