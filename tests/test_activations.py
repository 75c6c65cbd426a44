import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from activations import LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from program.gradcheck import numerical_gradient

from checks import assert_gradient_matches, away_from_zero

SHAPES = dict(n=st.integers(1, 32), width=st.integers(1, 16), seed=st.integers(0, 2**32 - 1))


def activation_gradient_error(activation, x, upstream):
    """Check backward(R) against d/dX of L = sum(forward(X) * R)."""

    def loss():
        return float((activation.forward(x) * upstream).sum())

    loss()
    return assert_gradient_matches(activation.backward(upstream), numerical_gradient(loss, x))


@given(**SHAPES)
def test_relu_gradient_away_from_zero(n, width, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, (n, width))
    x[0, 0] = abs(x[0, 0])  # at least one unit passes, so the gradient is not all zero
    activation_gradient_error(ReLU(), x, rng.standard_normal((n, width)))


def test_relu_values_and_gradient_at_zero():
    relu = ReLU()
    np.testing.assert_array_equal(relu.forward(np.array([[-2.0, 0.0, 3.0]])), [[0.0, 0.0, 3.0]])
    np.testing.assert_array_equal(relu.backward(np.array([[5.0, 5.0, 5.0]])), [[0.0, 0.0, 5.0]])


@given(n=st.integers(1, 32), width=st.integers(2, 16), seed=st.integers(0, 2**32 - 1))
def test_softmax_gradient_with_random_upstream(n, width, seed):
    # A random upstream gradient: with all-ones both sides are zero and the check cannot fail.
    rng = np.random.default_rng(seed)
    activation_gradient_error(Softmax(), rng.standard_normal((n, width)),
                              rng.standard_normal((n, width)))


def test_softmax_known_values():
    p = Softmax().forward(np.array([[0.0, np.log(3.0)], [1.0, 1.0]]))
    np.testing.assert_allclose(p, [[0.25, 0.75], [0.5, 0.5]], rtol=1e-15)


def test_softmax_is_shift_invariant_and_finite_for_huge_logits():
    logits = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, -999.0]])
    p = Softmax().forward(logits)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p, Softmax().forward(logits - logits.max(axis=1, keepdims=True)))


def test_softmax_backward_matches_explicit_jacobian():
    rng = np.random.default_rng(3)
    softmax = Softmax()
    p = softmax.forward(rng.standard_normal((4, 5)))
    g = rng.standard_normal((4, 5))
    jacobians = [np.diag(row) - np.outer(row, row) for row in p]
    expected = np.stack([jacobian @ grad for jacobian, grad in zip(jacobians, g, strict=True)])
    np.testing.assert_allclose(softmax.backward(g), expected, rtol=1e-12, atol=1e-15)


def test_softmax_predictions_are_row_argmax():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    np.testing.assert_array_equal(Softmax().predictions(scores), [1, 0])


@given(**SHAPES)
def test_sigmoid_gradient(n, width, seed):
    rng = np.random.default_rng(seed)
    activation_gradient_error(Sigmoid(), 3 * rng.standard_normal((n, width)),
                              rng.standard_normal((n, width)))


@given(**SHAPES)
def test_linear_gradient(n, width, seed):
    rng = np.random.default_rng(seed)
    activation_gradient_error(Linear(), rng.standard_normal((n, width)),
                              rng.standard_normal((n, width)))


def test_sigmoid_known_values():
    s = Sigmoid().forward(np.array([[0.0, np.log(3.0), -np.log(3.0)]]))
    np.testing.assert_allclose(s, [[0.5, 0.75, 0.25]], rtol=1e-15)


def test_sigmoid_backward_known_values():
    sigmoid = Sigmoid()
    sigmoid.forward(np.array([[0.0, np.log(3.0)]]))
    # s (1 - s) = 0.25 and 0.1875
    np.testing.assert_allclose(sigmoid.backward(np.array([[2.0, 4.0]])), [[0.5, 0.75]],
                               rtol=1e-15)


