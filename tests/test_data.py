import io
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from program import data

from checks import within


def test_spiral_shapes_and_labels():
    d = data.spiral(seed=0, samples=50, classes=4)
    assert d.x_train.shape == d.x_val.shape == (200, 2)
    assert np.array_equal(np.bincount(d.y_train), [50] * 4)
    assert np.array_equal(d.y_train, d.y_val)
    assert d.y_train.dtype == np.int64
    assert d.task == "classes" and d.n_classes == 4 and d.n_features == 2
    assert d.class_names == ["0", "1", "2", "3"]


def test_seed_zero_draws_the_books_training_data():
    from nnfs.datasets import spiral_data

    np.random.seed(0)
    x, y = spiral_data(100, 3)
    d = data.spiral(seed=0)
    np.testing.assert_array_equal(d.x_train, x)
    np.testing.assert_array_equal(d.y_train, y)


def test_validation_is_a_separate_draw_not_a_slice():
    d = data.spiral(seed=0, samples=100, classes=3)
    shared = set(map(tuple, d.x_train)) & set(map(tuple, d.x_val))
    assert shared <= {(0.0, 0.0)}  # each arm starts at the origin, radius 0


def test_same_seed_same_data_and_global_state_untouched():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = data.spiral(seed=7, samples=20)
    assert np.array_equal(np.random.get_state()[1], before)
    second = data.spiral(seed=7, samples=20)
    other = data.spiral(seed=8, samples=20)
    for name in ("x_train", "y_train", "x_val", "y_val"):
        assert np.array_equal(getattr(first, name), getattr(second, name))
    assert not np.array_equal(first.x_train, other.x_train)


def test_vertical_dataset():
    d = data.vertical(seed=0, samples=10, classes=2)
    assert d.x_train.shape == (20, 2) and d.n_classes == 2
    # Each class is a cluster around x = class / 3, y = 0.5.
    for label in (0, 1):
        centre = d.x_train[d.y_train == label].mean(axis=0)
        np.testing.assert_allclose(centre, [label / 3, 0.5], atol=0.1)


def test_sine_validation_is_the_midpoints():
    d = data.sine(samples=8)
    assert d.task == "regression" and d.n_classes == 1 and d.n_features == 1
    np.testing.assert_array_equal(d.x_train[:, 0], np.arange(8) / 8)
    np.testing.assert_allclose(d.x_val[:, 0], (np.arange(8) + 0.5) / 8)
    np.testing.assert_allclose(d.y_train, np.sin(2 * np.pi * d.x_train))
    np.testing.assert_allclose(d.y_val, np.sin(2 * np.pi * d.x_val))


# -- split, fit_scaler, standardise -------------------------------------------------------------

LABELS = np.repeat([0, 1, 2], [40, 12, 7])


def test_split_is_stratified_by_class():
    train, val = data.split(LABELS, 0.25, seed=0)
    # round(0.25 * count) per class: 10 of 40, 3 of 12, round(1.75) = 2 of 7.
    assert np.array_equal(np.bincount(LABELS[val]), [10, 3, 2])
    assert np.array_equal(np.bincount(LABELS[train]), [30, 9, 5])


def test_split_is_disjoint_complete_sorted_int64():
    train, val = data.split(LABELS, 0.3, seed=4)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(LABELS)))
    assert not set(train) & set(val)
    assert np.array_equal(train, np.sort(train)) and np.array_equal(val, np.sort(val))
    assert train.dtype == val.dtype == np.int64


def test_split_same_seed_same_split_other_seed_other_split():
    first, second = data.split(LABELS, 0.25, seed=3), data.split(LABELS, 0.25, seed=3)
    other = data.split(LABELS, 0.25, seed=4)
    assert np.array_equal(first[1], second[1]) and np.array_equal(first[0], second[0])
    assert not np.array_equal(first[1], other[1])


def test_split_leaves_numpys_global_generator_alone():
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    data.split(LABELS, 0.25, seed=1)
    assert np.array_equal(np.random.get_state()[1], before)


def test_split_holds_out_one_of_two_none_of_one_and_keeps_one_for_training():
    labels = np.array(["b", "a", "c", "c", "b", "d", "d"])  # a: 1, b: 2, c: 2, d: 2
    train, val = data.split(labels, 0.1, seed=0)  # round(0.2) = 0, raised to 1
    assert sorted(labels[val]) == ["b", "c", "d"]
    _, val = data.split(labels, 0.9, seed=0)  # round(1.8) = 2, capped at 1
    assert sorted(labels[val]) == ["b", "c", "d"]


def test_split_refuses_a_validation_fraction_outside_0_1():
    for validation in (0, 1, -0.5, 1.5):
        with pytest.raises(ValueError, match="validation"):
            data.split(LABELS, validation, seed=0)


@given(st.lists(st.integers(0, 4), min_size=1, max_size=60), st.floats(0.05, 0.95),
       st.integers(0, 2**32 - 1))
def test_split_property_partition_with_per_class_counts(labels, validation, seed):
    labels = np.array(labels)
    train, val = data.split(labels, validation, seed)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(labels)))
    for label in np.unique(labels):
        count, held = np.sum(labels == label), np.sum(labels[val] == label)
        expected = 0 if count == 1 else min(max(round(validation * count), 1), count - 1)
        assert held == expected


def test_fit_scaler_mean_and_std_columns_with_constant_scale_one():
    x = np.array([[1.0, 5.0, 0.1], [3.0, 5.0, 0.1], [5.0, 5.0, 0.1]])
    mean, scale = data.fit_scaler(x)
    assert mean.shape == scale.shape == (1, 3) and mean.dtype == scale.dtype == np.float64
    np.testing.assert_allclose(mean, [[3.0, 5.0, 0.1]])
    np.testing.assert_allclose(scale, [[np.sqrt(8 / 3), 1.0, 1.0]])
    z = data.standardise(x, (mean, scale))
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    assert np.all(z[:, 1:] == 0)  # constant columns become exactly 0


def test_standardise_returns_new_float64_and_leaves_the_input_alone():
    x = np.array([[0, 255], [128, 64]], dtype=np.uint8)
    copy = x.copy()
    scaler = (np.full((1, 2), 127.5), np.full((1, 2), 127.5))
    z = data.standardise(x, scaler)
    assert z.dtype == np.float64 and np.array_equal(x, copy)
    np.testing.assert_allclose(z, (x - 127.5) / 127.5)


def test_standardisation_uses_training_statistics_only(tmp_path):
    # A CSV whose one outlier row lands in the validation part: the mean must not see it.
    labels = np.repeat([0, 1], 20)
    train, val = data.split(labels, 0.25, seed=0)
    features = np.arange(80, dtype=np.float64).reshape(40, 2)
    features[val[0]] = [1e6, -1e6]
    path = _csv(tmp_path, "f1,f2,label", *(f"{a},{b},{k}" for (a, b), k in zip(
        features, labels, strict=True)))
    d = data.from_path(path, seed=0)
    mean, scale = d.scaler
    np.testing.assert_allclose(mean, features[train].mean(axis=0, keepdims=True))
    np.testing.assert_allclose(scale, features[train].std(axis=0, keepdims=True))
    np.testing.assert_allclose(d.x_val * scale + mean, features[val])
    np.testing.assert_allclose(d.x_train.mean(axis=0), 0, atol=1e-12)


