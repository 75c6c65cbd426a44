"""Saving and loading a trained network: named arrays and a JSON header, never pickle.

``write`` puts a network (and, when asked, its optimizer's state, random
generators and input scaler) into one archive; ``load`` reads an archive
back into a ``Checkpoint``, checking everything in it; ``check_dtype`` and
``restore`` put a checkpoint into a network, optimizer and generators the
caller has built. A file that is wrong in any way is a ``CheckpointError``
of one line naming the file and the fault.

Format, version 4
-----------------
A checkpoint is a zip archive (what ``numpy.savez`` writes; members stored
or deflated) of ``.npy`` files, .npy format version 1.0 or 2.0, one array
each, in C order (Fortran order is read too). A member is named as below
plus ".npy"; no other member may be present, none twice. D is the header's
dtype ('<f4' for "float32", '<f8' for "float64"); each layer of the
header's ``layers`` list has a name (``dense0``, ``conv2d0``,
``batchnorm0``: its kind and its number among the layers of that kind) and
lists the shapes of its parameters and of its state:

    member                              dtype  shape                     when
    header                              |u1    (n,), n <= 2**20          always
    {layer}.{parameter}                 D      as ``layers`` lists it    every layer, every
    {layer}.{state}                     D      as ``layers`` lists it    parameter and state
    optimizer.{layer}.{parameter}.{slot} D     as {layer}.{parameter}    optimizer is not null:
                                                                         every slot, parameter
    scaler.mean, scaler.scale           <f8    (1, n_inputs)             scaler is true
    best.{layer}.{parameter or state}   D      as the array it copies    early_stopping is not
                                                                         null

Every value is finite and scaler.scale has no zero (inputs are used as
(raw - mean) / scale). A member's uncompressed size in the zip directory is
exactly its .npy header plus its data. "header" holds UTF-8 JSON, an object
with exactly these fields ("int" means a JSON number written without a
fraction or exponent: 4.0 and true are not ints):

    format        "numpy-from-scratch network"
    version       4
    architecture  {"n_inputs": int >= 1, "hidden": [int >= 1, ...] (may be empty),
                   "outputs": int >= 1, "loss": non-empty string, the output head's name,
                   "activation": null or the hidden layers' activation (registry.ACTIVATIONS),
                   "conv": [int >= 1, ...], the channels of each convolution block,
                   "kernel": null (no convolution) or int >= 1, the kernels' size,
                   "norm": null or the normalisation layer's kind (registry.LAYERS)}
    dtype         "float32" or "float64"
    epoch         int >= 0, the epochs trained
    config        object or null, the run's resolved configuration
    metrics       object or null, the last figures measured
    optimizer     null or {"name": non-empty string, "iterations": int >= 0,
                   "current_learning_rate": finite number > 0,
                   "slots": [string, ...], the state arrays' names, distinct,
                   each of 1 to 32 ASCII letters, digits and "_", not starting with a digit}
    rng           null or {name: the state of a numpy BitGenerator, as
                   ``Generator.bit_generator.state`` gives it with arrays as lists of ints,
                   e.g. {"bit_generator": "PCG64", "state": {"state": int, "inc": int},
                   "has_uint32": int, "uinteger": int}}
    classes       null or [string, ...], the names of labels 0, 1, ...: as many as the
                  outputs of a categorical head, 2 for a binary head of one output
    scaler        true or false, whether the scaler members are present
    image_shape   null or [height, width], ints >= 1 with height * width == n_inputs
    layers        [{"kind": the layer's name in registry.LAYERS or registry.ACTIVATIONS,
                    "name": lowercase letters, digits and "_" ending in a number, distinct,
                    "settings": object, the keyword arguments it was built with,
                    "parameters": {name: [int >= 1, ...] (1 to 8 sizes)},
                    "state": {name: [int >= 1, ...]}}, ...], every layer in order; the
                  Dense layers' widths are those of the architecture
    features      null or [string, ...], n_inputs names of the input columns
    early_stopping null or {"waited": int >= 0, evaluations without improvement,
                   "best_row": object, the figures of the best evaluation}: the state of
                   --patience, whose best parameters and state are the best.* members

Config and metrics may hold NaN and Infinity as Python's json writes them.
Versions 1 to 3 are still read. Version 3's header has the fields above but
layers, features and early_stopping, and its architecture only n_inputs,
hidden, outputs and loss; its members are the Dense layers' parameters: with
L Dense layers of widths w_0 = n_inputs, w_1 .. w_{L-1} = hidden, w_L =
outputs, dense{i}.weights (w_i, w_{i+1}) and dense{i}.biases (1, w_{i+1})
for i = 0 .. L-1, their optimizer slots and the scaler as above. Versions 1
and 2 have exactly format, version, architecture, epoch, config and metrics;
version 2's architecture is as version 3's, version 1's is {"n_inputs",
"hidden", "classes"}: "classes" outputs and the "categorical" head (softmax
and crossentropy). Their members are the parameters alone, all float32 or
all float64, which is their dtype; the other fields are null (scaler
false). Every network before version 4 is Dense layers with ReLU between
them. ``load`` returns every header as version 4 has it, version 4 in
"version" included (layers null for the older versions).

Reading is safe
---------------
Nothing is decompressed before it is known to be wanted and small:

1. From the zip directory: member names, none repeated. The header member,
   if no larger than 1 MiB plus an .npy header, is read, parsed, and every
   field checked; it says which members must be present and their shapes.
2. The directory must list exactly those members.
3. The .npy header of each member, and nothing after it, is read: its
   dtype, shape and declared size must be as above (an object dtype, i.e. a
   pickle, is refused here), and all the arrays together must declare at
   most ``max_bytes``. Only then is any array read.
4. Arrays are read with ``allow_pickle=False``, no further than their
   declared size, their CRC checked; then their values are.
"""

