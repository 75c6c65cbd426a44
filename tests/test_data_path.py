"""Whole-program behaviour of the data path and its faults (issue 18), through main.main."""

import errno
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main
from program import checkpoint, cli, experiment


def test_a_periodic_checkpoint_that_cannot_be_written_ends_in_3_with_the_rest_written(
        tmp_path, monkeypatch, capsys):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "write", full_disk)
    metrics, plot = tmp_path / "m.csv", tmp_path / "p.png"
    status = main.main(["--epochs", "6", "--log-every", "2", "--log-level", "WARNING",
                        "--samples", "10", "--save", str(tmp_path / "n.npz"),
                        "--checkpoint-every", "2", "--metrics", str(metrics),
                        "--plot", str(plot)])
    out, err = capsys.readouterr()
    assert status == 3
    assert metrics.exists() and plot.exists()
    assert metrics.read_text().splitlines()[-1].startswith("6,")  # training went on to the end
    lines = err.splitlines()
    assert lines[0] == (f"main.py: error: cannot write '{tmp_path / 'n.npz'}': No space left on "
                        "device (at epoch 2; training goes on)")
    assert len([line for line in lines if "at epoch" in line]) == 1  # one line, not one per try
    assert out.startswith("completed: 6/6 epochs")


# -- Reading a CSV file as the flags say (--header, --label-column) and checking it early ------

