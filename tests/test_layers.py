import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcheck import numerical_gradient
from layers import Dense, Dropout, bernoulli
from losses import regularization_loss

from checks import assert_gradient_matches, away_from_zero

REGULARISERS = dict(weight_regularizer_l1=3e-2, weight_regularizer_l2=5e-2,
                    bias_regularizer_l1=2e-2, bias_regularizer_l2=4e-2)


def dense_gradient_errors(n, n_in, n_out, seed, **regularisers):
    """Check dX, dW, db of Dense against L = sum(Y * R) + penalty; return the errors."""
    rng = np.random.default_rng(seed)
    layer = Dense(n_in, n_out, **regularisers, rng=rng)
    # Parameters away from 0, where |w| has its kink.
    layer.weights = away_from_zero(rng, (n_in, n_out))
    layer.biases = away_from_zero(rng, (1, n_out))
    x = rng.standard_normal((n, n_in))
    upstream = rng.standard_normal((n, n_out))

    def total_loss():
        return float((layer.forward(x) * upstream).sum()) + regularization_loss(layer)

    total_loss()
    dx = layer.backward(upstream)
    dw, db = layer.dweights, layer.dbiases
    return [assert_gradient_matches(dx, numerical_gradient(total_loss, x)),
            assert_gradient_matches(dw, numerical_gradient(total_loss, layer.weights)),
            assert_gradient_matches(db, numerical_gradient(total_loss, layer.biases))]


def test_dense_gradients_with_all_regularisers():
    dense_gradient_errors(7, 4, 5, seed=0, **REGULARISERS)


def test_dense_gradients_without_regularisers():
    dense_gradient_errors(7, 4, 5, seed=1)


@given(n=st.integers(1, 32), n_in=st.integers(1, 16), n_out=st.integers(1, 16),
       seed=st.integers(0, 2**32 - 1))
def test_dense_gradients_any_shape(n, n_in, n_out, seed):
    dense_gradient_errors(n, n_in, n_out, seed, **REGULARISERS)


def test_dense_forward_is_affine_map():
    layer = Dense(2, 3, rng=np.random.default_rng(0))
    layer.weights = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    layer.biases = np.array([[0.5, -0.5, 1.0]])
    out = layer.forward(np.array([[1.0, 1.0], [2.0, -1.0]]))
    np.testing.assert_array_equal(out, [[5.5, 6.5, 10.0], [-1.5, -1.5, 1.0]])


def test_dense_default_initialisation():
    layer = Dense(2, 64, rng=np.random.default_rng(42))
    expected = 0.01 * np.random.default_rng(42).standard_normal((2, 64))
    np.testing.assert_array_equal(layer.weights, expected)
    np.testing.assert_array_equal(layer.biases, np.zeros((1, 64)))
    assert layer.weights.dtype == np.float64


def test_dense_without_rng_is_reproducible():
    np.testing.assert_array_equal(Dense(3, 4).weights, Dense(3, 4).weights)


def test_dense_l1_gradient_of_zero_weight_is_zero():
    layer = Dense(1, 2, weight_regularizer_l1=1.0)
    layer.weights = np.array([[0.0, 2.0]])
    layer.forward(np.zeros((1, 1)))
    layer.backward(np.zeros((1, 2)))
    np.testing.assert_array_equal(layer.dweights, [[0.0, 1.0]])


def test_dense_backward_does_not_change_parameters():
    layer = Dense(3, 2, **REGULARISERS, rng=np.random.default_rng(0))
    weights, biases = layer.weights.copy(), layer.biases.copy()
    layer.forward(np.ones((4, 3)))
    layer.backward(np.ones((4, 2)))
    np.testing.assert_array_equal(layer.weights, weights)
    np.testing.assert_array_equal(layer.biases, biases)


