"""mutation.py: the sample it draws and the table it prints from mutmut's records."""
import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import mutation


@pytest.fixture
def records(tmp_path, monkeypatch):
    """mutmut's records of a module at the root and one in a package, and an equivalents list.

    As mutmut writes them: mutants/<source path>.meta, the mutants named
    after the module as Python imports it.
    """
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mutants" / "program").mkdir(parents=True)
    (tmp_path / "program").mkdir()
    for module, path, count in (("big", "big.py", 30), ("program.small", "program/small.py", 4)):
        (tmp_path / path).write_text("def f():\n    return 1\n")
        codes = {f"{module}.x_f__mutmut_{i}": None for i in range(1, count + 1)}
        (tmp_path / "mutants" / f"{path}.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "mutants.md").write_text(
        "- `program.small.x_f__mutmut_4`: an axis of length one\n")
    return tmp_path


def test_the_sample_is_reproducible_and_takes_all_of_a_small_module(records):
    names = mutation.all_mutants()
    assert sorted(names) == ["big", "program.small"] and len(names["big"]) == 30
    first, again = mutation.sample(names, 10, seed=0), mutation.sample(names, 10, seed=0)
    assert first == again
    assert len(first["big"]) == 10 and set(first["big"]) <= set(names["big"])
    assert first["program.small"] == names["program.small"]
    assert mutation.sample(names, 10, seed=1)["big"] != first["big"]
    assert mutation.sample(names, 0, seed=0) == names


def test_a_change_in_one_module_leaves_the_sample_of_the_others(records):
    names = mutation.all_mutants()
    before = mutation.sample({"a": names["big"], "b": names["big"]}, 10, seed=0)
    after = mutation.sample({"a": names["big"][:20], "b": names["big"]}, 10, seed=0)
    assert after["b"] == before["b"]
    assert after["a"] != before["a"]


def test_the_table_counts_equivalents_apart_and_timeouts_as_killed(records):
    chosen = {"program.small": mutation.all_mutants()["program.small"]}
    status = {"program.small.x_f__mutmut_1": "killed", "program.small.x_f__mutmut_2": "timeout",
              "program.small.x_f__mutmut_3": "survived", "program.small.x_f__mutmut_4": "survived"}
    assert mutation.equivalents() == {"program.small.x_f__mutmut_4"}
    row = mutation.table(chosen, status, mutation.equivalents()).splitlines()[1]
    # 4 mutants: 2 killed, 1 equivalent, 1 survived, 0 not run: 2 of the other 3 killed
    assert row.split() == ["program.small", "4", "2", "1", "1", "0", "66.7", "%"]


def test_a_mutant_not_yet_run_is_counted_apart(records):
    chosen = {"program.small": mutation.all_mutants()["program.small"]}
    row = mutation.table(chosen, {"program.small.x_f__mutmut_1": "killed"}, set()).splitlines()[1]
    assert row.split() == ["program.small", "4", "1", "0", "0", "3", "100.0", "%"]


