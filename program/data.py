"""The datasets: nnfs's spiral, vertical and sine data, scikit-learn's digits,
and the learner's own data, a CSV file or a folder of images.

nnfs draws from NumPy's global generator, so a draw here seeds it, takes the
data and puts the generator's state back: the caller's random state is left
as it was, and the same seed gives the same points on every run.

Real data is split with ``split`` (seeded, stratified, NumPy's
``default_rng``) unless it comes split, and its features are standardised
with ``scaler = (mean, scale)`` from the training part only; the scaler
travels with the model so that ``standardise`` treats new inputs the same
way. Input that cannot be used raises ``DataError``, one line naming the
file and what is wrong.
"""

import contextlib
import csv
import errno
import io
import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class DataError(ValueError):
    """Input data that cannot be used: one line naming the file and what is wrong."""


@dataclass
class Dataset:
    """Training and validation arrays, and what they hold.

    ``x_*`` are (N, features) floats. For ``task == "classes"``, ``y_*`` are
    integer labels (N,) in 0..len(class_names) - 1; for "regression" they
    are (N, k) float targets.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    task: str
    name: str
    class_names: list = None
    # (mean, scale), each (1, features) float64, when the features were
    # standardised: x = (raw - mean) / scale, with the training part's statistics.
    scaler: tuple = None
    # (height, width) when each row is a greyscale image, flattened row by row.
    image_shape: tuple = None
    # The features' names, from a CSV file's header, in the order of the columns of x.
    feature_names: list = None

    @property
    def n_classes(self):
        """Classes (for a classification) or target columns (for a regression)."""
        if self.task == "classes":
            return len(self.class_names)
        return self.y_train.shape[1]

    @property
    def n_features(self):
        return self.x_train.shape[1]


def _nnfs_draws(create, seed, *args):
    """Two draws of ``create(*args)`` with NumPy's global generator seeded, then restored."""
    saved_state = np.random.get_state()
    try:
        np.random.seed(seed)
        first = create(*args)
        second = create(*args)
    finally:
        np.random.set_state(saved_state)
    return first, second


def _classes(create, name, samples, classes, seed):
    (x, y), (x_val, y_val) = _nnfs_draws(create, seed, samples, classes)
    return Dataset(x, y.astype(np.int64), x_val, y_val.astype(np.int64), "classes",
                   f"{name}({samples}, {classes})", [str(k) for k in range(classes)])


def spiral(seed=0, samples=100, classes=3):
    """nnfs spiral arms, ``samples`` points per class in each of training and validation.

    The validation set is a second, independent draw from the same
    distribution, never a slice of the training array (which is ordered by
    class). With seed 0 the training set is the book's.
    """
    from nnfs.datasets import spiral_data  # here, so that `main.py --help` does not pay for it

    return _classes(spiral_data, "spiral", samples, classes, seed)


def vertical(seed=0, samples=100, classes=3):
    """nnfs vertical data: a Gaussian cluster per class, side by side."""
    from nnfs.datasets import vertical_data

    return _classes(vertical_data, "vertical", samples, classes, seed)


def sine(seed=0, samples=1000):
    """nnfs sine data: x = i / samples for i < samples, y = sin(2 pi x).

    nnfs's sine data has no noise and no randomness (the seed changes
    nothing), so validation uses the midpoints between the training points,
    x = (i + 1/2) / samples: values the network has not seen.
    """
    from nnfs.datasets import sine_data

    x, y = sine_data(samples)
    x_val = (np.arange(samples).reshape(-1, 1) + 0.5) / samples
    return Dataset(x, y, x_val, np.sin(2 * np.pi * x_val), "regression", f"sine({samples})")


# -- Real data: the split and the scaling ------------------------------------------------------