import io
import json
import lzma
import math
import operator
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib import format as npy

from layers import parameter_names, state_names
from program import registry

FORMAT, VERSION = "numpy-from-scratch network", 4
MAX_BYTES = 1 << 30  # the most the arrays of a checkpoint may declare in all
MAX_HEADER_BYTES = 1 << 20  # the most JSON the header member may hold

_NPY_HEADER_MAX = 10_000  # numpy's own limit on an .npy header's text (max_header_size)
_NPY_LENGTH_FIELD = {(1, 0): 2, (2, 0): 4}  # bytes of the header-length field, by npy version
_NPY_PREAMBLE_MAX = npy.MAGIC_LEN + 4 + _NPY_HEADER_MAX
_FLOATS = {"float32": "<f4", "float64": "<f8"}
_SLOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
_LAYER_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}[0-9]{1,4}")
_MAX_DIMENSIONS = 8
_V3_FIELDS = ("format", "version", "architecture", "dtype", "epoch", "config", "metrics",
              "optimizer", "rng", "classes", "scaler", "image_shape")
_V4_FIELDS = (*_V3_FIELDS, "layers", "features", "early_stopping")
_V3_ARCHITECTURE = ("n_inputs", "hidden", "outputs", "loss")
_V4_ARCHITECTURE = (*_V3_ARCHITECTURE, "activation", "conv", "kernel", "norm")
_OLD_FIELDS = ("format", "version", "architecture", "epoch", "config", "metrics")
# What a damaged archive makes zipfile, zlib and numpy raise while reading it.
_DAMAGED = (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, OverflowError,
            zipfile.BadZipFile, zlib.error, lzma.LZMAError, struct.error)


class CheckpointError(ValueError):
    """A file that cannot be loaded as a checkpoint of this program."""


@dataclass
class Checkpoint:
    """What ``load`` read: the header (as version 3 has it) and the arrays, checked."""

    header: dict
    parameters: dict  # "dense0.weights" -> array, ...
    optimizer_state: dict  # "dense0.weights" -> {slot: array}; {} when no optimizer was saved
    scaler: tuple | None  # (mean, scale), float64 arrays (1, n_inputs), or None
    state: dict = None  # "batchnorm0.running_mean" -> array, ...: saved, not trained
    best: dict = None  # early stopping's best parameters and state by name, or None

    @property
    def epoch(self):
        return self.header["epoch"]

    @property
    def architecture(self):
        return self.header["architecture"]

    @property
    def config(self):
        return self.header["config"]

    @property
    def dtype(self):
        return np.dtype(self.header["dtype"])


def architecture_of(network, loss):
    """The header's description of a network built by ``model.build`` with head ``loss``.

    Read from the layers themselves, by their registered kinds: the Dense
    widths, the convolution blocks' channels and kernel, the hidden
    activation and the normalisation (None where the network has none).
    """
    kinds = [registry.kind_of(layer) for layer in network.layers]
    dense = [layer for layer, kind in zip(network.layers, kinds, strict=True) if kind == "dense"]
    convs = [layer for layer, kind in zip(network.layers, kinds, strict=True) if kind == "conv2d"]
    first = network.layers[0]
    n_inputs = (math.prod(first.shape) if kinds[0] == "reshape"
                else network.widths()[0])
    activation = next((kind for kind in kinds if kind in registry.ACTIVATIONS), None)
    norm = next((kind for kind in kinds
                 if kind in registry.LAYERS and registry.LAYERS[kind].role == "norm"), None)
    hidden = [int(layer.weights.shape[1]) for layer in dense[:-1]]
    return dict(n_inputs=int(n_inputs), hidden=hidden,
                outputs=int(dense[-1].weights.shape[1]), loss=loss, activation=activation,
                conv=[int(layer.weights.shape[0]) for layer in convs],
                kernel=int(convs[0].weights.shape[2]) if convs else None, norm=norm)