def test_table_in_a_fresh_clone_says_what_to_run_first(tmp_path):
    # A fresh clone has no mutants/: one line saying so and the command to run, status 1.
    shutil.copy(mutation.__file__, tmp_path / "mutation.py")
    done = subprocess.run([sys.executable, "mutation.py", "--table"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == mutation.NOT_YET + "\n"
    assert "no mutation run is recorded here yet" in done.stderr
    assert "run `python mutation.py` first" in done.stderr


def test_table_with_only_records_of_files_no_longer_here_says_what_to_run_first(records):
    # A mutants/ from before the modules moved into program/ holds nothing of today's.
    for meta in (records / "mutants").rglob("*.py.meta"):
        meta.rename(meta.with_name("old_" + meta.name))
    with pytest.raises(SystemExit) as stop:
        mutation.main(["--table"])
    assert stop.value.code == mutation.NOT_YET


def test_records_of_a_file_no_longer_here_and_of_a_module_without_mutants_are_left_out(records):
    # Before the layout change program/small.py was small.py: mutmut leaves its record.
    (records / "mutants" / "small.py.meta").write_text(
        json.dumps({"exit_code_by_key": {"small.x_f__mutmut_1": None}}))
    (records / "program" / "__init__.py").write_text('"""A package without functions."""\n')
    (records / "mutants" / "program" / "__init__.py.meta").write_text(
        json.dumps({"exit_code_by_key": {}}))
    assert list(mutation.all_mutants()) == ["big", "program.small"]


def test_the_columns_line_up_under_a_long_module_name():
    chosen = {"big": ["big.x_f__mutmut_1"],
              "program.experiment": ["program.experiment.x_f__mutmut_1"]}
    header, *rows = mutation.table(chosen, {}, set()).splitlines()
    for column in ("mutants", "killed", "not run"):
        end = header.index(column) + len(column)  # numbers are right-aligned under it
        assert all(row[end - 1].isdigit() and row[end:end + 1] in (" ", "") for row in rows)


def test_the_first_run_names_mutants_of_a_module_that_is_here():
    # mutmut refuses a run whose names match no mutant: the module must exist.
    module = mutation.FIRST.removesuffix(".*__mutmut_1")
    root = Path(mutation.__file__).resolve().parent
    assert (root / (module.replace(".", "/") + ".py")).is_file()


def test_help_explains_every_flag_and_the_exit_statuses():
    parser = mutation.build_parser()
    assert all(action.help for action in parser._actions)
    text = parser.format_help()
    assert "Exit status: 0 the table was printed; 1" in text and "--sample 3" in text


def test_a_missing_mutmut_is_one_line(monkeypatch):
    monkeypatch.setattr(mutation.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit) as stop:
        mutation.mutmut("results")
    assert str(stop.value) == ("mutation.py: mutmut is not installed: "
                               "python -m pip install -r requirements-dev.txt")


def test_a_damaged_record_is_one_line(records):
    (records / "mutants" / "big.py.meta").write_text('{"exit_code_by_key": {')
    with pytest.raises(SystemExit) as stop:
        mutation.all_mutants()
    assert str(stop.value) == ("mutation.py: mutants/big.py.meta is damaged (an interrupted "
                               "run?): remove mutants/ and run again")


def test_a_listed_equivalent_counts_as_such_only_once_it_has_survived(records):
    chosen = {"program.small": mutation.all_mutants()["program.small"]}
    listed = {"program.small.x_f__mutmut_3", "program.small.x_f__mutmut_4"}
    status = {"program.small.x_f__mutmut_1": "killed", "program.small.x_f__mutmut_3": "killed"}
    row = mutation.table(chosen, status, listed).splitlines()[1]
    # 3 is killed after all, 4 has not run yet: neither is counted as equivalent
    assert row.split() == ["program.small", "4", "2", "0", "0", "2", "100.0", "%"]


def test_a_run_maps_the_tests_afresh_and_runs_again_all_but_the_kills(records, monkeypatch,
                                                                      capsys):
    stats = records / "mutants" / "mutmut-stats.json"
    stats.write_text("{}")
    calls = []

    def mutmut(*args, capture=False):
        calls.append((args, stats.exists()))
        return "    program.small.x_f__mutmut_1: killed\n" if args[0] == "results" else ""

    monkeypatch.setattr(mutation, "mutmut", mutmut)
    mutation.main(["--sample", "0"])
    # The stale map of tests to functions is gone before mutmut first runs.
    assert calls[0] == (("run", "program.metrics.*__mutmut_1"), False)
    again = [args for args, _ in calls if args[0] == "run"][1]
    assert "program.small.x_f__mutmut_1" not in again
    assert {"program.small.x_f__mutmut_2", "big.x_f__mutmut_30"} <= set(again)
    assert capsys.readouterr().out.splitlines()[0].startswith("module ")


class Child:
    """A stand-in for mutmut's process: Ctrl-C arrives while it runs."""

    pid = 4242

    def __init__(self, interrupts_while_waiting):
        self.returncode, self.calls = None, []
        self.interrupts_while_waiting = interrupts_while_waiting

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    interrupt = KeyboardInterrupt

    def communicate(self):
        self.calls.append("communicate")
        raise self.interrupt

    def wait(self):
        self.calls.append("wait")
        if self.interrupts_while_waiting:
            self.interrupts_while_waiting -= 1
            raise KeyboardInterrupt
        self.returncode = -2

    def kill(self):
        self.calls.append("kill")

    def send_signal(self, signum):
        self.calls.append(signal.Signals(signum).name)


@pytest.mark.parametrize("again, calls, line", [
    (0, ["communicate", "SIGINT", "wait"],
     "mutation.py: interrupted; the verdicts so far are kept in mutants/"),
    (1, ["communicate", "SIGINT", "wait", "SIGKILL to group 4242", "wait"],
     "mutation.py: interrupted; mutmut was stopped at once; if mutants/ is damaged, remove it"),
], ids=["ctrl-c", "ctrl-c-twice"])
def test_ctrl_c_lets_mutmut_keep_its_verdicts_and_is_one_line(monkeypatch, capsys, again, calls,
                                                             line):
    child, started = Child(again), []

    def popen(*args, **kwargs):
        started.append(kwargs)
        return child

    monkeypatch.setattr(mutation.subprocess, "Popen", popen)
    monkeypatch.setattr(mutation.os, "killpg", lambda group, signum: child.calls.append(
        f"{signal.Signals(signum).name} to group {group}"))
    with pytest.raises(SystemExit) as stop:
        mutation.mutmut("run")
    assert stop.value.code == 130
    assert child.calls == calls
    # mutmut runs in a session of its own: the terminal's Ctrl-C reaches it only
    # through mutation.py, and never its workers in the middle of a test.
    assert started[0]["start_new_session"] is True
    assert capsys.readouterr().err.splitlines() == [
        "mutation.py: stopping when mutmut has kept its verdicts (Ctrl-C again to stop it "
        "at once)", line]


def test_sigterm_asks_mutmut_to_stop_as_ctrl_c_would_and_exits_143(monkeypatch, capsys):
    with pytest.raises(mutation.Terminated):
        mutation._terminated(signal.SIGTERM, None)
    child = Child(0)
    child.interrupt = mutation.Terminated(signal.SIGTERM)
    monkeypatch.setattr(mutation.subprocess, "Popen", lambda *args, **kwargs: child)
    with pytest.raises(SystemExit) as stop:
        mutation.mutmut("run")
    assert stop.value.code == 143
    # mutmut did not see the SIGTERM: it is sent the SIGINT a terminal would send.
    assert child.calls == ["communicate", "SIGINT", "wait"]
    assert capsys.readouterr().err.splitlines()[-1] == (
        "mutation.py: interrupted; the verdicts so far are kept in mutants/")


def test_a_failing_mutmut_is_one_line_with_its_status(monkeypatch):
    child = Child(0)
    child.communicate = lambda: ("", None)
    child.returncode = 1
    monkeypatch.setattr(mutation.subprocess, "Popen", lambda *args, **kwargs: child)
    with pytest.raises(SystemExit) as stop:
        mutation.mutmut("results")
    assert str(stop.value) == "mutation.py: mutmut results failed with exit status 1"


class FailingStdout:
    """A standard output on file descriptor ``fd`` whose every write fails with ``error``."""

    def __init__(self, fd, error):
        self.fd, self.error = fd, error

    def write(self, text):
        raise self.error

    def flush(self):
        raise self.error

    def fileno(self):
        return self.fd


def test_a_table_read_by_a_closed_pipe_ends_quietly_with_status_141(records, monkeypatch):
    read_end, write_end = os.pipe()
    monkeypatch.setattr(mutation, "statuses", dict)
    monkeypatch.setattr(mutation.sys, "stdout", FailingStdout(write_end, BrokenPipeError()))
    try:
        with pytest.raises(SystemExit) as stop:
            mutation.main(["--table"])
        assert stop.value.code == 141
        os.write(write_end, b"lost")  # stdout now leads to /dev/null
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        assert pipe.read() == b""


@pytest.mark.parametrize("interrupt, status", [
    (KeyboardInterrupt(), 130), (mutation.Terminated(signal.SIGTERM), 143),
    (mutation.Terminated(signal.SIGHUP), 129)], ids=["ctrl-c", "sigterm", "sighup"])
def test_an_interrupt_between_mutmuts_runs_is_one_line(monkeypatch, capsys, interrupt, status):
    installed, moved = [], []
    monkeypatch.setattr(mutation.signal, "signal", lambda *args: installed.append(args))
    monkeypatch.setattr(mutation.os, "chdir", moved.append)

    def interrupted(argv):
        raise interrupt

    monkeypatch.setattr(mutation, "main", interrupted)
    with pytest.raises(SystemExit) as stop:
        mutation.run([])
    assert stop.value.code == status
    assert installed == [(signal.SIGTERM, mutation._terminated),
                         (signal.SIGHUP, mutation._terminated)]
    # It works from the repository's root, wherever it was started.
    assert moved == [Path(mutation.__file__).resolve().parent]
    assert capsys.readouterr().err == "mutation.py: interrupted\n"


def test_an_interrupted_table_stops_mutmut_results_at_once(monkeypatch, capsys):
    child = Child(0)
    monkeypatch.setattr(mutation.subprocess, "Popen", lambda *args, **kwargs: child)

    def gone(group, signum):  # mutmut had ended already: still one line
        child.calls.append(f"{signal.Signals(signum).name} to group {group}")
        raise ProcessLookupError

    monkeypatch.setattr(mutation.os, "killpg", gone)
    with pytest.raises(SystemExit) as stop:
        mutation.mutmut("results", capture=True)
    assert stop.value.code == 130
    assert child.calls == ["communicate", "SIGKILL to group 4242", "wait"]
    assert capsys.readouterr().err == "mutation.py: interrupted\n"


def test_a_failing_quiet_mutmut_shows_what_it_said(monkeypatch, capsys):
    child = Child(0)
    child.communicate = lambda: ("", "mutmut: no pyproject.toml\n")
    child.returncode = 1
    monkeypatch.setattr(mutation.subprocess, "Popen", lambda *args, **kwargs: child)
    with pytest.raises(SystemExit) as stop:
        mutation.mutmut("results", capture=True)
    assert str(stop.value) == "mutation.py: mutmut results failed with exit status 1"
    assert capsys.readouterr().err == "mutmut: no pyproject.toml\n"


def test_an_interrupted_or_skipped_check_is_not_run():
    for status in ("check was interrupted by user", "skipped", "not checked"):
        assert mutation._verdict(status, listed=False) == "not run"


def test_unreadable_or_odd_records_are_one_line(records):
    meta = records / "mutants" / "big.py.meta"
    meta.write_text('{"exit_code_by_key": "abc"}')
    with pytest.raises(SystemExit) as stop:
        mutation.all_mutants()
    assert str(stop.value).endswith("big.py.meta is damaged (an interrupted run?): remove "
                                    "mutants/ and run again")
    meta.unlink()
    meta.mkdir()
    with pytest.raises(SystemExit) as stop:
        mutation.all_mutants()
    assert str(stop.value) == "mutation.py: mutants/big.py.meta cannot be read: Is a directory"


def test_an_unreadable_or_undecodable_equivalents_list_is_one_line(records):
    listed = records / "docs" / "mutants.md"
    listed.write_bytes(b"caf\xe9\n")
    with pytest.raises(SystemExit) as stop:
        mutation.equivalents()
    assert str(stop.value) == "mutation.py: docs/mutants.md is not UTF-8 text"
    listed.unlink()
    listed.mkdir()
    with pytest.raises(SystemExit) as stop:
        mutation.equivalents()
    assert str(stop.value) == "mutation.py: docs/mutants.md cannot be read: Is a directory"


def test_a_table_with_nowhere_to_go_is_one_line(records, monkeypatch):
    monkeypatch.setattr(mutation, "statuses", dict)
    monkeypatch.setattr(mutation.sys, "stdout", None)
    with pytest.raises(SystemExit) as stop:
        mutation.main(["--table"])
    assert str(stop.value) == ("mutation.py: standard output is closed: the table has "
                               "nowhere to go")
    read_end, write_end = os.pipe()
    full_disk = OSError(28, "No space left on device")
    monkeypatch.setattr(mutation.sys, "stdout", FailingStdout(write_end, full_disk))
    try:
        with pytest.raises(SystemExit) as stop:
            mutation.main(["--table"])
    finally:
        os.close(write_end)
        os.close(read_end)
    assert str(stop.value) == ("mutation.py: the table could not be written: No space left "
                               "on device")


def test_every_listed_equivalent_names_a_function_that_is_here():
    # A renamed, moved or removed function leaves its entries behind in
    # docs/mutants.md: the table would count nothing for them. (A function that
    # changed keeps its name but renumbers its mutants: mutation.py's run shows those.)
    root = Path(mutation.__file__).resolve().parent
    listed = (root / "docs" / "mutants.md").read_text(encoding="utf-8")
    names = set(re.findall(r"`([\w.ǁ]+__mutmut_\d+)`", listed))
    assert len(names) > 100
    functions = {}
    for name in sorted(names):
        module, _, mangled = name.partition("__mutmut_")[0].rpartition(".")
        if module not in functions:
            path = root / (module.replace(".", "/") + ".py")
            assert path.is_file(), f"{name}: no module {module} ({path.name})"
            tree = ast.parse(path.read_text("utf-8"))
            functions[module] = {f"x_{node.name}" for node in tree.body
                                 if isinstance(node, ast.FunctionDef)}
            functions[module] |= {f"xǁ{node.name}ǁ{item.name}" for node in tree.body
                                  if isinstance(node, ast.ClassDef) for item in node.body
                                  if isinstance(item, ast.FunctionDef)}
        assert mangled in functions[module], f"{name}: no such function in {module}"
    # Each mutant is named in full: a shorthand like `_89` is not counted.
    assert not re.search(r"[\s,(]_\d+\b", listed)