def test_sigmoid_of_extreme_logits_is_finite_without_warnings():
    # pyproject.toml turns every RuntimeWarning (overflow in exp) into an error.
    for dtype in (np.float32, np.float64):
        s = Sigmoid().forward(np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]], dtype=dtype))
        assert s.dtype == dtype
        np.testing.assert_allclose(s, [[0.0, 1.9287e-22, 0.5, 1.0, 1.0]], rtol=1e-4, atol=0)
        assert s[0, 0] == 0.0 and s[0, -1] == 1.0


def test_sigmoid_is_symmetric():
    x = np.linspace(-30, 30, 61).reshape(1, -1)
    np.testing.assert_allclose(Sigmoid().forward(x) + Sigmoid().forward(-x), 1.0, rtol=1e-15)


def test_sigmoid_predictions_threshold_at_one_half():
    outputs = np.array([[0.2, 0.5, 0.51], [0.9, 0.0, 1.0]])
    predictions = Sigmoid().predictions(outputs)
    np.testing.assert_array_equal(predictions, [[0, 0, 1], [1, 0, 1]])
    assert predictions.dtype == np.int64


def test_linear_is_the_identity():
    linear = Linear()
    x = np.array([[1.5, -2.0]])
    np.testing.assert_array_equal(linear.forward(x), x)
    np.testing.assert_array_equal(linear.backward(np.array([[3.0, 4.0]])), [[3.0, 4.0]])
    np.testing.assert_array_equal(linear.predictions(x), x)


ACTIVATIONS = [ReLU, Softmax, Sigmoid, Linear, Tanh, LeakyReLU]


