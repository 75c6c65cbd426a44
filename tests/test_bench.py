"""The benchmark measures what it says: the dtype, the threads and the workload asked for."""

import io
import json
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest

import bench


@pytest.mark.slow
def test_a_quick_child_reports_its_dtype_threads_and_accuracy():
    for dtype in ("float32", "float64"):
        result = bench.measure("ours", "A", 0, dtype, threads=1, quick=True)
        assert result["dtypes"] == [dtype] and result["threads"] == 1
        assert result["seconds"] > 0 and 0.3 < result["accuracy"] <= 1


def test_a_child_that_ran_otherwise_than_asked_stops_the_bench(monkeypatch):
    report = dict(seconds=1.0, accuracy=0.5, dtypes=["float64"], threads=2, peak_mb=30.0)
    monkeypatch.setattr(bench, "run", lambda command, env=None: (1.0, json.dumps(report)))
    with pytest.raises(SystemExit, match=r"left arrays of dtypes \['float64'\]"):
        bench.measure("ours", "A", 0, "float32", threads=2)
    report["dtypes"] = ["float32"]
    with pytest.raises(SystemExit, match=r"ran with 2 thread\(s\)"):
        bench.measure("ours", "A", 0, "float32", threads=1)
    assert bench.measure("ours", "A", 0, "float32", threads=2)["threads"] == 2


def test_the_minimal_loop_trains_the_same_network_as_ours():
    w = bench.settings("A", quick=True)
    ours = bench.run_ours(w, 0, np.dtype("float64"), None)
    minimal = bench.run_minimal(w, 0, np.dtype("float64"), None)
    assert ours["dtypes"] == minimal["dtypes"] == ["float64"]
    # The same data, initial weights and Adam, in two spellings: the same fit.
    assert ours["accuracy"] == pytest.approx(minimal["accuracy"], abs=0.02)


def test_quick_settings_are_a_tenth_of_the_workload():
    full, quick = bench.settings("D"), bench.settings("D", quick=True)
    assert quick["samples"] == full["samples"] // 10 and quick["epochs"] == 1
    assert bench.settings("A", quick=True)["epochs"] == 1000
    assert bench.WORKLOADS["D"]["samples"] == 60000 and bench.WORKLOADS["D"]["hidden"] == [128, 128]
    assert bench.WORKLOADS["D"]["batch_size"] == 128 and bench.WORKLOADS["D"]["epochs"] == 5


def test_e_is_one_epoch_of_mnist_shaped_images_through_mains_conv_16_32_hidden_128():
    e = bench.WORKLOADS["E"]
    assert (e["samples"], e["features"], e["image"], e["classes"]) == (60000, 784, (1, 28, 28), 10)
    assert (e["conv"], e["kernel"], e["hidden"], e["batch_size"], e["epochs"]) == (
        [16, 32], 3, [128], 128, 1)
    assert (e["lr"], e["decay"], e["l2"], e["dropout"]) == (0.001, 1e-3, 0.0, 0.0)
    assert e["data"] == "teacher" and e["block"] == 4
    assert bench.settings("E", quick=True)["samples"] == 6000


def test_the_validation_accuracy_of_a_process_is_read_from_its_output():
    line = ("completed: 300/300 epochs in 0.61 s; training accuracy 1.000, loss 0.00265; "
            "validation accuracy 0.976, loss 0.0863")
    assert bench.validation_accuracy(f"wrote x\n{line}\n") == 0.976
    assert bench.validation_accuracy('{"val_accuracy": 0.969}') == 0.969
    assert bench.validation_accuracy("nothing here") is None


def test_teacher_data_is_reproducible_and_in_the_dtype_asked():
    seeds = np.random.SeedSequence(3)
    first = bench.teacher_data(seeds, 50, 6, 4, np.float32)
    second = bench.teacher_data(np.random.SeedSequence(3), 50, 6, 4, np.float32)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert first[0].dtype == np.float32 and first[0].shape == (50, 6)
    assert set(np.unique(first[1])) <= set(range(4)) and len(np.unique(first[1])) > 1


def test_a_bad_against_spec_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as done:
        bench.main(["--workloads", "--against", "Z:name=python x.py"])
    assert done.value.code == 2
    assert "--against" in capsys.readouterr().err


