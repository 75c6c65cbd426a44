import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import losses
from activations import Softmax
from layers import Dense
from losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCategoricalCrossentropy,
    regularization_loss,
)
from program.gradcheck import numerical_gradient

from checks import assert_gradient_matches

SHAPES = dict(n=st.integers(1, 32), classes=st.integers(2, 16), seed=st.integers(0, 2**32 - 1))


def probabilities_and_labels(rng, n, classes):
    """Probabilities within (0.01, 0.99), far from the clip edges, and integer labels."""
    p = rng.uniform(0.05, 1.0, (n, classes))
    p /= p.sum(axis=1, keepdims=True) * 1.01
    return p, rng.integers(0, classes, n)


def one_hot(labels, classes):
    return np.eye(classes)[labels]


@given(**SHAPES, sparse=st.booleans())
def test_crossentropy_gradient_sparse_and_one_hot(n, classes, seed, sparse):
    rng = np.random.default_rng(seed)
    p, labels = probabilities_and_labels(rng, n, classes)
    y = labels if sparse else one_hot(labels, classes)
    loss = CategoricalCrossentropy()
    numeric = numerical_gradient(lambda: loss.calculate(p, y), p)
    assert_gradient_matches(loss.backward(p, y), numeric)


@given(**SHAPES, sparse=st.booleans())
def test_fused_softmax_crossentropy_gradient(n, classes, seed, sparse):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, classes))
    labels = rng.integers(0, classes, n)
    y = labels if sparse else one_hot(labels, classes)
    fused = SoftmaxCategoricalCrossentropy()
    numeric = numerical_gradient(lambda: fused.forward(x, y), x)
    fused.forward(x, y)
    assert_gradient_matches(fused.backward(fused.output, y), numeric)


def test_fused_equals_softmax_then_crossentropy():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    fused = SoftmaxCategoricalCrossentropy()
    softmax, loss = Softmax(), CategoricalCrossentropy()
    assert fused.forward(x, y) == loss.calculate(softmax.forward(x), y)
    np.testing.assert_array_equal(fused.output, softmax.output)
    chained = softmax.backward(loss.backward(softmax.output, y))
    np.testing.assert_allclose(fused.backward(fused.output, y), chained, rtol=1e-10, atol=1e-15)


def test_crossentropy_known_values():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]])
    loss = CategoricalCrossentropy()
    expected = [-np.log(0.7), -np.log(0.4)]
    np.testing.assert_allclose(loss.forward(p, np.array([0, 2])), expected)
    np.testing.assert_allclose(loss.forward(p, one_hot([0, 2], 3)), expected)
    assert loss.calculate(p, np.array([0, 2])) == pytest.approx(np.mean(expected))
    np.testing.assert_allclose(loss.backward(p, np.array([0, 2])),
                               [[-1 / (2 * 0.7), 0, 0], [0, 0, -1 / (2 * 0.4)]])


def test_crossentropy_of_zero_probability_is_finite():
    p = np.array([[0.0, 1.0], [1.0, 0.0]])
    loss = CategoricalCrossentropy()
    losses = loss.forward(p, np.array([0, 0]))
    np.testing.assert_allclose(losses, [-np.log(1e-7), -np.log(1 - 1e-7)])
    assert np.isfinite(loss.backward(p, np.array([0, 0]))).all()


def test_fused_loss_is_finite_for_huge_logits():
    fused = SoftmaxCategoricalCrossentropy()
    loss = fused.forward(np.array([[1000.0, -1000.0], [-1000.0, 1000.0]]), np.array([1, 1]))
    assert np.isfinite(loss)
    assert loss == pytest.approx(-np.log(1e-7) / 2)


