import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from activations import ReLU, Softmax
from gradcheck import numerical_gradient

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


@given(n=st.integers(1, 32), width=st.integers(1, 16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_activations_keep_dtype(n, width, dtype):
    x = np.linspace(-3, 3, n * width, dtype=dtype).reshape(n, width)
    for activation in (ReLU(), Softmax()):
        out = activation.forward(x)
        assert out.dtype == dtype
        assert activation.backward(np.ones_like(out)).dtype == dtype