# -- the parent: what it asks of its children and how it reports them --------------------------

def test_quick_takes_a_tenth_of_the_samples_and_at_least_one(monkeypatch):
    monkeypatch.setitem(bench.WORKLOADS, "A", dict(bench.WORKLOADS["A"], samples=15, epochs=9))
    assert bench.settings("A", quick=True)["samples"] == 1
    assert bench.settings("A", quick=True)["epochs"] == 1
    assert bench.settings("A")["samples"] == 15


@pytest.mark.parametrize("workload, torch, rows", [
    ("A", False, [("ours", "float32", None), ("ours", "float64", None),
                  ("minimal", "float64", None)]),
    ("B", False, [("ours", "float32", None), ("ours", "float64", None)]),
    ("D", False, [("ours", "float32", None), ("ours", "float64", None), ("ours", "float32", 1)]),
    ("C", True, [("ours", "float32", None), ("ours", "float64", None),
                 ("torch", "float32", 1), ("torch", "float32", 2)]),
    ("A", True, [("ours", "float32", None), ("ours", "float64", None),
                 ("minimal", "float64", None), ("torch", "float32", 1), ("torch", "float32", 2)]),
    ("E", False, [("ours", "float32", None), ("ours", "float32", 1), ("minimal", "float32", 1)]),
    ("E", True, [("ours", "float32", None), ("ours", "float32", 1), ("minimal", "float32", 1),
                 ("torch", "float32", 1), ("torch", "float32", 2)]),
])
def test_the_rows_of_each_workload(workload, torch, rows):
    assert bench.plan(workload, torch) == rows


def test_a_child_is_this_script_with_its_dtype_threads_and_quick(monkeypatch):
    calls = []
    report = dict(seconds=1.5, accuracy=0.5, dtypes=["float64"], threads=2, peak_mb=30.0)

    def run(command, env=None):
        calls.append((command, env))
        return 1.0, "a line before\n" + json.dumps(report) + "\n"

    monkeypatch.setattr(bench, "run", run)
    monkeypatch.setenv("BENCH_TEST_VARIABLE", "kept")
    assert bench.measure("torch", "C", 7, "float64", threads=2, quick=True) == report
    (command, env), = calls
    assert command == [sys.executable, str(bench.HERE / "bench.py"), "--child", "torch", "C",
                       "7", "float64", "--threads", "2", "--quick"]
    assert env["BENCH_TEST_VARIABLE"] == "kept"
    assert {name: env[name] for name in bench.THREAD_VARIABLES} == dict.fromkeys(
        bench.THREAD_VARIABLES, "2")
    calls.clear()
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    report["threads"] = 8
    bench.measure("ours", "A", 0, "float64")
    (command, env), = calls
    assert command == [sys.executable, str(bench.HERE / "bench.py"), "--child", "ours", "A",
                       "0", "float64"]
    assert env["OMP_NUM_THREADS"] == "5"


def test_a_childs_wrong_dtype_or_threads_is_named_in_the_message(monkeypatch):
    report = dict(seconds=1.0, accuracy=0.5, dtypes=["float32", "float64"], threads=3,
                  peak_mb=1.0)
    monkeypatch.setattr(bench, "run", lambda command, env=None: (1.0, json.dumps(report)))
    with pytest.raises(SystemExit) as stop:
        bench.measure("ours", "D", 0, "float32")
    assert str(stop.value) == ("bench.py: child ours D float32 left arrays of dtypes "
                               "['float32', 'float64']")
    report["dtypes"] = ["float32"]
    with pytest.raises(SystemExit) as stop:
        bench.measure("torch", "D", 0, "float32", threads=1)
    assert str(stop.value) == ("bench.py: child torch D float32 with 1 thread(s) ran with "
                               "3 thread(s)")


def test_run_returns_the_seconds_and_the_output_of_a_command_run_in_the_bench_folder(
        monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    readings = iter([5.0, 5.75])
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(readings))
    script = "import os; print(os.getcwd()); print(os.environ.get('BENCH_TEST_VARIABLE'))"
    seconds, out = bench.run([sys.executable, "-c", script],
                             env=dict(os.environ, BENCH_TEST_VARIABLE="given"))
    assert seconds == 0.75
    assert out == f"{bench.HERE}\ngiven\n"