# -- digits ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    return data.digits(seed=0)


def test_digits_shapes_classes_and_image_shape(digits):
    d = digits
    assert len(d.x_train) + len(d.x_val) == 1797
    assert d.x_train.shape[1] == d.x_val.shape[1] == 64 == d.n_features
    assert d.class_names == [str(k) for k in range(10)] and d.n_classes == 10
    assert d.task == "classes" and d.name == "digits" and d.image_shape == (8, 8)
    assert d.x_train.dtype == np.float64 and d.y_train.dtype == d.y_val.dtype == np.int64
    assert d.scaler[0].shape == d.scaler[1].shape == (1, 64)


def test_digits_holds_out_about_a_quarter_of_each_class(digits):
    val_counts = np.bincount(digits.y_val, minlength=10)
    all_counts = val_counts + np.bincount(digits.y_train, minlength=10)
    assert np.all(np.abs(val_counts - 0.25 * all_counts) <= 0.5)


def test_digits_training_features_have_mean_0_and_std_1(digits):
    x = digits.x_train
    varying = x.std(axis=0) > 0
    assert 50 < varying.sum() < 64  # some border pixels are always 0
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(x[:, varying].std(axis=0), 1)


def test_digits_is_seeded(digits):
    again, other = data.digits(seed=0), data.digits(seed=1)
    assert np.array_equal(again.x_val, digits.x_val)
    assert not np.array_equal(other.y_val, digits.y_val)


def test_digits_without_scikit_learn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(data.DataError) as error:
        data.digits()
    assert str(error.value) == ("--dataset digits needs scikit-learn: python -m pip install "
                                "scikit-learn (or -r requirements-dev.txt)")


# -- CSV files ----------------------------------------------------------------------------------


def _csv(folder, *lines, name="data.csv", encoding="utf-8"):
    path = folder / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _rows(n, label):
    """n rows "k,2k,label" for 2 features."""
    return [f"{k},{2 * k},{label(k)}" for k in range(n)]


def _refused(path, *args, function=None):
    """The DataError message of from_path (or ``function``) for path; it must be one line."""
    with pytest.raises(data.DataError) as error:
        (function or data.from_path)(path, *args)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_csv_with_header_and_text_labels_sorted_as_text(tmp_path):
    path = _csv(tmp_path, "width,height,kind", *_rows(12, lambda k: ["cat", "ant", "bee"][k % 3]))
    d = data.from_path(path, seed=0)
    assert d.class_names == ["ant", "bee", "cat"]
    assert d.task == "classes" and d.name == "data.csv" and d.image_shape is None
    assert len(d.x_train) + len(d.x_val) == 12 and d.n_features == 2
    # Labels index class_names: row k has kind ["cat", "ant", "bee"][k % 3].
    raw = d.x_train * d.scaler[1] + d.scaler[0]
    kinds = [["cat", "ant", "bee"][int(round(k)) % 3] for k in raw[:, 0]]
    assert [d.class_names[y] for y in d.y_train] == kinds
    assert d.x_train.dtype == np.float64 and d.y_train.dtype == np.int64


def test_csv_without_header_numeric_labels_in_numeric_order(tmp_path):
    path = _csv(tmp_path, *_rows(30, lambda k: [2, 10, 1][k % 3]))
    d = data.from_path(path, seed=0)
    assert d.class_names == ["1", "2", "10"]
    assert len(d.x_train) + len(d.x_val) == 30  # the first row is data, not a header
    raw = np.concatenate([d.x_train, d.x_val]) * d.scaler[1] + d.scaler[0]
    labels = np.concatenate([d.y_train, d.y_val])
    expected = [{2: 1, 10: 2, 1: 0}[[2, 10, 1][int(round(k)) % 3]] for k in raw[:, 0]]
    assert labels.tolist() == expected


def test_csv_split_is_seeded_and_stratified(tmp_path):
    path = _csv(tmp_path, *_rows(40, lambda k: "ab"[k % 2]))
    first, again, other = (data.from_path(path, seed=s) for s in (1, 1, 2))
    assert np.array_equal(first.x_val, again.x_val)
    assert not np.array_equal(first.x_val, other.x_val)
    assert np.array_equal(np.bincount(first.y_val), [5, 5])


def test_csv_tolerates_a_bom_blank_lines_spaces_quotes_and_crlf(tmp_path):
    text = '\ufeffa,b,label\r\n\r\n1, 2,"x"\r\n3,4, y \r\n   \r\n5,6,x\r\n7,8,y\r\n'
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode("utf-8"))
    d = data.from_path(path, seed=0)
    assert d.class_names == ["x", "y"] and len(d.x_train) + len(d.x_val) == 4


@pytest.mark.parametrize("lines, message", [
    ([], "'{}' is empty"),
    (["", "  "], "'{}' is empty"),
    (["a,b,label"], "'{}' has a header but no data rows"),
    (["a,b,label", "1,2,x", "", "1,2,y", "3,x"], "'{}' line 5 has 2 columns, line 1 has 3"),
    (["1,2,x", "1,2,3,y"], "'{}' line 2 has 4 columns, line 1 has 3"),
    (["a,b,label", "1,2,x", "1,abc,y"], "'{}' line 3, column 2: 'abc' is not a number"),
    (["a,b,label", "1,2,x", ",2,y"], "'{}' line 3, column 1: '' is not a number"),
    (["1,2,x", "1,nan,y"], "'{}' line 2, column 2: 'nan' is not a finite number"),
    (["1,2,x", "inf,2,y"], "'{}' line 2, column 1: 'inf' is not a finite number"),
    (["label", "x", "y"], "'{}' has a single column, so no features before the label "
                          "(columns are separated by commas)"),
    (["1;2;x", "3;4;y"], "'{}' has a single column"),
    (["1,2,x", "3,4,x", "5,6,x"], "'{}' has a single class, 'x': a classifier needs two or more"),
    (["1,2,x", "3,4, "], "'{}' line 2, column 3: the label is empty"),
    (["1,2,x", "3,4,y"], "'{}' is too small: each class has a single sample, so none can be "
                         "held out for validation"),
])
def test_csv_refusals_name_the_file_and_the_line(tmp_path, lines, message):
    path = _csv(tmp_path, *lines) if lines else tmp_path / "data.csv"
    if not lines:
        path.write_bytes(b"")
    assert _refused(path).startswith(message.format(path))


def test_csv_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    path = _csv(tmp_path, "a,b,label", "1,2,caf\u00e9", "3,4,x", encoding="latin-1")
    assert _refused(path) == f"'{path}' line 2 is not UTF-8 text: save the file as UTF-8 CSV"


