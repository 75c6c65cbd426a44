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
import io
import math
import os
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


def _held_out(x, y, validation, seed, source, scaler=None, **fields):
    """A classification Dataset from x, y split by ``split``; ``source`` names the data."""
    train, val = split(y, validation, seed)
    if len(val) == 0:
        raise DataError(f"{source} is too small: each class has a single sample, so none can "
                        f"be held out for validation")
    if scaler is None:
        try:
            scaler = fit_scaler(x[train])
        except DataError as error:
            raise DataError(f"{source}: {error}") from None
    return Dataset(standardise(x[train], scaler), y[train], standardise(x[val], scaler), y[val],
                   "classes", scaler=scaler, **fields)


def digits(seed=0, validation=0.25):
    """scikit-learn's 8x8 handwritten digits: 1797 images of 0..9, pixel values 0..16.

    Bundled with scikit-learn (no download). A seeded stratified
    ``validation`` part is held out, and each of the 64 pixels is
    standardised with the training part's mean and standard deviation.
    """
    try:
        from sklearn.datasets import load_digits  # optional: requirements-dev.txt
    except ImportError:
        raise DataError("--dataset digits needs scikit-learn: python -m pip install "
                        "scikit-learn (or -r requirements-dev.txt)") from None
    x, y = load_digits(return_X_y=True)
    return _held_out(x.astype(np.float64), y.astype(np.int64), validation, seed, "digits",
                     name="digits", class_names=[str(k) for k in range(10)], image_shape=(8, 8))


# -- The learner's own data ----------------------------------------------------------------------


def from_path(path, seed=0, validation=0.25):
    """The learner's data: a CSV file, or a folder of images with one subfolder per class.

    CSV: every column but the last a numeric feature, the last the label (a
    class name or a number); the first row is a header when one of its
    feature cells is not a number; blank lines are skipped. The features
    are standardised with the training part's statistics.

    Images: ``PATH/<class>/<image>``, or the book's chapter-19 layout
    ``PATH/train/<class>/<image>`` and ``PATH/test/<class>/<image>``, whose
    train/ and test/ are then the training and validation parts as given.
    Each image is read with Pillow, made greyscale, put on the 8-bit scale
    0..255 by its own range (8-bit, 16-bit and floating-point images alike:
    ``_open_image``) and flattened row by row; all must have the same size.
    The pixels are then scaled as the book does, (x - 127.5) / 127.5,
    expressed as the scaler mean = scale = 127.5.

    Without a given split, a seeded stratified ``validation`` part is held
    out (``split``). Class names are sorted, numerically when all are
    numbers ("2" before "10"); labels index them. Files whose names start
    with "." are skipped. Raises DataError for input that cannot be used.
    """
    path = Path(path)
    with _readable(path):
        if path.is_dir():
            return _image_folder(path, seed, validation)
        _regular_file(path)
        if _open_image(path) is not None:
            raise DataError(f"{quoted(path)} is a single image: give a CSV file, or a folder "
                            f"with one subfolder of images per class")
        return _csv_dataset(path, seed, validation)


def prediction_inputs(path, n_features, image_shape=None):
    """``(names, raw_x)`` for ``--predict``: the inputs in PATH, one name and row each.

    PATH is a CSV file of feature rows (``n_features`` numbers a row, no
    label column, header optional), an image file, or a folder of image
    files (taken in order of name; subfolders are not searched). Names are
    "rows.csv:2" (the file's name and line number) or the image file's
    name. raw_x is (N, n_features) float64 and NOT standardised: the caller
    applies the model's scaler. Images need a model trained on images of
    ``image_shape`` (height, width). An input that does not fit raises
    DataError naming the file and the shape the model takes.
    """
    path = Path(path)
    with _readable(path):
        if path.is_dir():
            files = [path / name for name in _visible(path, directories=False)]
            if not files:
                raise DataError(f"{quoted(path)} holds no image files "
                                f"(subfolders are not searched)")
        elif _regular_file(path) and _open_image(path) is None:
            return _prediction_rows(path, n_features)
        else:
            files = [path]
        raw_x = np.empty((len(files), n_features), dtype=np.float64)
        for row, file in enumerate(files):
            image = _read_image(file)
            if image_shape is None:
                raise DataError(f"{quoted(file)} is an image, the model takes rows of "
                                f"{n_features} features")
            if image.shape != tuple(image_shape):
                raise DataError(f"{quoted(file)} is {_size(image.shape)} pixels, the model "
                                f"takes {_size(image_shape)} images")
            raw_x[row] = image.ravel()
    return [file.name for file in files], raw_x


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


def _size(shape):
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


