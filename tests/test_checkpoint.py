import json
import pickle
import zipfile

import numpy as np
import pytest

import checkpoint
from checkpoint import CheckpointError, load, save
from heads import Classes
from model import build


def saved_network(tmp_path, **header):
    net = build(2, [5, 4], 3, Classes(), rng=np.random.default_rng(1))
    path = tmp_path / "net.npz"
    save(path, net, loss="categorical", epoch=7, config={"seed": 1},
         metrics={"val_loss": 0.5}, **header)
    return net, path


def rewrite(path, arrays, header):
    """Write an archive by hand, for files the program itself would never write."""
    members = dict(arrays)
    if header is not None:
        members["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with path.open("wb") as file:
        np.savez(file, **members)


def contents(path):
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes())
        return header, {name: archive[name] for name in archive.files if name != "header"}


def test_round_trip(tmp_path):
    net, path = saved_network(tmp_path)
    header, arrays = load(path)
    assert header["epoch"] == 7 and header["version"] == checkpoint.VERSION
    assert header["architecture"] == dict(n_inputs=2, hidden=[5, 4], outputs=3,
                                          loss="categorical")
    assert header["config"] == {"seed": 1} and header["metrics"] == {"val_loss": 0.5}
    for name, array in net.parameters():
        np.testing.assert_array_equal(arrays[name], array)
    assert [p.name for p in tmp_path.iterdir()] == ["net.npz"]  # no temporary left behind


def test_save_replaces_atomically(tmp_path):
    _, path = saved_network(tmp_path)
    net = build(2, [3], 2, Classes())
    save(path, net, loss="categorical", epoch=1)
    assert load(path)[0]["architecture"]["hidden"] == [3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.npz"]


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load(tmp_path / "nothing.npz")


def test_not_an_archive(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="not an .npz archive"):
        load(path)


def test_npz_without_our_header(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(CheckpointError, match="not a checkpoint of this program"):
        load(path)
    rewrite(path, {}, {"format": "someone else's", "version": 1})
    with pytest.raises(CheckpointError, match="not a checkpoint of this program"):
        load(path)


def test_truncated_file(tmp_path):
    _, path = saved_network(tmp_path)
    data = path.read_bytes()
    for keep in (len(data) // 2, len(data) - 30):
        path.write_bytes(data[:keep])
        with pytest.raises(CheckpointError, match="cannot read"):
            load(path)


def test_newer_format_version(tmp_path):
    _, path = saved_network(tmp_path)
    header, arrays = contents(path)
    rewrite(path, arrays, dict(header, version=checkpoint.VERSION + 1))
    with pytest.raises(CheckpointError, match=f"format version {checkpoint.VERSION + 1}"):
        load(path)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update({"dense0.weights": np.ones((3, 5))}), r"shape \(3, 5\), expected \(2, 5\)"),
    (lambda a: a.pop("dense1.biases"), "missing"),
    (lambda a: a.update({"extra": np.ones(2)}), "unexpected"),
    (lambda a: a["dense2.weights"].__setitem__((0, 0), np.nan), "NaN or infinite"),
    (lambda a: a["dense0.biases"].__setitem__((0, 1), np.inf), "NaN or infinite"),
    (lambda a: a.update({"dense0.biases": np.ones((1, 5), dtype=int)}), "not floating"),
])
def test_bad_arrays_are_refused(tmp_path, change, message):
    _, path = saved_network(tmp_path)
    header, arrays = contents(path)
    change(arrays)
    rewrite(path, arrays, header)
    with pytest.raises(CheckpointError, match=message):
        load(path)


@pytest.mark.parametrize("epoch", ["ten", -1, 2.5, None])
def test_malformed_epoch(tmp_path, epoch):
    _, path = saved_network(tmp_path)
    header, arrays = contents(path)
    rewrite(path, arrays, dict(header, epoch=epoch))
    with pytest.raises(CheckpointError, match="malformed epoch"):
        load(path)


def test_malformed_architecture(tmp_path):
    _, path = saved_network(tmp_path)
    header, arrays = contents(path)
    rewrite(path, arrays, dict(header, architecture={"hidden": "many"}))
    with pytest.raises(CheckpointError, match="malformed architecture"):
        load(path)


class Payload:
    """Unpickling this would create a file: proof that the pickle ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_planted_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    _, path = saved_network(tmp_path)
    header, arrays = contents(path)
    arrays["dense0.weights"] = np.array([Payload(marker)], dtype=object)
    with path.open("wb") as file:  # np.savez pickles object arrays
        np.savez(file, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    with pytest.raises(CheckpointError, match="pickled Python objects, which are never"):
        load(path)
    bare = tmp_path / "bare.npz"
    bare.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(CheckpointError, match="not an .npz archive"):
        load(bare)
    assert not marker.exists()
    assert zipfile.is_zipfile(path)