def test_a_missing_path_is_refused(tmp_path):
    assert _refused(tmp_path / "nothing.csv") == f"'{tmp_path / 'nothing.csv'}' does not exist"


def test_a_single_image_is_refused_as_training_data(tmp_path):
    path = _png(tmp_path / "cat.png", np.zeros((2, 2)))
    assert _refused(path) == (f"'{path}' is a single image: give a CSV file, or a folder with "
                              f"one subfolder of images per class")


# -- Folders of images --------------------------------------------------------------------------


def _png(path, pixels):
    """Save pixels (h, w) uint8 greyscale or (h, w, 3) RGB as an image file, folders made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path, format="PNG")
    return path


def _image_folder(root, classes, per_class, shape=(2, 3)):
    """root/<class>/<k>.png with pixel value 10 * class index + k everywhere; returns root."""
    for c, name in enumerate(classes):
        for k in range(per_class):
            _png(root / name / f"{k}.png", np.full(shape, 10 * c + k))
    return root


def test_image_folder_one_subfolder_per_class(tmp_path):
    root = _image_folder(tmp_path / "pics", ["10", "2", "3"], per_class=4)
    (root / "2" / ".DS_Store").write_bytes(b"not an image")  # hidden: skipped
    (root / ".hidden").mkdir()  # hidden folder: not a class
    (root / "README.txt").write_text("a file beside the class folders is not a class")
    d = data.from_path(root, seed=0)
    assert d.class_names == ["2", "3", "10"] and d.image_shape == (2, 3)
    assert d.name == "pics" and d.task == "classes"
    assert d.x_train.shape == (9, 6) and d.x_val.shape == (3, 6)
    assert np.array_equal(np.bincount(d.y_val), [1, 1, 1])
    np.testing.assert_array_equal(d.scaler[0], np.full((1, 6), 127.5))
    np.testing.assert_array_equal(d.scaler[1], np.full((1, 6), 127.5))
    # Every pixel of root/<name>/<k>.png is 10 * (position of name in the listing above) + k.
    raw = np.concatenate([d.x_train, d.x_val]) * 127.5 + 127.5
    labels = np.concatenate([d.y_train, d.y_val])
    folders = [["10", "2", "3"][int(value) // 10] for value in raw[:, 0]]
    assert folders == [d.class_names[label] for label in labels]


def test_images_are_greyscale_flattened_row_by_row_and_scaled_as_the_book(tmp_path):
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 2] = [255, 0, 0]  # red: L = 299/1000 * 255, 76
    rgb[1, 0] = [255, 255, 255]
    for name in ("a", "b"):
        _png(tmp_path / "train" / name / "0.png", rgb)
        _png(tmp_path / "test" / name / "0.png", rgb)
    d = data.from_path(tmp_path, seed=0)
    expected = (np.array([0, 0, 76, 255, 0, 0]) - 127.5) / 127.5
    np.testing.assert_allclose(d.x_train, [expected, expected])


def test_image_folder_with_train_and_test_uses_them_as_given(tmp_path):
    _image_folder(tmp_path / "train", ["0", "1"], per_class=3)
    _image_folder(tmp_path / "test", ["0", "1"], per_class=1)
    d = data.from_path(tmp_path, seed=0)
    assert d.class_names == ["0", "1"]
    assert np.array_equal(d.y_train, [0, 0, 0, 1, 1, 1]) and np.array_equal(d.y_val, [0, 1])
    # The test images are the k = 0 ones: pixel values 0 and 10.
    np.testing.assert_allclose(d.x_val[:, 0] * 127.5 + 127.5, [0, 10])
    assert np.array_equal(data.from_path(tmp_path, seed=5).x_train, d.x_train)


@pytest.mark.parametrize("layout, message", [
    ("sizes", "'{root}/b/1.png' is 2x3 pixels, the others are 3x2"),
    ("not_an_image", "'{root}/a/notes.txt' is not an image"),
    ("empty_class", "class folder '{root}/b' has no images"),
    ("no_classes", "'{root}' has no class folders: put each class's images in a subfolder "
                   "named after the class"),
    ("single_class", "'{root}' has a single class folder, 'a': a classifier needs two or more"),
    ("nested", "'{root}/a/more' is a folder: a class folder holds only images"),
    ("train_only", "'{root}' has train/ but no test/: give both, or one folder per class"),
    ("mismatch", "'{root}/train' and '{root}/test' have different class folders: 'b' only in "
                 "train/, 'c' only in test/"),
    ("corrupt", "'{root}/a/0.png' cannot be read as an image: image file is truncated"),
    ("single_images", "'{root}' is too small: each class has a single sample"),
])
def test_image_folder_refusals_name_the_file(tmp_path, layout, message):
    root = tmp_path / "pics"
    if layout == "sizes":
        _image_folder(root, ["a", "b"], per_class=2)
        _png(root / "b" / "1.png", np.zeros((3, 2)))
    elif layout == "not_an_image":
        _image_folder(root, ["a", "b"], per_class=2)
        (root / "a" / "notes.txt").write_text("hello")
    elif layout == "empty_class":
        _image_folder(root, ["a"], per_class=2)
        (root / "b").mkdir()
    elif layout == "no_classes":
        _png(root / "0.png", np.zeros((2, 2)))
    elif layout == "single_class":
        _image_folder(root, ["a"], per_class=2)
    elif layout == "nested":
        _image_folder(root, ["a", "b"], per_class=2)
        _png(root / "a" / "more" / "0.png", np.zeros((2, 3)))
    elif layout == "train_only":
        _image_folder(root / "train", ["a", "b"], per_class=2)
    elif layout == "mismatch":
        _image_folder(root / "train", ["a", "b"], per_class=2)
        _image_folder(root / "test", ["a", "c"], per_class=1)
    elif layout == "corrupt":  # a noisy PNG cut short in its pixel data
        _image_folder(root, ["a", "b"], per_class=2, shape=(16, 16))
        _png(root / "a" / "0.png", np.random.default_rng(0).integers(0, 256, (16, 16)))
        png = (root / "a" / "0.png").read_bytes()
        (root / "a" / "0.png").write_bytes(png[:len(png) // 2])
    elif layout == "single_images":
        _image_folder(root, ["a", "b"], per_class=1)
    assert _refused(root).startswith(message.format(root=root))


# -- prediction_inputs --------------------------------------------------------------------------


def test_prediction_inputs_from_a_csv_with_header_are_raw_and_named_by_line(tmp_path):
    path = _csv(tmp_path, "a,b,c", "1,2,3", "", "4,5.5,-6", name="rows.csv")
    names, x = data.prediction_inputs(path, 3)
    assert names == ["rows.csv:2", "rows.csv:4"]
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x, [[1, 2, 3], [4, 5.5, -6]])


def test_prediction_inputs_from_a_csv_without_header(tmp_path):
    path = _csv(tmp_path, "1,2", "3,4", name="rows.csv")
    names, x = data.prediction_inputs(path, 2)
    assert names == ["rows.csv:1", "rows.csv:2"]
    np.testing.assert_array_equal(x, [[1, 2], [3, 4]])


def test_prediction_inputs_from_one_image(tmp_path):
    path = _png(tmp_path / "cat.png", [[0, 10, 20], [30, 40, 255]])
    names, x = data.prediction_inputs(path, 6, image_shape=(2, 3))
    assert names == ["cat.png"]
    np.testing.assert_array_equal(x, [[0, 10, 20, 30, 40, 255]])
    assert x.dtype == np.float64


def test_prediction_inputs_from_a_folder_of_images_sorted_by_name(tmp_path):
    for name, value in (("b.png", 2), ("a.png", 1), ("c.gif", 3)):
        _png(tmp_path / name, np.full((2, 2), value))
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "sub").mkdir()
    names, x = data.prediction_inputs(tmp_path, 4, image_shape=(2, 2))
    assert names == ["a.png", "b.png", "c.gif"]
    np.testing.assert_array_equal(x[:, 0], [1, 2, 3])


def test_prediction_images_get_the_training_scaling(tmp_path):
    _image_folder(tmp_path / "train", ["a", "b"], per_class=2)
    _image_folder(tmp_path / "test", ["a", "b"], per_class=1)
    d = data.from_path(tmp_path)
    names, raw = data.prediction_inputs(tmp_path / "train" / "b", 6, d.image_shape)
    assert names == ["0.png", "1.png"]
    np.testing.assert_array_equal(data.standardise(raw, d.scaler), d.x_train[2:])


def test_prediction_rows_get_the_training_scaling(tmp_path):
    rows = [f"{k},{k * k % 7},{'ab'[k % 2]}" for k in range(12)]
    d = data.from_path(_csv(tmp_path, *rows), seed=0)
    features = _csv(tmp_path, *(row[:-2] for row in rows), name="features.csv")
    names, raw = data.prediction_inputs(features, 2)
    assert len(names) == 12
    train, _ = data.split(np.arange(12) % 2, 0.25, seed=0)
    np.testing.assert_allclose(data.standardise(raw, d.scaler)[train], d.x_train)


@pytest.mark.parametrize("case, message", [
    ("count", "'{tmp}/x.csv' line 3: 5 values, the model takes rows of 3 features"),
    ("label", "'{tmp}/x.csv' line 1: 4 values, the model takes rows of 3 features "
              "(one too many: leave out the label column, or any column the model was not "
              "trained on)"),
    ("word", "'{tmp}/x.csv' line 2, column 3: 'abc' is not a number"),
    ("empty", "'{tmp}/x.csv' has no rows of features"),
    ("image_for_rows", "'{tmp}/cat.png' is an image, the model takes rows of 3 features"),
    ("size", "'{tmp}/cat.png' is 32x16 pixels, the model takes 28x28 images"),
    ("folder_size", "'{tmp}/b.png' is 3x2 pixels, the model takes 2x2 images"),
    ("folder_junk", "'{tmp}/notes.txt' is not an image"),
    ("no_images", "'{tmp}' holds no image files (subfolders are not searched)"),
    ("missing", "'{tmp}/gone.png' does not exist"),
])
def test_prediction_inputs_refusals_name_the_file_and_the_expected_shape(tmp_path, case,
                                                                          message):
    n_features, image_shape, path = 3, None, tmp_path / "x.csv"
    if case == "count":
        _csv(tmp_path, "1,2,3", "", "1,2,3,4,5", name="x.csv")
    elif case == "label":
        _csv(tmp_path, "1,2,3,0", name="x.csv")
    elif case == "word":
        _csv(tmp_path, "1,2,3", "1,2,abc", name="x.csv")
    elif case == "empty":
        _csv(tmp_path, "a,b,c", name="x.csv")
    elif case == "image_for_rows":
        path = _png(tmp_path / "cat.png", np.zeros((2, 2)))
    elif case == "size":
        path = _png(tmp_path / "cat.png", np.zeros((16, 32)))
        n_features, image_shape = 784, (28, 28)
    elif case in ("folder_size", "folder_junk"):
        path, n_features, image_shape = tmp_path, 4, (2, 2)
        _png(tmp_path / "a.png", np.zeros((2, 2)))
        if case == "folder_size":
            _png(tmp_path / "b.png", np.zeros((2, 3)))
        else:
            (tmp_path / "notes.txt").write_text("1,2,3,4")
    elif case == "no_images":
        path = tmp_path
        (tmp_path / "sub").mkdir()
    elif case == "missing":
        path = tmp_path / "gone.png"
    refused = _refused(path, n_features, image_shape, function=data.prediction_inputs)
    assert refused == message.format(tmp=tmp_path)


def test_a_pipe_or_a_device_is_refused_not_read(tmp_path):
    import os

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for call in (lambda path: data.from_path(path), lambda path: data.prediction_inputs(path, 4)):
        for path in (fifo, "/dev/zero"):
            with pytest.raises(data.DataError) as error:  # reading it would wait forever
                within(5, lambda call=call, path=path: call(path))
            assert str(error.value) == (f"'{path}' is not a regular file (a pipe or a device?): "
                                        "save it to a file first")


def test_an_image_too_large_to_read_is_refused(tmp_path):
    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("L", (10_000, 10_000)).save(big)  # 100 million pixels, over Pillow's limit
    assert _refused(big, 64, (8, 8), function=data.prediction_inputs) == (
        f"'{big}' is too large to read as an image (over {Image.MAX_IMAGE_PIXELS:,} pixels)")


def test_features_too_large_to_standardise_are_refused_naming_the_file(tmp_path):
    rows = [f"{1e200 * (i % 3)},{i},{'ab'[i % 2]}" for i in range(20)]
    path = tmp_path / "huge.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(data.DataError, match=r"huge\.csv.*feature 1 has values too large"):
        data.from_path(path)


# -- Defaults, names and the exact draw ---------------------------------------------------------


def test_vertical_defaults_are_seed_0_100_samples_3_classes_and_the_name_says_so():
    d = data.vertical()
    assert d.x_train.shape == (300, 2) and d.class_names == ["0", "1", "2"]
    assert d.name == "vertical(100, 3)"
    np.testing.assert_array_equal(d.x_train, data.vertical(seed=0).x_train)
    assert data.vertical(seed=0, samples=10, classes=2).name == "vertical(10, 2)"


def test_sine_defaults_to_1000_samples_and_the_name_says_how_many():
    d = data.sine()
    assert d.x_train.shape == d.x_val.shape == (1000, 1) and d.name == "sine(1000)"
    assert data.sine(samples=8).name == "sine(8)"


def test_split_draws_each_class_in_index_order_from_one_generator():
    # Enough samples that an unstable sort would put a class's indices out of order.
    labels = np.random.default_rng(0).integers(0, 3, 1000)
    rng = np.random.default_rng(7)
    expected = []
    for label in (0, 1, 2):
        members = np.flatnonzero(labels == label)
        expected.append(rng.permutation(members)[:round(0.25 * len(members))])
    train, val = data.split(labels, 0.25, seed=7)
    np.testing.assert_array_equal(val, np.sort(np.concatenate(expected)))
    np.testing.assert_array_equal(train, np.setdiff1d(np.arange(1000), val))


def test_fit_scaler_of_float32_or_integer_features_is_float64():
    for x in (np.array([[1, 5], [2, 5], [4, 5]], dtype=np.float32),
              np.array([[1, 5], [2, 5], [4, 5]], dtype=np.int32)):
        mean, scale = data.fit_scaler(x)
        assert mean.dtype == scale.dtype == np.float64
        np.testing.assert_array_equal(mean, [[7 / 3, 5.0]])
        np.testing.assert_array_equal(scale, [[np.std([1.0, 2.0, 4.0]), 1.0]])


def test_fit_scaler_of_a_single_row_makes_every_feature_zero():
    mean, scale = data.fit_scaler([[3.0, -1.5]])
    np.testing.assert_array_equal(mean, [[3.0, -1.5]])
    np.testing.assert_array_equal(scale, [[1.0, 1.0]])


@pytest.mark.parametrize("x", [np.zeros(3), np.zeros((0, 2)), np.zeros((2, 2, 2))],
                         ids=["1-d", "no rows", "3-d"])
def test_fit_scaler_refuses_anything_but_a_table_with_rows(x):
    with pytest.raises(ValueError) as error:
        data.fit_scaler(x)
    assert type(error.value) is ValueError
    assert str(error.value) == (f"fit_scaler needs an (N, features) array with N >= 1, "
                                f"got {x.shape}")


def test_fit_scaler_refuses_overflowing_or_infinite_features_without_numpy_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(data.DataError) as error:
            data.fit_scaler([[1.0, 0.0], [2.0, 1e200], [3.0, 2e200]])
        assert str(error.value) == ("feature 2 has values too large to standardise "
                                    "(their squares overflow)")
        with pytest.raises(data.DataError, match="^feature 1 has values too large"):
            data.fit_scaler([[np.inf, 0.0], [2.0, 1.0]])


def test_standardise_gives_float64_whatever_dtypes_it_is_given():
    x = np.array([[1, 2]], dtype=np.float32)
    scaler = (np.full((1, 2), 0.5, dtype=np.float32), np.full((1, 2), 2, dtype=np.float32))
    z = data.standardise(x, scaler)
    assert z.dtype == np.float64
    np.testing.assert_array_equal(z, [[0.25, 0.75]])


def test_digits_default_seed_is_0(digits):
    np.testing.assert_array_equal(data.digits().y_val, digits.y_val)


def test_digits_too_small_to_split_is_refused_naming_the_digits(monkeypatch):
    datasets = pytest.importorskip("sklearn.datasets")
    monkeypatch.setattr(datasets, "load_digits",
                        lambda return_X_y: (np.zeros((2, 64)), np.array([0, 1])))
    assert _refused(None, function=lambda _: data.digits()) == (
        "digits is too small: each class has a single sample, so none can be held out for "
        "validation")


def test_from_path_and_user_data_split_with_seed_0_unless_told(tmp_path):
    path = _csv(tmp_path, *_rows(40, lambda k: "ab"[k % 2]))
    seed_0, seed_3 = data.from_path(path, seed=0), data.from_path(path, seed=3)
    assert not np.array_equal(seed_0.x_val, seed_3.x_val)
    np.testing.assert_array_equal(data.from_path(path).x_val, seed_0.x_val)
    np.testing.assert_array_equal(data.user_data(data=path).x_val, seed_0.x_val)
    np.testing.assert_array_equal(data.user_data(seed=3, data=path).x_val, seed_3.x_val)


# -- Messages and CSV details -----------------------------------------------------------------


def test_messages_quote_printable_names_as_they_are_and_escape_the_others(tmp_path):
    path = _csv(tmp_path, "1,2,x", "3,4,x", name="it's.csv")
    assert _refused(path) == f"'{path}' has a single class, 'x': a classifier needs two or more"
    path = _csv(tmp_path, "1,2,a\tb", "3,4,a\tb")
    assert _refused(path) == (f"'{path}' has a single class, 'a\\tb': a classifier needs two "
                              f"or more")


def test_a_csv_file_that_cannot_be_read_is_refused_with_the_reason(tmp_path, monkeypatch):
    import errno

    path = _csv(tmp_path, *_rows(4, lambda k: "ab"[k % 2]))

    class Failing(io.BytesIO):  # a disk error in the middle of reading the file
        def read(self, *args):
            raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(data, "_open_image", lambda path: None)
    monkeypatch.setattr(data, "open", lambda *args: Failing(), raising=False)
    assert _refused(path) == f"'{path}' cannot be read: Input/output error"


def test_a_field_beyond_the_csv_modules_limit_is_refused_with_its_line(tmp_path):
    path = _csv(tmp_path, "1,2,x", "3,4," + "y" * 200_000)
    assert _refused(path).startswith(f"'{path}' line 2: field larger than field limit")


def test_a_quoted_label_keeps_its_line_break_as_written(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b'1,2,"two\r\nlines"\r\n3,4,one\r\n5,6,"two\r\nlines"\r\n7,8,one\r\n')
    assert data.from_path(path).class_names == ["one", "two\r\nlines"]


def test_csv_lines_may_end_in_a_lone_carriage_return(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"a,b,label\r1,2,x\r3,4,y\r5,6,x\r7,8,y\r")
    d = data.from_path(path)
    assert d.class_names == ["x", "y"] and len(d.x_train) + len(d.x_val) == 4
    path.write_bytes(b"a,b,label\r1,2,x\r3,abc,y\r")
    assert _refused(path) == f"'{path}' line 3, column 2: 'abc' is not a number"

def test_a_first_row_of_a_number_beside_a_word_is_refused_until_header_says_which(tmp_path):
    path = _csv(tmp_path, "2024,height,label", *_rows(8, lambda k: "ab"[k % 2]))
    assert _refused(path) == (f"'{path}' line 1: is it a header? column 2 holds 'height', "
                              "column 1 a number: give --header yes or --header no (or correct "
                              "the cell)")
    d = data.from_path(path, header="yes")
    assert len(d.x_train) + len(d.x_val) == 8 and d.feature_names == ["2024", "height"]


# -- Images: every pixel, the split, the names --------------------------------------------------


def test_every_image_of_a_folder_is_read_into_its_own_row(tmp_path):
    _image_folder(tmp_path / "train", ["0", "1"], per_class=3)
    _image_folder(tmp_path / "test", ["0", "1"], per_class=2)
    d = data.from_path(tmp_path)
    np.testing.assert_array_equal(d.x_train * 127.5 + 127.5,
                                  np.repeat([[0], [1], [2], [10], [11], [12]], 6, axis=1))
    np.testing.assert_array_equal(d.x_val[:, 0] * 127.5 + 127.5, [0, 1, 10, 11])


def test_a_train_and_test_folder_is_a_classification_named_after_the_folder(tmp_path):
    root = tmp_path / "pics"
    _image_folder(root / "train", ["a", "b"], per_class=2)
    _image_folder(root / "test", ["a", "b"], per_class=1)
    d = data.from_path(root)
    assert d.task == "classes" and d.name == "pics" and d.image_shape == (2, 3)


def test_the_current_folder_is_named_after_itself(tmp_path, monkeypatch):
    root = _image_folder(tmp_path / "pics", ["a", "b"], per_class=2)
    monkeypatch.chdir(root)
    assert data.from_path(".").name == "pics"


def test_an_image_folder_is_split_by_the_seed(tmp_path):
    root = _image_folder(tmp_path / "pics", ["a", "b"], per_class=8)
    values = np.concatenate([np.arange(8), 10 + np.arange(8)])  # pixel value of each file
    _, val = data.split(np.repeat([0, 1], 8), 0.25, seed=3)
    d = data.from_path(root, seed=3)
    np.testing.assert_array_equal(d.x_val[:, 0] * 127.5 + 127.5, values[val])


def test_test_without_train_is_refused(tmp_path):
    _image_folder(tmp_path / "test", ["a", "b"], per_class=2)
    assert _refused(tmp_path) == (f"'{tmp_path}' has test/ but no train/: give both, or one "
                                  f"folder per class")


def test_a_palette_image_with_transparency_is_read_as_its_grey_levels(tmp_path):
    image = Image.fromarray(np.array([[0, 1], [2, 3]], dtype=np.uint8), mode="P")
    image.putpalette([0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0, 255])
    path = tmp_path / "icon.png"
    image.save(path, transparency=bytes([0, 128, 255, 255]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pillow's note on the transparency
        _, x = data.prediction_inputs(path, 4, (2, 2))
    np.testing.assert_array_equal(x, [[0, 255, 76, 29]])


def test_an_image_that_cannot_be_read_is_refused_with_the_reason(tmp_path, monkeypatch):
    import errno

    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("notes", "x" * (2 << 20), zip=True)  # 2 MiB of text: Pillow refuses it
    path = tmp_path / "notes.png"
    Image.fromarray(np.zeros((2, 2), dtype=np.uint8)).save(path, pnginfo=info)
    assert _refused(path, 4, (2, 2), function=data.prediction_inputs) == (
        f"'{path}' cannot be read as an image: Decompressed data too large for "
        f"PngImagePlugin.MAX_TEXT_CHUNK")

    def fail(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Image, "open", fail)
    assert _refused(path, 4, (2, 2), function=data.prediction_inputs) == (
        f"'{path}' cannot be read as an image: Permission denied")


def test_a_file_nobody_may_read_is_refused_as_unreadable_not_as_a_broken_image(tmp_path,
                                                                               monkeypatch):
    import errno

    path = _csv(tmp_path, *_rows(4, lambda k: "ab"[k % 2]))

    def denied(*args, **kwargs):  # what open() says to a user without read permission
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(data, "open", denied, raising=False)
    assert _refused(path) == f"'{path}' cannot be read: Permission denied"
    assert _refused(path, 2, function=data.prediction_inputs) == (
        f"'{path}' cannot be read: Permission denied")


@pytest.mark.parametrize("call", [lambda path: data.from_path(path),
                                  lambda path: data.prediction_inputs(path, 4)],
                         ids=["data", "predict"])
def test_a_path_in_a_folder_that_may_not_be_entered_is_one_line(tmp_path, monkeypatch, call):
    import errno
    from pathlib import Path

    path = tmp_path / "locked" / "rows.csv"

    def denied(self, *args, **kwargs):  # what stat() says inside a folder without x permission
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "stat", denied)
    with pytest.raises(data.DataError) as error:
        call(path)
    assert str(error.value) == f"'{path}' cannot be read: Permission denied"


@pytest.mark.parametrize("call", [lambda path: data.from_path(path),
                                  lambda path: data.prediction_inputs(path, 4)],
                         ids=["data", "predict"])
def test_a_folder_that_may_not_be_listed_is_one_line(tmp_path, monkeypatch, call):
    import errno

    def denied(folder):
        raise PermissionError(errno.EACCES, "Permission denied", str(folder))

    monkeypatch.setattr(data.os, "scandir", denied)
    with pytest.raises(data.DataError) as error:
        call(tmp_path)
    assert str(error.value) == f"'{tmp_path}' cannot be read: Permission denied"


def test_an_error_that_names_no_file_is_reported_under_the_path_given(tmp_path, monkeypatch):
    import errno

    def denied(folder):  # an OSError without a file name of its own
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(data.os, "scandir", denied)
    for call in (data.from_path, lambda path: data.prediction_inputs(path, 4)):
        with pytest.raises(data.DataError) as error:
            call(tmp_path)
        assert str(error.value) == f"'{tmp_path}' cannot be read: Permission denied"


def test_spiral_is_named_after_its_size():
    assert data.spiral(samples=5, classes=2).name == "spiral(5, 2)"


# -- Images of every depth keep their values (issue 18, group 3) --------------------------------


def _wide_image(path, values, mode=None):
    """Save values as a single-channel image whose Pillow mode follows their dtype."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(values) if mode is None else Image.fromarray(values, mode=mode)
    image.save(path)
    return path