@given(n=st.integers(1, 32), width=st.integers(1, 16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_activations_keep_dtype(n, width, dtype):
    x = np.linspace(-3, 3, n * width, dtype=dtype).reshape(n, width)
    for cls in ACTIVATIONS:
        activation = cls()
        out = activation.forward(x)
        assert out.dtype == dtype
        assert activation.backward(np.ones_like(out)).dtype == dtype


@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_activations_leave_their_arguments_unchanged(cls):
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    x_copy, g_copy = x.copy(), g.copy()
    activation = cls()
    out = activation.forward(x)
    np.testing.assert_array_equal(x, x_copy)
    activation.backward(g)
    np.testing.assert_array_equal(g, g_copy)
    if hasattr(activation, "predictions"):
        out_copy = out.copy()
        activation.predictions(out)
        np.testing.assert_array_equal(out, out_copy)


@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_activations_keep_what_backward_and_explain_read(cls):
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    activation = cls()
    out = activation.forward(x)
    assert activation.inputs is x and activation.output is out
    g = np.array([[1.0, -2.0], [0.5, 3.0]])
    assert activation.backward(g) is activation.dinputs


def test_sigmoid_at_zero_and_on_either_side():
    s = Sigmoid().forward(np.array([[-1e-9, 0.0, 1e-9]]))
    np.testing.assert_allclose(s, [[0.5 - 2.5e-10, 0.5, 0.5 + 2.5e-10]], rtol=1e-15)


def test_softmax_works_over_the_last_axis_of_a_3d_array():
    # (batches, rows, classes): each row of each batch is its own softmax.
    rng = np.random.default_rng(4)
    x, g = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    softmax = Softmax()
    p, dx = softmax.forward(x), softmax.backward(g)
    for batch in range(2):
        alone = Softmax()
        np.testing.assert_allclose(p[batch], alone.forward(x[batch]), rtol=1e-14)
        np.testing.assert_allclose(dx[batch], alone.backward(g[batch]), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(p.sum(axis=-1), np.ones((2, 3)), rtol=1e-15)
    np.testing.assert_array_equal(Softmax.predictions(p),
                                  [[row.argmax() for row in batch] for batch in x])


@given(**SHAPES)
def test_tanh_gradient(n, width, seed):
    rng = np.random.default_rng(seed)
    activation_gradient_error(Tanh(), 2 * rng.standard_normal((n, width)),
                              rng.standard_normal((n, width)))


def test_tanh_known_values_and_backward():
    tanh = Tanh()
    y = tanh.forward(np.array([[0.0, np.log(3.0), -np.log(3.0)]]))
    np.testing.assert_allclose(y, [[0.0, 0.8, -0.8]], rtol=1e-15)  # (9 - 1) / (9 + 1)
    # 1 - y^2 = 1 and 0.36
    np.testing.assert_allclose(tanh.backward(np.array([[2.0, 5.0, -1.0]])), [[2.0, 1.8, -0.36]],
                               rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_and_leaky_relu_of_extreme_inputs_are_finite_without_warnings(dtype):
    # pyproject.toml turns every RuntimeWarning (overflow, invalid value) into an error.
    big = np.finfo(dtype).max
    x = np.array([[-big, -1e4, -1.0, 0.0, 1.0, 1e4, big]], dtype=dtype)
    tanh = Tanh()
    y = tanh.forward(x)
    np.testing.assert_array_equal(y[0, [0, 1, 5, 6]], [-1, -1, 1, 1])
    np.testing.assert_array_equal(tanh.backward(np.ones_like(x))[0, [0, 6]], [0, 0])
    for alpha in (0.01, 1.0):
        leaky = LeakyReLU(alpha)
        out = leaky.forward(x)
        assert np.isfinite(out).all() and out.dtype == dtype
        np.testing.assert_array_equal(out, np.where(x > 0, x, x * dtype(alpha)))
        grad = leaky.backward(np.full_like(x, big))
        assert np.isfinite(grad).all()


@given(**SHAPES, alpha=st.sampled_from([0.0, 0.01, 0.3, 1.0]))
def test_leaky_relu_gradient_away_from_zero(n, width, seed, alpha):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, (n, width))
    x[0, 0] = abs(x[0, 0])  # at least one unit passes, so the gradient is not all zero
    activation_gradient_error(LeakyReLU(alpha), x, rng.standard_normal((n, width)))


def test_leaky_relu_values_and_gradient_at_zero_is_alpha():
    leaky = LeakyReLU(0.1)
    np.testing.assert_allclose(leaky.forward(np.array([[-2.0, 0.0, 3.0]])), [[-0.2, 0.0, 3.0]],
                               rtol=1e-15)
    np.testing.assert_allclose(leaky.backward(np.array([[5.0, 5.0, 5.0]])), [[0.5, 0.5, 5.0]],
                               rtol=1e-15)
    assert LeakyReLU().alpha == 0.01
    # The gradient at 0 is alpha times G, also for the default and a negative G.
    default = LeakyReLU()
    default.forward(np.zeros((1, 2)))
    np.testing.assert_allclose(default.backward(np.array([[3.0, -2.0]])), [[0.03, -0.02]],
                               rtol=1e-15)


@pytest.mark.parametrize("alpha", [-0.01, 1.5, float("nan"), float("inf"), "0.1", None, True])
def test_leaky_relu_rejects_a_bad_alpha_by_name(alpha):
    message = r"LeakyReLU alpha must be a number in \[0, 1\], got " + re.escape(repr(alpha))
    with pytest.raises(ValueError, match=message):
        LeakyReLU(alpha)


def test_new_activations_repr():
    assert repr(Tanh()) == "Tanh()"
    assert repr(LeakyReLU()) == "LeakyReLU(0.01)" and repr(LeakyReLU(0.2)) == "LeakyReLU(0.2)"


@given(n=st.integers(1, 4), channels=st.integers(1, 3), size=st.integers(1, 5),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_hidden_activations_work_on_image_batches(n, channels, size, dtype):
    # (N, C, H, W) between convolutions: element-wise, the shape and dtype kept.
    x = np.linspace(-2, 2, n * channels * size * size, dtype=dtype).reshape(n, channels, size,
                                                                           size)
    for activation in (ReLU(), LeakyReLU(), Tanh()):
        out = activation.forward(x)
        assert out.shape == x.shape and out.dtype == dtype
        assert activation.backward(np.ones_like(out)).shape == x.shape