def _csv_rows(path):
    """The non-blank rows of a CSV file, as (line number, cells)."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"{quoted(path)} cannot be read: {error.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise DataError(f"{quoted(path)} line {line} is not UTF-8 text: save the file as "
                        f"UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield reader.line_num, cells
    except csv.Error as error:
        raise DataError(f"{quoted(path)} line {reader.line_num}: {error}") from None


def _is_header(cells):
    """A first row is a header when one of its (feature) cells is not a number."""
    return any(_number(cell) is None for cell in cells)


def _numbers(path, line, cells):
    """The cells as float64 (len(cells),), or DataError naming the first not a finite number."""
    try:
        values = np.array(cells, dtype=np.float64)
        if np.isfinite(values).all():
            return values
    except ValueError:
        pass
    for column, cell in enumerate(cells, 1):
        value = _number(cell)
        if value is None or not math.isfinite(value):
            kind = "a number" if value is None else "a finite number"
            raise DataError(f"{quoted(path)} line {line}, column {column}: "
                            f"{quoted(cell.strip())} is not {kind}")
    raise AssertionError("unreachable: some cell was not a finite number")


def _csv_dataset(path, seed, validation):
    """A Dataset from a CSV file: numeric features, then the label in the last column."""
    features, labels = [], []
    first = None  # (line, columns) of the first row, the reference for the others
    for line, cells in _csv_rows(path):
        if first is None:
            first = (line, len(cells))
            if len(cells) == 1:
                raise DataError(f"{quoted(path)} has a single column, so no features before the "
                                f"label (columns are separated by commas)")
            if _is_header(cells[:-1]):
                continue
        if len(cells) != first[1]:
            raise DataError(f"{quoted(path)} line {line} has {len(cells)} columns, "
                            f"line {first[0]} has {first[1]}")
        label = cells[-1].strip()
        if not label:
            raise DataError(f"{quoted(path)} line {line}, column {len(cells)}: the label is empty")
        features.append(_numbers(path, line, cells[:-1]))
        labels.append(label)
    if first is None:
        raise DataError(f"{quoted(path)} is empty")
    if not labels:
        raise DataError(f"{quoted(path)} has a header but no data rows")
    class_names = _sorted_names(labels)
    if len(class_names) == 1:
        raise DataError(f"{quoted(path)} has a single class, {quoted(class_names[0])}: "
                        f"a classifier needs two or more")
    index = {name: k for k, name in enumerate(class_names)}
    y = np.array([index[label] for label in labels], dtype=np.int64)
    return _held_out(np.array(features), y, validation, seed, quoted(path),
                     name=path.name, class_names=class_names)


def _prediction_rows(path, n_features):
    """``(names, raw_x)`` from a CSV file of feature rows without labels."""
    names, rows = [], []
    for number, (line, cells) in enumerate(_csv_rows(path)):
        if number == 0 and _is_header(cells):
            continue
        if len(cells) != n_features:
            hint = " (leave out the label column)" if len(cells) == n_features + 1 else ""
            raise DataError(f"{quoted(path)} line {line}: {len(cells)} values, the model takes "
                            f"rows of {n_features} features{hint}")
        rows.append(_numbers(path, line, cells))
        names.append(f"{path.name}:{line}")
    if not rows:
        raise DataError(f"{quoted(path)} has no rows of features")
    return names, np.array(rows, dtype=np.float64)


# Folders of images


def _regular_file(path):
    """True, or DataError: a pipe or a device would be read twice, or never end."""
    if not path.exists():
        raise DataError(f"{quoted(path)} does not exist")
    if not path.is_file():
        raise DataError(f"{quoted(path)} is not a regular file (a pipe or a device?): "
                        "save it to a file first")
    return True


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


def _read_images(files):
    """Pixels (N, height * width) float32 of the image files, one row each, and (height, width)."""
    first = _read_image(files[0])
    pixels = np.empty((len(files), first.size), dtype=np.float32)
    for row, file in enumerate(files):
        image = first if row == 0 else _read_image(file)
        if image.shape != first.shape:
            raise DataError(f"{quoted(file)} is {_size(image.shape)} pixels, the others are "
                            f"{_size(first.shape)}")
        pixels[row] = image.ravel()
    return pixels, first.shape


def _image_folder(root, seed, validation):
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
        pixels, shape = _read_images(files)
        scaler = _pixel_scaler(shape)
        return _held_out(pixels, y, validation, seed, quoted(root), scaler=scaler, name=name,
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
    pixels, shape = _read_images(train_files + val_files)
    scaler = _pixel_scaler(shape)
    n_train = len(train_files)
    return Dataset(standardise(pixels[:n_train], scaler), y_train,
                   standardise(pixels[n_train:], scaler), y_val, "classes", name,
                   class_names, scaler, shape)


def _pixel_scaler(shape):
    """The book's pixel scaling, (x - 127.5) / 127.5, as (mean, scale) for an image shape."""
    height, width = shape
    full = np.full((1, height * width), 127.5)
    return full, full.copy()


def user_data(seed=0, data=None):
    """The registry's "file" dataset, ``--data PATH``: ``from_path(data, seed)``."""
    return from_path(data, seed)