def layers_of(network):
    """The header's ``layers``: every layer's kind, name, settings and array shapes."""
    specs = network.specs or [(registry.kind_of(layer), {}) for layer in network.layers]
    described = []
    for layer, name, (kind, settings) in zip(network.layers, network.names, specs, strict=True):
        described.append(dict(
            kind=kind, name=name, settings=_jsonable(settings),
            parameters={part: list(getattr(layer, part).shape) for part in parameter_names(layer)},
            state={part: list(getattr(layer, part).shape) for part in state_names(layer)}))
    return described


def expected_shapes(architecture, layers=None):
    """Parameter name -> shape for a network of this architecture (and these ``layers``).

    Version 4 lists every layer's arrays; before it, the Dense widths say them.
    """
    if layers is not None:
        return {f"{layer['name']}.{part}": tuple(shape) for layer in layers
                for part, shape in layer["parameters"].items()}
    widths = [architecture["n_inputs"], *architecture["hidden"], architecture["outputs"]]
    shapes = {}
    for index, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        shapes[f"dense{index}.weights"] = (n_in, n_out)
        shapes[f"dense{index}.biases"] = (1, n_out)
    return shapes


def state_shapes(layers):
    """State name -> shape ('batchnorm0.running_mean' ...) for version 4's ``layers``."""
    return {f"{layer['name']}.{part}": tuple(shape) for layer in layers or ()
            for part, shape in layer["state"].items()}


# Writing


def write(file, network, *, loss, epoch, config=None, metrics=None, optimizer=None,
          optimizer_name=None, rngs=None, scaler=None, classes=None, image_shape=None,
          features=None, early_stopping=None):
    """Write a checkpoint to ``file`` (a path or a binary file object): the whole archive.

    optimizer: an ``optimizers.Optimizer`` whose state for each of the
    network's parameters is saved, with its name (``optimizer_name``, by
    default the class name in lower case), ``iterations`` and
    ``current_learning_rate``; rngs: {name: numpy Generator}; scaler:
    (mean, scale) or None; classes: list of str or None; image_shape:
    (height, width) or None; features: the names of the input columns, or
    None; early_stopping: {"waited": int, "best_row": dict, "best": {name:
    array}} (the best evaluation's parameters and state), or None.

    Nothing is written that ``load`` would refuse (ValueError instead), and
    nothing but the archive: placing the file safely is the caller's job.
    """
    parameters = dict(network.parameters())
    state = dict(network.state())
    header = dict(format=FORMAT, version=VERSION, architecture=architecture_of(network, loss),
                  dtype=_dtype_of(parameters), epoch=operator.index(epoch), config=config,
                  metrics=metrics, optimizer=None, rng=None,
                  classes=None if classes is None else list(classes), scaler=scaler is not None,
                  image_shape=None if image_shape is None else [operator.index(n)
                                                                for n in image_shape],
                  layers=layers_of(network),
                  features=None if features is None else [str(name) for name in features],
                  early_stopping=None)
    arrays = {**parameters, **state}
    if optimizer is not None:
        header["optimizer"] = dict(
            name=optimizer_name or type(optimizer).__name__.lower(),
            iterations=int(optimizer.iterations),
            current_learning_rate=float(optimizer.current_learning_rate),
            slots=list(optimizer.slots))
        for name, param in parameters.items():
            for slot, array in optimizer.state(param).items():
                arrays[f"optimizer.{name}.{slot}"] = array
    if rngs is not None:
        header["rng"] = {name: _jsonable(generator.bit_generator.state)
                         for name, generator in rngs.items()}
    if scaler is not None:
        mean, scale = (np.asarray(part, dtype=np.float64).reshape(1, -1) for part in scaler)
        arrays["scaler.mean"], arrays["scaler.scale"] = mean, scale
    if early_stopping is not None:
        header["early_stopping"] = dict(waited=operator.index(early_stopping["waited"]),
                                        best_row=early_stopping["best_row"])
        for name, array in early_stopping["best"].items():
            arrays[f"best.{name}"] = array
    text = json.dumps(header).encode("utf-8")
    _check_writable(text, arrays)
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
        members = {"header": np.frombuffer(text, dtype=np.uint8), **arrays}
        for name, array in members.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                npy.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def _dtype_of(parameters):
    """The one floating dtype of the parameters, by name; ValueError otherwise."""
    dtypes = {array.dtype for array in parameters.values()}
    names = {dtype.name for dtype in dtypes}
    if len(dtypes) != 1 or not names <= set(_FLOATS):
        raise ValueError(f"a checkpoint holds parameters of one dtype, float32 or float64: "
                         f"got {sorted(names)}")
    return names.pop()


def _jsonable(state):
    """A BitGenerator state with its arrays and NumPy integers as plain JSON values."""
    if isinstance(state, dict):
        return {key: _jsonable(value) for key, value in state.items()}
    if isinstance(state, np.ndarray):
        return state.tolist()
    if isinstance(state, np.generic):
        return state.item()
    return state