def test_a_failing_command_stops_the_bench_with_its_status_and_the_end_of_its_errors():
    script = "import sys; sys.stderr.write('x' * 3000 + 'the end'); sys.exit(3)"
    command = [sys.executable, "-c", script]
    with pytest.raises(SystemExit) as stop:
        bench.run(command)
    tail = ("x" * 3000 + "the end")[-2000:]
    assert str(stop.value) == (f"bench.py: {shlex.join(command)} exited with status 3:\n{tail}")


def test_torch_is_available_when_a_python_can_import_it(monkeypatch):
    calls = []

    def run(command, **options):
        calls.append((command, options))
        return subprocess.CompletedProcess(command, returncode)

    monkeypatch.setattr(bench.subprocess, "run", run)
    returncode = 0
    assert bench.torch_available() is True
    returncode = 1
    assert bench.torch_available() is False
    assert calls[0] == ([sys.executable, "-c", "import torch"], dict(capture_output=True))


@pytest.mark.parametrize("values, shown", [
    ([0.976, 0.976, None], "0.976"),
    ([0.976, 0.9701, 0.98], "0.970-0.980"),
    ([None, None], "?"),
    ([], "?"),
])
def test_shown_accuracy(values, shown):
    assert bench.shown_accuracy(values) == shown


def test_a_process_is_timed_as_the_median_of_its_repeats(monkeypatch):
    seconds = iter([3.0, 9.0, 1.0, 2.0])
    commands = []

    def run(command, env=None):
        commands.append(command)
        return next(seconds), "output"

    monkeypatch.setattr(bench, "run", run)
    assert bench.time_process(["python", "x.py"], 3) == 3.0
    assert commands == [["python", "x.py"]] * 3


def test_against_alternates_ours_and_theirs_after_one_uncounted_pair(monkeypatch):
    ours = [sys.executable, *bench.OUR_PROCESS["B"][1]]
    theirs = ["python", "book.py"]
    answers = {  # (seconds, output) of each run in turn
        "ours": iter([(50.0, ""), (2.0, "validation accuracy 0.9\nvalidation accuracy 0.96"),
                      (6.0, "nothing"), (4.0, '{"val_accuracy": 0.95}')]),
        "theirs": iter([(70.0, ""), (8.0, "validation accuracy 0.5"), (3.0, ""),
                        (16.0, "")]),
    }
    order = []

    def run(command, env=None):
        who = "ours" if command == ours else "theirs" if command == theirs else command
        order.append(who)
        return next(answers[who])

    monkeypatch.setattr(bench, "run", run)
    result = bench.time_against("B", theirs, 3)
    assert order == ["ours", "theirs"] * 4
    assert result == (4.0, 8.0, [0.25, 2.0, 0.25], [0.96, None, 0.95], [0.5, None, None])


@pytest.mark.parametrize("spec, error", [
    ("A", "argument --against: expected W:NAME=COMMAND, got 'A'"),
    ("A:name", "argument --against: expected W:NAME=COMMAND, got 'A:name'"),
    ("A:=python x.py", "argument --against: expected W:NAME=COMMAND, got 'A:=python x.py'"),
    ("A:name=  ", "argument --against: expected W:NAME=COMMAND, got 'A:name=  '"),
    ("C:name=python x.py", "argument --against: workload 'C' has no process of ours "
                           "(choose from A, B, digits)"),
])
def test_an_against_spec_needs_a_workload_of_ours_a_name_and_a_command(capsys, spec, error):
    with pytest.raises(SystemExit):
        bench.parse_against(spec, bench.build_parser())
    assert capsys.readouterr().err.strip().endswith(f"error: {error}")


def test_an_against_spec_splits_its_command_like_a_shell():
    spec = "digits:sk=learn=python bench.py --child sklearn digits 0 'float64'"
    assert bench.parse_against(spec, bench.build_parser()) == (
        "digits", "sk", ["learn=python", "bench.py", "--child", "sklearn", "digits", "0",
                         "float64"])
    spec = "A:c=python -c 'print({1: 2})'"
    assert bench.parse_against(spec, bench.build_parser()) == (
        "A", "c", ["python", "-c", "print({1: 2})"])