@pytest.mark.parametrize("y, message", [
    (np.array([0, 3]), "label 3"),
    (np.array([-1, 0]), "label -1"),
    (np.array([0, 1, 2]), "3 labels for 2 samples"),
    (np.array([0.0, 1.0]), "float64"),
    (np.zeros((2, 2, 3), dtype=int), r"\(2, 2, 3\)"),
    (np.array([[1, 0, 0, 0], [0, 1, 0, 0]]), r"\(2, 4\)"),
    (np.array([[1, 1, 0], [0, 1, 0]]), "one-hot"),
    (np.array([[0.5, 0.5, 0], [0, 1, 0]]), "one-hot"),
])
def test_invalid_labels_raise_value_error(y, message):
    p = np.full((2, 3), 1 / 3)
    for call in (CategoricalCrossentropy().forward, CategoricalCrossentropy().backward,
                 SoftmaxCategoricalCrossentropy().forward,
                 SoftmaxCategoricalCrossentropy().backward):
        with pytest.raises(ValueError, match=message):
            call(p, y)


def test_regularization_loss_matches_formula():
    layer = Dense(3, 2, 0.1, 0.2, 0.3, 0.4)
    layer.weights = np.array([[1.0, -2.0], [0.5, 0.0], [-1.5, 3.0]])
    layer.biases = np.array([[-1.0, 2.0]])
    expected = 0.1 * 8.0 + 0.2 * 16.5 + 0.3 * 3.0 + 0.4 * 5.0
    assert regularization_loss(layer) == pytest.approx(expected, rel=1e-15)


def test_regularization_loss_is_zero_without_parameters_or_regularisers():
    assert regularization_loss(Softmax()) == 0.0
    assert regularization_loss(Dense(3, 2)) == 0.0


@given(n=st.integers(1, 32), classes=st.integers(2, 16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_losses_keep_dtype(n, classes, dtype):
    x = np.linspace(-2, 2, n * classes, dtype=dtype).reshape(n, classes)
    y = np.arange(n) % classes
    fused = SoftmaxCategoricalCrossentropy()
    fused.forward(x, y)
    assert fused.output.dtype == dtype
    assert fused.backward(fused.output, y).dtype == dtype
    loss = CategoricalCrossentropy()
    assert loss.forward(fused.output, y).dtype == dtype
    assert loss.backward(fused.output, y).dtype == dtype


def binary_problem(rng, n, k):
    """Probabilities within (0.05, 0.95), far from the clip edges, and 0/1 labels."""
    return rng.uniform(0.05, 0.95, (n, k)), rng.integers(0, 2, (n, k))


OUTPUTS = dict(n=st.integers(1, 32), k=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))


@given(**OUTPUTS)
def test_binary_crossentropy_gradient(n, k, seed):
    p, y = binary_problem(np.random.default_rng(seed), n, k)
    loss = BinaryCrossentropy()
    numeric = numerical_gradient(lambda: loss.calculate(p, y), p)
    assert_gradient_matches(loss.backward(p, y), numeric)


@given(**OUTPUTS)
def test_mean_squared_error_gradient(n, k, seed):
    rng = np.random.default_rng(seed)
    y_pred, y = rng.standard_normal((n, k)), rng.standard_normal((n, k))
    loss = MeanSquaredError()
    numeric = numerical_gradient(lambda: loss.calculate(y_pred, y), y_pred)
    assert_gradient_matches(loss.backward(y_pred, y), numeric)


@given(**OUTPUTS)
def test_mean_absolute_error_gradient(n, k, seed):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n, k))
    # At least 0.1 from each target: |y - Y| has its kink at Y = y.
    y_pred = y + np.where(rng.random((n, k)) < 0.5, -1, 1) * rng.uniform(0.1, 2.0, (n, k))
    loss = MeanAbsoluteError()
    numeric = numerical_gradient(lambda: loss.calculate(y_pred, y), y_pred)
    assert_gradient_matches(loss.backward(y_pred, y), numeric)


def test_binary_crossentropy_known_values():
    p = np.array([[0.8, 0.4], [0.1, 0.5]])
    y = np.array([[1, 0], [1, 1]])
    loss = BinaryCrossentropy()
    expected = [-(np.log(0.8) + np.log(0.6)) / 2, -(np.log(0.1) + np.log(0.5)) / 2]
    np.testing.assert_allclose(loss.forward(p, y), expected, rtol=1e-15)
    assert loss.calculate(p, y) == pytest.approx(np.mean(expected), rel=1e-15)
    # -(y / p - (1 - y) / (1 - p)) / (k N), k = N = 2
    np.testing.assert_allclose(loss.backward(p, y),
                               [[-1 / 0.8 / 4, 1 / 0.6 / 4], [-1 / 0.1 / 4, -1 / 0.5 / 4]],
                               rtol=1e-15)