def _check_writable(text, arrays):
    """ValueError (a CheckpointError) for what ``load`` would refuse."""
    if len(text) > MAX_HEADER_BYTES:
        raise CheckpointError(f"cannot write a checkpoint: its header is {len(text)} bytes "
                              f"of JSON, more than {MAX_HEADER_BYTES}")
    try:
        header = _parse_header(json.loads(text))
        shapes = _expected_members(header)
        missing = [name for name in shapes if name not in arrays]
        if missing:
            raise CheckpointError(f"no array for {_few(missing)}")
        for name, array in arrays.items():
            if array.shape != shapes[name]:
                raise CheckpointError(f"{name} has shape {array.shape}, expected "
                                      f"{shapes[name]}")
            _check_values(name, array)
    except CheckpointError as error:
        raise CheckpointError(f"cannot write a checkpoint: {error}") from None


# Loading


def load(path, *, max_bytes=MAX_BYTES, arrays=True):
    """Read and check a checkpoint; anything unexpected is a CheckpointError with one line.

    ``arrays=False`` stops before the parameters are read: the header, the
    members' declarations and the (small) scaler, all checked, with empty
    ``parameters``, ``state`` and ``optimizer_state``. A run checks its data
    against that before decompressing anything larger.
    """
    shown = repr(str(path))
    try:
        return _load(Path(path), max_bytes, arrays)
    except CheckpointError as error:
        raise CheckpointError(f"cannot read {shown}: {error}") from None
    except PermissionError as error:  # the file is fine, its reader is not allowed
        raise CheckpointError(f"cannot read {shown}: {error.strerror}") from None
    except _DAMAGED as error:
        raise CheckpointError(f"cannot read {shown}: it is damaged or truncated "
                              f"({type(error).__name__}: {_one_line(error)})") from None


def _load(path, max_bytes, read_arrays=True):
    """The steps of "Reading is safe" above, in order; the CheckpointErrors without the name."""
    if path.is_dir():
        raise CheckpointError("it is a directory")
    if not path.exists():
        raise CheckpointError("it does not exist")
    if not path.is_file():
        raise CheckpointError("it is not a regular file")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise CheckpointError("it is not an .npz archive, or it is truncated") from None
    with archive:
        infos = _directory(archive)
        header = _read_header(archive, infos.pop("header.npy"))
        shapes = _expected_members(header)
        _check_names(infos, shapes)
        if header["dtype"] is None:  # versions 1 and 2: the parameters say
            _, _, first, _ = _declaration(archive, infos["dense0.weights.npy"])
            header["dtype"] = "float32" if first.str == "<f4" else "float64"
        dtypes = {name: "<f8" if name.startswith("scaler.") else _FLOATS[header["dtype"]]
                  for name in shapes}
        declared = sum(_check_declaration(archive, infos[f"{name}.npy"], name,
                                          shapes[name], dtypes[name]) for name in shapes)
        if declared > max_bytes:
            raise CheckpointError(f"its arrays declare {declared} bytes in all, more than the "
                                  f"{max_bytes} allowed")
        wanted = [name for name in shapes if read_arrays or name.startswith("scaler.")]
        arrays = {name: _read_array(archive, infos[f"{name}.npy"]) for name in wanted}
    return _checkpoint(header, arrays, complete=read_arrays)


def _directory(archive):
    """{member file name: ZipInfo}, refusing repeated names and a missing header."""
    infos = {}
    for info in archive.infolist():
        if info.filename in infos:
            raise CheckpointError(f"it holds the member {info.filename!r} twice")
        infos[info.filename] = info
    if "header.npy" not in infos:
        raise CheckpointError("it is not a checkpoint of this program (it has no header)")
    return infos


def _read_header(archive, info):
    """The header member, bounded before it is read, parsed and checked."""
    if info.file_size > MAX_HEADER_BYTES + _NPY_PREAMBLE_MAX:
        raise CheckpointError(f"its header member is {info.file_size} bytes, more than the "
                              f"{MAX_HEADER_BYTES} allowed")
    shape, _, dtype, preamble = _declaration(archive, info)
    if dtype.str != "|u1" or len(shape) != 1 or not 0 <= shape[0] <= MAX_HEADER_BYTES:
        raise CheckpointError(f"its header member is {dtype.str} {shape}, not up to "
                              f"{MAX_HEADER_BYTES} bytes (uint8)")
    _check_size(info, "header", preamble + shape[0])
    text = _read_array(archive, info).tobytes()
    try:
        header = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError) as error:  # not UTF-8, not JSON, nested too deep
        raise CheckpointError(f"its header is not UTF-8 JSON ({_one_line(error)})") from None
    return _parse_header(header)


def _check_names(infos, shapes):
    """Refuse members missing from the archive, or in it but not expected."""
    missing = [name for name in shapes if f"{name}.npy" not in infos]
    unexpected = [filename for filename in infos if filename[:-4] not in shapes
                  or not filename.endswith(".npy")]
    if missing or unexpected:
        raise CheckpointError(f"its members do not match its header: missing "
                              f"{_few(missing)}, unexpected {_few(unexpected)}")