def split(labels, validation, seed):
    """Seeded, stratified indices ``(train, val)`` for the labels (N,), each sorted, int64.

    Each class, in sorted order, gives ``round(validation * count)`` of its
    indices to validation, drawn by one ``np.random.default_rng(seed)``: at
    least one when the class has 2 or more samples (and at least one stays
    for training), none when it has 1. Together the two parts hold every
    index once.
    """
    if not 0 < validation < 1:
        raise ValueError(f"validation must be a fraction in (0, 1), got {validation!r}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
    _, starts = np.unique(labels[order], return_index=True)
    held_out = [np.empty(0, dtype=np.int64)]
    for members in np.split(order, starts[1:]):
        count = len(members)
        n_val = 0 if count < 2 else min(max(round(validation * count), 1), count - 1)
        held_out.append(rng.permutation(members)[:n_val])
    val = np.sort(np.concatenate(held_out)).astype(np.int64)
    training = np.ones(len(labels), dtype=bool)
    training[val] = False
    return np.flatnonzero(training).astype(np.int64), val


def fit_scaler(x):
    """``(mean, scale)`` of the columns of x (N, features), each (1, features) float64.

    ``scale`` is the standard deviation (over N, not N - 1), or 1 for a
    constant column, whose mean is then its value exactly: such a feature
    becomes 0 rather than being divided by nothing.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"fit_scaler needs an (N, features) array with N >= 1, got {x.shape}")
    constant = (x == x[:1]).all(axis=0, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        mean = np.where(constant, x[:1], x.mean(axis=0, keepdims=True))
        scale = np.where(constant, 1.0, x.std(axis=0, keepdims=True))
    if not (np.isfinite(mean).all() and np.isfinite(scale).all()):
        column = int(np.flatnonzero(~(np.isfinite(mean) & np.isfinite(scale)))[0]) + 1
        raise DataError(f"feature {column} has values too large to standardise "
                        "(their squares overflow)")
    return mean, scale


def standardise(x, scaler):
    """``(x - mean) / scale`` as a new float64 array; x (N, features), scaler from fit_scaler."""
    mean, scale = scaler
    result = np.subtract(x, mean, dtype=np.float64)
    result /= scale
    return result


def _held_out(x, y, validation, seed, source, scaler=None, dtype=np.float64, **fields):
    """A classification Dataset from x, y split by ``split``; ``source`` names the data.

    The parts are standardised into new arrays of ``dtype``, ROWS_AT_ONCE rows
    at a time: x (of any numeric type) is never copied whole in float64.
    """
    train, val = split(y, validation, seed)
    if len(val) == 0:
        raise DataError(f"{source} is too small: each class has a single sample, so none can "
                        f"be held out for validation")
    if scaler is None:
        try:
            scaler = _scaler_of(x, train)
        except DataError as error:
            raise DataError(f"{source}: {error}") from None
    return Dataset(_standardised(x, train, scaler, dtype), y[train],
                   _standardised(x, val, scaler, dtype), y[val], "classes", scaler=scaler,
                   **fields)


# Rows standardised at once: a few megabytes of float64 whatever the data's size.
ROWS_AT_ONCE = 4096


def _scaler_of(x, rows):
    """``fit_scaler(x[rows])``, computed ROWS_AT_ONCE rows at a time in float64."""
    if len(x) * x.shape[1] <= ROWS_AT_ONCE * 64:
        return fit_scaler(x[rows])
    steps = [rows[k:k + ROWS_AT_ONCE] for k in range(0, len(rows), ROWS_AT_ONCE)]
    first = x[rows[:1]].astype(np.float64)
    total = np.zeros_like(first)
    constant = np.ones(first.shape, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):  # checked by fit_scaler's rule below
        for step in steps:
            chunk = x[step].astype(np.float64)
            total += chunk.sum(axis=0, keepdims=True)
            constant &= (chunk == first).all(axis=0, keepdims=True)
        mean = total / len(rows)
        squares = np.zeros_like(first)
        for step in steps:
            squares += ((x[step] - mean) ** 2).sum(axis=0, keepdims=True)
        mean = np.where(constant, first, mean)
        scale = np.where(constant, 1.0, np.sqrt(squares / len(rows)))
    if not (np.isfinite(mean).all() and np.isfinite(scale).all()):
        column = int(np.flatnonzero(~(np.isfinite(mean) & np.isfinite(scale)))[0]) + 1
        raise DataError(f"feature {column} has values too large to standardise "
                        "(their squares overflow)")
    return mean, scale


def _standardised(x, rows, scaler, dtype):
    """``standardise(x[rows], scaler)`` as a new array of ``dtype``, in steps of rows."""
    out = np.empty((len(rows), x.shape[1]), dtype=dtype)
    with np.errstate(over="ignore"):  # beyond float32: training finds it not finite
        for k in range(0, len(rows), ROWS_AT_ONCE):
            out[k:k + ROWS_AT_ONCE] = standardise(x[rows[k:k + ROWS_AT_ONCE]], scaler)
    return out


def digits(seed=0, validation=0.25):
    """scikit-learn's 8x8 handwritten digits: 1797 images of 0..9, pixels read as 0..255.

    Bundled with scikit-learn (no download), with pixel values 0..16; they
    are put on the 0..255 scale that every image this program reads has
    (v * 255 / 16), so that a network trained here answers for PNG images
    of digits through the same saved statistics. A seeded stratified
    ``validation`` part is held out, and each of the 64 pixels is
    standardised with the training part's mean and standard deviation,
    which makes the scale itself no difference to training.
    """
    try:
        from sklearn.datasets import load_digits  # optional: requirements-dev.txt
    except ImportError:
        raise DataError("--dataset digits needs scikit-learn: python -m pip install "
                        "scikit-learn (or -r requirements-dev.txt)") from None
    x, y = load_digits(return_X_y=True)
    return _held_out(x.astype(np.float64) * (255 / 16), y.astype(np.int64), validation, seed,
                     "digits",
                     name="digits", class_names=[str(k) for k in range(10)], image_shape=(8, 8))


# -- The learner's own data ----------------------------------------------------------------------


def from_path(path, seed=0, validation=0.25, *, header="auto", label_column=None,
              dtype=np.float64, check=None, scaler=None):
    """The learner's data: a CSV file, or a folder of images with one subfolder per class.

    CSV: numeric feature columns and a label column (a class name or a
    number; numbers name classes by value, so "1", "1.0" and "01" are one
    class). Which row is a header and which column the label follow stated
    rules that a flag overrides: ``header`` "auto" (``_layout``'s rule), "yes"
    or "no"; ``label_column`` None (a header cell named "label", else the last
    column), "first", "last", a column number from 1 or a header name. A
    label column whose classes mostly hold one sample is refused as a
    likely mistake. Blank lines are skipped. The header's names (if any)
    become ``feature_names``.

    Images: ``PATH/<class>/<image>``, or the book's chapter-19 layout
    ``PATH/train/<class>/<image>`` and ``PATH/test/<class>/<image>``, whose
    train/ and test/ are then the training and validation parts as given.
    Each image is read with Pillow, made greyscale, put on the 8-bit scale
    0..255 by its own range (8-bit, 16-bit and floating-point images alike:
    ``_open_image``) and flattened row by row; all must have the same size.
    The pixels are then scaled as the book does, (x - 127.5) / 127.5,
    expressed as the scaler mean = scale = 127.5.

    Without a given split, a seeded stratified ``validation`` part is held
    out (``split``). Features are standardised with the training part's
    statistics into arrays of ``dtype`` (a CSV file's with ``scaler`` instead,
    when given: a loaded network's). Class names are sorted, numerically
    when all are numbers ("2" before "10"); labels index them. Files whose
    names start with "." are skipped. ``check(n_features, image_shape)``, if
    given, is called as soon as the first row or image shows the width, before
    the rest is read: it may raise to refuse the data early. Raises DataError
    for input that cannot be used.
    """
    path = Path(path)
    if header not in HEADER_CHOICES:
        raise ValueError(f"header must be one of {', '.join(HEADER_CHOICES)}, got {header!r}")
    with _readable(path):
        if path.is_dir():
            return _image_folder(path, seed, validation, dtype, check)
        _regular_file(path)
        if _open_image(path) is not None:
            raise DataError(f"{quoted(path)} is a single image: give a CSV file, or a folder "
                            f"with one subfolder of images per class")
        return _csv_dataset(path, seed, validation, header, label_column, dtype, check,
                            scaler)


# Names that say "image": such a file that Pillow cannot read is refused as one,
# never read as rows of a CSV file.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")


def prediction_inputs(path, n_features, image_shape=None, *, header="auto",
                      feature_names=None, scaler=None, dtype=np.float64):
    """``(names, x)`` for ``--predict``: the inputs in PATH, one name and row each.

    PATH is a CSV file of feature rows (``n_features`` numbers a row, no
    label column, a header by the rule of ``from_path`` or as ``header``
    says), an image file, or a folder of image files (taken in order of name;
    subfolders are not searched). Names are "rows.csv:2" (the file's name and
    line number) or the image file's name. With ``feature_names`` (the
    model's) and a header, the columns are taken by name, in any order; a
    header naming other columns is refused. x is (N, n_features) of
    ``dtype``: raw values, or standardised with ``scaler`` when given. Images
    need a model trained on images of ``image_shape`` (height, width). An
    input that does not fit raises DataError naming the file and the shape
    the model takes.
    """
    path = Path(path)
    with _readable(path):
        if path.is_dir():
            files = [path / name for name in _visible(path, directories=False)]
            if not files:
                raise DataError(f"{quoted(path)} holds no image files "
                                f"(subfolders are not searched)")
        elif _regular_file(path) and _open_image(path) is None:
            if path.suffix.lower() in IMAGE_SUFFIXES:  # named as an image, not one
                raise DataError(f"{quoted(path)} is not a readable image, though its name "
                                f"ends in {path.suffix}")
            return _prediction_rows(path, n_features, header, feature_names, scaler, dtype)
        else:
            files = [path]
        raw_x = np.empty((len(files), n_features), dtype=np.float64)
        for row, file in enumerate(files):
            image = _read_image(file)
            if image_shape is None:
                raise DataError(f"{quoted(file)} is an image, the model takes rows of "
                                f"{n_features} features")
            if image.shape != tuple(image_shape):
                raise DataError(f"{quoted(file)} is {size_text(image.shape)} pixels, the "
                                f"model takes {size_text(image_shape)} images")
            raw_x[row] = image.ravel()
    x = raw_x if scaler is None else standardise(raw_x, scaler)
    with np.errstate(over="ignore"):
        return [file.name for file in files], x.astype(dtype, copy=False)


@contextlib.contextmanager
def _readable(path):
    """An OSError on the way (a folder that may not be listed or entered) as one DataError."""
    try:
        yield
    except OSError as error:
        name = path if error.filename is None else error.filename
        raise DataError(f"{quoted(name)} cannot be read: {error.strerror or error}") from None


def quoted(name):
    """A file name, cell or label quoted for a one-line message."""
    text = str(name)
    return f"'{text}'" if text.isprintable() else repr(text)


def names_text(names, limit=10, longest=40):
    """Names (classes, features) for a one-line message: each as written when printable,
    else as Python writes it (no terminal escape reaches the screen), cut short when
    long, at most ``limit`` of them and how many more."""
    shown = []
    for name in list(names)[:limit]:
        text = str(name) if str(name).isprintable() else repr(str(name))
        shown.append(text if len(text) <= longest else text[:longest] + "...")
    more = len(names) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def size_text(shape):
    """(height, width) as "WxH", the way image sizes are written: (28, 30) -> "30x28"."""
    height, width = shape
    return f"{width}x{height}"


def _number(cell):
    """float(cell), or None when the cell is not a number ("nan" and "inf" are numbers)."""
    try:
        return float(cell)
    except ValueError:
        return None


def _sorted_names(names):
    """Distinct names, sorted numerically when all are numbers ("2" before "10"), else as text."""
    names = set(names)
    values = {name: _number(name) for name in names}
    if all(value is not None and math.isfinite(value) for value in values.values()):
        return sorted(names, key=lambda name: (values[name], name))
    return sorted(names)


# CSV files
#
# A CSV file is read in pieces of about PIECE_BYTES, each ending at the end of a
# row, so that memory holds the values, never the text or a Python object per
# cell. Each piece is parsed by ``_plain_block`` (the csv module, cell by cell:
# the reference) or, when it holds only plain decimal numbers and labels, by
# ``_fast_block``, a vectorised parser that gives the same numbers several
# times faster (tests/test_data.py checks both equal to float(cell); docs/speed.md has the
# MB/s).

PIECE_BYTES = 1 << 21
HEADER_CHOICES = ("auto", "yes", "no")
# Names a header may give the label column, found in any case (Kaggle's MNIST: "label").
LABEL_NAMES = ("label",)


@dataclass
class _Layout:
    """What the first row says of a CSV file: its header, its width, its label column."""

    path: Path
    header: list        # the header's cells, or None
    first_line: int     # the line of the first row, the reference for the others' width
    columns: int
    label: int          # index of the label column, or None (prediction inputs)

    def features(self, cells):
        return cells if self.label is None else cells[:self.label] + cells[self.label + 1:]


@dataclass
class _Block:
    """Parsed rows: raw values (n, features) float64, labels as written (or None), lines (n,)."""

    x: np.ndarray
    labels: list
    lines: np.ndarray


def _pieces(path):
    """(first line number, bytes) of the file, in pieces ending at a row's end.

    A piece never ends inside a quoted cell (which may hold line breaks): it
    ends at a line break after an even number of quote characters. The last
    piece is whatever is left, unterminated quote included.
    """
    try:
        source = open(path, "rb")
    except OSError as error:
        raise DataError(f"{quoted(path)} cannot be read: {error.strerror}") from None
    line, carry, start = 1, b"", True
    with source:
        while True:
            block = source.read(PIECE_BYTES)
            if start:
                block, start = block.removeprefix(b"\xef\xbb\xbf"), False
            buffer = carry + block
            if not block:
                if buffer:
                    yield line, buffer
                return
            cut = buffer.rfind(b"\n") + 1
            if cut == 0 or buffer.count(b'"', 0, cut) % 2:
                carry = buffer  # no row ends here yet: read on
                continue
            yield line, buffer[:cut]
            line += buffer.count(b"\n", 0, cut)
            carry = buffer[cut:]


def _text(path, piece, first_line):
    """A piece as text, or DataError naming the line of its first byte that is not UTF-8."""
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError as error:
        line = first_line + piece.count(b"\n", 0, error.start)
        raise DataError(f"{quoted(path)} line {line} is not UTF-8 text: save the file as "
                        f"UTF-8 CSV") from None


def _rows(path, piece, first_line):
    """The non-blank rows of a piece as (line where the row starts, cells)."""
    text = _text(path, piece, first_line)
    lines = io.StringIO(text, newline="")
    reader = csv.reader(lines)
    # Pieces end outside quotes (``_pieces``): an odd count is a quote never closed,
    # which the csv module would take to the end of the file as one cell.
    unclosed = piece.count(b'"') % 2 == 1
    start = first_line
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise DataError(f"{quoted(path)} line {start}: {error}") from None
        if unclosed and lines.tell() == len(text):
            raise DataError(f"{quoted(path)} line {start}: a quote opens here and is never "
                            f"closed")
        if any(cell.strip() for cell in cells):
            yield start, cells
        start = first_line + reader.line_num


def _numbers(path, line, cells, columns):
    """The cells as float64, or DataError naming the first that is not a finite number;
    ``columns`` are their column numbers in the file (counted from 1)."""
    try:
        values = np.array(cells, dtype=np.float64)
        if np.isfinite(values).all():
            return values
    except ValueError:
        pass
    for column, cell in zip(columns, cells, strict=True):
        value = _number(cell)
        if value is None or not math.isfinite(value):
            kind = "a number" if value is None else "a finite number"
            raise DataError(f"{quoted(path)} line {line}, column {column}: "
                            f"{quoted(cell.strip())} is not {kind}")
    raise AssertionError("unreachable: some cell was not a finite number")


def _plain_block(layout, rows):
    """A _Block from (line, cells) rows, checked cell by cell: the reference parser."""
    path, n_features = layout.path, layout.columns - (layout.label is not None)
    columns = [c + 1 for c in range(layout.columns) if c != layout.label]
    x, labels, lines = [], [], []
    for line, cells in rows:
        _check_width(layout, line, cells)
        if layout.label is not None:
            label = cells[layout.label].strip()
            if not label:
                raise DataError(f"{quoted(path)} line {line}, column {layout.label + 1}: "
                                f"the label is empty")
            labels.append(label)
        x.append(_numbers(path, line, layout.features(cells), columns))
        lines.append(line)
    return _Block(np.array(x, dtype=np.float64).reshape(len(x), n_features),
                  labels if layout.label is not None else None, np.array(lines, dtype=np.int64))


def _check_width(layout, line, cells):
    if len(cells) == layout.columns:
        return
    if layout.label is None:  # prediction inputs: the model's width
        hint = (" (one too many: leave out the label column, or any column the model was "
                "not trained on)" if len(cells) == layout.columns + 1 else "")
        raise DataError(f"{quoted(layout.path)} line {line}: {len(cells)} values, the model "
                        f"takes rows of {layout.columns} features{hint}")
    raise DataError(f"{quoted(layout.path)} line {line} has {len(cells)} columns, "
                    f"line {layout.first_line} has {layout.columns}")


_FAST_DIGITS = 15  # up to 15 digits, a decimal integer and its sums are exact in float64
_POWERS = 10.0 ** np.arange(_FAST_DIGITS + 1)  # exact in float64 (up to 10^22 are)


def _fast_block(layout, piece, first_line):
    """A _Block from a piece of plain rows, vectorised; None when the piece is not plain.

    Plain: no quotes, lone carriage returns, blank lines or spaces; every row of
    the file's width; every feature cell a number made of digits, ".", signs
    and "e" only. The bytes are looked at whole-array at a time, never cell by
    cell in Python, and the numbers come out equal to float(cell) to the last
    bit, by one of two exact ways:

    - short decimals, ``[+-]digits[.digits]`` of at most 15 digits (the common
      case): ``_short_decimals``, Clinger's fast path;
    - any other number (an exponent, 17 digits as ``repr`` writes them):
      NumPy's ``fromstring``, whose text parser is correctly rounded as
      float() is.

    Anything else ("nan", a malformed cell, a space) sends the piece to
    ``_plain_block``, which also names what is wrong. Returns a _Block of
    float64 values (rows, features), labels as bytes (or None) and lines.
    """
    if b'"' in piece:
        return None
    if b"\r" in piece:
        # Windows line ends (Excel's CSV): each one line, as "\n" is. A lone "\r" (old
        # Mac files) is for the csv module.
        piece = piece.replace(b"\r\n", b"\n")
        if b"\r" in piece:
            return None
    a = np.frombuffer(piece, dtype=np.uint8)
    if len(a) == 0 or a[-1] != 10 or a[0] == 10:
        return None
    separator = (a == ord(",")) | (a == 10)
    ends = np.flatnonzero(separator)  # where each cell ends, row after row
    n_rows, width = int(np.count_nonzero(a == 10)), layout.columns
    if len(ends) != n_rows * width or not (a[ends.reshape(n_rows, width)[:, -1]] == 10).all():
        return None  # a row of another width (or a blank line): the plain parser says which
    starts = np.empty_like(ends)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    feature = np.ones((n_rows, width), dtype=bool)  # one per cell: not the label's
    labels = None
    if layout.label is not None:
        feature[:, layout.label] = False
        labels = [piece[s:e] for s, e in zip(starts[layout.label::width].tolist(),
                                              ends[layout.label::width].tolist(), strict=True)]
    feature = feature.ravel()
    # The bytes of numbers, each kind a mask over the piece (comparisons: 10x faster than
    # a table lookup). a - 48 wraps around below "0", so only digits are < 10.
    digit = (a - ord("0")) < 10
    dot = a == ord(".")
    sign = (a == ord("-")) | (a == ord("+"))
    exponent = (a | 0x20) == ord("e")  # "e" or "E"
    unusual = ~(digit | separator | dot | sign)  # an exponent, or a byte no number has

    def per_cell(mask):
        """How many bytes of each cell the mask holds: running counts at the cells' ends."""
        running = np.cumsum(mask, dtype=np.int32)
        return running, np.diff(running[ends], prepend=0)

    if not (ends > starts)[feature].all():
        return None  # an empty cell
    if ((ends - starts)[~feature] > csv.field_size_limit()).any():
        return None  # a label the csv module refuses: refused whichever way it is read
    running_digits, digits = per_cell(digit)
    if per_cell(unusual)[1][feature].any():
        if per_cell(unusual & ~exponent)[1][feature].any():
            return None  # a byte no number has
        values = _decimal_text(a, starts, ends, feature)
    elif (digits[feature] > _FAST_DIGITS).any():
        values = _decimal_text(a, starts, ends, feature)
    else:
        values = _short_decimals(a, (separator, digit, dot, sign), starts, ends, feature,
                                 running_digits, digits)
    if values is None:
        return None
    lines = first_line + np.arange(n_rows, dtype=np.int64)
    return _Block(values.reshape(n_rows, -1), labels, lines)


def _short_decimals(a, masks, starts, ends, feature, running_digits, digits):
    """The feature cells as float64, all of them ``[+-]digits[.digits]`` with 1 to 15
    digits, or None when one is not; ``masks`` are the piece's separators, digits,
    dots and signs.

    Such a cell is D / 10^k: D the integer of its digits, k its digits after
    the dot. D < 10^15 and 10^k are exact in float64, so the one division
    rounds correctly and gives float(cell) to the last bit (Clinger's fast
    path). D is a sum of digit * 10^(digits after it in the cell), each term
    and each partial sum an exact integer.
    """
    separator, digit, dot, sign = masks
    if (digits[feature] == 0).any():
        return None  # a sign or a dot alone
    # The cell of each byte (its separator ends it): 2x faster than a searchsorted per use.
    cell_of = np.cumsum(separator, dtype=np.int32)
    cell_of -= separator
    dots = np.flatnonzero(dot)
    dot_cells = cell_of[dots]
    in_features = feature[dot_cells]
    dots, dot_cells = dots[in_features], dot_cells[in_features]
    if (np.diff(dot_cells) == 0).any():
        return None  # two dots in a cell
    signs = np.flatnonzero(sign)
    sign_cells = cell_of[signs]
    in_features = feature[sign_cells]
    signs, sign_cells = signs[in_features], sign_cells[in_features]
    if (starts[sign_cells] != signs).any():
        return None  # a sign that does not open its cell
    # Every digit of the piece, in order; those of each cell are consecutive.
    places = np.flatnonzero(digit)
    cumulative = running_digits[ends]  # digits up to each cell's end
    after = np.repeat(cumulative, digits)
    after -= np.arange(1, len(places) + 1, dtype=np.int32)
    np.minimum(after, _FAST_DIGITS, out=after)  # a label's digits may be more: not used
    terms = np.take(_POWERS, after)  # np.take: faster than indexing, measured
    terms *= a[places] - ord("0")
    mantissa = np.zeros(len(ends))
    has_digits = digits > 0
    mantissa[has_digits] = np.add.reduceat(terms, (cumulative - digits)[has_digits])
    decimals = np.zeros(len(ends), dtype=np.int64)
    decimals[dot_cells] = cumulative[dot_cells] - running_digits[dots]
    values = mantissa / _POWERS[decimals]
    negative = sign_cells[a[signs] == ord("-")]
    values[negative] = -values[negative]
    return values[feature]


def _decimal_text(a, starts, ends, feature):
    """The feature cells as float64 through NumPy's correctly rounded text parser, or
    None when one is not a finite number.

    The label cells and their separators are cut out, and the rest handed to
    ``np.fromstring`` as one comma-separated text; a cell it cannot read
    stops it early (a warning, made an error here) or leaves the count short.
    """
    import warnings

    keep = np.ones(len(a), dtype=bool)
    if not feature.all():
        # Each label cell with the separator that ends it: +1 where it starts, -1 after.
        change = np.zeros(len(a) + 1, dtype=np.int8)
        change[starts[~feature]] = 1
        change[ends[~feature] + 1] = -1
        keep = np.cumsum(change[:-1], dtype=np.int8) == 0
    text = a[keep]
    text[text == 10] = ord(",")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            values = np.fromstring(text[:-1].tobytes(), dtype=np.float64, sep=",")
    except (DeprecationWarning, ValueError):
        return None
    if len(values) != np.count_nonzero(feature) or not np.isfinite(values).all():
        return None
    return values


def label_name(text):
    """The class a label names: a number by its value ("1", "1.0" and "01" are the class
    "1", "0.50" is "0.5"), any other text as written, spaces around it left out."""
    text = text.strip()
    value = _number(text)
    if value is None or not math.isfinite(value):
        return text
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _is_name(cell, column):
    """A header cell: not a number, or its column's number counted from 0 (pandas's
    header of unnamed columns, 0,1,...,63,label)."""
    value = _number(cell)
    return value is None or cell.strip() == str(column)


def _layout(path, line, cells, header, label_column, n_features=None):
    """The _Layout of a file from its first row (line, cells) and the --header and
    --label-column settings; DataError when the file does not say and no flag does.

    The rule for --header auto: the first row is a header when each of its
    cells is a name (not a number) or its column's number counted from 0, at
    least one being a name; it is data when every feature cell is a number;
    anything else (a number beside a word, "NA" or a typo in the first row)
    is refused, naming the cell, until --header yes or no says which.
    """
    if n_features is None and len(cells) == 1:
        raise DataError(f"{quoted(path)} has a single column, so no features before the "
                        f"label (columns are separated by commas)")
    names = all(_is_name(cell, column) for column, cell in enumerate(cells)) \
        and any(_number(cell) is None for cell in cells)
    label = None if n_features is not None else _label_index(path, cells, names, header,
                                                              label_column)
    if n_features is not None and len(cells) != n_features and not names:
        _check_width(_Layout(path, None, line, n_features, None), line, cells)
    if header == "auto":
        columns = [c for c in range(len(cells)) if c != label]
        words = [c for c in columns if _number(cells[c]) is None]
        if not names and words:
            raise DataError(f"{quoted(path)} line {line}: is it a header? column "
                            f"{words[0] + 1} holds {quoted(cells[words[0]].strip())}, column "
                            f"{next((c for c in columns if c not in words), 0) + 1} a number: "
                            f"give --header yes or --header no (or correct the cell)")
        header = "yes" if names else "no"
    width = len(cells) if n_features is None else n_features
    return _Layout(path, [cell.strip() for cell in cells] if header == "yes" else None,
                   line, width, label)


def _label_index(path, cells, names, header, label_column):
    """The label column's index: --label-column, else a header cell named "label", else
    the last column."""
    titled = header == "yes" or (header == "auto" and names)
    heads = [cell.strip() for cell in cells] if titled else None
    if label_column is None:
        named = [c for c, cell in enumerate(heads or ()) if cell.lower() in LABEL_NAMES]
        return named[0] if len(named) == 1 else len(cells) - 1
    if label_column in ("first", "last"):
        return 0 if label_column == "first" else len(cells) - 1
    if label_column.isdigit():
        index = int(label_column) - 1
        if not 0 <= index < len(cells):
            raise DataError(f"argument --label-column: {quoted(path)} has columns 1 to "
                            f"{len(cells)}, not {label_column}")
        return index
    if heads is None or label_column not in heads:
        where = f"the header of {quoted(path)} has no column {quoted(label_column)}" \
            if heads else f"{quoted(path)} has no header to name a column"
        raise DataError(f"argument --label-column: {where}; give first, last, a column "
                        f"number or a name in the header")
    return heads.index(label_column)


def _blocks(path, header, label_column, n_features=None):
    """(layout, blocks): the file's _Layout and its data rows as _Blocks, piece by piece."""
    pieces = _pieces(path)
    for first_line, piece in pieces:
        rows = _rows(path, piece, first_line)
        for line, cells in rows:
            layout = _layout(path, line, cells, header, label_column, n_features)
            if layout.header is None:
                rows = itertools.chain([(line, cells)], rows)
            else:
                _check_width(layout, line, cells)
            rest = None
            if line == first_line and b'"' not in piece[:piece.find(b"\n")]:
                # The first row opens the piece: the rest may take the fast way too.
                skip = piece.find(b"\n") + 1 if layout.header is not None else 0
                rest = (line + (layout.header is not None), piece[skip:])
            return layout, _more_blocks(layout, pieces, rows, rest)
    raise DataError(f"{quoted(path)} is empty")


def _more_blocks(layout, pieces, first_rows, rest=None):
    """The data rows as _Blocks: the first piece's (``rest``, its bytes after the first
    row with their first line, when that row opens the piece; else ``first_rows``,
    its rows parsed), then every other piece's."""
    # A generator: nothing past the first row is parsed until the caller asks, so
    # that a check of the width refuses a file before the rest of it is read.
    if rest is None:
        yield _plain_block(layout, first_rows)
    else:
        yield _parsed(layout, rest[1], rest[0], first_rows)
    for first_line, piece in pieces:
        yield _parsed(layout, piece, first_line)


def _parsed(layout, piece, first_line, rows=None):
    """A piece as a _Block: the fast way when it is plain, else ``_plain_block`` of its
    ``rows`` (by default all the piece's rows)."""
    block = _fast_block(layout, piece, first_line) if piece else None
    if block is None or (block.labels is not None and not _decodable(block)):
        block = _plain_block(layout, _rows(layout.path, piece, first_line) if rows is None
                             else rows)
    return block


def _decodable(block):
    """A fast block's labels as text, in place; False when one is not UTF-8 or is empty."""
    distinct = {}
    for raw in set(block.labels):
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            return False
        if not text:
            return False
        distinct[raw] = text
    block.labels = [distinct[raw] for raw in block.labels]
    return True


def _count_lines(path):
    """Line breaks in the file (a lone carriage return is one too), plus one: at least its
    rows, to size the arrays once."""
    count = 1
    with open(path, "rb") as source:
        while block := source.read(PIECE_BYTES):
            count += block.count(b"\n") + block.count(b"\r")
    return count


# The types raw values are kept in, narrowest first: 8-bit pixel values take one
# byte each, not eight (a 200 MB CSV of them holds 100 million values).
_STORAGE = (np.uint8, np.float32, np.float64)


def _narrowest(x):
    """The narrowest of _STORAGE that holds every value of x exactly."""
    with np.errstate(over="ignore", invalid="ignore"):
        if ((0 <= x) & (x <= 255) & (x == np.floor(x))).all():
            return np.uint8
        if (x.astype(np.float32) == x).all():
            return np.float32
    return np.float64


class _Values:
    """Rows of raw values appended block by block, kept in the narrowest type that holds
    every value so far exactly; ``rows`` is an upper bound of their number."""

    def __init__(self, rows, width):
        self.array = np.empty((rows, width), dtype=np.uint8)
        self.count = 0

    def add(self, x):
        need = _narrowest(x)
        if _STORAGE.index(need) > _STORAGE.index(self.array.dtype.type):
            wider = np.empty(self.array.shape, dtype=need)
            wider[:self.count] = self.array[:self.count]
            self.array = wider
        self.array[self.count:self.count + len(x)] = x
        self.count += len(x)

    @property
    def values(self):
        return self.array[:self.count]


class LineNames(Sequence):
    """The names of prediction rows, "rows.csv:2", made when asked for: a name string
    per row of a million-row file would take more memory than its values."""

    def __init__(self, file_name, lines):
        self.file_name, self.lines = file_name, lines

    def __len__(self):
        return len(self.lines)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(len(self)))]
        return f"{self.file_name}:{self.lines[index]}"

    def __eq__(self, other):
        return list(self) == list(other)


def _feature_order(layout, feature_names):
    """The file's columns in the order of the model's feature names, or None to take them
    as they stand; DataError when the header names other columns."""
    if layout.header is None or feature_names is None:
        return None
    names = list(feature_names)
    if layout.header == names:
        return None
    missing = [name for name in names if name not in layout.header]
    unknown = [name for name in layout.header if name not in names]
    if missing or unknown or len(set(layout.header)) != len(layout.header):
        said = "; ".join(part for part in (
            missing and "no column " + ", ".join(map(quoted, missing)),
            unknown and "columns the model does not know: " + ", ".join(map(quoted, unknown)))
            if part) or "a column named twice"
        raise DataError(f"{quoted(layout.path)} line {layout.first_line}: the header does not "
                        f"name the model's features ({said}); the model takes "
                        f"{', '.join(map(quoted, names))}")
    return [layout.header.index(name) for name in names]


def _csv_dataset(path, seed, validation, header, label_column, dtype, check, scaler=None):
    """A Dataset from a CSV file: numeric features and a label column."""
    layout, blocks = _blocks(path, header, label_column)
    if check is not None:
        check(layout.columns - 1, None)
    values = _Values(_count_lines(path), layout.columns - 1)
    index, parts = {}, []  # class name -> its number in order of appearance; labels
    for block in blocks:
        known = {text: index.setdefault(label_name(text), len(index))
                 for text in set(block.labels)}
        values.add(block.x)
        parts.append(np.array([known[text] for text in block.labels], dtype=np.int64))
    if values.count == 0:
        raise DataError(f"{quoted(path)} has a header but no data rows")
    class_names = _sorted_names(index)
    if len(class_names) == 1:
        raise DataError(f"{quoted(path)} has a single class, {quoted(class_names[0])}: "
                        f"a classifier needs two or more")
    order = np.array([class_names.index(name) for name in index], dtype=np.int64)
    y = order[np.concatenate(parts)]
    _check_label_column(path, layout, y, len(class_names))
    return _held_out(values.values, y, validation, seed, quoted(path), scaler, dtype=dtype,
                     name=path.name, class_names=class_names, feature_names=layout.header
                     and layout.features(layout.header))


def _check_label_column(path, layout, y, n_classes):
    """Refuse a label column most of whose classes hold a single sample: a column of
    measurements, not of classes (a label-first file read with the label last)."""
    counts = np.bincount(y, minlength=n_classes)
    single = int(np.count_nonzero(counts == 1))
    if n_classes > 2 and single == n_classes:  # every value its own class
        raise DataError(f"{quoted(path)}: every one of the {n_classes} classes in column "
                        f"{layout.label + 1} (the label column) has a single sample: is the "
                        f"label in another column (give --label-column first, a number or "
                        f"a name), or is the file too small to hold any out?")
    if n_classes > 2 and single * 2 > n_classes:
        raise DataError(f"{quoted(path)}: {single} of the {n_classes} classes in column "
                        f"{layout.label + 1} (the label column) have a single sample: is the "
                        f"label in another column? give --label-column first, a number or "
                        f"a name")


def _prediction_rows(path, n_features, header, feature_names, scaler, dtype):
    """``(names, x)`` from a CSV file of feature rows without labels."""
    layout, blocks = _blocks(path, header, None, n_features)
    order = _feature_order(layout, feature_names)
    out = np.empty((_count_lines(path), n_features), dtype=dtype)
    count, lines = 0, []
    for block in blocks:
        x = block.x if order is None else block.x[:, order]
        if scaler is not None:
            x = standardise(x, scaler)
        with np.errstate(over="ignore"):  # beyond float32: the network's output says so
            out[count:count + len(x)] = x
        count += len(x)
        lines.append(block.lines)
    if count == 0:
        raise DataError(f"{quoted(path)} has no rows of features")
    return LineNames(path.name, np.concatenate(lines)), out[:count]


# Folders of images


def _regular_file(path):
    """True, or DataError: a pipe or a device would be read twice, or never end."""
    if not path.exists():
        raise DataError(absent(path))
    if not path.is_file():
        raise DataError(f"{quoted(path)} is not a regular file (a pipe or a device?): "
                        "save it to a file first")
    return True


def absent(path):
    """Why a path that ``exists()`` denies is not there, in one line: a loop of symbolic
    links or a link to nothing is not a file that "does not exist"."""
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return f"{quoted(path)} is a loop of symbolic links (it never reaches a file)"
        if os.path.islink(path):
            return (f"{quoted(path)} is a symbolic link to {quoted(os.readlink(path))}, "
                    f"which does not exist")
        if error.errno not in (errno.ENOENT, errno.ENOTDIR):
            return f"{quoted(path)} cannot be read: {error.strerror}"
    return f"{quoted(path)} does not exist"


def _open_image(path):
    """The image at path as greyscale pixels (height, width) float32 on the 8-bit scale
    0..255, or None if not an image.

    Each kind of image is put on that scale by its own range, never saturated:
    8-bit images (and colour or palette ones, made greyscale) as they are, 16-bit
    ones (Pillow's modes I;16 and I) as v * 255 / 65535, floating-point ones
    (mode F) as v * 255 for v in [0, 1]. Values outside their mode's range are
    refused, naming the mode: a float image of 0..1000 has no scale to guess.
    """
    import warnings

    from PIL import Image, UnidentifiedImageError  # here: only real images need Pillow

    try:
        # Opened here, not by Pillow, so that a file nobody may read is refused as
        # such, not as a broken image: it may be a CSV file.
        source = open(path, "rb")
    except OSError as error:
        raise DataError(f"{quoted(path)} cannot be read: {error.strerror}") from None
    try:
        with source, warnings.catch_warnings():
            # Pillow only warns below twice its limit of 89 million pixels: refuse it all.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                return _grey_levels(image, path)
    except UnidentifiedImageError:
        return None
    except DataError:  # a ValueError of our own, already one line
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise DataError(f"{quoted(path)} is too large to read as an image (over "
                        f"{Image.MAX_IMAGE_PIXELS:,} pixels)") from None
    except (OSError, SyntaxError, ValueError) as error:  # recognised, but unreadable
        reason = getattr(error, "strerror", None) or " ".join(str(error).split())
        raise DataError(f"{quoted(path)} cannot be read as an image: {reason}") from None


# The range of each single-channel mode Pillow reads beyond 8 bits: (low, high, what it is).
WIDE_MODES = {"I;16": (0, 65535, "16-bit"), "I;16L": (0, 65535, "16-bit"),
              "I;16B": (0, 65535, "16-bit"), "I;16N": (0, 65535, "16-bit"),
              "I": (0, 65535, "16-bit"), "F": (0.0, 1.0, "floating-point")}


def _grey_levels(image, path):
    """An open Pillow image as float32 grey levels 0..255 (see ``_open_image``)."""
    if image.mode not in WIDE_MODES:
        # 8 bits a channel: Pillow's greyscale conversion (L = 0.299 R + 0.587 G + 0.114 B).
        return np.asarray(image.convert("L"), dtype=np.float32)
    low, high, kind = WIDE_MODES[image.mode]
    values = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.all() or (values.size and (values.min() < low or values.max() > high)):
        shown = values[finite]
        found = f"from {shown.min():g} to {shown.max():g}" if shown.size else "none finite"
        if not finite.all():
            found += " and some not finite"
        raise DataError(f"{quoted(path)} is a {kind} image (mode {image.mode}) with values "
                        f"{found}, outside {low:g} to {high:g}: save it with values in that "
                        f"range, or as an 8-bit image")
    return (values * (255 / high)).astype(np.float32)


def _read_image(path):
    """``_open_image``, with DataError for a file that is not an image."""
    pixels = _open_image(path)
    if pixels is None:
        raise DataError(f"{quoted(path)} is not an image")
    return pixels


def _visible(folder, directories):
    """Sorted names of the subfolders (or files) in folder not starting with "."."""
    return sorted(entry.name for entry in os.scandir(folder)
                  if not entry.name.startswith(".") and entry.is_dir() == directories)


def _class_folders(folder):
    """The class folder names in folder, sorted as class names; two or more."""
    names = _sorted_names(_visible(folder, directories=True))
    if not names:
        raise DataError(f"{quoted(folder)} has no class folders: put each class's images in a "
                        f"subfolder named after the class")
    if len(names) == 1:
        raise DataError(f"{quoted(folder)} has a single class folder, {quoted(names[0])}: "
                        f"a classifier needs two or more")
    return names


def _class_images(folder, class_names):
    """The image files under folder/<class> and their labels (indices into class_names)."""
    files, labels = [], []
    for label, name in enumerate(class_names):
        subfolder = folder / name
        inner = _visible(subfolder, directories=True)
        if inner:
            raise DataError(f"{quoted(subfolder / inner[0])} is a folder: a class folder holds "
                            f"only images")
        names = _visible(subfolder, directories=False)
        if not names:
            raise DataError(f"class folder {quoted(subfolder)} has no images")
        files += [subfolder / file for file in names]
        labels += [label] * len(names)
    return files, np.array(labels, dtype=np.int64)


def _read_images(files, check=None):
    """Pixels (N, height * width) float32 of the image files, one row each, and (height, width).

    ``check(n_features, image_shape)`` sees the first image's size before the
    others are read: 20 photos of 12 megapixels are 1 GB of float32.
    """
    first = _read_image(files[0])
    if check is not None:
        check(first.size, first.shape)
    pixels = np.empty((len(files), first.size), dtype=np.float32)
    for row, file in enumerate(files):
        image = first if row == 0 else _read_image(file)
        if image.shape != first.shape:
            raise DataError(f"{quoted(file)} is {size_text(image.shape)} pixels, the others "
                            f"are {size_text(first.shape)}")
        pixels[row] = image.ravel()
    return pixels, first.shape


def _image_folder(root, seed, validation, dtype=np.float64, check=None):
    """A Dataset from a folder of class folders, or of train/ and test/ class folders."""
    train_dir, test_dir = root / "train", root / "test"
    if train_dir.is_dir() != test_dir.is_dir():
        present, missing = ("train", "test") if train_dir.is_dir() else ("test", "train")
        raise DataError(f"{quoted(root)} has {present}/ but no {missing}/: give both, or one "
                        f"folder per class")
    name = root.name or root.resolve().name
    if not train_dir.is_dir():
        class_names = _class_folders(root)
        files, y = _class_images(root, class_names)
        pixels, shape = _read_images(files, check)
        scaler = _pixel_scaler(shape)
        return _held_out(pixels, y, validation, seed, quoted(root), scaler=scaler, dtype=dtype,
                         name=name,
                         class_names=class_names, image_shape=shape)
    class_names = _class_folders(train_dir)
    test_names = _class_folders(test_dir)
    if test_names != class_names:
        differences = ([f"{quoted(folder)} only in train/" for folder in class_names
                        if folder not in test_names]
                       + [f"{quoted(folder)} only in test/" for folder in test_names
                          if folder not in class_names])
        raise DataError(f"{quoted(train_dir)} and {quoted(test_dir)} have different class "
                        f"folders: {', '.join(differences)}")
    train_files, y_train = _class_images(train_dir, class_names)
    val_files, y_val = _class_images(test_dir, class_names)
    pixels, shape = _read_images(train_files + val_files, check)
    scaler = _pixel_scaler(shape)
    every = np.arange(len(pixels))
    n_train = len(train_files)
    return Dataset(_standardised(pixels, every[:n_train], scaler, dtype), y_train,
                   _standardised(pixels, every[n_train:], scaler, dtype), y_val, "classes",
                   name, class_names, scaler, shape)


def _pixel_scaler(shape):
    """The book's pixel scaling, (x - 127.5) / 127.5, as (mean, scale) for an image shape."""
    height, width = shape
    full = np.full((1, height * width), 127.5)
    return full, full.copy()


def user_data(seed=0, data=None, **reading):
    """The registry's "file" dataset, ``--data PATH``: ``from_path(data, seed, **reading)``,
    reading being --header, --label-column, the run's dtype and the early ``check``."""
    return from_path(data, seed, **reading)
