"""checkpoint.py: round trips of every part, resuming exactly, and every refusal as one line.

Safety (issue 11): names, shapes, dtypes and sizes are checked from the zip
directory and the .npy headers before any array is read, declarations are
bounded by ``max_bytes``, pickles never run, and malformed input of any kind
is a one-line CheckpointError naming the file.
"""

import copy
import io
import json
import math
import os
import pickle
import re
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy

from heads import Classes
from optimizers import SGD, Adagrad, Adam, RMSProp
from program import checkpoint
from program.checkpoint import CheckpointError, check_dtype, load, restore, write
from program.model import build

ROOT = Path(__file__).resolve().parent.parent


# Networks, checkpoints and archives made by hand


def network(seed=1, dtype=np.float64, hidden=(5, 4)):
    return build(2, list(hidden), 3, Classes(), rng=np.random.default_rng(seed), dtype=dtype)


def train(net, optimizer, steps):
    """``steps`` full-batch steps on fixed data: the same numbers on every run."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 2)), np.arange(30) % 3
    for _ in range(steps):
        net.forward(x, y, training=True)
        net.backward(y)
        optimizer.step(net.trainable)


def saved(tmp_path, net=None, **fields):
    """A checkpoint written by ``write`` with the fields given; returns (network, path)."""
    net = network() if net is None else net
    path = tmp_path / "net.npz"
    write(path, net, **{"loss": "categorical", "epoch": 7, **fields})
    return net, path


def everything(tmp_path):
    """A checkpoint with every optional part, and the generator saved in it."""
    net, optimizer, generator = network(), Adam(0.05), np.random.default_rng(5)
    train(net, optimizer, 2)
    _, path = saved(tmp_path, net, config={"seed": 1}, metrics={"val_loss": 0.5},
                    optimizer=optimizer, optimizer_name="adam", rngs={"data": generator},
                    scaler=(np.array([[0.5, -1.0]]), np.array([[2.0, 3.0]])),
                    classes=["a", "b", "c"], image_shape=(1, 2))
    return net, optimizer, generator, path


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """(header, arrays) of a checkpoint with every optional part: copy before changing."""
    *_, path = everything(tmp_path_factory.mktemp("full"))
    return contents(path)


def contents(path):
    """(header, {name: array}) of an archive, read by numpy without our checks."""
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes())
        return header, {name: archive[name] for name in archive.files if name != "header"}


def header_array(header):
    return np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)


def rewrite(path, arrays, header):
    """Write an archive as the old code did (np.savez), for files ``write`` never makes."""
    members = dict(arrays)
    if header is not None:
        members["header"] = header_array(header)
    with path.open("wb") as file:
        np.savez(file, **members)


def npy_bytes(array):
    buffer = io.BytesIO()
    npy.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_preamble(descr, shape, fortran=False, version=(1, 0)):
    """The magic string and header of an .npy file declaring ``descr`` and ``shape``."""
    text = repr({"descr": descr, "fortran_order": fortran, "shape": shape}).encode() + b"\n"
    length = struct.pack("<H" if version == (1, 0) else "<I", len(text))
    return npy.magic(*version) + length + text


def archive(path, members, compression=zipfile.ZIP_STORED):
    """A zip of {file name: bytes}, in order."""
    with zipfile.ZipFile(path, "w", compression) as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)


def npy_members(header, arrays):
    """{file name: .npy bytes} for a header and arrays."""
    members = {"header.npy": npy_bytes(header_array(header))}
    members.update({f"{name}.npy": npy_bytes(array) for name, array in arrays.items()})
    return members


def declare_size(path, filename, size):
    """Make the zip directory declare ``size`` uncompressed bytes for one member."""
    data = bytearray(path.read_bytes())
    for match in re.finditer(rb"PK\x01\x02", data):  # central directory entries
        start = match.start()
        (name_length,) = struct.unpack_from("<H", data, start + 28)
        if data[start + 46:start + 46 + name_length] == filename.encode():
            struct.pack_into("<I", data, start + 24, size)
            path.write_bytes(bytes(data))
            return
    raise AssertionError(f"{filename} not found")


def refused(path, message, **options):
    """Load must refuse with one line naming the file and matching ``message``."""
    with pytest.raises(CheckpointError, match=message) as caught:
        load(path, **options)
    text = str(caught.value)
    assert "\n" not in text and repr(str(path)) in text, text
    return text


# Round trips


def test_round_trip_of_parameters_and_header(tmp_path):
    net, path = saved(tmp_path, config={"seed": 1}, metrics={"val_loss": 0.5})
    saved_checkpoint = load(path)
    header = dict(saved_checkpoint.header)
    layers = header.pop("layers")
    assert header == dict(
        format=checkpoint.FORMAT, version=4,
        architecture=dict(n_inputs=2, hidden=[5, 4], outputs=3, loss="categorical",
                          activation="relu", conv=[], kernel=None, norm=None),
        dtype="float64", epoch=7, config={"seed": 1}, metrics={"val_loss": 0.5},
        optimizer=None, rng=None, classes=None, scaler=False, image_shape=None,
        features=None, early_stopping=None)
    assert [(layer["kind"], layer["name"]) for layer in layers] == [
        ("dense", "dense0"), ("relu", "relu0"), ("dense", "dense1"), ("relu", "relu1"),
        ("dense", "dense2")]
    assert layers[0]["parameters"] == dict(weights=[2, 5], biases=[1, 5])
    assert layers[0]["settings"]["n_neurons"] == 5 and layers[1]["parameters"] == {}
    assert saved_checkpoint.epoch == 7 and saved_checkpoint.config == {"seed": 1}
    assert saved_checkpoint.architecture["hidden"] == [5, 4]
    assert saved_checkpoint.dtype == np.float64
    assert saved_checkpoint.optimizer_state == {} and saved_checkpoint.scaler is None
    for name, array in net.parameters():
        np.testing.assert_array_equal(saved_checkpoint.parameters[name], array)
        assert saved_checkpoint.parameters[name].dtype == array.dtype


def test_round_trip_of_every_optional_part(tmp_path):
    net, optimizer, generator, path = everything(tmp_path)
    saved_checkpoint = load(path)
    header = saved_checkpoint.header
    assert header["optimizer"] == dict(name="adam", iterations=2, current_learning_rate=0.05,
                                       slots=["m", "v"])
    assert header["rng"] == {"data": generator.bit_generator.state}
    assert header["classes"] == ["a", "b", "c"] and header["image_shape"] == [1, 2]
    assert header["scaler"] is True
    mean, scale = saved_checkpoint.scaler
    np.testing.assert_array_equal(mean, [[0.5, -1.0]])
    np.testing.assert_array_equal(scale, [[2.0, 3.0]])
    assert mean.dtype == scale.dtype == np.float64
    for name, param in net.parameters():
        for slot in ("m", "v"):
            state = saved_checkpoint.optimizer_state[name][slot]
            assert np.any(state != 0)
            np.testing.assert_array_equal(state, optimizer.state(param)[slot])


def test_float32_round_trip_keeps_float32(tmp_path):
    net = network(dtype=np.float32)
    _, path = saved(tmp_path, net, optimizer=SGD(0.1, momentum=0.5))
    saved_checkpoint = load(path)
    assert saved_checkpoint.dtype == np.float32
    assert all(a.dtype == np.float32 for a in saved_checkpoint.parameters.values())
    velocity = saved_checkpoint.optimizer_state["dense0.weights"]["velocity"]
    assert velocity.dtype == np.float32


def test_write_makes_exactly_the_named_file(tmp_path):
    path = tmp_path / "net.tmp"  # np.savez would have written net.tmp.npz
    write(path, network(), loss="categorical", epoch=1)
    assert [p.name for p in tmp_path.iterdir()] == ["net.tmp"]
    assert load(path).epoch == 1


def test_write_to_a_file_object(tmp_path):
    buffer = io.BytesIO()
    net = network()
    write(buffer, net, loss="categorical", epoch=2, optimizer=SGD())
    path = tmp_path / "copy.npz"
    path.write_bytes(buffer.getvalue())
    saved_checkpoint = load(path)
    assert saved_checkpoint.header["optimizer"]["name"] == "sgd"  # the class name by default
    assert saved_checkpoint.optimizer_state == {name: {} for name, _ in net.parameters()}


def test_write_refuses_what_load_would_refuse(tmp_path):
    path = tmp_path / "net.npz"
    net = network()
    with pytest.raises(ValueError, match=r"'classes\[0\]' must be a string, got 1"):
        write(path, net, loss="categorical", epoch=1, classes=[1, 2, 3])
    with pytest.raises(ValueError, match=r"scaler.mean has shape \(1, 3\), expected \(1, 2\)"):
        write(path, net, loss="categorical", epoch=1, scaler=(np.zeros(3), np.ones(3)))
    with pytest.raises(ValueError, match="more than 1048576"):
        write(path, net, loss="categorical", epoch=1, config={"notes": "x" * (1 << 20)})
    net.trainable[1].biases[0, 2] = np.nan
    with pytest.raises(ValueError, match=r"dense1.biases holds NaN or infinite values \(nan"):
        write(path, net, loss="categorical", epoch=1)
    assert not path.exists()


def write_old(path, version, architecture, params):
    """A checkpoint as versions 1 and 2 wrote them: header JSON and arrays through np.savez."""
    header = dict(format=checkpoint.FORMAT, version=version, architecture=architecture,
                  epoch=4, config={"seed": 3}, metrics={"loss": 0.25})
    with path.open("wb") as file:
        np.savez(file, header=header_array(header), **params)


def test_reads_version_1(tmp_path):
    net, path = network(), tmp_path / "v1.npz"
    write_old(path, 1, dict(n_inputs=2, hidden=[5, 4], classes=3), dict(net.parameters()))
    saved_checkpoint = load(path)
    assert saved_checkpoint.header == dict(
        format=checkpoint.FORMAT, version=4,
        architecture=dict(n_inputs=2, hidden=[5, 4], outputs=3, loss="categorical",
                          activation="relu", conv=[], kernel=None, norm=None),
        dtype="float64", epoch=4, config={"seed": 3}, metrics={"loss": 0.25},
        optimizer=None, rng=None, classes=None, scaler=False, image_shape=None,
        layers=None, features=None, early_stopping=None)
    for name, array in net.parameters():
        np.testing.assert_array_equal(saved_checkpoint.parameters[name], array)


def test_an_old_version_may_hold_epoch_0(tmp_path):
    path = tmp_path / "v1.npz"
    write_old(path, 1, dict(n_inputs=2, hidden=[5, 4], classes=3), dict(network().parameters()))
    header, arrays = contents(path)
    rewrite(path, arrays, dict(header, epoch=0))
    assert load(path).epoch == 0


def test_reads_version_2_with_its_parameters_dtype(tmp_path):
    net, path = network(dtype=np.float32), tmp_path / "v2.npz"
    write_old(path, 2, dict(n_inputs=2, hidden=[5, 4], outputs=3, loss="binary"),
              dict(net.parameters()))
    saved_checkpoint = load(path)
    assert saved_checkpoint.architecture == dict(n_inputs=2, hidden=[5, 4], outputs=3,
                                                 loss="binary", activation="relu", conv=[],
                                                 kernel=None, norm=None)
    assert saved_checkpoint.dtype == np.float32 and saved_checkpoint.header["version"] == 4


def test_old_versions_hold_one_dtype_and_only_their_fields(tmp_path):
    path = tmp_path / "v2.npz"
    params = dict(network().parameters())
    params["dense1.weights"] = params["dense1.weights"].astype(np.float32)
    write_old(path, 2, dict(n_inputs=2, hidden=[5, 4], outputs=3, loss="categorical"), params)
    refused(path, "dense1.weights holds '<f4' values, expected '<f8'")
    header, arrays = contents(path)
    rewrite(path, arrays, dict(header, dtype="float64"))
    refused(path, "header field 'dtype' is not part of the format")
    write_old(path, 1, dict(n_inputs=2, hidden=[5, 4], outputs=3, loss="categorical"),
              dict(network().parameters()))
    refused(path, "header field 'architecture.classes' is missing")


@pytest.mark.parametrize("field", ["config", "metrics"])
def test_an_old_versions_malformed_field_is_named_with_its_value(tmp_path, field):
    path = tmp_path / "v1.npz"
    write_old(path, 1, dict(n_inputs=2, hidden=[5, 4], classes=3), dict(network().parameters()))
    header, arrays = contents(path)
    rewrite(path, arrays, dict(header, **{field: "good"}))
    refused(path, re.escape(f"header field '{field}' must be null or an object, got \"good\""))


def test_a_fortran_ordered_member_is_read_in_the_right_order(tmp_path):
    net, path = saved(tmp_path)
    header, arrays = contents(path)
    members = npy_members(header, arrays)
    members["dense0.weights.npy"] = npy_bytes(np.asfortranarray(arrays["dense0.weights"]))
    assert b"'fortran_order': True" in members["dense0.weights.npy"]
    archive(path, members)
    loaded = load(path).parameters["dense0.weights"]
    np.testing.assert_array_equal(loaded, dict(net.parameters())["dense0.weights"])
    assert loaded.flags.c_contiguous


# Restoring


def steps_agree(a, b):
    for (name, left), (_, right) in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(left, right, err_msg=name)


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("make", [
    lambda fused: Adam(0.05, decay=0.01, fused=fused),
    lambda fused: SGD(0.5, decay=0.01, momentum=0.9, fused=fused),
    lambda fused: RMSProp(0.01, decay=0.01, fused=fused),
    lambda fused: Adagrad(0.5, decay=0.01, fused=fused),
], ids=["adam", "sgd-momentum", "rmsprop", "adagrad"])
@pytest.mark.parametrize("steps_before", [0, 1])
def test_restored_optimizer_takes_the_uninterrupted_next_step(tmp_path, make, fused,
                                                              steps_before):
    net, optimizer = network(), make(fused)
    train(net, optimizer, 3)
    _, path = saved(tmp_path, net, optimizer=optimizer)
    counters = (optimizer.iterations, optimizer.current_learning_rate)
    train(net, optimizer, 1)  # the uninterrupted run
    resumed, resumed_optimizer = network(seed=2), make(fused)
    # After a step, a fused optimizer's layers hold views of one flat array.
    train(resumed, resumed_optimizer, steps_before)
    held = [array for _, array in resumed.parameters()]
    restore(load(path), resumed, resumed_optimizer)
    assert (resumed_optimizer.iterations, resumed_optimizer.current_learning_rate) == counters
    assert all(a is b for a, (_, b) in zip(held, resumed.parameters(), strict=True))
    train(resumed, resumed_optimizer, 1)
    steps_agree(net, resumed)
    for (_, a), (_, b) in zip(net.parameters(), resumed.parameters(), strict=True):
        for slot in optimizer.slots:
            np.testing.assert_array_equal(optimizer.state(a)[slot],
                                          resumed_optimizer.state(b)[slot])


def test_restore_casts_to_the_network_dtype_in_place(tmp_path):
    net, path = saved(tmp_path)
    target = network(seed=3, dtype=np.float32)
    held = [array for _, array in target.parameters()]
    restore(load(path), target)
    for (name, array), before in zip(target.parameters(), held, strict=True):
        assert array is before and array.dtype == np.float32
        np.testing.assert_array_equal(array, dict(net.parameters())[name].astype(np.float32))


def test_a_value_of_exactly_float32s_largest_fits_a_float32_network(tmp_path):
    net = network()
    net.trainable[0].weights[0, 0] = np.finfo(np.float32).max
    _, path = saved(tmp_path, net)
    target = network(seed=3, dtype=np.float32)
    restore(load(path), target)
    assert target.trainable[0].weights[0, 0] == np.finfo(np.float32).max


def test_restore_refuses_optimizer_state_beyond_the_networks_dtype_before_changing_it(tmp_path):
    net, optimizer = network(), Adam()
    train(net, optimizer, 1)
    optimizer.state(net.trainable[0].weights)["v"][0, 0] = 1e300
    _, path = saved(tmp_path, net, optimizer=optimizer)
    target, fresh = network(seed=3, dtype=np.float32), Adam()
    before = [array.copy() for _, array in target.parameters()]
    with pytest.raises(CheckpointError, match=re.escape(
            "optimizer.dense0.weights.v holds 1e+300, beyond float32's largest finite value")):
        restore(load(path), target, fresh)
    assert fresh.iterations == 0
    for (_, array), earlier in zip(target.parameters(), before, strict=True):
        np.testing.assert_array_equal(array, earlier)


def test_restore_without_a_saved_optimizer_leaves_the_optimizer_alone(tmp_path):
    _, path = saved(tmp_path)
    optimizer = Adam(0.05)
    restore(load(path), network(seed=2), optimizer)
    assert optimizer.iterations == 0 and optimizer.current_learning_rate == 0.05


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937])
def test_restored_generator_draws_the_same_numbers(tmp_path, bit_generator):
    generator = np.random.Generator(bit_generator(5))  # MT19937's state holds an array
    generator.random(3)
    _, path = saved(tmp_path, rngs={"data": generator})
    expected = generator.random(4)
    fresh = np.random.Generator(bit_generator(0))
    other = np.random.default_rng(9)
    other_state = other.bit_generator.state
    restore(load(path), network(), rngs={"data": fresh, "other": other})
    np.testing.assert_array_equal(fresh.random(4), expected)
    assert other.bit_generator.state == other_state  # a name the checkpoint lacks


@pytest.mark.parametrize("state, bit_generator, reason", [
    ({"bit_generator": "PCG64", "state": "nonsense"}, np.random.PCG64,
     "string indices must be integers"),
    ({"bit_generator": "PCG64", "state": {"state": -1, "inc": 1}, "has_uint32": 0,
      "uinteger": 0}, np.random.PCG64, "Python integer -1 out of bounds for uint64"),
    (np.random.PCG64(1).state, np.random.MT19937, "state must be for a MT19937 PRNG"),
], ids=["not-a-state", "out-of-range", "other-kind-of-generator"])
def test_restore_refuses_a_bad_generator_state_before_changing_anything(tmp_path, state,
                                                                         bit_generator, reason):
    _, path = saved(tmp_path, rngs={"data": np.random.default_rng(0)})
    header, arrays = contents(path)
    rewrite(path, arrays, dict(header, rng={"data": state}))
    target = network(seed=2)
    before = [array.copy() for _, array in target.parameters()]
    generator, twin = (np.random.Generator(bit_generator(0)) for _ in range(2))
    # The message names the generator and says why, in NumPy's words.
    with pytest.raises(CheckpointError, match=re.escape(
            f"the saved state of the random generator 'data' does not fit a "
            f"{bit_generator.__name__}: {reason}")):
        restore(load(path), target, rngs={"data": generator})
    np.testing.assert_array_equal(generator.random(3), twin.random(3))
    for (_, array), earlier in zip(target.parameters(), before, strict=True):
        np.testing.assert_array_equal(array, earlier)


def test_restore_refuses_another_architecture(tmp_path):
    _, path = saved(tmp_path)
    saved_checkpoint = load(path)
    with pytest.raises(CheckpointError, match=r"dense1.weights has shape \(5, 3\), the saved "
                                              r"one \(5, 4\)"):
        restore(saved_checkpoint, network(hidden=(5, 3)))
    with pytest.raises(CheckpointError, match=r"missing \['dense2.weights', 'dense2.biases'\]"):
        restore(saved_checkpoint, network(hidden=(5,)))


def test_restore_refuses_an_optimizer_with_other_slots(tmp_path):
    _, path = saved(tmp_path, optimizer=Adam())
    with pytest.raises(CheckpointError, match=r"\['m', 'v'\], the optimizer given \['velocity'\]"):
        restore(load(path), network(), SGD(momentum=0.9))


def test_check_dtype_refuses_values_beyond_float32(tmp_path):
    net = network()
    net.trainable[0].weights[1, 2] = -1e39
    _, path = saved(tmp_path, net)
    saved_checkpoint = load(path)
    check_dtype(saved_checkpoint, np.float64)
    with pytest.raises(CheckpointError, match=r"dense0.weights holds 1e\+39, beyond float32's"):
        check_dtype(saved_checkpoint, np.float32)
    with pytest.raises(CheckpointError, match="dense0.weights holds 1e"):
        restore(saved_checkpoint, network(dtype=np.float32))  # never silently inf


def test_check_dtype_looks_at_optimizer_state_and_scaler(tmp_path):
    net, optimizer = network(), SGD(momentum=0.5)
    train(net, optimizer, 1)
    optimizer.state(net.trainable[1].biases)["velocity"][0, 0] = 2e39
    _, path = saved(tmp_path, net, optimizer=optimizer, scaler=(np.zeros(2), [1.0, 3e38]))
    saved_checkpoint = load(path)
    with pytest.raises(CheckpointError, match=r"optimizer.dense1.biases.velocity holds 2e\+39"):
        check_dtype(saved_checkpoint, "float32")
    saved_checkpoint.optimizer_state["dense1.biases"]["velocity"][0, 0] = 0
    check_dtype(saved_checkpoint, "float32")
    saved_checkpoint.scaler[1][0, 1] = 4e38
    with pytest.raises(CheckpointError, match=r"scaler.scale holds 4e\+38"):
        check_dtype(saved_checkpoint, "float32")


# Refusals: the file and the archive


def test_missing_file_and_directory(tmp_path):
    refused(tmp_path / "nothing.npz", "it does not exist")
    refused(tmp_path, "it is a directory")


def test_not_a_regular_file(tmp_path):
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    refused(fifo, "it is not a regular file")


@pytest.mark.parametrize("data", [b"", b"hello", pickle.dumps([1, 2])], ids=["empty", "text",
                                                                               "pickle"])
def test_not_an_archive(tmp_path, data):
    path = tmp_path / "other.npz"
    path.write_bytes(data)
    refused(path, "not an .npz archive, or it is truncated")


def test_truncated_file(tmp_path):
    _, path = saved(tmp_path)
    data = path.read_bytes()
    for keep in (len(data) // 2, len(data) - 30):
        path.write_bytes(data[:keep])
        refused(path, "not an .npz archive, or it is truncated")


def test_bad_crc(tmp_path):
    net, path = saved(tmp_path)
    data = bytearray(path.read_bytes())
    start = data.index(dict(net.parameters())["dense1.weights"].tobytes())
    data[start + 3] ^= 1  # the weight stays finite: only the checksum can tell
    path.write_bytes(bytes(data))
    refused(path, r"damaged or truncated \(BadZipFile: Bad CRC-32")


def test_npz_without_our_header(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.ones(3))
    refused(path, r"not a checkpoint of this program \(it has no header\)")
    rewrite(path, {}, {"format": "someone else's", "version": 1})
    refused(path, re.escape("not a checkpoint of this program (format \"someone else's\")"))


@pytest.mark.parametrize("text, message", [
    (b"\xff\xfe{}", re.escape("not UTF-8 JSON ('utf-8' codec can't decode byte 0xff in "
                              "position 0: invalid start byte)")),
    (b'{"format": ', re.escape("not UTF-8 JSON (Expecting value: line 1 column 12 (char 11))")),
    (b"[" * 100_000, "not UTF-8 JSON"),  # nested beyond the parser's recursion
    (b"[1, 2]", "not a JSON object: \\[1, 2\\]"),
    (b'"format"', "not a JSON object"),
])
def test_header_that_is_not_a_json_object(tmp_path, text, message):
    _, path = saved(tmp_path)
    _, arrays = contents(path)
    rewrite(path, {**arrays, "header": np.frombuffer(text, np.uint8)}, None)
    refused(path, message)


@pytest.mark.parametrize("extra", [1, 64 << 10], ids=["just-over", "far-over"])
def test_header_too_big(tmp_path, extra):
    _, path = saved(tmp_path)
    header, arrays = contents(path)
    text = json.dumps(header).encode()
    text += b" " * (checkpoint.MAX_HEADER_BYTES + extra - len(text))
    rewrite(path, {**arrays, "header": np.frombuffer(text, np.uint8)}, None)
    refused(path, "its header member is .* 1048576")


def test_a_header_of_exactly_the_largest_size_is_read(tmp_path):
    _, path = saved(tmp_path)
    header, arrays = contents(path)
    expected = load(path).header
    text = json.dumps(header).encode()
    text += b" " * (checkpoint.MAX_HEADER_BYTES - len(text))
    rewrite(path, {**arrays, "header": np.frombuffer(text, np.uint8)}, None)
    assert load(path).header == expected


def test_header_member_of_another_dtype_or_shape(tmp_path):
    _, path = saved(tmp_path)
    header, arrays = contents(path)
    text = np.frombuffer(json.dumps(header).encode(), np.uint8)
    for member in (text.astype(np.float64), text.reshape(1, -1)):
        rewrite(path, {**arrays, "header": member}, None)
        refused(path, "its header member is .*, not up to 1048576 bytes")


def test_newer_format_version(tmp_path):
    _, path = saved(tmp_path)
    header, arrays = contents(path)
    rewrite(path, arrays, dict(header, version=checkpoint.VERSION + 1))
    refused(path, f"format version {checkpoint.VERSION + 1}; this program reads versions up "
                  f"to {checkpoint.VERSION}")


def set_field(header, dotted, value):
    *parents, last = dotted.split(".")
    for name in parents:
        header = header[name]
    if value is KeyError:
        del header[last]
    else:
        header[last] = value


@pytest.mark.parametrize("field, value, message", [
    ("version", "3", "'version' must be a whole number >= 1, got \"3\""),
    ("version", 3.0, "'version' must be a whole number >= 1, got 3.0"),
    ("version", True, "'version' must be a whole number >= 1, got true"),
    ("version", 0, "'version' must be a whole number >= 1, got 0"),
    ("epoch", KeyError, "'epoch' is missing"),
    ("unknown", 1, "'unknown' is not part of the format"),
    ("epoch", "ten", "'epoch' must be a whole number >= 0, got \"ten\""),
    ("epoch", -1, "'epoch' must be a whole number >= 0, got -1"),
    ("epoch", 2.5, "'epoch' must be a whole number >= 0, got 2.5"),
    ("epoch", None, "'epoch' must be a whole number >= 0, got null"),
    ("epoch", True, "'epoch' must be a whole number >= 0, got true"),
    ("architecture", [2, 3], "'architecture' must be an object, got [2, 3]"),
    ("architecture.loss", KeyError, "'architecture.loss' is missing"),
    ("architecture.classes", 3, "'architecture.classes' is not part of the format"),
    ("architecture.n_inputs", 2.0, "'architecture.n_inputs' must be a whole number >= 1, "
                                   "got 2.0"),
    ("architecture.n_inputs", True, "'architecture.n_inputs' must be a whole number >= 1, "
                                    "got true"),
    ("architecture.n_inputs", 0, "'architecture.n_inputs' must be a whole number >= 1, got 0"),
    ("architecture.hidden", "many", "'architecture.hidden' must be a list, got \"many\""),
    ("architecture.hidden", [5, 4.0], "'architecture.hidden[1]' must be a whole number >= 1, "
                                      "got 4.0"),
    ("architecture.hidden", [0, 4], "'architecture.hidden[0]' must be a whole number >= 1, "
                                    "got 0"),
    ("architecture.outputs", "3", "'architecture.outputs' must be a whole number >= 1, "
                                  "got \"3\""),
    ("architecture.loss", "", "'architecture.loss' must be a non-empty string, got \"\""),
    ("architecture.loss", 3, "'architecture.loss' must be a non-empty string, got 3"),
    ("dtype", "int8", "'dtype' must be \"float32\" or \"float64\", got \"int8\""),
    ("dtype", None, "'dtype' must be \"float32\" or \"float64\", got null"),
    ("config", [1], "'config' must be null or an object, got [1]"),
    ("metrics", "good", "'metrics' must be null or an object, got \"good\""),
    ("optimizer", "adam", "'optimizer' must be null or an object, got \"adam\""),
    ("optimizer.slots", KeyError, "'optimizer.slots' is missing"),
    ("optimizer.name", "", "'optimizer.name' must be a non-empty string, got \"\""),
    ("optimizer.iterations", -1, "'optimizer.iterations' must be a whole number >= 0, got -1"),
    ("optimizer.iterations", 1.5, "'optimizer.iterations' must be a whole number >= 0, "
                                  "got 1.5"),
    ("optimizer.iterations", False, "'optimizer.iterations' must be a whole number >= 0, "
                                    "got false"),
    ("optimizer.current_learning_rate", 0, "'optimizer.current_learning_rate' must be a "
                                           "finite number > 0, got 0"),
    ("optimizer.current_learning_rate", "0.1", "'optimizer.current_learning_rate' must be a "
                                               "finite number > 0, got \"0.1\""),
    ("optimizer.current_learning_rate", True, "'optimizer.current_learning_rate' must be a "
                                              "finite number > 0, got true"),
    ("optimizer.current_learning_rate", math.inf, "'optimizer.current_learning_rate' must be "
                                                  "a finite number > 0, got Infinity"),
    ("optimizer.slots", "m", "'optimizer.slots' must be a list, got \"m\""),
    ("optimizer.slots", ["m", "v.x"], "'optimizer.slots[1]' must be a new identifier of up "
                                      "to 32 letters, digits and _, got \"v.x\""),
    ("optimizer.slots", ["m", "m"], "'optimizer.slots[1]' must be a new identifier"),
    ("optimizer.slots", [1], "'optimizer.slots[0]' must be a new identifier"),
    ("optimizer.slots", ["m" * 33], "'optimizer.slots[0]' must be a new identifier"),
    ("rng", "seed 1", "'rng' must be null or an object, got \"seed 1\""),
    ("rng.data", 3, "'rng.data' must be a BitGenerator state"),
    ("rng.data", {}, "'rng.data' must be a BitGenerator state"),
    ("rng.data.bit_generator", 1, "'rng.data' must be a BitGenerator state"),
    ("classes", "abc", "'classes' must be a list, got \"abc\""),
    ("classes", ["a", 2, "c"], "'classes[1]' must be a string, got 2"),
    ("classes", ["a", "b"], "'classes' must be 3 names for a categorical head of 3 outputs, "
                            "got [\"a\", \"b\"]"),
    ("scaler", 1, "'scaler' must be true or false, got 1"),
    ("scaler", None, "'scaler' must be true or false, got null"),
    ("image_shape", "2x2", "'image_shape' must be a list, got \"2x2\""),
    ("image_shape", [2], "'image_shape' must be [height, width]"),
    ("image_shape", [1, 2.0], "'image_shape[1]' must be a whole number >= 1, got 2.0"),
    ("image_shape", [0, 2], "'image_shape[0]' must be a whole number >= 1, got 0"),
    ("image_shape", [2, 2], "'image_shape' must be [height, width] with height * width == "
                            "n_inputs (2), got [2, 2]"),
])
def test_malformed_header_field_is_named_with_its_value(tmp_path, full, field, value,
                                                       message):
    header, arrays = copy.deepcopy(full)
    path = tmp_path / "net.npz"
    set_field(header, field, value)
    rewrite(path, arrays, header)
    refused(path, re.escape(f"header field {message}"))


def test_a_long_value_is_cut_in_the_message(tmp_path):
    _, path = saved(tmp_path)
    header, arrays = contents(path)
    rewrite(path, arrays, dict(header, epoch="x" * 10_000))
    message = refused(path, "'epoch' must be a whole number")
    assert len(message) - len(str(path)) < 150  # not the 10,000 characters of the value


# Refusals: the members


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update({"dense0.weights": np.ones((3, 5))}),
     r"dense0.weights has shape \(3, 5\), expected \(2, 5\)"),
    (lambda a: a.update({"dense0.biases": np.ones(5)}),
     r"dense0.biases has shape \(5,\), expected \(1, 5\)"),
    (lambda a: a.pop("dense1.biases"), r"missing \['dense1.biases'\], unexpected \[\]"),
    (lambda a: a.pop("optimizer.dense2.weights.v"), r"missing \['optimizer.dense2.weights.v'\]"),
    (lambda a: a.pop("scaler.scale"), r"missing \['scaler.scale'\]"),
    (lambda a: a.update({"extra": np.ones(2)}), r"missing \[\], unexpected \['extra.npy'\]"),
    (lambda a: a["dense2.weights"].__setitem__((1, 2), np.nan),
     r"dense2.weights holds NaN or infinite values \(nan at \(1, 2\)\)"),
    (lambda a: a["dense0.biases"].__setitem__((0, 1), -np.inf),
     r"dense0.biases holds NaN or infinite values \(-inf at \(0, 1\)\)"),
    (lambda a: a["optimizer.dense1.weights.m"].__setitem__((0, 0), np.nan),
     r"optimizer.dense1.weights.m holds NaN or infinite values"),
    (lambda a: a["scaler.scale"].__setitem__((0, 1), 0.0), "scaler.scale holds 0"),
    (lambda a: a.update({"dense0.biases": np.ones((1, 5), dtype=np.int64)}),
     "dense0.biases holds '<i8' values, expected '<f8' \\(float64, little-endian\\)"),
    (lambda a: a.update({"dense0.biases": np.ones((1, 5), dtype=">f8")}),
     "dense0.biases holds '>f8' values, expected '<f8'"),
    (lambda a: a.update({"dense1.weights": a["dense1.weights"].astype(np.float32)}),
     "dense1.weights holds '<f4' values, expected '<f8'"),
    (lambda a: a.update({"optimizer.dense0.biases.m": a["optimizer.dense0.biases.m"]
                         .astype(np.float32)}),
     "optimizer.dense0.biases.m holds '<f4' values, expected '<f8'"),
    (lambda a: a.update({"scaler.mean": a["scaler.mean"].astype(np.float32)}),
     "scaler.mean holds '<f4' values, expected '<f8'"),
])
def test_bad_arrays_are_refused(tmp_path, full, change, message):
    header, arrays = copy.deepcopy(full)
    path = tmp_path / "net.npz"
    change(arrays)
    rewrite(path, arrays, header)
    refused(path, message)


def test_a_float32_header_wants_float32_arrays(tmp_path):
    _, path = saved(tmp_path, network(dtype=np.float32))
    header, arrays = contents(path)
    rewrite(path, {**arrays, "dense0.weights": arrays["dense0.weights"].astype(np.float64)},
            header)
    refused(path, "dense0.weights holds '<f8' values, expected '<f4' \\(float32")


def test_unexpected_and_repeated_member_names(tmp_path):
    _, path = saved(tmp_path)
    header, arrays = contents(path)
    members = npy_members(header, arrays)
    archive(path, {**members, "notes.txt": b"hello"})
    refused(path, r"unexpected \['notes.txt'\]")
    archive(path, members)
    with warnings.catch_warnings(), zipfile.ZipFile(path, "a") as zipped:
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the repeated name
        zipped.writestr("dense0.weights.npy", members["dense0.weights.npy"])
    refused(path, "it holds the member 'dense0.weights.npy' twice")


@pytest.mark.parametrize("data, message", [
    (b"not an npy file at all", r"'dense0.weights.npy' is not an .npy file \(the magic"),
    (npy_preamble("<f8", (2, 5))[:20], "'dense0.weights.npy' is not an .npy file"),
    (npy.magic(3, 0) + struct.pack("<I", 10) + b"{}        ",
     r"\(.npy format version 3.0 is not read\)"),
    (npy.magic(2, 0) + struct.pack("<I", 2**32 - 1), "its header announces 4294967295 bytes"),
    (npy.magic(1, 0) + struct.pack("<H", 12) + b"{'descr': 1}", "is not an .npy file"),
    (npy_preamble("<f8", (2, -5)) + bytes(80), r"has shape \(2, -5\), expected \(2, 5\)"),
])
def test_member_without_a_valid_npy_header(tmp_path, data, message):
    _, path = saved(tmp_path)
    header, arrays = contents(path)
    archive(path, npy_members(header, arrays) | {"dense0.weights.npy": data})
    refused(path, message)


def test_declared_size_must_match_the_npy_header(tmp_path):
    _, path = saved(tmp_path)
    with zipfile.ZipFile(path) as zipped:
        size = zipped.getinfo("dense1.weights.npy").file_size
    declare_size(path, "dense1.weights.npy", size + 8)
    refused(path, f"dense1.weights is {size + 8} bytes in the zip directory, but its .npy "
                  f"header makes {size}")


def test_data_beyond_the_declared_size_is_never_read(tmp_path):
    _, path = saved(tmp_path)
    header, arrays = contents(path)
    honest = npy_bytes(arrays["dense0.weights"])
    members = npy_members(header, arrays) | {"dense0.weights.npy": honest + bytes(1 << 20)}
    archive(path, members, zipfile.ZIP_DEFLATED)
    declare_size(path, "dense0.weights.npy", len(honest))
    # zipfile stops at the declared size; the CRC of the whole member then cannot match.
    refused(path, r"damaged or truncated \(BadZipFile: Bad CRC-32 for file 'dense0.weights.npy'")


class Payload:
    """Unpickling this would create a file: proof that the pickle ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_planted_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    _, path = saved(tmp_path)
    header, arrays = contents(path)
    arrays["dense0.weights"] = np.array([Payload(marker)], dtype=object)
    with path.open("wb") as file:  # np.savez pickles object arrays
        np.savez(file, header=header_array(header), **arrays)
    refused(path, "dense0.weights holds pickled Python objects, which are never loaded")
    with path.open("wb") as file:
        np.savez(file, header=np.array([Payload(marker)], dtype=object), **arrays)
    refused(path, "header holds pickled Python objects, which are never loaded")
    bare = tmp_path / "bare.npz"
    bare.write_bytes(pickle.dumps(Payload(marker)))
    refused(bare, "not an .npz archive")
    assert not marker.exists()
    assert zipfile.is_zipfile(path)