def _declaration(archive, info):
    """(shape, fortran_order, dtype, bytes before the data) from a member's .npy header.

    Only the header is read: its length field is bounded before the text
    it announces is read, and the text is parsed by numpy's own reader.
    """
    with archive.open(info) as member:
        try:
            version = npy.read_magic(member)
            if version not in _NPY_LENGTH_FIELD:
                raise ValueError(f".npy format version {version[0]}.{version[1]} is not read")
            length_field = member.read(_NPY_LENGTH_FIELD[version])
            length = int.from_bytes(length_field, "little")
            if length > _NPY_HEADER_MAX:
                raise ValueError(f"its header announces {length} bytes")
            text = member.read(length)
            reader = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, fortran_order, dtype = reader(io.BytesIO(length_field + text))
        except (ValueError, SyntaxError) as error:
            raise CheckpointError(f"its member {info.filename!r} is not an .npy file "
                                  f"({_one_line(error)})") from None
    if dtype.hasobject:
        raise CheckpointError(f"{info.filename[:-4]} holds pickled Python objects, "
                              "which are never loaded")
    return shape, fortran_order, dtype, npy.MAGIC_LEN + len(length_field) + length


def _check_declaration(archive, info, name, shape, dtype):
    """Check a member's .npy header against what is expected; return its data's bytes."""
    declared_shape, _, declared_dtype, preamble = _declaration(archive, info)
    if declared_dtype.str != dtype:
        raise CheckpointError(f"{name} holds {declared_dtype.str!r} values, expected "
                              f"{dtype!r} ({np.dtype(dtype).name}, little-endian)")
    if declared_shape != shape:
        raise CheckpointError(f"{name} has shape {declared_shape}, expected {shape}")
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    _check_size(info, name, preamble + nbytes)
    return nbytes


def _check_size(info, name, size):
    if info.file_size != size:
        raise CheckpointError(f"{name} is {info.file_size} bytes in the zip directory, but its "
                              f".npy header makes {size}")


def _read_array(archive, info):
    """The member's array, never pickled objects.

    zipfile reads no further than the declared size, and checks the CRC as
    the last declared byte is read: a body that decompresses to more, or to
    other bytes, is refused (BadZipFile).
    """
    with archive.open(info) as member:
        return np.ascontiguousarray(npy.read_array(member, allow_pickle=False))


def _checkpoint(header, arrays, complete=True):
    """A Checkpoint of checked arrays, from the members by name.

    ``complete=False``: only the scaler was read; the rest stays empty.
    """
    for name, array in arrays.items():
        _check_values(name, array)
    scaler = (arrays["scaler.mean"], arrays["scaler.scale"]) if header["scaler"] else None
    if not complete:
        return Checkpoint(header, {}, {}, scaler, {}, None)
    shapes = expected_shapes(header["architecture"], header["layers"])
    parameters = {name: arrays[name] for name in shapes}
    state = {name: arrays[name] for name in state_shapes(header["layers"])}
    optimizer_state = {}
    if header["optimizer"] is not None:
        optimizer_state = {name: {slot: arrays[f"optimizer.{name}.{slot}"]
                                  for slot in header["optimizer"]["slots"]}
                           for name in shapes}
    best = None
    if header["early_stopping"] is not None:
        best = {name: arrays[f"best.{name}"] for name in (*parameters, *state)}
    return Checkpoint(header, parameters, optimizer_state, scaler, state, best)


def _check_values(name, array):
    """Refuse NaN and infinities anywhere, and a zero scale."""
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        index = np.unravel_index(bad[0], array.shape)
        raise CheckpointError(f"{name} holds NaN or infinite values ({array[index]} at "
                              f"{tuple(map(int, index))})")
    if name == "scaler.scale" and not array.all():
        raise CheckpointError("scaler.scale holds 0, which no input can be divided by")
    if name.endswith(".running_var") and (array < 0).any():
        raise CheckpointError(f"{name} holds a negative variance ({float(array.min()):g})")


# The header


