import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from program import cli, registry

ROOT = Path(__file__).resolve().parent.parent
# The page of the flags: a table and a copy of --help generated from the parser (below).
FLAGS = ROOT / "docs" / "flags.md"


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
        registry.OPTIMIZERS["gd"].defaults, momentum=0.5)
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
    # A name with a space, which no registered part can take.
    (["--loss", "no such loss"], "--loss: invalid choice: 'no such loss'"),
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
    for name, entry in registry.OPTIMIZERS.items():
        assert f"{name} {entry.defaults['learning_rate']:g}" in help_of("--learning-rate")
    for status in ("0 done", "1 training diverged", "2 bad input", "3 an output could not",
                   "129 stopped by SIGHUP", "130 stopped by Ctrl-C",
                   "141 standard output closed or a pipe of either output closed early",
                   "143 stopped by SIGTERM"):
        assert status in text


def help_of(flag):
    """The help text of one flag, as the parser built from the registries of the moment has it."""
    return next(action.help for action in cli.build_parser()._actions
                if flag in action.option_strings)


@pytest.fixture
def made_up_parts(monkeypatch):
    """Registries of made-up parts, so that help texts can be checked word for word."""
    monkeypatch.setattr(registry, "OPTIMIZERS", {
        "one": registry.Optimizer("optimizers:SGD", "the first rule",
                                  dict(learning_rate=0.5, decay=0.0)),
        "two": registry.Optimizer("optimizers:SGD", "the second rule",
                                  dict(learning_rate=1e-7, decay=0.0, momentum=0.9),
                                  aliases=("deux",)),
    })
    monkeypatch.setattr(registry, "HEADS", {
        "ours": registry.Head("heads:Classes", "softmax + our loss", "classes")})
    monkeypatch.setattr(registry, "DATASETS", {
        "plain": registry.Dataset("program.data:spiral", "no defaults of its own", "classes"),
        "tuned": registry.Dataset("program.data:sine", "defaults of its own", "regression",
                                  defaults=dict(hidden=[8, 8], weight_scale=0.5),
                                  optimizer_defaults=dict(two=dict(learning_rate=2.0),
                                                          one=dict(decay=0.25))),
        "fast": registry.Dataset("program.data:spiral", "a faster rule", "classes",
                                 optimizer_defaults=dict(one=dict(learning_rate=3.0))),
    })


def test_help_texts_are_generated_from_the_registries(made_up_parts):
    # Each optimizer's default, then each dataset's own; "only" when not every optimizer
    # takes the flag; numbers as %g writes them.
    assert help_of("--learning-rate") == ("initial learning rate (default: one 0.5, two 1e-07; "
                                          "tuned: two 2; fast: one 3)")
    assert help_of("--decay") == ("learning-rate decay: step t uses LR / (1 + decay * t), "
                                  "or LR * exp(-decay * t) with --schedule exponential "
                                  "(default: one 0, two 0; tuned: one 0.25)")
    assert help_of("--momentum") == "two only: momentum, in [0, 1) (default: two 0.9)"
    assert help_of("--optimizer").startswith(
        "update rule: one (the first rule); two (the second rule; also 'deux'); all: ")
    assert help_of("--loss").startswith("output head and loss: ours: softmax + our loss (")
    assert help_of("--dataset") == ("plain: no defaults of its own; tuned: defaults of its "
                                    "own; fast: a faster rule (default: spiral)")
    assert help_of("--hidden").endswith("(default: 64; tuned: 8 8)")
    assert help_of("--weight-scale").endswith("(default: 0.01; tuned: 0.5)")
    # A flag only for the hyperparameters that some optimizer takes.
    assert "--rho" not in cli.build_parser().format_help()


def test_the_help_shows_every_default_of_the_program():
    helps = {action.dest: action.help for action in cli.build_parser()._actions}
    for key, default in cli.DEFAULTS.items():
        if default is None:  # said in words: "the full batch", "never stop early"...
            continue
        shown = ((" ".join(map(str, default)) or "none") if isinstance(default, list)
                 else f"{default:g}" if isinstance(default, float) else str(default))
        match = re.search(r"\(default: ([^;,)]*)", helps[key])
        assert match and match.group(1) == shown, (key, helps[key])


# docs/flags.md's table of flags and its copy of --help are generated from the parser:
# this command rewrites both, and the tests below fail, saying to run it, until it is.
REGENERATE = "python -m tests.test_cli"
OUT_OF_DATE = (f"docs/flags.md's flags table or --help copy is not what the parser says: run "
               f"`{REGENERATE}` in the repository root to rewrite them, then review the diff")
HELP_SUMMARY = "<summary>The whole of <code>python main.py --help</code>"