@pytest.mark.parametrize("name, values, expected", [
    ("deep.png", np.array([[0, 257], [32768, 65535]], dtype=np.uint16), [0, 1, 127.50195, 255]),
    ("deep.tif", np.array([[0, 257], [32768, 65535]], dtype=np.uint16), [0, 1, 127.50195, 255]),
    ("wide.tif", np.array([[0, 257], [32768, 65535]], dtype=np.int32), [0, 1, 127.50195, 255]),
    ("float.tif", np.array([[0, 0.25], [0.5, 1]], dtype=np.float32), [0, 63.75, 127.5, 255]),
])
def test_16_bit_and_float_images_keep_their_values_scaled_by_their_own_range(
        tmp_path, name, values, expected):
    path = _wide_image(tmp_path / name, values)
    _, x = data.prediction_inputs(path, 4, (2, 2))
    np.testing.assert_allclose(x, [expected], rtol=1e-6)
    assert len(np.unique(x)) == 4  # four grey levels stay four: nothing saturates


def test_a_folder_of_16_bit_images_trains_on_their_values_not_on_one_grey(tmp_path):
    for c, name in enumerate(("dark", "light")):
        for k in range(4):
            level = 1000 * (k + 1) + 30000 * c  # all above 255: saturated before, one grey
            _wide_image(tmp_path / name / f"{k}.png", np.full((2, 2), level, dtype=np.uint16))
    d = data.from_path(tmp_path, seed=0)
    raw = np.concatenate([d.x_train, d.x_val]) * 127.5 + 127.5
    assert len(np.unique(raw[:, 0])) == 8
    np.testing.assert_allclose(np.sort(raw[:, 0])[[0, -1]], [1000 * 255 / 65535,
                                                               34000 * 255 / 65535], rtol=1e-6)