def write_rows(path, rows, header=None):
    lines = ([header] if header is not None else []) + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def blobs(n=40, seed=0, label_first=False):
    """Rows of two features and a class: "a" near (-1, -1), "b" near (1, 1)."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(n):
        name, centre = ("a", -1.0) if index % 2 else ("b", 1.0)
        x = [f"{v:.4f}" for v in centre + 0.3 * rng.standard_normal(2)]
        rows.append([name, *x] if label_first else [*x, name])
    return rows


QUIET = ["--no-plot", "--log-level", "WARNING"]


def test_header_flag_decides_a_first_row_the_rule_cannot(tmp_path, capsys):
    # "NA" beside numbers: the rule cannot tell a header from a row with a gap.
    path = write_rows(tmp_path / "na.csv", blobs(), header="NA,1.5,a")
    assert main.main(["--data", str(path), "--epochs", "1", *QUIET]) == 2
    err = capsys.readouterr().err
    assert "line 1" in err and "--header yes or --header no" in err
    assert main.main(["--data", str(path), "--epochs", "1", "--header", "yes", *QUIET]) == 0
    assert "epochs" in capsys.readouterr().out
    # Read as data, "NA" is named where it stands.
    assert main.main(["--data", str(path), "--epochs", "1", "--header", "no", *QUIET]) == 2
    assert "line 1, column 1: 'NA' is not a number" in capsys.readouterr().err


def test_label_column_flag_reads_a_label_first_file_and_a_resumed_run_keeps_it(tmp_path,
                                                                               capsys):
    path = write_rows(tmp_path / "first.csv", blobs(label_first=True))
    saved = tmp_path / "m.npz"
    assert main.main(["--data", str(path), "--epochs", "30", "--label-column", "first",
                      "--save", str(saved), *QUIET]) == 0
    assert "validation accuracy 1.000" in capsys.readouterr().out
    # Going on needs no flag: the saved run read its file with --label-column first.
    assert main.main(["--load", str(saved), "--epochs", "1", *QUIET]) == 0
    capsys.readouterr()
    assert checkpoint.load(saved).config["label_column"] == "first"


@pytest.mark.parametrize("flags, message", [
    (["--header", "yes"], "argument --header: does not apply to --dataset spiral"),
    (["--dataset", "digits", "--label-column", "2"],
     "argument --label-column: does not apply to --dataset digits"),
    (["--load", "m.npz", "--predict", "x.csv", "--label-column", "first"],
     "argument --label-column: the inputs of --predict have no label column"),
])
def test_reading_flags_are_refused_where_they_do_not_apply(flags, message):
    with pytest.raises(cli.UsageError, match="^" + re.escape(message)):
        cli.resolve(cli.parse(flags))


@pytest.mark.parametrize("flag, value", [("--header", "yes"), ("--label-column", "first")])
def test_reading_flags_are_refused_for_a_folder_of_images(tmp_path, flag, value):
    with pytest.raises(cli.UsageError, match="^" + re.escape(
            f"argument {flag}: does not apply to a folder of images, --data '{tmp_path}'")):
        cli.resolve(cli.parse(["--data", str(tmp_path), flag, value]))


def test_load_with_data_of_another_width_names_both_flags_and_widths_before_reading_on(
        tmp_path, capsys):
    saved = tmp_path / "m.npz"
    assert main.main(["--data", str(write_rows(tmp_path / "two.csv", blobs())),
                      "--epochs", "1", "--save", str(saved), *QUIET]) == 0
    capsys.readouterr()
    # Three features, and a broken row later on: the width is refused first, from row 1.
    rows = [[1, 2, 3, "a"], [4, 5, 6, "b"]] * 10 + [["x", "y"]]
    wide = write_rows(tmp_path / "three.csv", rows)
    assert main.main(["--load", str(saved), "--data", str(wide), *QUIET]) == 2
    err = capsys.readouterr().err
    assert err == (f"main.py: error: argument --load: the network in '{saved}' takes 2 "
                   f"features; --data '{wide}' has 3 features a sample\n")


def test_a_network_too_large_for_the_data_is_refused_before_the_file_is_read(tmp_path,
                                                                              monkeypatch,
                                                                              capsys):
    rows = [[1, 2, "a"], [3, 4, "b"]] * 5 + [["broken"]]
    path = write_rows(tmp_path / "small.csv", rows)
    monkeypatch.setattr(experiment, "MAX_NETWORK_BYTES", 10_000)
    assert main.main(["--data", str(path), "--hidden", "100", "100", *QUIET]) == 2
    err = capsys.readouterr().err
    assert err.startswith("main.py: error: argument --hidden: a 2-100-100-... network for "
                          f"--data '{path}' has at least 10,501 parameters")
    assert len(err.splitlines()) == 1


def test_predict_takes_columns_by_the_names_the_model_was_trained_on(tmp_path, monkeypatch,
                                                                     capsys):
    # The feature names as the lead's save_checkpoint writes them: the training header's.
    write = checkpoint.write

    def with_features(*args, **kwargs):
        return write(*args, **dict(kwargs, features=["x1", "x2"]))

    monkeypatch.setattr(checkpoint, "write", with_features)
    data = write_rows(tmp_path / "train.csv", blobs(), header="x1,x2,label")
    saved = tmp_path / "m.npz"
    assert main.main(["--data", str(data), "--epochs", "30", "--save", str(saved), *QUIET]) == 0
    capsys.readouterr()
    ordered = write_rows(tmp_path / "ordered.csv", [[-1, -0.5], [1, 0.5]], header="x1,x2")
    swapped = write_rows(tmp_path / "swapped.csv", [[-0.5, -1], [0.5, 1]], header="x2,x1")
    answers = []
    for path in (ordered, swapped):
        assert main.main(["--load", str(saved), "--predict", str(path)]) == 0
        answers.append([line.split()[1:] for line in capsys.readouterr().out.splitlines()])
    assert answers[0] == answers[1] and [a[0] for a in answers[0]] == ["a", "b"]
    other = write_rows(tmp_path / "other.csv", [[1, 2]], header="x1,x3")
    assert main.main(["--load", str(saved), "--predict", str(other)]) == 2
    err = capsys.readouterr().err
    assert "no column 'x2'" in err and "'x3'" in err and len(err.splitlines()) == 1
    # --header no reads a first row of names as... a row, and names the cell.
    assert main.main(["--load", str(saved), "--predict", str(ordered), "--header", "no"]) == 2
    assert "line 1, column 1: 'x1' is not a number" in capsys.readouterr().err


# -- Group 14: output paths -----------------------------------------------------------------

@pytest.mark.parametrize("flag", ["--save", "--metrics", "--plot", "--animate"])
@pytest.mark.parametrize("text", ["out/", "out/.", "."])
def test_an_output_naming_a_folder_is_refused_not_written_as_a_file(tmp_path, monkeypatch,
                                                                    capsys, flag, text):
    monkeypatch.chdir(tmp_path)
    assert main.main(["--epochs", "1", "--samples", "5", flag, text]) == 2
    err = capsys.readouterr().err
    assert err == (f"main.py: error: argument {flag}: must name a file, not a folder: got "
                   f"'{text}' (see --help)\n")
    assert list(tmp_path.iterdir()) == []


def test_the_default_figure_of_a_folder_given_as_dot_is_named_after_the_folder(tmp_path,
                                                                                monkeypatch,
                                                                                capsys):
    folder = tmp_path / "pets"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for given in (".", "./", str(folder) + "/"):
        config = cli.resolve(cli.parse(["--data", given]))
        assert config["plot"].name == "pets-adam.png", given
    # There, inside the images, it would be read as data by the next run.
    assert main.main(["--data", ".", "--epochs", "1"]) == 2
    assert capsys.readouterr().err == (
        "main.py: error: argument --plot: 'plots/pets-adam.png' is inside the folder of "
        "--data '.', which the next run would read as data; give --plot PATH outside it, or "
        "--no-plot\n")


@pytest.mark.parametrize("flag, name", [("--plot", "cat/figure.png"), ("--save", "m.npz"),
                                        ("--metrics", "dog/deeper/m.csv")])
def test_an_output_inside_the_image_folder_of_data_is_refused(tmp_path, capsys, flag, name):
    root = tmp_path / "images"
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
    before = sorted(root.rglob("*"))
    no_plot = ["--no-plot"] if flag != "--plot" else []
    assert main.main(["--data", str(root), "--epochs", "1", *no_plot, flag,
                      str(root / name)]) == 2
    err = capsys.readouterr().err
    fix = "give --plot PATH outside it, or --no-plot" if flag == "--plot" else \
        "write it elsewhere"
    assert err == (f"main.py: error: argument {flag}: '{root / name}' is inside the folder of "
                   f"--data '{root}', which the next run would read as data; {fix}\n")
    assert sorted(root.rglob("*")) == before


@pytest.mark.parametrize("flag, path", [("--save", "/proc/x/y.npz"),
                                        ("--plot", "/proc/no/dir/x.png"),
                                        ("--metrics", "/proc/m.csv")])
def test_an_output_whose_folder_cannot_be_created_is_refused_before_training(capsys, flag,
                                                                              path):
    assert main.main(["--epochs", "1", "--samples", "5", flag, path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing trained
    # Root may write anywhere by its permissions, yet creates nothing in /proc.
    assert captured.err.startswith(f"main.py: error: argument {flag}: cannot write '{path}': ")
    assert "'/proc'" in captured.err and len(captured.err.splitlines()) == 1


# -- Group 13: closed standard streams --------------------------------------------------------

REPOSITORY = Path(__file__).resolve().parent.parent


def shell(command, tmp_path):
    """main.py run by the shell, so that a stream can be closed with >&- or 2>&-."""
    return subprocess.run(["bash", "-c", f"{sys.executable} main.py {command}"],
                          cwd=REPOSITORY, capture_output=True, text=True, timeout=120)


def test_a_closed_standard_output_writes_the_files_says_so_and_ends_in_141(tmp_path):
    saved = tmp_path / "n.npz"
    done = shell(f"--epochs 3 --samples 5 --no-plot --log-level WARNING --save {saved} >&-",
                 tmp_path)
    assert done.returncode == 141
    assert saved.exists()  # the work is kept; only the report is lost
    assert done.stderr == ("main.py: error: standard output is closed: the results could "
                           "not be printed\n")


def test_a_closed_standard_error_keeps_errors_out_of_standard_output(tmp_path):
    refused = shell("--epochs 3 --samples 5 --no-plot --dataset sine --loss binary 2>&-",
                    tmp_path)
    assert refused.returncode == 2 and refused.stdout == ""
    bad_flag = shell("--hidden 0 2>&-", tmp_path)
    assert bad_flag.returncode == 2 and bad_flag.stdout == ""
    ran = shell("--epochs 3 --samples 5 --no-plot 2>&-", tmp_path)  # logs at INFO: dropped
    assert ran.returncode == 0 and ran.stdout.startswith("completed: 3/3 epochs")
    assert len(ran.stdout.splitlines()) == 1


def test_main_puts_the_standard_streams_back(monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    monkeypatch.setattr(experiment, "run", lambda args, stop: print("answer") or 0)
    assert main.main(["--no-plot"]) == 141  # the answer met a closed output
    assert sys.stdout is None and sys.stderr is None


# -- Group 12: names from a file never reach the terminal raw --------------------------------

def test_class_names_from_a_csv_reach_no_terminal_raw_in_a_refusal(tmp_path, capsys):
    saved = tmp_path / "m.npz"
    assert main.main(["--data", str(write_rows(tmp_path / "ab.csv", blobs())), "--epochs",
                      "1", "--save", str(saved), *QUIET]) == 0
    capsys.readouterr()
    escape = "\x1b[2J\x1b[31mred"
    rows = [[x1, x2, escape if label == "a" else "b"] for x1, x2, label in blobs()]
    other = write_rows(tmp_path / "escape.csv", rows)
    assert main.main(["--load", str(saved), "--data", str(other), "--epochs", "0",
                      *QUIET]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and len(err.splitlines()) == 1
    assert err.endswith(f"has {escape!r}, b\n")


def test_a_refusal_shows_ten_class_names_at_most_each_cut_short():
    from program import data

    names = [f"class{k}" for k in range(12)] + ["x" * 100]
    assert data.names_text(names) == ", ".join(names[:10]) + " and 3 more"
    assert data.names_text(["y" * 50, "\t"]) == "y" * 40 + "..., '\\t'"


def test_a_prediction_names_an_image_file_without_its_escapes(tmp_path, capsys):
    from PIL import Image

    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for label in ("dark", "light"):
        (root / label).mkdir(parents=True)
        for k in range(6):
            level = 40 if label == "dark" else 210
            pixels = (level + rng.integers(0, 20, (4, 4))).astype(np.uint8)
            Image.fromarray(pixels).save(root / label / f"{k}.png")
    saved = tmp_path / "m.npz"
    assert main.main(["--data", str(root), "--epochs", "20", "--save", str(saved),
                      *QUIET]) == 0
    capsys.readouterr()
    inputs = tmp_path / "new"
    inputs.mkdir()
    Image.fromarray(np.full((4, 4), 220, np.uint8)).save(inputs / "\x1b[31mred.png")
    assert main.main(["--load", str(saved), "--predict", str(inputs)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and out.startswith("'\\x1b[31mred.png'  light")


# -- Group 11: messages that name the flag and the right thing ---------------------------------

def test_a_binary_head_on_three_classes_is_refused_naming_loss_and_the_classes(tmp_path,
                                                                               capsys):
    rows = [[k, k + 1, "abc"[k % 3]] for k in range(12)]
    path = write_rows(tmp_path / "three.csv", rows)
    assert main.main(["--data", str(path), "--loss", "binary", *QUIET]) == 2
    assert capsys.readouterr().err == (
        f"main.py: error: argument --loss: binary crossentropy needs 2 classes, got 3; --data "
        f"'{path}' has 3 classes: a, b, c\n")


def test_a_loaded_binary_network_on_three_classes_is_refused_naming_load(tmp_path, capsys):
    saved = tmp_path / "m.npz"
    assert main.main(["--data", str(write_rows(tmp_path / "ab.csv", blobs())), "--epochs",
                      "1", "--loss", "binary", "--save", str(saved), *QUIET]) == 0
    capsys.readouterr()
    rows = [[k, k + 1, "abc"[k % 3]] for k in range(12)]
    path = write_rows(tmp_path / "three.csv", rows)
    assert main.main(["--load", str(saved), "--data", str(path), *QUIET]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"main.py: error: argument --load: the network in '{saved}' has the "
                          "binary head: binary crossentropy needs 2 classes, got 3")


@pytest.mark.parametrize("flag", ["--data", "--predict"])
def test_a_symlink_loop_and_a_dangling_link_are_called_what_they_are(tmp_path, capsys, flag):
    saved = tmp_path / "m.npz"
    assert main.main(["--data", str(write_rows(tmp_path / "ab.csv", blobs())), "--epochs",
                      "1", "--save", str(saved), *QUIET]) == 0
    capsys.readouterr()
    loop, dangling = tmp_path / "loop.csv", tmp_path / "dangling.csv"
    loop.symlink_to(loop)
    dangling.symlink_to(tmp_path / "gone.csv")
    load = ["--load", str(saved)] if flag == "--predict" else []
    assert main.main([*load, flag, str(loop), *QUIET]) == 2
    assert capsys.readouterr().err == (f"main.py: error: '{loop}' is a loop of symbolic links "
                                       "(it never reaches a file)\n")
    assert main.main([*load, flag, str(dangling), *QUIET]) == 2
    assert capsys.readouterr().err == (f"main.py: error: '{dangling}' is a symbolic link to "
                                       f"'{tmp_path / 'gone.csv'}', which does not exist\n")


# -- Group 10: a loaded run's data path ----------------------------------------------------------

def test_a_missing_csv_of_a_loaded_run_says_it_came_from_the_checkpoint(tmp_path, monkeypatch,
                                                                         capsys):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(work)
    write_rows(work / "pets.csv", blobs())
    assert main.main(["--data", "pets.csv", "--epochs", "1", "--save", "m.npz", *QUIET]) == 0
    capsys.readouterr()
    monkeypatch.chdir(elsewhere)
    saved = work / "m.npz"
    assert main.main(["--load", str(saved), "--epochs", "0", *QUIET]) == 2
    assert capsys.readouterr().err == (
        f"main.py: error: 'pets.csv' does not exist: it is the --data of the run saved in "
        f"'{saved}', relative to the folder that run started in; give --data PATH to read "
        f"the data from elsewhere\n")
    # --data says where it is now; --predict never needs it.
    assert main.main(["--load", str(saved), "--epochs", "0", "--data",
                      str(work / "pets.csv"), *QUIET]) == 0
    new = write_rows(elsewhere / "new.csv", [[1, 1]])
    assert main.main(["--load", str(saved), "--predict", str(new)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split()[:2] == ["new.csv:1", "b"]


# -- Memory: --predict answers in steps -------------------------------------------------------

def test_predict_answers_in_steps_exactly_as_all_at_once(tmp_path, monkeypatch, capsys):
    saved = tmp_path / "m.npz"
    assert main.main(["--data", str(write_rows(tmp_path / "ab.csv", blobs())), "--epochs",
                      "20", "--save", str(saved), *QUIET]) == 0
    capsys.readouterr()
    rows = np.random.default_rng(1).standard_normal((9, 2)).round(3).tolist()
    new = write_rows(tmp_path / "new.csv", rows)
    answers = []
    for step in (len(rows), 2):  # all at once; in steps of 2, the last step short
        monkeypatch.setattr(experiment, "PREDICT_ROWS", step)
        assert main.main(["--load", str(saved), "--predict", str(new)]) == 0
        answers.append(capsys.readouterr().out)
    assert answers[0] == answers[1] and len(answers[0].splitlines()) == 9


def test_outputs_in_steps_never_pass_more_rows_than_a_step(monkeypatch):
    seen = []

    class Network:
        def outputs(self, x):
            seen.append(len(x))
            return x * 2

    monkeypatch.setattr(experiment, "PREDICT_ROWS", 4)
    x = np.arange(22.0).reshape(11, 2)
    np.testing.assert_array_equal(experiment._outputs_in_steps(Network(), x), x * 2)
    assert seen == [4, 4, 3]


def test_load_with_data_whose_header_names_other_columns_is_refused_naming_both(
        tmp_path, monkeypatch, capsys):
    write = checkpoint.write  # the feature names as the lead's save_checkpoint writes them
    monkeypatch.setattr(checkpoint, "write",
                        lambda *args, **kwargs: write(*args, **dict(kwargs, features=["x1", "x2"])))
    saved = tmp_path / "m.npz"
    assert main.main(["--data", str(write_rows(tmp_path / "a.csv", blobs(), "x1,x2,label")),
                      "--epochs", "1", "--save", str(saved), *QUIET]) == 0
    capsys.readouterr()
    for header, said in (("x2,x1,label", "x2, x1 (the same, in another order)"),
                         ("height,x2,label", "height, x2")):
        other = write_rows(tmp_path / "b.csv", blobs(), header)
        assert main.main(["--load", str(saved), "--data", str(other), "--epochs", "1",
                          *QUIET]) == 2
        assert capsys.readouterr().err == (
            f"main.py: error: argument --load: the network in '{saved}' was trained on the "
            f"columns x1, x2; --data '{other}' has {said}\n")
    # Without a header, the columns are taken as they stand.
    plain = write_rows(tmp_path / "c.csv", blobs())
    assert main.main(["--load", str(saved), "--data", str(plain), "--epochs", "1", *QUIET]) == 0


def test_images_too_large_for_the_network_are_refused_after_the_first_one(tmp_path,
                                                                           monkeypatch, capsys):
    from PIL import Image

    root = tmp_path / "photos"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        Image.fromarray(np.zeros((40, 30), np.uint8)).save(root / label / "0.png")
        (root / label / "1.png").write_bytes(b"not an image: never read")
    monkeypatch.setattr(experiment, "MAX_NETWORK_BYTES", 10_000)
    assert main.main(["--data", str(root), *QUIET]) == 2
    err = capsys.readouterr().err
    assert err.startswith("main.py: error: argument --hidden: a 1200-64-... network for --data "
                          f"'{root}' has at least ")


def test_a_digits_network_answers_for_png_images_of_digits(tmp_path, capsys):
    # The digits' pixels are 0..16, a PNG's 0..255: the dataset reads them on the images'
    # scale, so the saved statistics fit both (a PNG was 16 times too bright before).
    pytest.importorskip("sklearn")
    from PIL import Image
    from sklearn.datasets import load_digits

    import main

    model = tmp_path / "digits.npz"
    assert main.main(["--dataset", "digits", "--conv", "16", "32", "--epochs", "10",
                      "--no-plot", "--log-level", "WARNING", "--save", str(model)]) == 0
    x, y = load_digits(return_X_y=True)
    folder = tmp_path / "png"
    folder.mkdir()
    for index in range(1000, 1020):
        pixels = (x[index].reshape(8, 8) * 255 / 16).astype("uint8")
        Image.fromarray(pixels).save(folder / f"{index}.png")
    capsys.readouterr()
    assert main.main(["--load", str(model), "--predict", str(folder)]) == 0
    answers = [int(line.split()[1]) for line in capsys.readouterr().out.splitlines()]
    right = sum(answer == label for answer, label in zip(answers, y[1000:1020], strict=True))
    assert right >= 19  # 16 of 20 when the images were read 16 times too bright


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_standard_output_on_a_full_disk_is_one_line_and_exit_3(tmp_path):
    saved = tmp_path / "n.npz"
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, str(Path(__file__).parent.parent / "main.py"),
                               "--samples", "10", "--epochs", "3", "--no-plot", "--save",
                               str(saved)], stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=120)
    assert done.returncode == 3 and saved.exists()
    assert "Traceback" not in done.stderr
    assert done.stderr.endswith("main.py: error: cannot print the results to standard "
                                "output: No space left on device\n")


def test_a_text_file_named_as_an_image_is_refused_as_not_an_image(tmp_path):
    from program import data

    fake = tmp_path / "photo.png"
    fake.write_text("1,2\n3,4\n")
    with pytest.raises(data.DataError, match=r"photo.png' is not a readable image, though "
                                             r"its name ends in \.png"):
        data.prediction_inputs(fake, 2)


def test_a_label_column_of_distinct_values_asks_whether_the_label_is_elsewhere(tmp_path):
    from program import data

    rows = tmp_path / "first.csv"  # label first, no header: the last column is a measurement
    rows.write_text("\n".join(f"{i % 3},{i * 0.37:.2f},{i * 1.13:.3f}" for i in range(30)))
    with pytest.raises(data.DataError, match=r"every one of the 30 classes in column 3 .*"
                                             r"give --label-column"):
        data.from_path(rows)