def flags_table(parser):
    """The table of flags of docs/flags.md: one row per flag of ``parser``, in its order.

    The default column is what the flag's help says in its closing "(default: ...)",
    else "off" for a switch and "none" for a value; the meaning is the rest of the help.
    """
    formatter = parser._get_formatter()
    rows = ["| flag | default | meaning |", "| --- | --- | --- |"]
    for action in parser._actions:
        if "--help" in action.option_strings:
            continue
        meaning = formatter._expand_help(action)
        written = re.fullmatch(r"(.*) \(default: (.*)\)", meaning, flags=re.S)
        if written:
            meaning, default = written.groups()
        else:
            default = ("off" if action.default is False
                       else "" if action.default == argparse.SUPPRESS else "none")
        flag = formatter._format_action_invocation(action)
        rows.append(f"| `{flag}` | {_markdown(default)} | {_markdown(meaning)} |")
    return "\n".join(rows) + "\n"


def _markdown(text):
    """Help text as a table cell: < and > escaped (else taken for HTML), | (a cell border)."""
    return re.sub(r"([<>|])", r"\\\1", text)


def _copies(text):
    """Where the flags table and the --help copy stand in docs/flags.md: two (start, end)."""
    table = text.index("\n| flag | default | meaning |\n") + 1
    block = text.index("```\n", text.index(HELP_SUMMARY)) + len("```\n")
    return (table, text.index("\n\n", table) + 1), (block, text.index("```", block))


def regenerated(text):
    """docs/flags.md's ``text`` with its flags table and --help copy rewritten from the parser."""
    parser = cli.build_parser()
    (table, table_end), (block, block_end) = _copies(text)
    return (text[:table] + flags_table(parser) + text[table_end:block]
            + parser.format_help() + text[block_end:])


def test_the_flags_page_lists_every_flag_as_the_parser_has_it():
    text = FLAGS.read_text()
    (start, end), _ = _copies(text)
    assert text[start:end] == flags_table(cli.build_parser()), OUT_OF_DATE


def test_the_flags_table_gives_defaults_and_meanings_in_markdown():
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--version", action="version", version="1")
    parser.add_argument("--plot", metavar="PATH", help="the figure (default: <name>.png)")
    parser.add_argument("--show", action="store_true", help="with --plot: open it | print it")
    parser.add_argument("--hidden", nargs="+", type=int, metavar="W", help="widths")
    assert flags_table(parser).splitlines() == [
        "| flag | default | meaning |", "| --- | --- | --- |",
        "| `--version` |  | show program's version number and exit |",
        r"| `--plot PATH` | \<name\>.png | the figure |",
        r"| `--show` | off | with --plot: open it \| print it |",
        "| `--hidden W [W ...]` | none | widths |"]


def test_the_regeneration_rewrites_the_two_copies_and_nothing_else():
    text = FLAGS.read_text()
    (table, table_end), (block, block_end) = _copies(text)
    stale = (text[:table] + "| flag | default | meaning |\n| `--old` | 1 | gone |\n"
             + text[table_end:block] + "usage: old\n" + text[block_end:])
    assert regenerated(stale) == text, OUT_OF_DATE


def test_parsing_imports_no_numpy():
    code = ("from program import cli; import sys; cli.resolve(cli.parse(['--dataset', 'sine'])); "
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
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


def test_the_flags_page_holds_the_whole_help_text(capsys):
    with pytest.raises(SystemExit):
        cli.parse(["--help"])
    text = FLAGS.read_text()
    _, (start, end) = _copies(text)
    assert text[start:end] == capsys.readouterr().out, OUT_OF_DATE


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


# The heads that do not fit the default data, the 3 classes of the spiral.
@pytest.mark.parametrize("loss", [name for name, entry in registry.HEADS.items()
                                  if entry.task != "classes"])
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
    fitting = [name for name, entry in registry.HEADS.items()
               if entry.task in registry.TASKS["classes"]]
    assert {"categorical", "binary"} <= set(fitting)
    assert str(error.value) == ("argument --loss: mse does not fit --dataset spiral (classes); "
                                f"choose {' or '.join(fitting)}")


if __name__ == "__main__":
    # python -m tests.test_cli: docs/flags.md's flags table and --help copy, rewritten.
    FLAGS.write_text(regenerated(FLAGS.read_text()))
    print(f"rewrote the flags table and the --help copy in {FLAGS}")


def test_the_table_of_optimizer_defaults_has_every_registered_optimizer():
    # docs/flags.md's table beside the book's settings is written by hand: it must keep up.
    text = FLAGS.read_text()
    rows = {line.split("|")[1].strip().split()[0].strip("`"): line.split("|")[2:4]
            for line in text.splitlines() if line.startswith("| `")}
    for name, entry in registry.OPTIMIZERS.items():
        assert name in rows, f"docs/flags.md: no row for --optimizer {name} in the defaults table"
        rate, decay = (float(cell) for cell in rows[name])
        assert (rate, decay) == (entry.defaults["learning_rate"], entry.defaults["decay"])


def test_decay_is_refused_with_the_cosine_schedule():
    with pytest.raises(cli.UsageError, match="argument --decay: does not apply to --schedule "
                                             "cosine"):
        cli.resolve(cli.parse(["--schedule", "cosine", "--decay", "0.1"]))
    assert cli.resolve(cli.parse(["--schedule", "cosine"]))["schedule"] == "cosine"