# -- a child ----------------------------------------------------------------------------------

def child_args(*words):
    return bench.build_parser().parse_args(["--child", *words])


def test_a_child_runs_its_runner_on_the_workload_and_prints_one_json_line(monkeypatch, capsys):
    calls = []

    def runner(w, seed, dtype, threads):
        calls.append((w, seed, dtype, threads))
        return dict(seconds=1.25, dtypes=[str(dtype)])

    class Usage:
        ru_maxrss = 3072  # kilobytes

    asked = []

    def getrusage(who):
        asked.append(who)
        return Usage

    resource = pytest.importorskip("resource")
    monkeypatch.setattr(resource, "getrusage", getrusage)
    monkeypatch.setitem(bench.RUNNERS, "ours", (runner, ("A", "B")))
    for name in bench.THREAD_VARIABLES:
        monkeypatch.setenv(name, "untouched")
    assert bench.child(child_args("ours", "B", "12", "float32", "--quick")) is None
    assert calls == [(bench.settings("B", quick=True), 12, np.dtype("float32"), None)]
    assert json.loads(capsys.readouterr().out) == dict(seconds=1.25, dtypes=["float32"],
                                                      peak_mb=3.0)
    assert asked == [resource.RUSAGE_SELF]
    assert all(os.environ[name] == "untouched" for name in bench.THREAD_VARIABLES)
    bench.child(child_args("ours", "A", "0", "float64", "--threads", "3"))
    assert calls[1] == (bench.settings("A"), 0, np.dtype("float64"), 3)
    assert all(os.environ[name] == "3" for name in bench.THREAD_VARIABLES)


def test_a_child_of_a_workload_outside_the_table_gets_no_settings(monkeypatch, capsys):
    calls = []

    def runner(w, seed, dtype, threads):
        calls.append((w, seed, dtype, threads))
        return {}

    monkeypatch.setitem(bench.RUNNERS, "sklearn", (runner, ("digits",)))
    bench.main(["--child", "sklearn", "digits", "4", "float64"])
    assert calls == [(None, 4, np.dtype("float64"), None)]
    assert list(json.loads(capsys.readouterr().out)) == ["peak_mb"]


@pytest.mark.parametrize("impl, workload", [("book", "A"), ("minimal", "B"),
                                            ("sklearn", "A"), ("ours", "digits")])
def test_a_child_that_does_not_exist_names_those_that_do(impl, workload):
    with pytest.raises(SystemExit) as stop:
        bench.child(child_args(impl, workload, "0", "float64"))
    assert str(stop.value) == (
        f"bench.py: no child {impl!r} for workload {workload!r} (ours: A, B, C, D, E; "
        "minimal: A, E; torch: A, B, C, D, E; sklearn: digits)")


# -- the command line -----------------------------------------------------------------------

def test_the_defaults_are_every_workload_three_repeats_and_seed_0():
    args = bench.build_parser().parse_args([])
    assert args.workloads == ["A", "B", "C", "D", "E"] and args.repeats == 3
    assert args.seeds == [0]
    assert (args.no_torch, args.quick, args.process, args.against) == (False, False, [], [])
    assert args.child is None and args.threads is None


def test_the_flags_take_their_values():
    args = bench.build_parser().parse_args([
        "--workloads", "D", "B", "--repeats", "5", "--seeds", "3", "4", "--no-torch", "--quick",
        "--process", "a=python a.py", "--process", "b=python b.py",
        "--against", "A:x=python x.py", "--against", "B:y=python y.py",
        "--child", "ours", "A", "0", "float32", "--threads", "2"])
    assert args.workloads == ["D", "B"] and args.repeats == 5 and args.seeds == [3, 4]
    assert args.no_torch and args.quick
    assert args.process == ["a=python a.py", "b=python b.py"]
    assert args.against == ["A:x=python x.py", "B:y=python y.py"]
    assert args.child == ["ours", "A", "0", "float32"] and args.threads == 2
    assert bench.build_parser().parse_args(["--workloads"]).workloads == []