def test_binary_crossentropy_is_finite_at_certain_wrong_answers():
    p, y = np.array([[0.0], [1.0]]), np.array([1, 0])
    loss = BinaryCrossentropy()
    np.testing.assert_allclose(loss.forward(p, y), [-np.log(1e-7)] * 2, rtol=1e-9)
    assert np.isfinite(loss.backward(p, y)).all()


def test_mean_squared_and_absolute_error_known_values():
    y_pred = np.array([[1.0, 2.0], [0.0, -1.0]])
    y = np.array([[0.0, 4.0], [0.5, -1.0]])
    mse, mae = MeanSquaredError(), MeanAbsoluteError()
    np.testing.assert_array_equal(mse.forward(y_pred, y), [2.5, 0.125])
    np.testing.assert_array_equal(mae.forward(y_pred, y), [1.5, 0.25])
    assert mse.calculate(y_pred, y) == 1.3125 and mae.calculate(y_pred, y) == 0.875
    # -2 (y - Y) / (k N) and sign(Y - y) / (k N), k = N = 2; sign(0) = 0
    np.testing.assert_array_equal(mse.backward(y_pred, y), [[0.5, -1.0], [-0.25, 0.0]])
    np.testing.assert_array_equal(mae.backward(y_pred, y), [[0.25, -0.25], [-0.25, 0.0]])


@pytest.mark.parametrize("cls", [BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError])
def test_column_targets_may_be_given_flat(cls):
    y_pred = np.array([[0.3], [0.6], [0.9]])
    flat, column = np.array([0, 1, 1]), np.array([[0], [1], [1]])
    np.testing.assert_array_equal(cls().forward(y_pred, flat), cls().forward(y_pred, column))
    np.testing.assert_array_equal(cls().backward(y_pred, flat), cls().backward(y_pred, column))


@pytest.mark.parametrize("cls", [BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError])
@pytest.mark.parametrize("pred_shape, true_shape", [
    ((3, 2), (3,)), ((3, 2), (3, 1)), ((3, 1), (2,)), ((3, 1), (1, 3)), ((3,), (3,)),
])
def test_mismatched_shapes_name_both(cls, pred_shape, true_shape):
    message = (rf"y_pred of shape {re.escape(str(pred_shape))} and y_true of shape "
               rf"{re.escape(str(true_shape))} do not match")
    for call in (cls().forward, cls().backward):
        with pytest.raises(ValueError, match=message):
            call(np.full(pred_shape, 0.5), np.zeros(true_shape, dtype=int))


@pytest.mark.parametrize("bad", [2, -1, 0.5])
def test_binary_labels_other_than_0_and_1_are_refused(bad):
    y = np.array([[0], [1], [bad]])
    for call in (BinaryCrossentropy().forward, BinaryCrossentropy().backward):
        with pytest.raises(ValueError, match=f"binary labels must be 0 or 1, got {bad!r}"):
            call(np.full((3, 1), 0.5, dtype=np.float32), y)


LOSSES = [CategoricalCrossentropy, BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError]