@given(n=st.integers(1, 32), n_in=st.integers(1, 16), n_out=st.integers(1, 16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_dense_keeps_dtype(n, n_in, n_out, dtype):
    layer = Dense(n_in, n_out, **REGULARISERS, dtype=dtype)
    out = layer.forward(np.ones((n, n_in), dtype=dtype))
    dx = layer.backward(np.ones_like(out))
    for array in (layer.weights, layer.biases, out, dx, layer.dweights, layer.dbiases):
        assert array.dtype == dtype


def fixed_mask_dropout(rate, seed):
    """A Dropout whose forward draws the same mask every time, for gradient checks."""
    layer = Dropout(rate)
    forward = layer.forward

    def forward_with_fixed_mask(inputs, training=False):
        layer.rng = np.random.default_rng(seed)
        return forward(inputs, training)

    layer.forward = forward_with_fixed_mask
    return layer


@given(n=st.integers(1, 32), width=st.integers(1, 16), rate=st.floats(0.0, 0.9),
       seed=st.integers(0, 2**32 - 1))
def test_dropout_gradient_with_fixed_mask(n, width, rate, seed):
    rng = np.random.default_rng(seed)
    layer = fixed_mask_dropout(rate, seed)
    x = rng.standard_normal((n, width))
    upstream = rng.standard_normal((n, width))

    def loss():
        return float((layer.forward(x, training=True) * upstream).sum())

    loss()
    if layer.mask is not None and not layer.mask.any():
        return  # every unit dropped: both gradients are zero
    assert_gradient_matches(layer.backward(upstream), numerical_gradient(loss, x))


def test_dropout_mask_is_scaled_bernoulli():
    layer = Dropout(0.25, rng=np.random.default_rng(0))
    out = layer.forward(np.ones((400, 500)), training=True)
    assert set(np.unique(out)) == {0.0, 1 / 0.75}
    assert abs((out == 0).mean() - 0.25) < 0.005
    assert abs(out.mean() - 1.0) < 0.01  # inverted dropout keeps the expectation
    np.testing.assert_array_equal(layer.backward(np.full((400, 500), 2.0)), 2 * out)


def test_dropout_draws_a_new_mask_each_forward():
    layer = Dropout(0.5, rng=np.random.default_rng(0))
    first = layer.forward(np.ones((10, 10)), training=True).copy()
    second = layer.forward(np.ones((10, 10)), training=True)
    assert not np.array_equal(first, second)


def test_dropout_is_identity_when_not_training():
    layer = Dropout(0.5)
    x = np.arange(6.0).reshape(2, 3)
    assert layer.forward(x) is x
    g = np.ones((2, 3))
    np.testing.assert_array_equal(layer.backward(g), g)


def test_dropout_rate_zero_keeps_everything():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(Dropout(0).forward(x, training=True), x)


@pytest.mark.parametrize("rate", [-0.1, 1, 1.5, float("nan"), "0.5", None])
def test_dropout_rejects_bad_rate(rate):
    with pytest.raises(ValueError, match=repr(rate).replace(".", r"\.")):
        Dropout(rate)


@given(n=st.integers(1, 32), width=st.integers(1, 16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_dropout_keeps_dtype(n, width, dtype):
    layer = Dropout(0.3)
    out = layer.forward(np.ones((n, width), dtype=dtype), training=True)
    assert out.dtype == dtype
    assert layer.backward(np.ones_like(out)).dtype == dtype


def test_dense_without_input_gradient_still_gives_parameter_gradients():
    layer = Dense(3, 2, rng=np.random.default_rng(0))
    x, g = np.ones((4, 3)), np.arange(8.0).reshape(4, 2)
    layer.forward(x)
    full = layer.backward(g)
    dw, db = layer.dweights.copy(), layer.dbiases.copy()
    assert layer.backward(g, input_gradient=False) is None and layer.dinputs is None
    assert full.shape == (4, 3)
    np.testing.assert_array_equal(layer.dweights, dw)
    np.testing.assert_array_equal(layer.dbiases, db)


def test_dense_weight_scale():
    layer = Dense(3, 4, rng=np.random.default_rng(5), weight_scale=0.1)
    np.testing.assert_array_equal(layer.weights,
                                  0.1 * np.random.default_rng(5).standard_normal((3, 4)))
    np.testing.assert_array_equal(Dense(3, 4, weight_scale=0).weights, np.zeros((3, 4)))


@pytest.mark.parametrize("args, kwargs, message", [
    ((0, 3), {}, r"Dense\(0, 3\): n_inputs must be a whole number >= 1, got 0"),
    ((2, 0), {}, r"Dense\(2, 0\): n_neurons .* got 0"),
    ((2, [64]), {}, r"n_neurons .* got \[64\]"),
    ((2.0, 3), {}, r"n_inputs .* got 2.0"),
    ((True, 3), {}, r"n_inputs .* got True"),
    ((2, 3, -0.1), {}, r"weight_regularizer_l1 must be a finite number >= 0, got -0.1"),
    ((2, 3, 0, float("nan")), {}, r"weight_regularizer_l2 .* got nan"),
    ((2, 3, 0, 0, "big"), {}, r"bias_regularizer_l1 .* got 'big'"),
    ((2, 3, 0, 0, 0, -1), {}, r"bias_regularizer_l2 .* got -1"),
    ((2, 3), {"weight_scale": -0.01}, r"weight_scale .* got -0.01"),
])
def test_dense_rejects_bad_construction(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Dense(*args, **kwargs)


@pytest.mark.parametrize("shape", [(5, 3), (5,), (5, 2, 1), (2, 5)])
def test_dense_forward_names_layer_and_both_shapes(shape):
    layer = Dense(2, 4)
    expected = rf"Dense\(2, 4\) expects inputs of shape \(N, 2\), got {re.escape(str(shape))}"
    with pytest.raises(ValueError, match=expected):
        layer.forward(np.ones(shape))


def test_dropout_mask_is_bernoulli_of_the_keep_rate():
    # Over 200,000 units the fraction kept is within 0.005 of 0.7 (5 standard deviations).
    layer = Dropout(0.3, rng=np.random.default_rng(11))
    out = layer.forward(np.ones((400, 500), dtype=np.float32), training=True)
    assert abs((out != 0).mean() - 0.7) < 0.005
    np.testing.assert_array_equal(np.unique(out), np.array([0, 1 / 0.7], dtype=np.float32))


def test_bernoulli_compares_32_bit_uniforms_with_p():
    kept = bernoulli(np.random.default_rng(3), (7, 9), 0.3)
    u = np.random.default_rng(3).bit_generator.random_raw(32).view(np.uint32)[:63] / 2**32
    np.testing.assert_array_equal(kept, (u < 0.3).reshape(7, 9))
    assert 0.2 < kept.mean() < 0.4


@pytest.mark.parametrize("make", [lambda: Dense(4, 3, 0.1, 0.2, 0.3, 0.4),
                                  lambda: Dropout(0.3, rng=np.random.default_rng(1))],
                         ids=["dense", "dropout"])
@pytest.mark.parametrize("training", [False, True])
def test_layers_leave_their_arguments_unchanged(make, training):
    rng = np.random.default_rng(0)
    layer = make()
    x = rng.standard_normal((5, 4))
    x_copy = x.copy()
    out = layer.forward(x, training)
    np.testing.assert_array_equal(x, x_copy)
    g = rng.standard_normal(out.shape)
    g_copy = g.copy()
    layer.backward(g)
    np.testing.assert_array_equal(g, g_copy)


def test_dense_gradient_is_of_the_upstream_given_not_of_a_changed_one():
    # The reference is computed from a copy made before backward runs: a
    # backward pass that scaled its argument in place would fail here.
    rng = np.random.default_rng(2)
    layer = Dense(3, 2, rng=rng)
    x, upstream = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    expected_dx, expected_dw = upstream.copy() @ layer.weights.T, x.T @ upstream.copy()
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(upstream), expected_dx, rtol=1e-12)
    np.testing.assert_allclose(layer.dweights, expected_dw, rtol=1e-12)
    np.testing.assert_allclose(layer.dbiases, upstream.sum(axis=0, keepdims=True), rtol=1e-12)


def test_dropout_keeps_the_expected_activation_over_many_masks():
    layer = Dropout(0.4, rng=np.random.default_rng(5))
    x = np.full((1, 2000), 3.0)
    means = [layer.forward(x, training=True).mean() for _ in range(50)]
    assert abs(np.mean(means) - 3.0) < 0.02


def test_dense_defaults_are_no_penalty_and_the_seed_0_generator():
    layer = Dense(3, 4)
    assert (layer.weight_regularizer_l1, layer.weight_regularizer_l2, layer.bias_regularizer_l1,
            layer.bias_regularizer_l2) == (0.0, 0.0, 0.0, 0.0)
    np.testing.assert_array_equal(layer.weights,
                                  Dense(3, 4, rng=np.random.default_rng(0)).weights)


def test_dropout_draws_from_the_generator_it_is_given_or_a_seed_0_one():
    x = np.ones((20, 30))
    given = Dropout(0.5, rng=np.random.default_rng(7)).forward(x, training=True)
    np.testing.assert_array_equal(
        given, Dropout(0.5, rng=np.random.default_rng(7)).forward(x, training=True))
    default = Dropout(0.5).forward(x, training=True)
    np.testing.assert_array_equal(
        default, Dropout(0.5, rng=np.random.default_rng(0)).forward(x, training=True))
    assert not np.array_equal(given, default)


def test_dropout_off_returns_its_input_itself():
    x = np.arange(6.0).reshape(2, 3)
    for layer, training in ((Dropout(0.0), True), (Dropout(0.5), False)):
        assert layer.forward(x, training) is x and layer.output is x and layer.inputs is x
        assert layer.mask is None


def test_bernoulli_of_an_even_count_uses_exactly_half_as_many_raw_draws():
    rng, twin = np.random.default_rng(4), np.random.default_rng(4)
    first, second = bernoulli(rng, (4, 8), 0.5), bernoulli(rng, (4, 8), 0.5)
    u = twin.bit_generator.random_raw(32).view(np.uint32) / 2**32  # 16 draws per mask
    np.testing.assert_array_equal(first, (u[:32] < 0.5).reshape(4, 8))
    np.testing.assert_array_equal(second, (u[32:] < 0.5).reshape(4, 8))


class GivenDraws:
    """A stand-in generator whose 32-bit draws u are given (as bernoulli reads them)."""

    def __init__(self, u):
        self.bit_generator = self
        self.raw = np.array(u, dtype=np.uint32).view(np.uint64)  # two u per raw draw

    def random_raw(self, size):
        return self.raw[:size]


def test_bernoulli_keeps_a_draw_only_when_strictly_below_p():
    # U = u / 2^32 < p: with p = 6 / 2^32, u = 5 is kept and u = 6 (U = p) is not.
    kept = bernoulli(GivenDraws([5, 6, 7, 0]), (4,), 6 / 2**32)
    np.testing.assert_array_equal(kept, [True, False, False, True])


def test_bernoulli_keeps_every_draw_below_a_p_next_to_one():
    p = 1 - 2**-32  # the largest p below 1 on the 32-bit grid: only u = 2^32 - 1 reaches it
    kept = bernoulli(GivenDraws([2**32 - 2, 2**32 - 1]), (2,), p)
    np.testing.assert_array_equal(kept, [True, False])