@pytest.mark.parametrize("flags", [["--workloads", "F"], ["--repeats", "two"],
                                   ["--seeds"], ["--seeds", "x"], ["--threads", "1.5"],
                                   ["--child", "ours", "A", "0"]])
def test_bad_flags_are_usage_errors(capsys, flags):
    with pytest.raises(SystemExit) as stop:
        bench.build_parser().parse_args(flags)
    assert stop.value.code == 2 and "error:" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--repeats", "0"], "argument --repeats: must be a whole number >= 1, got '0'"),
    (["--seeds", "-1"], "argument --seeds: must be a whole number from 0 to 4294967295, "
                        "got '-1'"),
    (["--seeds", str(2**32)], "argument --seeds: must be a whole number from 0 to 4294967295, "
                              f"got '{2**32}'"),
    (["--process", "foo"], "argument --process: expected NAME=COMMAND, got 'foo'"),
    (["--process", "=true"], "argument --process: expected NAME=COMMAND, got '=true'"),
    (["--process", "a= "], "argument --process: expected NAME=COMMAND, got 'a= '"),
])
def test_values_out_of_range_are_one_line_before_anything_runs(capsys, flags, message):
    with pytest.raises(SystemExit) as stop:
        bench.main(flags)
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].split(": error: ")[1] == message


def test_the_help_explains_the_bench_and_each_public_flag(capsys):
    with pytest.raises(SystemExit):
        bench.build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert bench.__doc__ in out  # word for word, its examples and table kept line by line
    text = " ".join(out.split())
    assert text.startswith("usage: ")
    assert " ".join(bench.__doc__.split()) in text
    for flag in (
            "--workloads [{A,B,C,D,E} ...] which workloads (default: all; the flag alone: none, "
            "e.g. to run --against alone)",
            "--repeats REPEATS runs per figure (default: 3)",
            "--seeds SEEDS [SEEDS ...] seeds: timing uses the first; this package's accuracy "
            "is reported for each (default: 0)",
            "--no-torch skip the PyTorch loops",
            "--quick a smoke test of the bench: each workload with a tenth of its samples and "
            "epochs (at least 1); not the workloads' figures",
            "--process NAME=COMMAND also time a whole process, e.g. a reference program kept "
            "outside this repository (repeatable)",
            "--against W:NAME=COMMAND time a whole process in alternation with this package's "
            "process for workload W (A, B, digits; see above) and report the ratio of each "
            "pair, e.g. 'A:book-ch10=python ../nnfs_book/Chapter_10/Ch10_Final.py' "
            "(repeatable)"):
        assert flag in text
    usage, _, options = text.partition(" ".join(bench.__doc__.split()))
    assert "--child" not in usage + options and "--threads" not in usage + options


# -- the whole bench, its children replaced by fakes ----------------------------------------------

class FakeChildren:
    """Stands for bench.measure and bench.run: fixed answers, and a record of every call.

    A row's three timed children take 2m, m/2 and m seconds (median m) and
    2p, p/2 and p MB (median p); the accuracy of seed s is 0.9 + s / 100,
    plus 0.05 on every timed child after the first.
    """

    MEDIANS = {("ours", "float32", None): (2.0, 100.0), ("ours", "float64", None): (4.0, 150.0),
               ("minimal", "float64", None): (100.0, 80.0), ("ours", "float32", 1): (8.0, 90.0),
               ("minimal", "float32", 1): (6.0, 70.0),
               ("torch", "float32", 1): (1.0, 300.0), ("torch", "float32", 2): (0.5, 310.0)}

    def __init__(self, monkeypatch, torch=False):
        self.measured, self.ran = [], []
        self.process_seconds = {}
        monkeypatch.setattr(bench, "measure", self.measure)
        monkeypatch.setattr(bench, "run", self.run)
        monkeypatch.setattr(bench, "torch_available", lambda: torch)

    def measure(self, impl, workload, seed, dtype, threads=None, quick=False):
        self.measured.append((impl, workload, seed, dtype, threads, quick))
        seconds, peak = self.MEDIANS[impl, dtype, threads]
        timed = self.measured.count((impl, workload, seed, dtype, threads, quick))
        scale = [2, 0.5, 1][(timed - 1) % 3]
        return dict(seconds=seconds * scale, peak_mb=peak * scale, dtypes=[dtype],
                    threads=threads or (4 if impl == "ours" else None),
                    accuracy=0.9 + seed / 100 + (0.05 if timed > 1 else 0))

    def run(self, command, env=None):
        self.ran.append(command)
        times = self.process_seconds.setdefault(tuple(command), iter([3.0, 1.0, 2.0] * 3))
        accuracy = "validation accuracy 0.975" if command[1] == "main.py" else "accuracy 0.9"
        return next(times), f"...\n{accuracy}\n"


