import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import main
from program import cli, experiment, interrupts, plots, registry, sweep
from program.sweep import FAILED, NOT_RUN, Cell, Result
from program.train import COMPLETED, DIVERGED, INTERRUPTED

REPOSITORY = Path(__file__).resolve().parent.parent
# Short runs: few epochs on few points, and quiet.
SHORT = ["--epochs", "200", "--log-every", "50", "--samples", "30", "--log-level", "WARNING"]
TINY = ["--epochs", "20", "--log-every", "5", "--samples", "10", "--hidden", "4",
        "--log-level", "WARNING"]


def axes_of(*flags):
    return cli.parse(list(flags)).sweep


# ---------------------------------------------------------------------------
# Parsing: each value by its own flag's parser


def test_each_value_is_parsed_by_its_own_flag_and_shown_as_it_reads_back():
    learning_rate, hidden, seed = axes_of(
        "--sweep", "learning_rate=0.005,5e-4,1", "--sweep", "hidden=64,64x32",
        "--sweep", "seed=3,0")
    (optimizer,) = axes_of("--sweep", "optimizer=SGD,adam")
    assert (learning_rate.flag, learning_rate.dest, learning_rate.name) == (
        "--learning-rate", "learning_rate", "learning-rate")
    assert learning_rate.values == (0.005, 5e-4, 1.0)
    assert learning_rate.labels == ("0.005", "0.0005", "1")
    assert hidden.values == ([64], [64, 32]) and hidden.labels == ("64", "64x32")
    assert optimizer.values == ("gd", "adam")  # an alias, in any case, is the optimizer's name
    assert seed.values == (3, 0) and seed.labels == ("3", "0")
    assert cli.parse([]).sweep is None


def test_every_sweepable_flag_is_a_flag_of_the_parser():
    options = {option for action in cli.build_parser()._actions
               for option in action.option_strings}
    assert {f"--{name}" for name in cli.sweepable()} <= options
    assert {"learning-rate", "l2", "dropout", "hidden", "batch-size", "optimizer", "seed",
            "momentum"} <= set(cli.sweepable())


