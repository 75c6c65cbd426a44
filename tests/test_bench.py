"""The benchmark measures what it says: the dtype, the threads and the workload asked for."""

import json

import numpy as np
import pytest

import bench


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
