"""Saving and loading a trained network as named arrays plus a JSON header.

A checkpoint is an ``.npz`` archive (NumPy's zip of ``.npy`` files) with one
array per parameter, named as ``Network.parameters`` names them
("dense0.weights", "dense0.biases", ...), and a "header" array holding UTF-8
JSON: the format name and version, the architecture, the epoch reached, the
configuration and the final metrics.

Loading never unpickles (``allow_pickle=False``), so a file cannot run code,
and everything in it is checked before a network is built from it: anything
unexpected raises ``CheckpointError`` with one line saying what.
"""

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT = "numpy-from-scratch network"
VERSION = 2


class CheckpointError(ValueError):
    """A file that cannot be loaded as a checkpoint of this program."""


def architecture_of(network, loss):
    """The header's description of a network built by ``model.build`` with head ``loss``."""
    widths = network.widths()
    return dict(n_inputs=int(widths[0]), hidden=[int(w) for w in widths[1:-1]],
                outputs=int(widths[-1]), loss=loss)


def expected_shapes(architecture):
    """Parameter name -> shape for a network of this architecture."""
    widths = [architecture["n_inputs"], *architecture["hidden"], architecture["outputs"]]
    shapes = {}
    for index, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        shapes[f"dense{index}.weights"] = (n_in, n_out)
        shapes[f"dense{index}.biases"] = (1, n_out)
    return shapes


def save(path, network, *, loss, epoch, config=None, metrics=None):
    """Write the network to ``path`` through a temporary file and an atomic rename.

    A reader never sees a half-written file, and an existing file is replaced
    only once the new one is complete.
    """
    path = Path(path)
    header = dict(format=FORMAT, version=VERSION, architecture=architecture_of(network, loss),
                  epoch=int(epoch), config=config, metrics=metrics)
    arrays = dict(network.parameters())
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def load(path):
    """Return ``(header, {name: array})`` from a checkpoint, or raise CheckpointError."""
    path = Path(path)
    name = repr(str(path))
    if not path.is_file():
        raise CheckpointError(f"{name} does not exist or is not a file")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"cannot read {name}: it is not an .npz archive, or it is truncated")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "header" not in archive.files:
                raise CheckpointError(f"{name} is not a checkpoint of this program")
            header = json.loads(archive["header"].tobytes().decode("utf-8"))
            arrays = {key: archive[key] for key in archive.files if key != "header"}
    except CheckpointError:
        raise
    except ValueError as error:
        if "allow_pickle" not in str(error):
            raise CheckpointError(f"cannot read {name}: {error}") from None
        raise CheckpointError(f"cannot read {name}: it holds pickled Python objects, "
                              "which are never loaded") from None
    except Exception as error:  # a damaged zip or JSON header: not loadable either way
        raise CheckpointError(f"cannot read {name}: it is damaged or truncated "
                              f"({type(error).__name__}: {error})") from None
    _check(path, header, arrays)
    return header, arrays


def _check(path, header, arrays):
    name = repr(str(path))
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{name} is not a checkpoint of this program")
    version = header.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{name} has format version {version!r}; this program reads "
                              f"versions up to {VERSION}: use a newer copy of it")
    epoch = header.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise CheckpointError(f"{name} has a malformed epoch: {epoch!r}")
    arch = header.get("architecture")
    if version == 1 and isinstance(arch, dict) and "classes" in arch:
        # Version 1 knew one head only: softmax and crossentropy over "classes" outputs.
        arch = header["architecture"] = dict(n_inputs=arch.get("n_inputs"),
                                             hidden=arch.get("hidden"),
                                             outputs=arch["classes"], loss="categorical")
    try:
        shapes = expected_shapes(arch)
        sizes_ok = (arch["n_inputs"] >= 1 and arch["outputs"] >= 1
                    and all(width >= 1 for width in arch["hidden"])
                    and isinstance(arch["loss"], str))
    except (TypeError, KeyError):
        sizes_ok = False
    if not sizes_ok:
        raise CheckpointError(f"{name} has a malformed architecture: {arch!r}")
    missing = sorted(set(shapes) - set(arrays))
    extra = sorted(set(arrays) - set(shapes))
    if missing or extra:
        raise CheckpointError(f"{name} does not match its architecture: "
                              f"missing {missing}, unexpected {extra}")
    for key, shape in shapes.items():
        array = arrays[key]
        if array.shape != shape:
            raise CheckpointError(f"{name}: {key} has shape {array.shape}, expected {shape}")
        if not np.issubdtype(array.dtype, np.floating):
            raise CheckpointError(f"{name}: {key} holds {array.dtype}, not floating point")
        if not np.isfinite(array).all():
            raise CheckpointError(f"{name}: {key} holds NaN or infinite values")