@pytest.mark.parametrize("values, found", [
    (np.array([[0, 2], [0.5, 1000]], dtype=np.float32), "from 0 to 1000"),
    (np.array([[0, np.nan], [0.5, 1]], dtype=np.float32), "from 0 to 1 and some not finite"),
    (np.array([[-1, 0], [0.5, 1]], dtype=np.float32), "from -1 to 1"),
])
def test_a_float_image_outside_0_1_is_refused_naming_its_mode_and_range(tmp_path, values, found):
    path = _wide_image(tmp_path / "f.tif", values)
    assert _refused(path, 4, (2, 2), function=data.prediction_inputs) == (
        f"'{path}' is a floating-point image (mode F) with values {found}, outside 0 to 1: "
        "save it with values in that range, or as an 8-bit image")


def test_a_32_bit_image_beyond_16_bits_is_refused_naming_its_mode(tmp_path):
    path = _wide_image(tmp_path / "i.tif", np.array([[0, 70000], [1, 2]], dtype=np.int32))
    assert _refused(path, 4, (2, 2), function=data.prediction_inputs) == (
        f"'{path}' is a 16-bit image (mode I) with values from 0 to 70000, outside 0 to 65535: "
        "save it with values in that range, or as an 8-bit image")


# -- CSV: the header rule, the label column, labels by value, the fast parser (issue 18) --------