REFUSED = [
    (["--sweep", "l2=abc"],
     "main.py: error: --sweep l2=abc: argument --l2: must be a finite number >= 0, got 'abc' "
     "(see --help)"),
    (["--sweep", "learning-rate=0.01,-1"],
     "main.py: error: --sweep learning-rate=-1: argument --learning-rate: must be a finite "
     "number > 0, got '-1' (see --help)"),
    (["--sweep", "hidden=64,64x"],
     "main.py: error: --sweep hidden=64x: argument --hidden: must be a whole number from 1 to "
     "100000, got '' (see --help)"),
    (["--sweep", "optimizer=adam,nesterov"],
     "main.py: error: --sweep optimizer=nesterov: argument --optimizer: invalid choice: "
     "'nesterov' (choose from"),
    (["--sweep", "optimizer=adam,all"],
     "main.py: error: --sweep optimizer=all: name the optimizers one by one"),
    (["--sweep", "save=a.npz,b.npz"],
     "main.py: error: argument --sweep: --save is not a hyperparameter; a sweep varies one of "
     "optimizer, loss, epochs, hidden,"),
    (["--sweep", "samples=10,20"], "argument --sweep: --samples is not a hyperparameter"),
    (["--sweep", "jobs=1,2"], "argument --sweep: --jobs is not a hyperparameter"),
    (["--sweep", "sweep=1"], "argument --sweep: --sweep is not a hyperparameter"),
    (["--sweep", "colour=red"], "argument --sweep: --colour is not a flag"),
    (["--sweep", "l2"], "argument --sweep: expected FLAG=V1,V2,... (e.g. l2=0,1e-4), got 'l2'"),
    (["--sweep", "l2=0,0.0"], "argument --sweep: l2 has the value 0 twice"),
    (["--sweep", "optimizer=sgd,gd"], "argument --sweep: optimizer has the value gd twice"),
    (["--sweep", "l2=0", "--sweep", "l2=1"],
     "argument --sweep: l2 is swept twice; give all its values in one --sweep l2=V1,V2,..."),
    (["--sweep", "l2=0", "--sweep", "l2=1"], "l2 is swept twice"),
    (["--sweep", "l2=0,1e-4", "--l2", "0.1"],
     "argument --sweep: l2 is swept and also given as --l2; give one of them"),
    (["--sweep", "seed=0,1", "--seed", "3"], "seed is swept and also given as --seed"),
    (["--sweep", "norm=batchnorm", "--batch-norm"],
     "argument --sweep: norm is swept and also given as --batch-norm"),
    (["--sweep", "l1=0,1", "--sweep", "l2=0,1", "--sweep", "dropout=0,0.5"],
     "argument --sweep: at most 2 flags besides seed (a grid), got 3: l1, l2, dropout"),
    (["--sweep", "l2=0,1", "--optimizer", "all"],
     "argument --sweep: cannot be combined with --optimizer all"),
    (["--sweep", "l2=0,1", "--load", "x.npz"], "argument --sweep: cannot be combined with --load"),
    (["--sweep", "l2=0,1", "--explain"], "argument --sweep: cannot be combined with --explain"),
    (["--sweep", "l2=0,1", "--check-gradients"],
     "argument --sweep: cannot be combined with --check-gradients"),
    (["--jobs", "2"], "argument --jobs: needs --sweep or --optimizer all, which train several "
                      "runs"),
    (["--jobs", "0", "--sweep", "l2=0"], "argument --jobs: must be a whole number >= 1, got '0'"),
    (["--jobs", "-2", "--optimizer", "all"], "argument --jobs: must be a whole number >= 1"),
    # Refused once the run's flags are put together: the value that does it is named.
    (["--sweep", "momentum=0.5,0.9"],
     "main.py: error: --sweep momentum=0.5: argument --momentum: does not apply to --optimizer "
     "adam"),
    (["--sweep", "optimizer=gd,adam", "--momentum", "0.5"],
     "main.py: error: --sweep optimizer=adam: argument --momentum: does not apply to "
     "--optimizer adam"),
    (["--sweep", "optimizer=adam,gd", "--momentum", "0.5"],
     "main.py: error: --sweep optimizer=adam: argument --momentum: does not apply to "
     "--optimizer adam"),
    (["--sweep", "batch-size=8,1", "--norm", "batchnorm"],
     "main.py: error: --sweep batch-size=1: argument --batch-size: --norm batchnorm needs "
     "mini-batches of at least 2 samples, got 1"),
    (["--sweep", "schedule=cosine", "--decay", "0.1"],
     "main.py: error: --sweep schedule=cosine: argument --decay: does not apply to --schedule "
     "cosine"),
    # ... but not a flag refused on its own, whatever the sweep.
    (["--sweep", "l2=0,1", "--animate", "movie.mp4"],
     "main.py: error: argument --animate: 'movie.mp4' must end in .gif"),
    (["--sweep", "l2=0,1", "--plot", "figure.txt"],
     "main.py: error: argument --plot: cannot write 'figure.txt'"),
]