def _parse_header(header):
    """The header as version 4 has it, every field checked; CheckpointError otherwise."""
    if not isinstance(header, dict):
        raise CheckpointError(f"its header is not a JSON object: {_shown(header)}")
    if header.get("format") != FORMAT:
        raise CheckpointError("it is not a checkpoint of this program "
                              f"(format {_shown(header.get('format'))})")
    version = _whole(header.get("version"), "version", 1)
    if version > VERSION:
        raise CheckpointError(f"it has format version {version}; this program reads versions "
                              f"up to {VERSION}: use a newer copy of it")
    _fields(header, {4: _V4_FIELDS, 3: _V3_FIELDS}.get(version, _OLD_FIELDS), "")
    if version >= 3:
        architecture = _architecture(header["architecture"], version)
        parsed = dict(
            format=FORMAT, version=VERSION, architecture=architecture,
            dtype=_choice(header["dtype"], "dtype", tuple(_FLOATS)),
            epoch=_whole(header["epoch"], "epoch", 0),
            config=_object(header["config"], "config"),
            metrics=_object(header["metrics"], "metrics"),
            optimizer=_optimizer(header["optimizer"]),
            rng=_rng(header["rng"]),
            classes=_classes(header["classes"], architecture),
            scaler=_boolean(header["scaler"], "scaler"),
            image_shape=_image_shape(header["image_shape"], architecture["n_inputs"]),
            layers=None, features=None, early_stopping=None)
        if version == 4:
            parsed.update(layers=_layers(header["layers"], architecture),
                          features=_features(header["features"], architecture["n_inputs"]),
                          early_stopping=_early_stopping(header["early_stopping"]))
        return parsed
    architecture = header["architecture"]
    if version == 1:  # one head only: softmax and crossentropy over "classes" outputs
        _fields(architecture, ("n_inputs", "hidden", "classes"), "architecture.")
        architecture = dict(n_inputs=architecture["n_inputs"], hidden=architecture["hidden"],
                            outputs=architecture["classes"], loss="categorical")
    return dict(format=FORMAT, version=VERSION, architecture=_architecture(architecture, 2),
                dtype=None, epoch=_whole(header["epoch"], "epoch", 0),
                config=_object(header["config"], "config"),
                metrics=_object(header["metrics"], "metrics"),
                optimizer=None, rng=None, classes=None, scaler=False, image_shape=None,
                layers=None, features=None, early_stopping=None)


def _expected_members(header):
    """Member name (without ".npy", header aside) -> shape, as the header says."""
    shapes = expected_shapes(header["architecture"], header["layers"])
    state = state_shapes(header["layers"])
    members = {**shapes, **state}
    if header["optimizer"] is not None:
        for slot in header["optimizer"]["slots"]:
            members.update({f"optimizer.{name}.{slot}": shape for name, shape in shapes.items()})
    if header["scaler"]:
        n_inputs = header["architecture"]["n_inputs"]
        members["scaler.mean"] = members["scaler.scale"] = (1, n_inputs)
    if header["early_stopping"] is not None:
        members.update({f"best.{name}": shape for name, shape in {**shapes, **state}.items()})
    return members


def _fields(value, names, prefix):
    """Refuse a missing field, or one that is not in ``names``."""
    for name in names:
        if name not in value:
            raise CheckpointError(f"header field {prefix + name!r} is missing")
    unexpected = [name for name in value if name not in names]
    if unexpected:
        raise CheckpointError(f"header field {prefix + unexpected[0]!r} is not part of "
                              f"the format")


def _architecture(value, version):
    """Versions 2 and 3 describe the Dense widths and the head; 4 adds the hidden parts."""
    field = "architecture"
    if not isinstance(value, dict):
        raise _wrong(field, "an object", value)
    _fields(value, _V4_ARCHITECTURE if version == 4 else _V3_ARCHITECTURE, f"{field}.")
    architecture = dict(
        n_inputs=_whole(value["n_inputs"], f"{field}.n_inputs", 1),
        hidden=[_whole(width, f"{field}.hidden[{index}]", 1)
                for index, width in enumerate(_list(value["hidden"], f"{field}.hidden"))],
        outputs=_whole(value["outputs"], f"{field}.outputs", 1),
        loss=_text(value["loss"], f"{field}.loss"),
        # What every network before version 4 was: ReLU between Dense layers.
        activation="relu", conv=[], kernel=None, norm=None)
    if version == 4:
        conv = _list(value["conv"], f"{field}.conv")
        architecture.update(
            activation=_optional_text(value["activation"], f"{field}.activation"),
            conv=[_whole(width, f"{field}.conv[{index}]", 1) for index, width in enumerate(conv)],
            kernel=None if value["kernel"] is None and not conv
            else _whole(value["kernel"], f"{field}.kernel", 1),
            norm=_optional_text(value["norm"], f"{field}.norm"))
    return architecture