def test_header_detection_a_first_row_with_na_or_a_typo_is_refused_not_dropped(tmp_path):
    rows = _rows(8, lambda k: "ab"[k % 2])
    for first, cell, column in (("NA,3,a", "NA", 1), ("1,2x,b", "2x", 2)):
        path = _csv(tmp_path, first, *rows)
        assert _refused(path) == (
            f"'{path}' line 1: is it a header? column {column} holds '{cell}', column "
            f"{3 - column} a number: give --header yes or --header no (or correct the cell)")
        assert _refused(path, 0, 0.25, function=lambda p, *a: data.from_path(p, header="no")) \
            == f"'{path}' line 1, column {column}: '{cell}' is not a number"


def test_header_detection_a_numbered_header_as_pandas_writes_it_is_a_header(tmp_path):
    path = _csv(tmp_path, "0,1,label", *_rows(8, lambda k: k % 2))
    d = data.from_path(path)
    assert len(d.x_train) + len(d.x_val) == 8 and d.class_names == ["0", "1"]
    assert d.feature_names == ["0", "1"]


def test_header_yes_takes_the_first_row_as_names_and_no_as_data(tmp_path):
    path = _csv(tmp_path, *_rows(9, lambda k: "ab"[k % 2]))
    assert len(data.from_path(path, header="yes").y_train) + 1 == \
        len(data.from_path(path, header="no").y_train)
    with pytest.raises(ValueError, match="header must be one of auto, yes, no"):
        data.from_path(path, header="maybe")