@pytest.mark.parametrize("flags, message", REFUSED)
def test_a_refusal_is_one_line_naming_the_flag_before_anything_is_written(
        tmp_path, monkeypatch, capsys, flags, message):
    monkeypatch.chdir(tmp_path)
    trained = []
    monkeypatch.setattr(experiment, "run_one", lambda *args, **kwargs: trained.append(args))
    assert main.main([*SHORT, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.splitlines()) == 1
    assert trained == [] and list(tmp_path.iterdir()) == []


def test_a_runtime_part_that_cannot_reach_a_worker_is_refused_before_training(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(registry.OPTIMIZERS, "mine", registry.Optimizer(
        lambda **settings: None, "a lambda", dict(learning_rate=0.1)))
    monkeypatch.chdir(tmp_path)
    for flags in (["--sweep", "l2=0,1e-4"], ["--optimizer", "all"]):
        assert main.main([*SHORT, *flags, "--jobs", "2"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("main.py: error: argument --jobs: the part 'mine', registered at "
                              "run time, cannot be sent to another process (") and err.endswith(
            "; build it with a function defined with def at the top of its module, not a "
            "lambda, or use --jobs 1\n"), err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# The runs: their order, their configurations, their files


def test_the_grid_runs_the_first_flag_outermost_and_seed_innermost_wherever_given():
    axes = sweep.ordered(axes_of("--sweep", "seed=0,1", "--sweep", "l2=0,1e-4",
                                 "--sweep", "dropout=0.1,0.2,0.3"))
    assert [axis.name for axis in axes] == ["l2", "dropout", "seed"]
    points = sweep.points(axes)
    assert [point.labels for point in points] == [
        (l2, dropout, seed) for l2 in ("0", "0.0001") for dropout in ("0.1", "0.2", "0.3")
        for seed in ("0", "1")]
    assert points[1].values == (0.0, 0.1, 1)
    assert points[1].text(axes) == "l2=0 dropout=0.1 seed=1"


def test_each_run_is_the_single_run_of_its_flags(tmp_path, monkeypatch):
    """The same configuration as the run alone; its own files named after its values."""
    args = cli.parse([*SHORT, "--sweep", "hidden=8,4x4", "--sweep", "seed=0,2",
                      "--plot", str(tmp_path / "s.png"), "--save", str(tmp_path / "n.npz")])
    axes, runs, figure, datasets, warnings = sweep.plan(args)
    assert figure == tmp_path / "s.png" and warnings == []
    assert len(datasets) == 2  # one dataset per seed, shared by the widths
    alone = cli.resolve(cli.parse([*SHORT, "--hidden", "4", "4", "--seed", "2",
                                   "--plot", str(tmp_path / "s.png"),
                                   "--save", str(tmp_path / "n.npz")]))
    config = runs[3].config
    assert runs[3].labels == ("4x4", "2")
    assert {key: value for key, value in config.items()
            if key not in ("plot", "metrics", "save", "config_file", "sweep")} == {
        key: value for key, value in alone.items() if key not in ("plot", "metrics", "save")}
    assert config["plot"] is None  # the sweep's figure stands for the runs' own
    assert config["metrics"] == tmp_path / "s-hidden-4x4-seed-2.metrics.csv"
    assert config["config_file"] == tmp_path / "s-hidden-4x4-seed-2.config.json"
    assert config["save"] == tmp_path / "n-hidden-4x4-seed-2.npz"
    assert config["sweep"] == dict(hidden=[4, 4], seed=2)
    # --metrics PATH takes the values as a suffix, as --optimizer all names its runs' files.
    args = cli.parse([*SHORT, "--sweep", "l2=0,1e-4", "--no-plot", "--metrics", "m.json"])
    _, runs, figure, _, _ = sweep.plan(args)
    assert figure is None
    assert [(run.config["metrics"], run.config["config_file"]) for run in runs] == [
        (Path("m-l2-0.json"), None), (Path("m-l2-0.0001.json"), None)]


def test_runs_without_a_seed_sweep_start_from_the_same_data_and_weights(monkeypatch):
    starts = []
    original = experiment.train_one

    def spy(config, dataset, trainee, *args, **kwargs):
        starts.append((dataset.x_train, [array.copy() for _, array in
                                         trainee.network.parameters()]))
        return original(config, dataset, trainee, *args, **kwargs)

    monkeypatch.setattr(experiment, "train_one", spy)
    assert main.main([*TINY, "--no-plot", "--sweep", "l2=0,1e-3",
                      "--sweep", "learning-rate=0.01,0.1"]) == 0
    assert len(starts) == 4
    for data, weights in starts[1:]:
        assert data is starts[0][0]
        assert all(np.array_equal(a, b) for a, b in zip(weights, starts[0][1], strict=True))


def test_the_done_when_grid_writes_a_heatmap_and_prints_the_ranked_table(
        tmp_path, monkeypatch, capsys):
    """``python main.py --sweep learning-rate=0.005,0.02,0.05 --sweep l2=0,5e-4``, shorter."""
    monkeypatch.chdir(tmp_path)
    drawn = []
    grid_figure = plots.sweep_grid_figure
    monkeypatch.setattr(plots, "sweep_grid_figure", lambda *args, **kwargs: drawn.append(
        grid_figure(*args, **kwargs)) or drawn[-1])
    assert main.main(["--epochs", "200", "--samples", "30", "--log-level", "WARNING",
                      "--sweep", "learning-rate=0.005,0.02,0.05", "--sweep", "l2=0,5e-4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("6 runs in ") and out[0].endswith(
        " s: ranked by the best validation loss (the lowest of the evaluations logged every "
        "100 epochs)")
    assert out[1].split() == ["rank", "learning-rate", "l2", "best", "val", "loss", "epoch",
                              "final", "val", "loss", "val", "accuracy"]
    rows = [line.split() for line in out[2:8]]
    assert [row[0] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    assert sorted((row[1], row[2]) for row in rows) == sorted(
        (rate, l2) for rate in ("0.005", "0.02", "0.05") for l2 in ("0", "0.0005"))
    bests = [float(row[3]) for row in rows]
    assert bests == sorted(bests)
    # Each run's numbers are those of its own metrics file, written as a single run's.
    for row in rows:
        stem = f"plots/sweep-learning-rate-{row[1]}-l2-{row[2]}"
        records = list(csv.DictReader(Path(f"{stem}.metrics.csv").read_text().splitlines()))
        best = min(records, key=lambda record: float(record["val_loss"]))
        assert float(row[3]) == pytest.approx(float(best["val_loss"]), rel=1e-3)
        assert int(row[4]) == int(best["epoch"])
        config = json.loads(Path(f"{stem}.config.json").read_text())
        assert config["hyperparameters"]["learning_rate"] == float(row[1])
        assert config["l2"] == float(row[2]) and config["sweep"] == dict(
            learning_rate=float(row[1]), l2=float(row[2]))
    assert out[8:] == [f"wrote plots/sweep-learning-rate-{rate}-l2-{l2}.{kind}"
                       for rate in ("0.005", "0.02", "0.05") for l2 in ("0", "0.0005")
                       for kind in ("metrics.csv", "config.json")] + ["wrote plots/sweep.png"]
    assert Path("plots/sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The heatmap: rates down, l2 across, each cell its best loss, as the table says.
    (figure,) = drawn
    ax = figure.axes[0]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["0.005", "0.02", "0.05"]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["0", "0.0005"]
    values = ax.images[0].get_array()
    assert values.shape == (3, 2) and len(ax.texts) == 6
    table = {(row[1], row[2]): float(row[3]) for row in rows}
    for i, rate in enumerate(("0.005", "0.02", "0.05")):
        for j, l2 in enumerate(("0", "0.0005")):
            assert float(values[i, j]) == pytest.approx(table[rate, l2], rel=1e-3)
    assert len(figure.axes) == 2  # and its colour bar


def test_one_flag_with_seeds_draws_each_values_mean_curve_and_its_range(
        tmp_path, monkeypatch, capsys):
    drawn = []
    curves_figure = plots.sweep_curves_figure
    monkeypatch.setattr(plots, "sweep_curves_figure", lambda plt, curves, title: drawn.append(
        (curves, curves_figure(plt, curves, title))) or drawn[-1][1])
    plot = tmp_path / "seeds.png"
    assert main.main([*TINY, "--sweep", "l2=0,1e-2", "--sweep", "seed=0,1",
                      "--plot", str(plot)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("; each the mean over seeds 0, 1, with the lowest and highest of "
                           "them")
    assert out[1].split()[:6] == ["rank", "l2", "best", "val", "loss", "range"]
    (curves, figure), = drawn
    ax = figure.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == [label for label, *_ in curves]
    assert len(ax.get_lines()) == 2 and len(ax.collections) == 2  # two bands, no dots
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Each curve is the mean of its seeds' metrics, logged at the same epochs.
    for index, l2 in enumerate(("0", "0.01")):
        seeds = [list(csv.DictReader((tmp_path / f"seeds-l2-{l2}-seed-{seed}.metrics.csv")
                                     .read_text().splitlines())) for seed in (0, 1)]
        losses = np.array([[float(r["val_loss"]) for r in rows] for rows in seeds])
        label, epochs, mean, (low, high), best = curves[index]
        assert label.startswith(f"l2={l2}: best ")
        assert list(epochs) == [1, 5, 10, 15, 20] and best is None
        np.testing.assert_allclose(mean, losses.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(low, losses.min(axis=0), rtol=1e-6)


def test_jobs_2_gives_the_results_of_jobs_1(tmp_path, capsys):
    flags = [*TINY, "--no-plot", "--dropout", "0.2", "--batch-size", "8",
             "--sweep", "learning-rate=0.01,0.05", "--sweep", "seed=0,1"]
    assert main.main([*flags, "--metrics", str(tmp_path / "one.csv")]) == 0
    one = capsys.readouterr().out.splitlines()
    assert main.main([*flags, "--metrics", str(tmp_path / "two.csv"), "--jobs", "2"]) == 0
    two = capsys.readouterr().out.splitlines()
    assert two[0].startswith("4 runs in ") and ", 2 at a time: ranked" in two[0]
    assert one[1:4] == two[1:4]  # the table
    for suffix in ("learning-rate-0.01-seed-0", "learning-rate-0.01-seed-1",
                   "learning-rate-0.05-seed-0", "learning-rate-0.05-seed-1"):
        first = (tmp_path / f"one-{suffix}.csv").read_text()
        assert first == (tmp_path / f"two-{suffix}.csv").read_text()
        assert len(first.splitlines()) == 6  # the header and epochs 1, 5, 10, 15, 20


def test_optimizer_all_with_jobs_2_gives_the_results_and_networks_of_jobs_1(tmp_path, capsys):
    flags = [*TINY, "--optimizer", "all", "--no-plot"]
    assert main.main([*flags, "--metrics", str(tmp_path / "one.csv")]) == 0
    one = capsys.readouterr().out.splitlines()
    assert main.main([*flags, "--metrics", str(tmp_path / "two.csv"), "--jobs", "2"]) == 0
    two = capsys.readouterr().out.splitlines()
    names = list(registry.OPTIMIZERS)
    without_seconds = [line.split()[:-2] + line.split()[-1:] for line in one[:1 + len(names)]]
    assert without_seconds == [line.split()[:-2] + line.split()[-1:]
                               for line in two[:1 + len(names)]]
    for name in names:
        assert (tmp_path / f"one-{name}.csv").read_text() == (
            tmp_path / f"two-{name}.csv").read_text()
    # The networks come back from the workers as they were trained (for the comparison).
    config = cli.resolve(cli.parse([*TINY, "--optimizer", "all", "--no-plot"]))
    tasks = [(experiment._own_config(config, name), name) for name in names[:2]]
    stop = interrupts.Stop()
    here, there = (sweep.run_many(tasks, stop, jobs, keep_networks=True) for jobs in (1, 2))
    for (outcome, network), (other, network_there) in zip(here, there, strict=True):
        assert outcome.result.rows == other.result.rows
        for (name, array), (_, array_there) in zip(network.parameters(),
                                                   network_there.parameters(), strict=True):
            np.testing.assert_array_equal(array, array_there, err_msg=name)


def test_a_diverged_value_is_listed_last_with_its_reason_and_ends_in_1(tmp_path, capsys):
    plot = tmp_path / "lr.png"
    assert main.main([*TINY, "--optimizer", "gd", "--sweep", "learning-rate=1e300,0.5,0.05",
                      "--plot", str(plot), "--log-level", "ERROR"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out[2:5]] == [["1", "0.5"], ["2", "0.05"],
                                                         ["-", "1e+300"]]
    assert out[4] == "   -  1e+300         training diverged at epoch 1"
    assert plot.exists() and f"wrote {plot}" in out


def test_a_run_that_fails_is_listed_with_its_error_and_the_others_go_on(
        tmp_path, monkeypatch, capsys):
    original = experiment.run_one

    def broken(config, *args, **kwargs):
        if config["l2"] == 1e-3:
            raise RuntimeError("no such thing\nsecond line")
        return original(config, *args, **kwargs)

    monkeypatch.setattr(experiment, "run_one", broken)
    assert main.main([*TINY, "--no-plot", "--sweep", "l2=0,1e-3,1e-2"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "   -  0.001  failed: RuntimeError: no such thing"
    assert [line.split()[:2] for line in out[2:4]] in ([["1", "0"], ["2", "0.01"]],
                                                       [["1", "0.01"], ["2", "0"]])


def test_a_stop_keeps_the_finished_runs_and_names_the_others(tmp_path, monkeypatch, capsys):
    """SIGTERM while the second of three runs trains: it ends after its epoch, the third
    never starts; the first is ranked and drawn, and the status is 143."""
    original, started = experiment.run_one, []

    def run_one(config, dataset, trainee, start, stop, prefix=""):
        started.append(config["l2"])
        if len(started) == 2:
            stop.request("SIGTERM")
        return original(config, dataset, trainee, start, stop, prefix)

    monkeypatch.setattr(experiment, "run_one", run_one)
    plot = tmp_path / "s.png"
    assert main.main([*TINY, "--sweep", "l2=0,1e-3,1e-2", "--plot", str(plot)]) == 143
    assert started == [0.0, 1e-3]
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("3 runs in ")
    assert out[2].split()[:2] == ["1", "0"]
    assert out[3] == ("did not finish (2 of 3): l2=0.001 (interrupted after epoch 1 of 20); "
                      "l2=0.01 (not started)")
    assert plot.exists() and (tmp_path / "s-l2-0.001.metrics.csv").exists()
    assert not (tmp_path / "s-l2-0.01.metrics.csv").exists()


def test_a_stop_before_any_run_finishes_says_no_figure_was_drawn(tmp_path, monkeypatch,
                                                                 capsys):
    original = experiment.run_one

    def run_one(config, dataset, trainee, start, stop, prefix=""):
        stop.request("SIGINT")  # during the first run
        return original(config, dataset, trainee, start, stop, prefix)

    monkeypatch.setattr(experiment, "run_one", run_one)
    plot = tmp_path / "s.png"
    assert main.main([*TINY, "--sweep", "l2=0,1e-3", "--plot", str(plot)]) == 130
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"no run finished: {plot} not drawn"
    assert not plot.exists()


@pytest.mark.slow
def test_ctrl_c_at_the_terminal_stops_the_workers_and_keeps_the_finished_runs(tmp_path):
    """A real process, --jobs 2, Ctrl-C to its whole process group as a terminal sends it:
    the short run is ranked, the long one named as interrupted, no worker left running."""
    process = subprocess.Popen(
        [sys.executable, "main.py", "--sweep", "epochs=30,1000000", "--jobs", "2",
         "--samples", "20", "--log-every", "30", "--plot", str(tmp_path / "s.png")],
        cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    seen = set()
    for line in process.stderr:  # both runs under way, the short one done
        seen |= {"short"} if "epoch 30/30 " in line else set()
        seen |= {"long"} if "/1000000" in line else set()
        if seen == {"short", "long"}:
            break
    workers = _children(process.pid)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "SIGINT: stopping after this epoch" in err and "Traceback" not in err
    lines = out.splitlines()
    assert lines[2].split()[:2] == ["1", "30"]
    assert lines[3].startswith("did not finish (1 of 2): epochs=1000000 (interrupted after "
                               "epoch ")
    assert (tmp_path / "s.png").exists() and (tmp_path / "s-epochs-1000000.metrics.csv").exists()
    deadline = time.monotonic() + 10
    while _running(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) >= 2 and not _running(workers)


def _children(pid):
    """The processes whose parent is ``pid``."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def _running(pids):
    """Those of ``pids`` still running (a zombie has ended: it only waits to be reaped)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


# ---------------------------------------------------------------------------
# What the runs came to: made-up results, worked out by hand


def rows(*losses, every=10):
    """Logged rows at epochs 1, 10, 20...: the validation losses given."""
    epochs = [1] + [every * k for k in range(1, len(losses))]
    return [dict(epoch=epoch, val_loss=loss) for epoch, loss in zip(epochs, losses, strict=True)]


def done(*losses, final_loss=None, accuracy=0.5, status=COMPLETED):
    final = dict(val_loss=losses[-1] if final_loss is None else final_loss,
                 val_accuracy=accuracy)
    return Result(status, rows(*losses), final)


def test_the_best_is_the_lowest_finite_logged_loss_and_the_first_of_equals():
    assert sweep.best_of(rows(1.0, 0.5, 0.7, 0.5)) == (0.5, 10)
    assert sweep.best_of(rows(1.0, math.nan, 0.9)) == (0.9, 20)
    best, epoch = sweep.best_of(rows(math.nan, math.inf))
    assert math.isnan(best) and epoch is None


def test_a_value_over_seeds_is_the_mean_with_the_lowest_and_highest():
    cell = Cell(("0.01",), [done(1.0, 0.4, 0.6, final_loss=0.6, accuracy=0.8),
                            done(1.0, 0.8, 0.2, final_loss=0.2, accuracy=0.9),
                            done(1.0, 0.9, 0.3, final_loss=0.5, accuracy=0.7)],
                seeds=("0", "1", "2"))
    # Bests 0.4 (epoch 10), 0.2 (epoch 20), 0.3 (epoch 20).
    assert cell.best == pytest.approx(0.3) and (cell.low, cell.high) == (0.2, 0.4)
    assert cell.epoch == pytest.approx(50 / 3)
    assert cell.final_loss == pytest.approx(1.3 / 3)
    assert cell.score == pytest.approx(0.8)
    epochs, mean, low, high = cell.curve()
    assert list(epochs) == [1, 10, 20]
    np.testing.assert_allclose(mean, [1.0, 2.1 / 3, 1.1 / 3])
    np.testing.assert_allclose(low, [1.0, 0.4, 0.2])
    np.testing.assert_allclose(high, [1.0, 0.9, 0.6])
    assert cell.finished and cell.reason == ""


def test_a_mean_curve_keeps_the_epochs_every_seed_logged():
    # Early stopping ended the second seed at epoch 10.
    cell = Cell(("a",), [done(1.0, 0.5, 0.4), done(0.8, 0.6)], seeds=("0", "1"))
    epochs, mean, _, _ = cell.curve()
    assert list(epochs) == [1, 10]
    np.testing.assert_allclose(mean, [0.9, 0.55])


def test_a_regressions_score_is_its_r2():
    result = Result(COMPLETED, rows(1.0), dict(val_loss=1.0, val_accuracy=0.0, val_r2=0.75))
    assert Cell(("a",), [result]).score == 0.75


def test_the_ranking_shares_ties_and_puts_diverged_and_failed_runs_last():
    cells = [Cell(("a",), [done(0.5)]),
             Cell(("b",), [Result(DIVERGED, rows(1.0, math.nan), None, "training diverged at "
                                                                        "epoch 10")]),
             Cell(("c",), [done(0.3)]),
             Cell(("d",), [done(0.5)]),
             Cell(("e",), [Result(FAILED, [], None, "failed: MemoryError")]),
             Cell(("f",), [Result(INTERRUPTED, rows(0.1), None, "interrupted")]),
             Cell(("g",), [Result(NOT_RUN, [], None, "not started")]),
             Cell(("h",), [done(0.4)])]
    assert [(rank, cell.labels[0]) for rank, cell in sweep.ranked(cells)] == [
        (1, "c"), (2, "h"), (3, "a"), (3, "d"), (None, "b"), (None, "e")]


def test_a_value_with_one_seed_diverged_is_not_ranked_and_says_which():
    cell = Cell(("a",), [done(0.5), Result(DIVERGED, rows(0.4, math.nan), None,
                                           "training diverged at epoch 10")],
                seeds=("3", "7"))
    assert cell.finished and cell.reason == "seed 7: training diverged at epoch 10"
    assert sweep.ranked([cell]) == [(None, cell)]
    unfinished = Cell(("b",), [done(0.5), Result(NOT_RUN, [], None, "not started")],
                      seeds=("3", "7"))
    assert not unfinished.finished and sweep.ranked([unfinished]) == []


def test_the_table_text():
    grid = axes_of("--sweep", "learning-rate=0.01,0.1", "--sweep", "l2=0,0.001")
    cells = [Cell(("0.01", "0"), [done(1.0, 0.5, 0.6, accuracy=0.75)]),
             Cell(("0.01", "0.001"), [done(1.0, 0.25, final_loss=0.3, accuracy=0.8)]),
             Cell(("0.1", "0"), [Result(DIVERGED, rows(1.0), None, "training diverged at "
                                                                   "epoch 3")]),
             Cell(("0.1", "0.001"), [done(1.0, 0.5, 0.5, accuracy=0.5)])]
    assert sweep.table(cells, grid, None) == [
        "rank  learning-rate  l2     best val loss  epoch  final val loss  val accuracy",
        "   1  0.01           0.001           0.25     10             0.3         0.800",
        "   2  0.01           0                0.5     10             0.6         0.750",
        "   2  0.1            0.001            0.5     10             0.5         0.500",
        "   -  0.1            0      training diverged at epoch 3"]


def test_the_table_text_over_seeds():
    seeds = axes_of("--sweep", "seed=0,1")[0]
    cells = [Cell((), [done(1.0, 0.5), done(1.0, 0.3, 0.2, accuracy=0.7)], seeds=("0", "1"))]
    assert sweep.table(cells, [], seeds) == [
        "rank  flags     best val loss  range over 2 seeds  mean epoch  final val loss  "
        "val accuracy",
        "   1  as given           0.35          [0.2, 0.5]          15            0.35  "
        "       0.600"]


def test_a_run_comes_to_its_status_rows_final_evaluation_and_reason():
    assert sweep.result_of(None) == Result(NOT_RUN, [], reason="not started")
    failed = sweep.result_of(sweep.Failed(MemoryError()))
    assert (failed.status, failed.reason) == (FAILED, "failed: not enough memory")
    outcome = experiment.Outcome("adam", sweep_result(DIVERGED, "training diverged at epoch "
                                                                "4: the loss ... NaN"),
                                 dict(val_loss=math.nan), 0.1, [], 0)
    result = sweep.result_of((outcome, None))
    assert (result.status, result.reason) == (DIVERGED, "training diverged at epoch 4")
    assert not result.ranked and result.finished


def sweep_result(status, message):
    from program.train import Result as TrainResult
    return TrainResult(rows=rows(1.0, math.nan), status=status, epochs_done=4, message=message)


def test_a_metrics_file_named_after_the_figure_is_blamed_on_plot(tmp_path, capsys):
    # Without --metrics each run's metrics go beside --plot's figure, so --plot is the flag
    # to change when that place cannot be written.
    (tmp_path / "afile").write_text("")
    figure = tmp_path / "afile" / "s.png"
    assert main.main([*SHORT, "--sweep", "l2=0,5e-4", "--plot", str(figure)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("main.py: error: argument --plot (l2=0): cannot write "), err
    assert err.count("\n") == 1