@pytest.mark.parametrize("cls", LOSSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_keep_the_dtype_of_the_predictions(cls, dtype):
    y_pred = np.array([[0.2, 0.8], [0.6, 0.4]], dtype=dtype)
    y = np.array([1, 0]) if cls is CategoricalCrossentropy else np.array([[0, 1], [1, 0]])
    loss = cls()
    assert loss.forward(y_pred, y).dtype == dtype
    assert loss.backward(y_pred, y).dtype == dtype
    assert isinstance(loss.calculate(y_pred, y), float)


@pytest.mark.parametrize("cls", [*LOSSES, SoftmaxCategoricalCrossentropy])
def test_losses_leave_their_arguments_unchanged(cls):
    y_pred = np.array([[0.2, 0.8], [0.6, 0.4], [0.0, 1.0]])
    y = (np.array([1, 0, 0]) if cls in (CategoricalCrossentropy, SoftmaxCategoricalCrossentropy)
         else np.array([[0, 1], [1, 0], [1, 1]]))
    pred_copy, y_copy = y_pred.copy(), y.copy()
    loss = cls()
    loss.forward(y_pred, y)
    loss.backward(getattr(loss, "output", y_pred), y)
    np.testing.assert_array_equal(y_pred, pred_copy)
    np.testing.assert_array_equal(y, y_copy)


@pytest.mark.parametrize("y, message", [
    (np.array([[1, 1, 0], [0, 1, 0]]),
     "^one-hot y_true must hold a single 1 in each row and 0 elsewhere$"),
    (np.array([0, 3]), "^label 3 is out of range for 3 classes$"),
    (np.array([0, 1, 2]), "^y_true has 3 labels for 2 samples$"),
    (np.array([0.0, 1.0]), "^class indices must be integers, got dtype float64$"),
])
def test_label_messages_word_for_word(y, message):
    with pytest.raises(ValueError, match=message):
        CategoricalCrossentropy().forward(np.full((2, 3), 1 / 3), y)


def test_predictions_must_be_a_table_word_for_word():
    with pytest.raises(ValueError, match=r"^predictions must have shape \(N, C\), got \(3,\)$"):
        CategoricalCrossentropy().forward(np.ones(3) / 3, np.array([0, 1, 2]))


def test_shape_message_word_for_word():
    message = (r"^y_pred of shape \(2, 2\) and y_true of shape \(2,\) do not match: both must "
               r"be \(N, k\), or y_true \(N,\) when k = 1$")
    with pytest.raises(ValueError, match=message):
        MeanSquaredError().forward(np.ones((2, 2)), np.ones(2))


def test_crossentropy_gradient_at_a_certain_right_answer_uses_the_clip():
    p = np.array([[1.0, 0.0]])
    dp = CategoricalCrossentropy().backward(p, np.array([0]))
    assert dp[0, 0] == -1 / (1 - 1e-7) and dp[0, 1] == 0


def test_fused_backward_uses_the_labels_it_is_given():
    x = np.array([[0.2, 0.5, -0.3], [1.0, -1.0, 0.0]])
    fused = SoftmaxCategoricalCrossentropy()
    fused.forward(x, np.array([0, 1]))
    other = np.array([2, 0])
    expected = (fused.output - np.eye(3)[other]) / 2
    np.testing.assert_allclose(fused.backward(fused.output, other), expected, rtol=1e-15)
    with pytest.raises(ValueError, match="2 labels for 1 samples"):
        fused.backward(fused.output[:1], np.array([0, 1]))


def test_regularization_loss_of_a_layer_without_regulariser_attributes_is_zero():
    class Bare:
        weights = np.array([[2.0, -3.0]])
        biases = np.array([[1.0]])

    assert regularization_loss(Bare()) == 0.0

    class BiasesOnly:
        biases = np.array([[1.0, -2.0]])
        bias_regularizer_l1, bias_regularizer_l2 = 0.5, 0.25

    assert regularization_loss(BiasesOnly()) == 0.5 * 3 + 0.25 * 5


@pytest.mark.parametrize("bad, message", [(np.array([0, 3]), "label 3 is out of range"),
                                          (np.array([-1, 0]), "label -1 is out of range")])
def test_fused_backward_checks_the_labels_it_is_given_after_a_forward_with_good_ones(
        bad, message):
    # A negative label would index from the end and give a wrong gradient without an error.
    fused = SoftmaxCategoricalCrossentropy()
    fused.forward(np.array([[0.2, 0.5, -0.3], [1.0, -1.0, 0.0]]), np.array([0, 2]))
    with pytest.raises(ValueError, match=message):
        fused.backward(fused.output, bad)


def test_targets_of_the_right_shape_and_dtype_are_used_without_a_copy():
    y_pred, y = np.zeros((3, 2)), np.ones((3, 2))
    assert losses._targets(y_pred, y) is y
    column = losses._targets(np.zeros((3, 1)), np.ones(3))
    assert column.shape == (3, 1) and column.dtype == np.float64