def test_prediction_rows_a_one_row_file_with_its_label_gets_the_hint(tmp_path):
    path = _csv(tmp_path, "5.1,3.5,1.4,0.2,setosa", name="one.csv")
    assert _refused(path, 4, function=data.prediction_inputs) == (
        f"'{path}' line 1: 5 values, the model takes rows of 4 features (one too many: leave "
        "out the label column, or any column the model was not trained on)")


def test_label_column_a_header_named_label_first_is_the_label(tmp_path):
    rows = [f"{'ab'[k % 2]},{k},{k * k}" for k in range(10)]
    d = data.from_path(_csv(tmp_path, "label,p0,p1", *rows))
    assert d.class_names == ["a", "b"] and d.feature_names == ["p0", "p1"]
    raw = d.x_train * d.scaler[1] + d.scaler[0]
    assert [d.class_names[y] for y in d.y_train] == ["ab"[int(round(k)) % 2] for k in raw[:, 0]]


@pytest.mark.parametrize("choice", ["first", "1"])
def test_label_column_flag_chooses_the_column(tmp_path, choice):
    rows = [f"{k % 2},{k},{k * 7 % 5}.5" for k in range(12)]
    d = data.from_path(_csv(tmp_path, *rows), label_column=choice)
    assert d.class_names == ["0", "1"] and d.n_features == 2


def test_label_column_a_last_column_of_measurements_is_refused(tmp_path):
    rows = [f"{k % 2},{k},{k * 1.5}" for k in range(12)]  # label first, read as last
    rows[0], rows[1] = "0,0,0", "1,1,0"  # one class of two: not every class is single
    path = _csv(tmp_path, *rows)
    assert _refused(path) == (
        f"'{path}': 10 of the 11 classes in column 3 (the label column) have a single sample: "
        "is the label in another column? give --label-column first, a number or a name")


def test_label_column_refusals_name_the_flag(tmp_path):
    path = _csv(tmp_path, "a,b,kind", *_rows(6, lambda k: "xy"[k % 2]))
    assert _refused(path, function=lambda p: data.from_path(p, label_column="7")) == (
        f"argument --label-column: '{path}' has columns 1 to 3, not 7")
    assert _refused(path, function=lambda p: data.from_path(p, label_column="colour")) == (
        f"argument --label-column: the header of '{path}' has no column 'colour'; give first, "
        "last, a column number or a name in the header")


def test_labels_1_and_1_point_0_and_01_are_one_class(tmp_path):
    labels = ["1", "1.0", "01", "2", " 2.00 ", "+2"]
    d = data.from_path(_csv(tmp_path, *[f"{k},{k % 3},{labels[k % 6]}" for k in range(12)]))
    assert d.class_names == ["1", "2"]
    assert [data.label_name(text) for text in ("0.50", "1e3", "-0", "cat ")] == \
        ["0.5", "1000", "0", "cat"]


def test_an_unterminated_quote_is_reported_where_it_opens(tmp_path):
    path = _csv(tmp_path, "1,2,x", '3,4,"y', "5,6,x", "7,8,y")
    assert _refused(path) == f"'{path}' line 2: a quote opens here and is never closed"


SHORT_CELLS = ["0", "-0", "+7", "1.", ".5", "-.5", "255", "000123", "9" * 15, "0.000000000000001",
               "-999999999999999", "3.14159", "+0.0", "100000000000000"]


def _fuzz_cells(rng, short):
    """Cells of every shape the fast parser takes: only short decimals, or any plain number."""
    values = rng.standard_normal(600) * 10.0 ** rng.integers(-10, 11, 600)
    if short:
        return [f"{v:.{rng.integers(0, 7)}f}" for v in rng.standard_normal(600) * 1000] \
            + SHORT_CELLS
    return [f"{v:.{rng.integers(1, 9)}g}" for v in values] \
        + [repr(float(v)) for v in values[:100]] + SHORT_CELLS \
        + ["12e3", "-1.5E-7", "1" * 16, "1e+308", "2.2250738585072014e-308",
           "0.1000000000000000055511151231257827", "4.9e-324", "1E5"]