def test_reading_a_member_never_unpickles_even_unchecked(tmp_path):
    # load() refuses object arrays from their .npy header; the reader itself
    # is the second guard, for any path that would reach it unchecked.
    marker, path = tmp_path / "pwned", tmp_path / "objects.npz"
    with path.open("wb") as file:
        np.savez(file, x=np.array([Payload(marker)], dtype=object))
    with zipfile.ZipFile(path) as members:
        with pytest.raises(ValueError, match="allow_pickle=False"):
            checkpoint._read_array(members, members.getinfo("x.npy"))
    assert not marker.exists()


# Refusing a decompression bomb takes little memory and little time

# Prints each refusal, the seconds they took, and how far they raised the peak
# memory of the process above what its imports had already taken (KiB on Linux).
CHILD = """
import resource, sys, time
from program import checkpoint
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
for path in sys.argv[1:]:
    try:
        checkpoint.load(path)
    except checkpoint.CheckpointError as error:
        print(error)
print(time.perf_counter() - start)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def bomb(path, architecture, shape=(23_000, 23_000)):
    """An archive whose zip directory and .npy header declare a float32 array of ``shape``.

    Its stored body is 1 MiB of zeros, deflated to a few KiB: genuinely
    compressing the 2 GB declared would take the test seconds, and ``load``
    must refuse from the declarations alone, never reading the body.
    """
    header = dict(format=checkpoint.FORMAT, version=3, architecture=architecture,
                  dtype="float32", epoch=0, config=None, metrics=None, optimizer=None,
                  rng=None, classes=None, scaler=False, image_shape=None)
    preamble = npy_preamble("<f4", shape)
    outputs = architecture["outputs"]
    archive(path, {"header.npy": npy_bytes(header_array(header)),
                   "dense0.weights.npy": preamble + bytes(1 << 20),
                   "dense0.biases.npy": npy_bytes(np.zeros((1, outputs), np.float32))},
            zipfile.ZIP_DEFLATED)
    declare_size(path, "dense0.weights.npy", len(preamble) + math.prod(shape) * 4)


def test_a_two_gigabyte_declaration_is_refused_cheaply(tmp_path):
    huge, small = tmp_path / "huge.npz", tmp_path / "small.npz"
    bomb(huge, dict(n_inputs=23_000, hidden=[], outputs=23_000, loss="categorical"))
    bomb(small, dict(n_inputs=2, hidden=[], outputs=3, loss="categorical"))
    assert huge.stat().st_size < 100_000
    done = subprocess.run([sys.executable, "-c", CHILD, str(huge), str(small)], cwd=ROOT,
                          capture_output=True, text=True, check=True, timeout=60)
    lines = done.stdout.splitlines()
    assert "its arrays declare 2116092000 bytes in all, more than the 1073741824 allowed" \
        in lines[0]
    assert "dense0.weights has shape (23000, 23000), expected (2, 3)" in lines[1]
    # lines[2] is the seconds it took, for a reader; a test asserts no timing.
    added_kib = int(lines[3])
    assert added_kib < 50_000  # not the 2 GB declared, nor any sizeable part of it


def test_max_bytes_bounds_the_arrays(tmp_path):
    _, path = saved(tmp_path)  # 2-5-4-3: 54 float64 parameters, 432 bytes
    assert load(path, max_bytes=432).epoch == 7
    refused(path, "its arrays declare 432 bytes in all, more than the 431 allowed",
            max_bytes=431)


@pytest.mark.parametrize("length, shown", [
    (58, '"' + "x" * 58 + '"'),  # 60 characters of JSON: shown whole
    (59, '"' + "x" * 56 + "..."),  # 61: cut to 60, the last three the dots
])
def test_a_value_is_shown_whole_up_to_60_characters_of_json(tmp_path, length, shown):
    _, path = saved(tmp_path)
    header, arrays = contents(path)
    rewrite(path, arrays, dict(header, epoch="x" * length))
    assert refused(path, "'epoch' must be").endswith(f", got {shown}")


def test_a_list_of_members_names_five_and_counts_the_others(tmp_path):
    _, path = saved(tmp_path)  # six parameters, dense0 to dense2, weights and biases
    header, arrays = contents(path)
    names = "'dense0.weights', 'dense0.biases', 'dense1.weights', 'dense1.biases', 'dense2.weights'"
    rewrite(path, {"dense2.biases": arrays["dense2.biases"]}, header)
    assert refused(path, "missing").endswith(f"missing [{names}], unexpected []")
    rewrite(path, {}, header)
    assert refused(path, "missing").endswith(f"missing [{names} and 1 more], unexpected []")


def test_a_scaler_given_as_ints_or_float32_is_saved_as_float64(tmp_path):
    _, path = saved(tmp_path, scaler=([0, 1], np.array([2, 4], dtype=np.float32)))
    mean, scale = load(path).scaler
    assert mean.dtype == scale.dtype == np.float64
    np.testing.assert_array_equal(mean, [[0.0, 1.0]])
    np.testing.assert_array_equal(scale, [[2.0, 4.0]])


def test_write_refuses_parameters_of_mixed_dtypes(tmp_path):
    net = network()
    net.trainable[1].weights = net.trainable[1].weights.astype(np.float32)
    with pytest.raises(ValueError) as error:
        write(tmp_path / "net.npz", net, loss="categorical", epoch=1)
    assert str(error.value) == ("a checkpoint holds parameters of one dtype, float32 or float64: "
                                "got ['float32', 'float64']")
    assert not (tmp_path / "net.npz").exists()


@pytest.mark.parametrize("names", [["yes"], ["no", "yes", "maybe"]])
def test_a_binary_output_has_exactly_two_class_names(tmp_path, names):
    from heads import Binary

    net = build(2, [4], 1, Binary(), rng=np.random.default_rng(0))
    with pytest.raises(ValueError) as error:
        write(tmp_path / "net.npz", net, loss="binary", epoch=1, classes=names)
    assert str(error.value).startswith("cannot write a checkpoint: header field 'classes' "
                                       "must be 2 names for a binary "
                                       "head of 1 output, got ")
    write(tmp_path / "net.npz", net, loss="binary", epoch=1, classes=["no", "yes"])
    assert load(tmp_path / "net.npz").header["classes"] == ["no", "yes"]


def test_a_checkpoint_its_reader_may_not_read_is_not_called_damaged(tmp_path, monkeypatch):
    import errno

    _, path = saved(tmp_path)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(zipfile, "ZipFile", denied)
    monkeypatch.setattr(Path, "open", denied)
    refused(path, re.escape(f"cannot read {str(path)!r}: Permission denied"))


def test_several_yes_no_outputs_keep_the_names_they_are_given(tmp_path):
    from heads import Binary

    # Two names belong to one yes/no output; several outputs name theirs freely.
    net = build(2, [4], 3, Binary(), rng=np.random.default_rng(0))
    write(tmp_path / "net.npz", net, loss="binary", epoch=1, classes=["red", "green", "blue"])
    assert load(tmp_path / "net.npz").header["classes"] == ["red", "green", "blue"]


# A file of the previous format, written by the 0.2.0 release (main.py --epochs 300
# --hidden 16 --save v3-spiral.npz), and what that release's --predict printed for it.
V3_FILE = ROOT / "tests" / "data" / "v3-spiral.npz"
V3_PREDICTIONS = """\
v3-inputs.csv:2  1  (probability 0.763)
v3-inputs.csv:3  2  (probability 0.395)
v3-inputs.csv:4  1  (probability 0.396)
v3-inputs.csv:5  0  (probability 0.824)
v3-inputs.csv:6  0  (probability 0.702)
v3-inputs.csv:7  1  (probability 0.985)
"""


def test_a_version_3_file_of_the_last_release_predicts_as_it_did(tmp_path, capsys, monkeypatch):
    import main

    saved_checkpoint = load(V3_FILE)
    assert saved_checkpoint.header["layers"] is None and saved_checkpoint.architecture == dict(
        n_inputs=2, hidden=[16], outputs=3, loss="categorical", activation="relu", conv=[],
        kernel=None, norm=None)
    monkeypatch.chdir(V3_FILE.parent)
    assert main.main(["--load", V3_FILE.name, "--predict", "v3-inputs.csv"]) == 0
    assert capsys.readouterr().out == V3_PREDICTIONS


def test_a_version_3_file_goes_on_training_and_is_saved_as_version_4(tmp_path):
    import main

    out = tmp_path / "v4.npz"
    assert main.main(["--load", str(V3_FILE), "--epochs", "5", "--no-plot",
                      "--save", str(out)]) == 0
    resaved = load(out)
    assert resaved.header["version"] == 4 and resaved.epoch == 305
    assert [layer["name"] for layer in resaved.header["layers"]] == [
        "dense0", "relu0", "dense1"]
    assert resaved.header["optimizer"]["iterations"] == 305


def test_the_header_alone_is_read_without_decompressing_a_parameter(tmp_path, monkeypatch):
    _, path = saved(tmp_path, scaler=(np.zeros(2), np.ones(2)))
    read = []
    real = checkpoint._read_array
    monkeypatch.setattr(checkpoint, "_read_array",
                        lambda archive, info: read.append(info.filename) or real(archive, info))
    header_only = load(path, arrays=False)
    assert read == ["header.npy", "scaler.mean.npy", "scaler.scale.npy"]
    assert header_only.parameters == {} and header_only.state == {}
    assert header_only.architecture["n_inputs"] == 2 and header_only.scaler is not None


def test_data_of_another_width_is_refused_before_the_parameters_are_read(tmp_path, monkeypatch,
                                                                         capsys):
    # Issue 18, group 6: a small checkpoint could decompress to gigabytes before a
    # width mismatch that its header already shows.
    import main

    model = tmp_path / "m.npz"
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,label\n" + "\n".join(f"{i % 3},{i % 5},{i % 2}" for i in range(40)))
    assert main.main(["--data", str(rows), "--epochs", "2", "--no-plot", "--log-level",
                      "WARNING", "--save", str(model)]) == 0
    wider = tmp_path / "wider.csv"
    wider.write_text("a,b,c,label\n" + "\n".join(f"{i},{i},{i},{i % 2}" for i in range(40)))
    read = []
    real = checkpoint._read_array
    monkeypatch.setattr(checkpoint, "_read_array",
                        lambda archive, info: read.append(info.filename) or real(archive, info))
    capsys.readouterr()
    assert main.main(["--load", str(model), "--data", str(wider), "--epochs", "1",
                      "--no-plot"]) == 2
    assert "takes 2 features" in capsys.readouterr().err
    assert not [name for name in read if name.startswith(("dense", "optimizer"))]