def test_the_table_shows_the_median_of_the_repeats_of_each_row(monkeypatch, capsys):
    fake = FakeChildren(monkeypatch)
    assert bench.main(["--workloads", "A", "D", "--seeds", "0", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    python = sys.version.split()[0]
    assert out[:4] == [
        "torch is not installed: timing this package alone",
        f"python {python}, {os.cpu_count()} cpus, median of 3, seeds [0, 2]",
        "",
        "workload implementation      seconds  epochs/s  peak MB  final training accuracy "
        "(per seed)"]
    assert out[4:12] == [
        "A        ours float32 4T        2.00      5000      100  0.900 0.920  (mean 0.910)",
        "A        ours float64 4T        4.00      2500      150  0.900 0.920  (mean 0.910)",
        "A        minimal float64 ?T   100.00       100       80  0.900",
        "D        ours float32 4T        2.00      2.50      100  0.900 0.920  (mean 0.910)",
        "D        ours float64 4T        4.00      1.25      150  0.900 0.920  (mean 0.910)",
        "D        ours float32 1T        8.00      0.62       90  0.900 0.920  (mean 0.910)",
        "",
        "process  main.py --help                               2.00 s"]
    assert out[12:] == ["process  main.py --optimizer adam --no-plot           2.00 s"]
    # Three timed children on the first seed, and ours once more on each further seed.
    assert fake.measured[:4] == [("ours", "A", 0, "float32", None, False)] * 3 + [
        ("ours", "A", 2, "float32", None, False)]
    assert [m for m in fake.measured if m[0] == "minimal"] == [
        ("minimal", "A", 0, "float64", None, False)] * 3
    assert fake.measured[-1] == ("ours", "D", 2, "float32", 1, False)
    assert len(fake.measured) == 4 + 4 + 3 + 4 + 4 + 4
    assert fake.ran == [[sys.executable, "main.py", "--help"]] * 3 + [
        [sys.executable, "main.py", "--optimizer", "adam", "--no-plot", "--log-level",
         "WARNING"]] * 3


def test_torch_rows_are_timed_when_torch_is_installed(monkeypatch, capsys):
    fake = FakeChildren(monkeypatch, torch=True)
    assert bench.main(["--workloads", "B", "--repeats", "1", "--quick", "--seeds", "0", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, median of 1, "
                      "seeds [0, 3], QUICK: a tenth of each workload")
    assert out[3:7] == [
        "B        ours float32 4T        4.00       250      200  0.900 0.930  (mean 0.915)",
        "B        ours float64 4T        8.00       125      300  0.900 0.930  (mean 0.915)",
        "B        torch float32 1T       2.00       500      600  0.900",
        "B        torch float32 2T       1.00      1000      620  0.900"]
    assert fake.measured == [("ours", "B", 0, "float32", None, True),
                             ("ours", "B", 3, "float32", None, True),
                             ("ours", "B", 0, "float64", None, True),
                             ("ours", "B", 3, "float64", None, True),
                             ("torch", "B", 0, "float32", 1, True),
                             ("torch", "B", 0, "float32", 2, True)]


def test_e_shows_ours_on_its_threads_and_on_one_the_floor_and_torch(monkeypatch, capsys):
    fake = FakeChildren(monkeypatch, torch=True)
    assert bench.main(["--workloads", "E", "--repeats", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[3:9] == [
        "E        ours float32 4T        2.00      0.50      100  0.900",
        "E        ours float32 1T        8.00      0.12       90  0.900",
        "E        minimal float32 1T     6.00      0.17       70  0.900",
        "E        torch float32 1T       1.00      1.00      300  0.900",
        "E        torch float32 2T       0.50      2.00      310  0.900",
        ""]
    assert fake.measured == [(impl, "E", 0, "float32", threads, False)
                             for impl, threads in [("ours", None), ("ours", 1), ("minimal", 1),
                                                   ("torch", 1), ("torch", 2)]
                             for _ in range(3)]


def test_no_torch_skips_the_torch_rows_without_a_word(monkeypatch, capsys):
    fake = FakeChildren(monkeypatch, torch=True)
    bench.main(["--workloads", "C", "--repeats", "1", "--no-torch"])
    out = capsys.readouterr().out
    assert out.startswith("python ") and "torch" not in out
    assert [m[0] for m in fake.measured] == ["ours", "ours"]


def test_processes_and_against_pairs_are_reported_after_the_table(monkeypatch, capsys):
    fake = FakeChildren(monkeypatch, torch=True)
    assert bench.main(["--workloads", "--repeats", "3", "--no-torch",
                       "--process", "book=python 'the book.py' --mode=fast",
                       "--against", "A:ch10=python ch10.py", "--against",
                       "B:ch15=python ch15.py"]) == 0
    out = capsys.readouterr().out.splitlines()
    ours_a = [sys.executable, "main.py", "--optimizer", "adam", "--no-plot", "--log-level",
              "WARNING"]
    ours_b = [sys.executable, "bench.py", "--child", "ours", "B", "0", "float32"]
    assert fake.measured == []
    assert out == [
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, median of 3, seeds [0]",
        "",
        "process  main.py --help                               2.00 s",
        "process  main.py --optimizer adam --no-plot           2.00 s",
        "process  book                                         2.00 s",
        # the uncounted pair took 3 s each; then ours 1.0, 2.0, 3.0 against theirs 1.0, 2.0, 3.0
        "against  A: main.py --optimizer adam --no-plot 2.00 s, ch10 2.00 s; ratio per pair: "
        "median 1.00 (min 1.00, max 1.00)",
        "         validation accuracy: ours 0.975, ch10 ?",
        "against  B: bench.py --child ours B 0 float32 2.00 s, ch15 2.00 s; ratio per pair: "
        "median 1.00 (min 1.00, max 1.00)"]
    assert fake.ran[6:9] == [["python", "the book.py", "--mode=fast"]] * 3
    assert fake.ran[9:] == [ours_a, ["python", "ch10.py"]] * 4 + [ours_b,
                                                                   ["python", "ch15.py"]] * 4


def test_against_reports_the_median_and_range_of_the_ratios(monkeypatch, capsys):
    FakeChildren(monkeypatch)
    pairs = iter([(9.0, 9.0), (2.0, 4.0), (3.0, 1.0), (6.0, 4.0)])
    answers = iter(x for pair in pairs for x in
                   [(pair[0], "validation accuracy 0.961"), (pair[1], "validation accuracy 0.5")])
    monkeypatch.setattr(bench, "run", lambda command, env=None: next(answers))
    monkeypatch.setattr(bench, "time_process", lambda command, repeats: 1.0)
    bench.main(["--workloads", "--against", "digits:sk=python sk.py", "--no-torch"])
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == [
        "against  digits: main.py --dataset digits --no-plot 3.00 s, sk 4.00 s; ratio per pair: "
        "median 1.50 (min 0.50, max 3.00)",
        "         validation accuracy: ours 0.961, sk 0.500"]


def test_every_line_of_results_is_flushed_as_soon_as_it_is_known(monkeypatch):
    FakeChildren(monkeypatch)
    written = []

    class Pipe(io.StringIO):
        """A standard output that records what is written and when it is flushed."""

        def write(self, text):
            written.append(text)
            return len(text)

        def flush(self):
            written.append("<flushed>")

    monkeypatch.setattr(sys, "stdout", Pipe())
    bench.main(["--workloads", "A", "--repeats", "1", "--no-torch",
                "--against", "A:x=python x.py"])
    lines = "".join(written).split("\n")
    results = [i for i, line in enumerate(lines) if line.removeprefix("<flushed>").startswith(
        ("A ", "process ", "against ", "         validation"))]
    assert len(results) == 3 + 2 + 2
    assert all(lines[i + 1].startswith("<flushed>") for i in results)