@pytest.mark.parametrize("short", [True, False], ids=["short decimals", "any number"])
@pytest.mark.parametrize("layout", ["label last", "label first", "label inside", "no label"])
def test_the_fast_parser_gives_float_of_each_cell_to_the_last_bit(layout, short):
    rng = np.random.default_rng(0)
    cells = _fuzz_cells(rng, short)
    cells = cells[:len(cells) // 5 * 5]
    rows = [cells[k:k + 5] for k in range(0, len(cells), 5)]
    label = {"label last": 5, "label first": 0, "label inside": 2, "no label": None}[layout]
    # Labels with the bytes of numbers in them: they must not disturb the features.
    names = ["c0", "1.5e3", "-a", "x.y.z", "+", "7", "e"]
    if label is not None:
        rows = [row[:label] + [names[k % len(names)]] + row[label:]
                for k, row in enumerate(rows)]
    piece = "".join(",".join(row) + "\n" for row in rows).encode()
    shape = _data_layout(len(rows[0]), label)
    fast = data._fast_block(shape, piece, 1)
    assert fast is not None
    expected = np.array([[float(cell) for c, cell in enumerate(row) if c != label]
                         for row in rows])
    np.testing.assert_array_equal(fast.x, expected)
    assert np.array_equal(np.signbit(fast.x), np.signbit(expected))
    plain = data._plain_block(shape, data._rows(shape.path, piece, 1))
    np.testing.assert_array_equal(fast.x, plain.x)
    assert [raw.decode() for raw in fast.labels or []] == (plain.labels or [])
    np.testing.assert_array_equal(fast.lines, plain.lines)


def test_windows_line_ends_take_the_fast_way_with_the_same_numbers_and_lines():
    layout = _data_layout(3, 2)
    unix = data._fast_block(layout, b"1.25,-3,a\n0.5,7,b\n", 4)
    windows = data._fast_block(layout, b"1.25,-3,a\r\n0.5,7,b\r\n", 4)
    np.testing.assert_array_equal(windows.x, unix.x)
    assert windows.labels == unix.labels == [b"a", b"b"]
    np.testing.assert_array_equal(windows.lines, [4, 5])
    assert data._fast_block(layout, b"1.25,-3,a\r0.5,7,b\r\n", 4) is None  # a lone \r


def test_short_decimals_take_the_clinger_path_and_others_the_text_parser(monkeypatch):
    calls = []
    for name in ("_short_decimals", "_decimal_text"):
        real = getattr(data, name)
        monkeypatch.setattr(data, name, lambda *args, real=real, name=name: (
            calls.append(name), real(*args))[1])
    layout = _data_layout(3, 2)
    data._fast_block(layout, b"1.25,-3,a\n0.5,7,b\n", 1)
    data._fast_block(layout, b"1.25,-3,a\n0.5,7e1,b\n", 1)
    data._fast_block(layout, b"1.25,-3,a\n0.5,1234567890123456,b\n", 1)
    assert calls == ["_short_decimals", "_decimal_text", "_decimal_text"]


def _data_layout(columns, label):
    from pathlib import Path

    return data._Layout(Path("t.csv"), None, 1, columns, label)


@pytest.mark.parametrize("cell", ["nan", "inf", "1e", "e5", "1-2", "--1", "+-1", "1.2.3",
                                  "1e5.0", " 1", "1 ", "1e400", "", "-", ".", "0x10", "1_000",
                                  "1e+", "5-", "1ee2", "1,5"])
@pytest.mark.parametrize("digits", ["short", "long"])
def test_the_fast_parser_leaves_every_other_cell_to_the_plain_parser(cell, digits):
    # A long number beside it sends the piece to the text parser; otherwise Clinger's path.
    other = "1" * 17 if digits == "long" else "3"
    piece = f"1,2,a\n{cell},{other},b\n".encode()
    assert data._fast_block(_data_layout(3, 2), piece, 1) is None


def test_a_csv_larger_than_a_piece_is_read_whole_with_its_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "PIECE_BYTES", 64)
    rows = [f"{k},{k * 0.5},{'ab'[k % 2]}" for k in range(40)]
    rows[20] = '20,10.0,"a"'  # a quoted piece goes the plain way
    d = data.from_path(_csv(tmp_path, "x,y,label", *rows))
    raw = np.concatenate([d.x_train, d.x_val]) * d.scaler[1] + d.scaler[0]
    np.testing.assert_allclose(np.sort(raw[:, 0]), np.arange(40))
    path = _csv(tmp_path, *[row[:-2] for row in rows[:20]], *[row[:-2] for row in rows[21:31]],
                "1,abc", name="p.csv")
    assert _refused(path, 2, function=data.prediction_inputs) == (
        f"'{path}' line 31, column 2: 'abc' is not a number")


def test_raw_values_are_kept_in_the_narrowest_exact_type():
    assert data._narrowest(np.array([[0.0, 255.0]])) is np.uint8
    assert data._narrowest(np.array([[0.5, 256.0]])) is np.float32
    assert data._narrowest(np.array([[0.1]])) is np.float64
    values = data._Values(4, 1)
    values.add(np.array([[3.0]]))
    values.add(np.array([[0.1]]))
    assert values.values.dtype == np.float64 and values.values.tolist() == [[3.0], [0.1]]


def test_the_scaler_in_steps_equals_fit_scaler(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3000, 5)) * 100 + 7
    x[:, 2] = 4.0
    rows = np.sort(rng.choice(3000, 2000, replace=False))
    monkeypatch.setattr(data, "ROWS_AT_ONCE", 64)
    mean, scale = data._scaler_of(x, rows)
    expected = data.fit_scaler(x[rows])
    np.testing.assert_allclose(mean, expected[0], rtol=1e-12)
    np.testing.assert_allclose(scale, expected[1], rtol=1e-12)
    assert mean[0, 2] == 4.0 and scale[0, 2] == 1.0


def test_prediction_rows_are_taken_by_the_models_feature_names(tmp_path):
    path = _csv(tmp_path, "b,a", "2,1", "4,3", name="p.csv")
    names, x = data.prediction_inputs(path, 2, feature_names=["a", "b"])
    np.testing.assert_array_equal(x, [[1, 2], [3, 4]])
    assert list(names) == ["p.csv:2", "p.csv:3"]
    other = _csv(tmp_path, "a,c", "1,2", name="q.csv")
    assert _refused(other, 2, function=lambda p, n: data.prediction_inputs(
        p, n, feature_names=["a", "b"])) == (
        f"'{other}' line 1: the header does not name the model's features (no column 'b'; "
        "columns the model does not know: 'c'); the model takes 'a', 'b'")


def test_prediction_rows_standardised_into_the_dtype(tmp_path):
    path = _csv(tmp_path, "1,2", "3,4", name="p.csv")
    scaler = (np.array([[1.0, 2.0]]), np.array([[2.0, 2.0]]))
    _, x = data.prediction_inputs(path, 2, scaler=scaler, dtype=np.float32)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, [[0, 0], [1, 1]])