def _layers(value, architecture):
    """Version 4's list of layers: kind, name, settings and the shapes of their arrays."""
    names = set()
    for index, layer in enumerate(_list(value, "layers")):
        field = f"layers[{index}]"
        if not isinstance(layer, dict):
            raise _wrong(field, "an object", layer)
        _fields(layer, ("kind", "name", "settings", "parameters", "state"), f"{field}.")
        _text(layer["kind"], f"{field}.kind")
        if not isinstance(layer["name"], str) or not _LAYER_NAME.fullmatch(layer["name"]) \
                or layer["name"] in names:
            raise _wrong(f"{field}.name", "a new name of lowercase letters, digits and _ "
                         "ending in a number", layer["name"])
        names.add(layer["name"])
        if not isinstance(layer["settings"], dict):
            raise _wrong(f"{field}.settings", "an object", layer["settings"])
        for kind in ("parameters", "state"):
            arrays = layer[kind]
            if not isinstance(arrays, dict):
                raise _wrong(f"{field}.{kind}", "an object", arrays)
            for part, shape in arrays.items():
                where = f"{field}.{kind}.{part}"
                if not _SLOT.fullmatch(part):
                    raise _wrong(f"{field}.{kind}", "names of up to 32 letters, digits and _",
                                 part)
                if not isinstance(shape, list) or not 1 <= len(shape) <= _MAX_DIMENSIONS:
                    raise _wrong(where, f"a shape of 1 to {_MAX_DIMENSIONS} sizes", shape)
                for size in shape:
                    _whole(size, where, 1)
    layers = value
    dense = [layer for layer in layers if layer["kind"] == "dense"]
    if not dense or any(len(layer["parameters"].get("weights", ())) != 2 for layer in dense):
        raise _wrong("layers", "a list that ends in Dense layers with weights", _kinds(layers))
    widths = [shape[1] for layer in dense for shape in (layer["parameters"]["weights"],)]
    if widths != [*architecture["hidden"], architecture["outputs"]]:
        raise _wrong("layers", f"Dense layers of widths {architecture['hidden']} and "
                     f"{architecture['outputs']} as the architecture says", widths)
    return layers


def _kinds(layers):
    return [layer.get("kind") if isinstance(layer, dict) else layer for layer in layers]


def _features(value, n_inputs):
    if value is None:
        return None
    names = _list(value, "features")
    if len(names) != n_inputs or not all(isinstance(name, str) for name in names):
        raise _wrong("features", f"{n_inputs} strings, one per input", value)
    return names


def _early_stopping(value):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _wrong("early_stopping", "null or an object", value)
    _fields(value, ("waited", "best_row"), "early_stopping.")
    return dict(waited=_whole(value["waited"], "early_stopping.waited", 0),
                best_row=_object(value["best_row"], "early_stopping.best_row"))


def _optional_text(value, field):
    return None if value is None else _text(value, field)


def _optimizer(value):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _wrong("optimizer", "null or an object", value)
    _fields(value, ("name", "iterations", "current_learning_rate", "slots"), "optimizer.")
    rate = value["current_learning_rate"]
    if (not isinstance(rate, (int, float)) or isinstance(rate, bool)
            or not math.isfinite(rate) or rate <= 0):
        raise _wrong("optimizer.current_learning_rate", "a finite number > 0", rate)
    slots = _list(value["slots"], "optimizer.slots")
    for index, slot in enumerate(slots):
        if not isinstance(slot, str) or not _SLOT.fullmatch(slot) or slot in slots[:index]:
            raise _wrong(f"optimizer.slots[{index}]", "a new identifier of up to 32 "
                         "letters, digits and _", slot)
    return dict(name=_text(value["name"], "optimizer.name"),
                iterations=_whole(value["iterations"], "optimizer.iterations", 0),
                current_learning_rate=float(rate), slots=slots)


def _rng(value):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _wrong("rng", "null or an object", value)
    for name, state in value.items():
        if not isinstance(state, dict) or not isinstance(state.get("bit_generator"), str):
            raise _wrong(f"rng.{name}", 'a BitGenerator state {"bit_generator": name, ...}',
                         state)
    return value


def _classes(value, architecture):
    if value is None:
        return None
    for index, name in enumerate(_list(value, "classes")):
        if not isinstance(name, str):
            raise _wrong(f"classes[{index}]", "a string", name)
    # One name per class the head can answer: a binary output answers two.
    loss, outputs = architecture["loss"], architecture["outputs"]
    count = {"categorical": outputs, "binary": 2 if outputs == 1 else None}.get(loss)
    if count is not None and len(value) != count:
        heads = f"a {loss} head of {outputs} output{'s' if outputs > 1 else ''}"
        raise _wrong("classes", f"{count} names for {heads}", value)
    return value


def _image_shape(value, n_inputs):
    if value is None:
        return None
    shape = _list(value, "image_shape")
    if len(shape) != 2:
        raise _wrong("image_shape", "[height, width]", value)
    height, width = (_whole(n, f"image_shape[{index}]", 1) for index, n in enumerate(shape))
    if height * width != n_inputs:
        raise _wrong("image_shape", f"[height, width] with height * width == n_inputs "
                     f"({n_inputs})", value)
    return [height, width]


def _whole(value, field, low):
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise _wrong(field, f"a whole number >= {low}", value)
    return value


def _text(value, field):
    if not isinstance(value, str) or not value:
        raise _wrong(field, "a non-empty string", value)
    return value


def _choice(value, field, choices):
    if value not in choices or not isinstance(value, str):
        raise _wrong(field, " or ".join(map(json.dumps, choices)), value)
    return value


def _boolean(value, field):
    if not isinstance(value, bool):
        raise _wrong(field, "true or false", value)
    return value


def _object(value, field):
    if value is not None and not isinstance(value, dict):
        raise _wrong(field, "null or an object", value)
    return value


def _list(value, field):
    if not isinstance(value, list):
        raise _wrong(field, "a list", value)
    return value


def _wrong(field, what, value):
    return CheckpointError(f"header field {field!r} must be {what}, got {_shown(value)}")


def _shown(value, limit=60):
    """The JSON of ``value``, cut to ``limit`` characters: safe in a one-line message."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _few(names, limit=5):
    """A list of names for a message, the first ``limit`` of them."""
    shown = ", ".join(map(repr, names[:limit]))
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"[{shown}{more}]"


def _one_line(error):
    return " ".join(str(error).split())


# Using a checkpoint


def check_dtype(checkpoint, dtype):
    """CheckpointError unless every array of ``checkpoint`` fits ``dtype``.

    Parameters, optimizer state and scaler: finite float64 values beyond
    float32's largest finite value would silently become inf. The message
    names the array and its largest magnitude.
    """
    arrays = {**checkpoint.parameters, **(checkpoint.state or {})}
    arrays.update({f"best.{name}": array for name, array in (checkpoint.best or {}).items()})
    for name, state in checkpoint.optimizer_state.items():
        arrays.update({f"optimizer.{name}.{slot}": array for slot, array in state.items()})
    if checkpoint.scaler is not None:
        arrays["scaler.mean"], arrays["scaler.scale"] = checkpoint.scaler
    for name, array in arrays.items():
        _check_fits(name, array, np.dtype(dtype))


def _check_fits(name, array, dtype):
    largest = float(np.abs(array).max(initial=0.0))
    limit = float(np.finfo(dtype).max)
    if largest > limit:
        raise CheckpointError(f"{name} holds {largest:.6g}, beyond {dtype.name}'s largest "
                              f"finite value {limit:.6g}")


def restore(checkpoint, network, optimizer=None, rngs=None):
    """Put a checkpoint into a network, and into an optimizer and generators when given.

    Parameters and state (running statistics) go into ``network`` in place
    (``array[...] = saved``, so views stay views), cast to its dtype. The
    optimizer's state, ``iterations`` and ``current_learning_rate`` go into
    ``optimizer`` (through ``optimizer.state(param)[slot][...] = saved``)
    when one was saved. The generator states go into ``rngs`` ({name:
    Generator}) for every name both have. Everything is checked before
    anything changes: the network must have exactly the saved parameters,
    state and shapes, the optimizer the saved slots, each generator must
    accept its state; else CheckpointError.
    """
    params = dict(network.parameters())
    state = dict(network.state())
    saved = checkpoint.header["optimizer"]
    use_optimizer = optimizer is not None and saved is not None
    if use_optimizer and sorted(optimizer.slots) != sorted(saved["slots"]):
        raise CheckpointError(f"the checkpoint's optimizer {saved['name']!r} has the state "
                              f"{sorted(saved['slots'])}, the optimizer given "
                              f"{sorted(optimizer.slots)}")
    _check_network(checkpoint.parameters, params, "parameters")
    _check_network(checkpoint.state or {}, state, "state")
    for name, param in params.items():
        if use_optimizer:
            for slot, array in checkpoint.optimizer_state[name].items():
                _check_fits(f"optimizer.{name}.{slot}", array, param.dtype)
    states = checkpoint.header["rng"] or {}
    rngs = {name: generator for name, generator in (rngs or {}).items() if name in states}
    for name, generator in rngs.items():
        _set_state(type(generator.bit_generator)(), states[name], name)  # a trial run
    for name, param in params.items():
        param[...] = checkpoint.parameters[name]
    for name, array in state.items():
        array[...] = checkpoint.state[name]
    if use_optimizer:
        for name, param in params.items():
            slots = optimizer.state(param)
            for slot, array in checkpoint.optimizer_state[name].items():
                slots[slot][...] = array
        optimizer.iterations = saved["iterations"]
        optimizer.current_learning_rate = saved["current_learning_rate"]
    for name, generator in rngs.items():
        _set_state(generator.bit_generator, states[name], name)


def _check_network(saved_arrays, arrays, what):
    """Refuse a network whose arrays (parameters or state) cannot hold the saved ones."""
    missing = [name for name in saved_arrays if name not in arrays]
    unexpected = [name for name in arrays if name not in saved_arrays]
    if missing or unexpected:
        raise CheckpointError(f"the network does not have the saved {what}: missing "
                              f"{_few(missing)}, unexpected {_few(unexpected)}")
    for name, array in arrays.items():
        saved = saved_arrays[name]
        if array.shape != saved.shape:
            raise CheckpointError(f"the network's {name} has shape {array.shape}, the saved "
                                  f"one {saved.shape}")
        _check_fits(name, saved, array.dtype)


def _set_state(bit_generator, state, name):
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise CheckpointError(f"the saved state of the random generator {name!r} does not fit "
                              f"a {type(bit_generator).__name__}: {_one_line(error)}") from None
