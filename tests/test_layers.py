import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from activations import ReLU, Tanh
from layers import (
    INITIALISATIONS,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    Reshape,
    _route_to_maxima,
    decayed_names,
    parameter_names,
    state_names,
)
from losses import regularization_loss
from program.gradcheck import numerical_gradient

from checks import (
    assert_arguments_unchanged,
    assert_gradient_matches,
    away_from_zero,
    distinct,
    layer_gradient_errors,
)

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
    # M = B / (1 - rate), divided in the layer's dtype
    np.testing.assert_array_equal(np.unique(out), [0, np.divide(1, 0.7, dtype=np.float32)])


def test_dropout_keeps_a_unit_where_a_float32_uniform_of_its_generator_is_below_the_keep_rate():
    # The draw that seeded runs (and their checkpoints) depend on: B = [U < 1 - rate].
    layer = Dropout(0.3, rng=np.random.default_rng(3))
    kept = layer.forward(np.ones((7, 9)), training=True) != 0
    u = np.random.default_rng(3).random((7, 9), dtype=np.float32)
    np.testing.assert_array_equal(kept, u < 0.7)
    assert 0.5 < kept.mean() < 0.9


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


class GivenUniforms:
    """A stand-in generator whose float32 uniforms U are given (as Dropout draws them)."""

    def __init__(self, u):
        self.u = np.array(u, dtype=np.float32)

    def random(self, shape, dtype):
        assert dtype == np.float32
        return self.u.reshape(shape)


def test_dropout_keeps_a_unit_only_when_its_uniform_is_strictly_below_the_keep_rate():
    # keep = 1 - 0.25 = 0.75, exact in float32: U = 0.75 is dropped, the float32 below it kept.
    below = np.nextafter(np.float32(0.75), np.float32(0))
    layer = Dropout(0.25, rng=GivenUniforms([0.0, below, 0.75, 0.9]))
    out = layer.forward(np.ones((1, 4), dtype=np.float32), training=True)
    scale = np.divide(1, 0.75, dtype=np.float32)
    np.testing.assert_array_equal(out, [[scale, scale, 0, 0]])


# --- Initialisation (Dense and Conv2D) ---------------------------------------------------


def test_init_names_are_the_contracts():
    assert INITIALISATIONS == ("normal", "he", "glorot")


def test_dense_init_normal_is_the_default_and_its_draw_is_unchanged():
    # The draw the published figures depend on: weight_scale * N(0, 1), bit for bit.
    for layer in (Dense(5, 7, rng=np.random.default_rng(3), weight_scale=0.1),
                  Dense(5, 7, rng=np.random.default_rng(3), weight_scale=0.1, init="normal")):
        np.testing.assert_array_equal(layer.weights,
                                      0.1 * np.random.default_rng(3).standard_normal((5, 7)))
        assert layer.init == "normal"


@pytest.mark.parametrize("make, shape, fan_in, fan_out", [
    (lambda init, rng: Dense(6, 4, rng=rng, init=init), (6, 4), 6, 4),
    (lambda init, rng: Conv2D(3, 5, 2, rng=rng, init=init), (5, 3, 2, 2), 12, 20),
], ids=["dense", "conv2d"])
def test_he_and_glorot_draws_follow_their_formulas(make, shape, fan_in, fan_out):
    he = make("he", np.random.default_rng(8))
    np.testing.assert_array_equal(
        he.weights, np.sqrt(2 / fan_in) * np.random.default_rng(8).standard_normal(shape))
    glorot = make("glorot", np.random.default_rng(8))
    limit = np.sqrt(6 / (fan_in + fan_out))
    np.testing.assert_array_equal(glorot.weights,
                                  np.random.default_rng(8).uniform(-limit, limit, shape))
    for layer in (he, glorot):
        assert not layer.biases.any()


def test_initial_weights_have_the_promised_spread():
    # Over 40,000 draws the standard deviations are within 2 % of the formulas'.
    he = Conv2D(16, 100, 5, rng=np.random.default_rng(1))
    assert abs(he.weights.std() / np.sqrt(2 / (16 * 25)) - 1) < 0.02
    assert abs(he.weights.mean()) < 0.01 * he.weights.std()
    glorot = Dense(200, 200, rng=np.random.default_rng(1), init="glorot")
    limit = np.sqrt(6 / 400)
    assert glorot.weights.max() <= limit and glorot.weights.min() >= -limit
    assert abs(glorot.weights.std() / (limit / np.sqrt(3)) - 1) < 0.02


def test_conv2d_starts_with_he_and_a_float32_layer_from_the_same_numbers():
    first, second = Conv2D(2, 3, 3), Conv2D(2, 3, 3, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(first.weights, second.weights)
    assert first.init == "he" and first.weights.dtype == np.float64
    single = Conv2D(2, 3, 3, dtype=np.float32)
    assert single.weights.dtype == single.biases.dtype == np.float32
    np.testing.assert_array_equal(single.weights, first.weights.astype(np.float32))
    normal = Conv2D(2, 3, 3, init="normal", weight_scale=0.5, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(normal.weights,
                                  0.5 * np.random.default_rng(2).standard_normal((3, 2, 3, 3)))


@pytest.mark.parametrize("init", ["xavier", "He", None, 3, ("he",)])
@pytest.mark.parametrize("cls, args", [(Dense, (2, 3)), (Conv2D, (1, 2, 3))])
def test_unknown_init_is_refused_by_name(cls, args, init):
    message = "init must be one of 'normal', 'he', 'glorot', got " + re.escape(repr(init))
    with pytest.raises(ValueError, match=message):
        cls(*args, init=init)


def test_dense_repr_names_an_init_other_than_the_default():
    assert repr(Dense(2, 3, init="he")) == "Dense(2, 3, init='he')"
    assert repr(Dense(2, 3, init="normal")) == "Dense(2, 3)"


# --- Conv2D --------------------------------------------------------------------------------


def conv_reference(x, weights, biases, stride, padding):
    """Y[n, o, i, j] = b[o] + sum_{c,u,v} W[o, c, u, v] Xp[n, c, i s + u, j s + v], term by term."""
    n, _, height, width = x.shape
    n_out, _, k, _ = weights.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h, out_w = (height + 2 * padding - k) // stride + 1, (width + 2 * padding - k) // stride + 1
    y = np.empty((n, n_out, out_h, out_w))
    for sample, o, i, j in np.ndindex(y.shape):
        patch = xp[sample, :, i * stride:i * stride + k, j * stride:j * stride + k]
        y[sample, o, i, j] = biases[o] + (weights[o] * patch).sum()
    return y


def test_conv2d_is_cross_correlation_not_convolution():
    # x[i, j] = 4 i + j; with W = [[1, 2], [3, 4]] unflipped,
    # Y[i, j] = x[i, j] + 2 x[i, j+1] + 3 x[i+1, j] + 4 x[i+1, j+1] + b = 40 i + 10 j + 34 + b
    # (a flipped kernel would give 40 i + 10 j + 16 + b).
    layer = Conv2D(1, 1, 2)
    layer.weights = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    layer.biases = np.array([0.5])
    out = layer.forward(np.arange(16.0).reshape(1, 1, 4, 4))
    i, j = np.mgrid[0:3, 0:3]
    np.testing.assert_array_equal(out, (40 * i + 10 * j + 34.5)[None, None])


def test_conv2d_zero_padding_and_stride_known_answer():
    # A 3 x 3 kernel of ones sums each neighbourhood of x = [[0, 1, 2], [3, 4, 5], [6, 7, 8]],
    # the zeros of the padding counting for nothing.
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    layer = Conv2D(1, 1, 3, padding=1)
    layer.weights = np.ones((1, 1, 3, 3))
    np.testing.assert_array_equal(layer.forward(x)[0, 0],
                                  [[8, 15, 12], [21, 36, 27], [20, 33, 24]])
    strided = Conv2D(1, 1, 3, padding=1, stride=2)
    strided.weights = np.ones((1, 1, 3, 3))
    np.testing.assert_array_equal(strided.forward(x)[0, 0], [[8, 12], [20, 24]])
    # Its backward with G = 1 everywhere: each input counts once per window that covers it.
    np.testing.assert_array_equal(strided.backward(np.ones((1, 1, 2, 2)))[0, 0],
                                  [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    # dW[u, v] = sum over the four windows of Xp[2 i + u, 2 j + v]: at the centre
    # x[0, 0] + x[0, 2] + x[2, 0] + x[2, 2] = 16, at a corner only x[1, 1] = 4.
    np.testing.assert_array_equal(strided.dweights[0, 0], [[4, 8, 4], [8, 16, 8], [4, 8, 4]])
    np.testing.assert_array_equal(strided.dbiases, [4.0])


CONV_SHAPES = dict(n=st.integers(1, 3), channels=st.integers(1, 3), n_out=st.integers(1, 3),
                   height=st.integers(1, 6), width=st.integers(1, 6), k=st.integers(1, 3),
                   stride=st.integers(1, 3), padding=st.integers(0, 2),
                   seed=st.integers(0, 2**32 - 1))


def conv_case(n, channels, n_out, height, width, k, stride, padding, seed, **regularisers):
    """A Conv2D with parameters away from 0, its input and an upstream gradient."""
    rng = np.random.default_rng(seed)
    # padding < k, so the first window reads an input and dX cannot be all zero.
    padding = min(padding, k - 1)
    height, width = max(height, k - 2 * padding), max(width, k - 2 * padding)
    layer = Conv2D(channels, n_out, k, stride=stride, padding=padding, rng=rng, **regularisers)
    layer.weights = away_from_zero(rng, layer.weights.shape)
    layer.biases = away_from_zero(rng, layer.biases.shape)
    x = rng.standard_normal((n, channels, height, width))
    out_h, out_w = (height + 2 * padding - k) // stride + 1, (width + 2 * padding - k) // stride + 1
    upstream = rng.standard_normal((n, n_out, out_h, out_w))
    return layer, x, upstream


@given(**CONV_SHAPES)
def test_conv2d_forward_matches_the_index_formula(**shape):
    layer, x, _ = conv_case(**shape)
    out = layer.forward(x)
    np.testing.assert_allclose(out, conv_reference(x, layer.weights, layer.biases,
                                                   layer.stride, layer.padding), rtol=1e-12,
                               atol=1e-12)


@given(**CONV_SHAPES)
def test_conv2d_gradients_any_shape(**shape):
    layer, x, upstream = conv_case(**shape, **REGULARISERS)
    layer_gradient_errors(layer, x, upstream)


def test_conv2d_gradients_with_and_without_regularisers():
    for regularisers in (REGULARISERS, {}):
        layer, x, upstream = conv_case(2, 3, 4, 5, 6, 3, 2, 1, seed=4, **regularisers)
        layer_gradient_errors(layer, x, upstream)


def test_conv2d_penalty_is_read_by_regularization_loss():
    layer = Conv2D(1, 2, 2, **REGULARISERS)
    layer.weights = np.arange(-4.0, 4.0).reshape(2, 1, 2, 2)
    layer.biases = np.array([-1.0, 3.0])
    expected = (3e-2 * 16 + 5e-2 * 44 + 2e-2 * 4 + 4e-2 * 10)  # sum|W| 16, sum W^2 44
    assert regularization_loss(layer) == pytest.approx(expected, rel=1e-12)


def test_conv2d_without_input_gradient_still_gives_parameter_gradients():
    layer, x, upstream = conv_case(2, 2, 3, 5, 5, 3, 1, 1, seed=1, **REGULARISERS)
    layer.forward(x)
    full = layer.backward(upstream)
    dw, db = layer.dweights.copy(), layer.dbiases.copy()
    assert layer.backward(upstream, input_gradient=False) is None and layer.dinputs is None
    assert full.shape == x.shape
    np.testing.assert_array_equal(layer.dweights, dw)
    np.testing.assert_array_equal(layer.dbiases, db)


def channels_last(array):
    """The same (N, C, H, W) values, as a view of (N, H, W, C) memory."""
    return np.ascontiguousarray(array.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def test_conv2d_gives_the_same_numbers_whatever_the_memory_order():
    # A gradient that arrives channels last is read without a copy; the result is the same.
    layer, x, upstream = conv_case(3, 4, 5, 6, 7, 3, 1, 1, seed=2)
    out = layer.forward(x).copy()
    dx, dw, db = layer.backward(upstream).copy(), layer.dweights.copy(), layer.dbiases.copy()
    assert layer.output.transpose(0, 2, 3, 1).flags.c_contiguous  # the channels-last output
    np.testing.assert_array_equal(layer.forward(channels_last(x)), out)
    np.testing.assert_allclose(layer.backward(channels_last(upstream)), dx, rtol=1e-13)
    np.testing.assert_allclose(layer.dweights, dw, rtol=1e-13)
    np.testing.assert_allclose(layer.dbiases, db, rtol=1e-13)


def test_conv2d_output_shape():
    layer = Conv2D(3, 8, 5, stride=2, padding=1)
    # (11 + 2 - 5) // 2 + 1 = 5 and (8 + 2 - 5) // 2 + 1 = 3
    assert layer.forward(np.zeros((2, 3, 11, 8))).shape == (2, 8, 5, 3)
    assert layer.output_size(11, 8) == (5, 3)


@given(n=st.integers(1, 4), channels=st.integers(1, 3), size=st.integers(3, 6),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_conv2d_keeps_dtype(n, channels, size, dtype):
    layer = Conv2D(channels, 2, 3, padding=1, **REGULARISERS, dtype=dtype)
    out = layer.forward(np.ones((n, channels, size, size), dtype=dtype))
    dx = layer.backward(np.ones_like(out))
    for array in (layer.weights, layer.biases, out, dx, layer.dweights, layer.dbiases):
        assert array.dtype == dtype


def test_conv2d_backward_does_not_change_parameters():
    layer, x, upstream = conv_case(2, 2, 3, 4, 4, 3, 1, 1, seed=0, **REGULARISERS)
    weights, biases = layer.weights.copy(), layer.biases.copy()
    layer.forward(x)
    layer.backward(upstream)
    np.testing.assert_array_equal(layer.weights, weights)
    np.testing.assert_array_equal(layer.biases, biases)


def test_conv2d_declares_the_parameter_protocol():
    layer = Conv2D(1, 2, 3)
    assert parameter_names(layer) == ("weights", "biases")
    assert decayed_names(layer) == ("weights",) and state_names(layer) == ()
    assert layer.weights.shape == (2, 1, 3, 3) and layer.biases.shape == (2,)


@pytest.mark.parametrize("layer, text", [
    (Conv2D(1, 16, 3, padding=1), "Conv2D(1, 16, 3, padding=1)"),
    (Conv2D(3, 8, 5, stride=2, init="glorot"), "Conv2D(3, 8, 5, stride=2, init='glorot')"),
    (Conv2D(2, 4, 1), "Conv2D(2, 4, 1)"),
])
def test_conv2d_repr(layer, text):
    assert repr(layer) == text


@pytest.mark.parametrize("args, kwargs, message", [
    ((0, 3, 3), {}, r"Conv2D\(0, 3, 3\): in_channels must be a whole number >= 1, got 0"),
    ((1, 0, 3), {}, r"out_channels .* got 0"),
    ((1, 2, 0), {}, r"kernel_size .* got 0"),
    ((1, 2, 2.0), {}, r"kernel_size .* got 2.0"),
    ((True, 2, 3), {}, r"in_channels .* got True"),
    ((1, 2, 3), {"stride": 0}, r"stride must be a whole number >= 1, got 0"),
    ((1, 2, 3), {"padding": -1}, r"padding must be a whole number >= 0, got -1"),
    ((1, 2, 3), {"padding": 1.5}, r"padding .* got 1.5"),
    ((1, 2, 3), {"weight_regularizer_l1": -1}, r"weight_regularizer_l1 .* got -1"),
    ((1, 2, 3), {"bias_regularizer_l2": float("inf")}, r"bias_regularizer_l2 .* got inf"),
    ((1, 2, 3), {"weight_scale": -1.0}, r"weight_scale .* got -1.0"),
])
def test_conv2d_rejects_bad_construction(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Conv2D(*args, **kwargs)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 2, 5, 5), (2, 3, 2, 5), (3, 5, 5)])
def test_conv2d_forward_names_layer_and_shape(shape):
    layer = Conv2D(3, 4, 3)
    expected = (r"Conv2D\(3, 4, 3\) expects inputs of shape \(N, 3, H, W\) with H and W at "
                rf"least 3, got {re.escape(str(shape))}")
    with pytest.raises(ValueError, match=expected):
        layer.forward(np.ones(shape))


# --- MaxPool2D -----------------------------------------------------------------------------


def test_maxpool_known_answer_and_routing():
    x = np.array([[[[1.0, 5.0, 2.0, 0.0],
                    [3.0, 4.0, 8.0, 6.0],
                    [9.0, 0.0, 1.0, 1.0],
                    [2.0, 7.0, 3.0, 4.0]]]])
    pool = MaxPool2D(2)
    np.testing.assert_array_equal(pool.forward(x)[0, 0], [[5.0, 8.0], [9.0, 4.0]])
    np.testing.assert_array_equal(pool.argmax[0, 0], [[1, 2], [0, 3]])
    assert np.issubdtype(pool.argmax.dtype, np.integer)
    dx = pool.backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]))
    np.testing.assert_array_equal(dx[0, 0], [[0, 10, 0, 0], [0, 0, 20, 0],
                                             [30, 0, 0, 0], [0, 0, 0, 40]])


def test_maxpool_tie_goes_to_the_first_maximum_in_row_major_order():
    x = np.array([[[[5.0, 5.0, 1.0, 7.0, 0.0, 2.0],
                    [5.0, 5.0, 7.0, 2.0, 2.0, 2.0]]]])
    pool = MaxPool2D(2)
    np.testing.assert_array_equal(pool.forward(x)[0, 0], [[5.0, 7.0, 2.0]])
    np.testing.assert_array_equal(pool.argmax[0, 0], [[0, 1, 1]])
    dx = pool.backward(np.array([[[[1.0, 2.0, 3.0]]]]))
    np.testing.assert_array_equal(dx[0, 0], [[1, 0, 0, 2, 0, 3], [0, 0, 0, 0, 0, 0]])


def test_maxpool_overlapping_windows_add_their_gradients():
    # size 2, stride 1: both windows of x = [[0, 9, 1], [2, 3, 4]] have their maximum at 9.
    pool = MaxPool2D(2, stride=1)
    x = np.array([[[[0.0, 9.0, 1.0], [2.0, 3.0, 4.0]]]])
    np.testing.assert_array_equal(pool.forward(x)[0, 0], [[9.0, 9.0]])
    np.testing.assert_array_equal(pool.argmax[0, 0], [[1, 0]])
    np.testing.assert_array_equal(pool.backward(np.array([[[[2.0, 5.0]]]]))[0, 0],
                                  [[0, 7, 0], [0, 0, 0]])


def test_maxpool_leaves_rows_past_the_last_window_out():
    pool = MaxPool2D(2)
    x = np.arange(15.0).reshape(1, 1, 3, 5)  # one row and one column no window reaches
    np.testing.assert_array_equal(pool.forward(x)[0, 0], [[6.0, 8.0]])
    dx = pool.backward(np.ones((1, 1, 1, 2)))
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0, 0, 0], [0, 1, 0, 1, 0], [0, 0, 0, 0, 0]])


POOL_SHAPES = dict(n=st.integers(1, 3), channels=st.integers(1, 3), height=st.integers(1, 7),
                   width=st.integers(1, 7), size=st.integers(1, 3),
                   stride=st.one_of(st.none(), st.integers(1, 3)), seed=st.integers(0, 2**32 - 1))


def pool_case(n, channels, height, width, size, stride, seed):
    rng = np.random.default_rng(seed)
    x = distinct(rng, (n, channels, max(height, size), max(width, size)))
    return MaxPool2D(size, stride), x, rng


@given(**POOL_SHAPES)
def test_maxpool_forward_is_the_window_maximum_and_argmax_points_at_it(**shape):
    pool, x, _ = pool_case(**shape)
    out = pool.forward(x)
    k, s = pool.size, pool.stride
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    flat = windows.reshape(*windows.shape[:4], k * k)
    np.testing.assert_array_equal(out, flat.max(axis=-1))
    np.testing.assert_array_equal(pool.argmax, flat.argmax(axis=-1))


@given(**POOL_SHAPES)
def test_maxpool_gradient_without_ties(**shape):
    pool, x, rng = pool_case(**shape)
    upstream = rng.standard_normal(pool.forward(x).shape)
    layer_gradient_errors(pool, x, upstream, kinks=lambda: pool.argmax)


@given(**POOL_SHAPES)
def test_maxpool_disjoint_windows_written_equal_added(**shape):
    pool, x, rng = pool_case(**shape)
    out = pool.forward(x)
    upstream = rng.standard_normal(out.shape)
    added = _route_to_maxima(upstream, pool.argmax, x, pool.size, pool.stride, disjoint=False)
    np.testing.assert_array_equal(pool.backward(upstream), added)


@pytest.mark.parametrize("size", [16, 17])
def test_maxpool_argmax_holds_every_offset_of_a_large_window(size):
    # argmax is kept in the smallest unsigned type that holds size^2 - 1
    # (uint8 up to 16 x 16): the last offset of a 17 x 17 window, 288, must not wrap.
    x = np.zeros((1, 1, size, size))
    x[0, 0, -1, -1] = 1.0
    pool = MaxPool2D(size)
    pool.forward(x)
    assert pool.argmax[0, 0, 0, 0] == size * size - 1
    assert pool.argmax.dtype == (np.uint8 if size == 16 else np.uint16)
    np.testing.assert_array_equal(pool.backward(np.full((1, 1, 1, 1), 2.0)), 2 * x)


def test_maxpool_stride_defaults_to_size():
    assert MaxPool2D(3).stride == 3 and MaxPool2D().size == 2
    assert MaxPool2D(3).forward(np.zeros((1, 1, 7, 6))).shape == (1, 1, 2, 2)
    assert MaxPool2D(3, stride=1).forward(np.zeros((1, 1, 7, 6))).shape == (1, 1, 5, 4)


def test_maxpool_keeps_the_memory_order_it_is_given():
    x = distinct(np.random.default_rng(0), (2, 3, 6, 4))
    pool = MaxPool2D(2)
    out, argmax = pool.forward(x).copy(), pool.argmax.copy()
    upstream = np.random.default_rng(1).standard_normal(out.shape)
    dx = pool.backward(upstream).copy()
    last = pool.forward(channels_last(x))
    assert last.transpose(0, 2, 3, 1).flags.c_contiguous
    np.testing.assert_array_equal(last, out)
    np.testing.assert_array_equal(pool.argmax, argmax)
    np.testing.assert_array_equal(pool.backward(channels_last(upstream)), dx)
    assert pool.dinputs.transpose(0, 2, 3, 1).flags.c_contiguous


@given(n=st.integers(1, 3), channels=st.integers(1, 3), size=st.integers(2, 6),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_maxpool_flatten_and_reshape_keep_dtype(n, channels, size, dtype):
    x = np.linspace(-1, 1, n * channels * size * size, dtype=dtype)
    images = Reshape((channels, size, size)).forward(x.reshape(n, -1))
    pooled = MaxPool2D(2).forward(images)
    rows = Flatten().forward(pooled)
    assert images.dtype == pooled.dtype == rows.dtype == dtype
    for layer, out in ((Flatten(), pooled), (MaxPool2D(2), images), (Reshape((size, size)),
                                                                     x.reshape(-1, size * size))):
        out = layer.forward(out)
        assert layer.backward(np.ones_like(out)).dtype == dtype


@pytest.mark.parametrize("pool, text", [(MaxPool2D(), "MaxPool2D(2)"),
                                        (MaxPool2D(3, stride=3), "MaxPool2D(3)"),
                                        (MaxPool2D(3, 2), "MaxPool2D(3, stride=2)")])
def test_maxpool_repr(pool, text):
    assert repr(pool) == text


@pytest.mark.parametrize("args, message", [
    ((0,), r"MaxPool2D\(0, stride=None\): size must be a whole number >= 1, got 0"),
    ((2.0,), r"size .* got 2.0"),
    ((2, 0), r"MaxPool2D\(2, stride=0\): stride must be a whole number >= 1, got 0"),
    ((2, "1"), r"stride .* got '1'"),
])
def test_maxpool_rejects_bad_construction(args, message):
    with pytest.raises(ValueError, match=message):
        MaxPool2D(*args)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 1, 5), (2, 3, 5, 2)])
def test_maxpool_forward_names_layer_and_shape(shape):
    expected = (r"MaxPool2D\(3\) expects inputs of shape \(N, C, H, W\) with H and W at least 3, "
                rf"got {re.escape(str(shape))}")
    with pytest.raises(ValueError, match=expected):
        MaxPool2D(3).forward(np.ones(shape))


# --- Flatten and Reshape -------------------------------------------------------------------


def test_flatten_reads_rows_in_c_order_and_restores_the_shape():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    flatten = Flatten()
    np.testing.assert_array_equal(flatten.forward(x), np.arange(24.0).reshape(2, 12))
    np.testing.assert_array_equal(flatten.forward(channels_last(x)), np.arange(24.0).reshape(2, 12))
    g = np.arange(24.0).reshape(2, 12) * 2
    np.testing.assert_array_equal(flatten.backward(g), 2 * x)
    assert repr(flatten) == "Flatten()"
    assert Flatten().forward(np.zeros((0, 4, 5))).shape == (0, 20)


def test_reshape_turns_rows_into_images_and_back():
    reshape = Reshape((1, 2, 3))
    x = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(reshape.forward(x), x.reshape(2, 1, 2, 3))
    np.testing.assert_array_equal(reshape.backward(3 * x.reshape(2, 1, 2, 3)), 3 * x)
    assert repr(reshape) == "Reshape((1, 2, 3))"


@pytest.mark.parametrize("shape", [(5, 7), (5, 6, 1), (6,)])
def test_reshape_names_both_shapes_for_a_wrong_width(shape):
    expected = (r"Reshape\(\(1, 2, 3\)\) expects inputs of shape \(N, 6\), "
                rf"got {re.escape(str(shape))}")
    with pytest.raises(ValueError, match=expected):
        Reshape((1, 2, 3)).forward(np.ones(shape))


def test_reshape_takes_a_list_as_its_tuple():
    assert repr(Reshape([1, 28, 28])) == "Reshape((1, 28, 28))"
    assert Reshape([np.int64(2), 3]).shape == (2, 3)


@pytest.mark.parametrize("shape", [(), [], (1, 0, 3), (2, 2.0), 784, None, "1, 2"])
def test_reshape_rejects_a_bad_shape(shape):
    with pytest.raises(ValueError, match=re.escape(repr(shape))):
        Reshape(shape)


@given(n=st.integers(1, 5), shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_flatten_and_reshape_are_inverse(n, shape, dtype):
    width = int(np.prod(shape))
    x = np.arange(n * width, dtype=dtype).reshape(n, width)
    images = Reshape(tuple(shape)).forward(x)
    assert images.shape == (n, *shape) and images.dtype == dtype
    np.testing.assert_array_equal(Flatten().forward(images), x)


# --- BatchNorm -----------------------------------------------------------------------------


def batchnorm_known_case():
    """Feature 0: [1, 3, 5, 7], mean 4, var 5; feature 1: [0, 0, 0, 8], mean 2, var 12.

    With epsilon 4 the sigmas are 3 and 4, so x_hat = [-1, -1/3, 1/3, 1] and
    [-1/2, -1/2, -1/2, 3/2].
    """
    layer = BatchNorm(2, epsilon=4.0)
    layer.gamma = np.array([2.0, -1.0])
    layer.beta = np.array([0.5, 1.0])
    return layer, np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 0.0], [7.0, 8.0]])


def test_batchnorm_known_forward_and_backward():
    layer, x = batchnorm_known_case()
    np.testing.assert_allclose(layer.forward(x, training=True),
                               [[-1.5, 1.5], [1 / 3 + 0.5 - 1, 1.5], [7 / 6, 1.5], [2.5, -0.5]],
                               rtol=1e-14)
    # G one at the first sample: dbeta = 1, dgamma = x_hat[0] = [-1, -1/2], and
    # dX = gamma / (m sigma) (m [i = 0] - 1 - x_hat x_hat[0]); feature 0: (1/6) [2, -4/3, -2/3, 0];
    # feature 1: (-1/16) [4 - 1 - 1/4, -1 - 1/4, -1 - 1/4, -1 + 3/4].
    g = np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    dx = layer.backward(g)
    np.testing.assert_allclose(layer.dbeta, [1.0, 1.0], rtol=1e-14)
    np.testing.assert_allclose(layer.dgamma, [-1.0, -0.5], rtol=1e-14)
    np.testing.assert_allclose(dx, [[1 / 3, -11 / 64], [-2 / 9, 5 / 64], [-1 / 9, 5 / 64],
                                    [0.0, 1 / 64]], rtol=1e-14, atol=1e-16)


def test_batchnorm_running_statistics_after_two_steps():
    layer, x = batchnorm_known_case()
    layer.forward(x, training=True)
    # mean [4, 2]; unbiased var 4/3 [5, 12] = [20/3, 16]
    np.testing.assert_allclose(layer.running_mean, [0.4, 0.2], rtol=1e-15)
    np.testing.assert_allclose(layer.running_var, [0.9 + 2 / 3, 0.9 + 1.6], rtol=1e-15)
    layer.forward(x + 10, training=True)  # mean [14, 12], the same variances
    np.testing.assert_allclose(layer.running_mean, [0.9 * 0.4 + 1.4, 0.9 * 0.2 + 1.2], rtol=1e-15)
    np.testing.assert_allclose(layer.running_var, [0.9 * (0.9 + 2 / 3) + 2 / 3, 0.9 * 2.5 + 1.6],
                               rtol=1e-15)


def test_batchnorm_momentum_sets_the_step_of_the_running_statistics():
    layer = BatchNorm(1, momentum=0.25)
    layer.forward(np.array([[2.0], [4.0]]), training=True)  # mean 3, unbiased var 2
    np.testing.assert_allclose(layer.running_mean, [0.75], rtol=1e-15)
    np.testing.assert_allclose(layer.running_var, [0.75 + 0.5], rtol=1e-15)


def test_batchnorm_evaluation_uses_the_running_statistics_and_changes_nothing():
    layer, x = batchnorm_known_case()
    layer.running_mean = np.array([1.0, -2.0])
    layer.running_var = np.array([12.0, 0.0])  # + epsilon 4: sigmas 4 and 2
    out = layer.forward(x)
    # feature 1: -(x + 2) / 2 + 1 = [0, 0, 0, -4]
    np.testing.assert_allclose(out, [[0.5, 0.0], [1.5, 0.0], [2.5, 0.0], [3.5, -4.0]], rtol=1e-15)
    np.testing.assert_array_equal(layer.running_mean, [1.0, -2.0])
    np.testing.assert_array_equal(layer.running_var, [12.0, 0.0])
    # The statistics are constants here: dX = gamma G / sigma.
    np.testing.assert_allclose(layer.backward(np.ones((4, 2))), np.tile([0.5, -0.5], (4, 1)),
                               rtol=1e-15)


def batchnorm_case(shape, seed):
    """A BatchNorm with random parameters and statistics, inputs and an upstream gradient.

    Two values per feature normalise to exactly -1 and 1 whatever they are,
    up to epsilon: dX is then of order epsilon / sigma^3, too small for
    finite differences at epsilon 1e-5, so that case takes epsilon 1.
    """
    rng = np.random.default_rng(seed)
    layer = BatchNorm(shape[1], epsilon=1.0 if np.prod(shape) == 2 * shape[1] else 1e-5)
    layer.gamma = rng.standard_normal(shape[1])
    layer.beta = rng.standard_normal(shape[1])
    layer.running_mean = rng.standard_normal(shape[1])
    layer.running_var = rng.random(shape[1]) + 0.5
    return layer, 3 * rng.standard_normal(shape) + 1, rng.standard_normal(shape)


@pytest.mark.parametrize("shape", [(6, 3), (2, 1), (3, 2, 4, 5), (1, 3, 2, 1)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients(shape, training):
    layer, x, upstream = batchnorm_case(shape, seed=sum(shape))
    layer_gradient_errors(layer, x, upstream, training=training)


@given(n=st.integers(2, 8), features=st.integers(1, 4), image=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_batchnorm_gradients_any_shape(n, features, image, seed):
    shape = (n, features, 2, 3) if image else (n, features)
    layer_gradient_errors(*batchnorm_case(shape, seed))


def test_batchnorm_of_images_normalises_each_channel_over_batch_and_pixels():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3, 5, 2)) * np.array([1.0, 10.0, 0.1]).reshape(1, 3, 1, 1)
    out = BatchNorm(3, epsilon=1e-12).forward(x, training=True)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-14)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-9)  # var / (var + 1e-12)
    per_feature = BatchNorm(3, epsilon=1e-12).forward(x.transpose(0, 2, 3, 1).reshape(-1, 3),
                                                      training=True)
    np.testing.assert_allclose(out.transpose(0, 2, 3, 1).reshape(-1, 3), per_feature, rtol=1e-12)


def test_batchnorm_of_a_constant_feature_gives_beta_without_a_warning():
    layer = BatchNorm(2)
    layer.beta = np.array([0.5, -1.0])
    x = np.array([[3.0, 1.0], [3.0, 2.0], [3.0, 3.0]])
    out = layer.forward(x, training=True)  # variance 0: x_hat = 0 / sqrt(epsilon)
    np.testing.assert_array_equal(out[:, 0], [0.5, 0.5, 0.5])
    dx = layer.backward(np.array([[1.0, 0.0], [2.0, 0.0], [4.0, 0.0]]))
    # m G - sum(G) = [-4, -1, 5] over m sqrt(epsilon): finite, no NaN
    np.testing.assert_allclose(dx[:, 0], np.array([-4.0, -1.0, 5.0]) / (3 * np.sqrt(1e-5)),
                               rtol=1e-12)


def test_batchnorm_of_a_large_offset_normalises_as_without_it():
    # The variance is the mean of squared deviations (X - mu)^2, not
    # mean(X^2) - mu^2, whose cancellation would lose every digit here.
    x = np.random.default_rng(3).standard_normal((50, 3))
    near = BatchNorm(3).forward(x, training=True)
    far = BatchNorm(3).forward(x + 1e9, training=True)
    np.testing.assert_allclose(far, near, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1)])
def test_batchnorm_refuses_to_train_on_one_value_per_feature(shape):
    layer = BatchNorm(3)
    with pytest.raises(ValueError, match=r"BatchNorm\(3\) cannot train on one value per feature "
                                         rf"\(inputs of shape {re.escape(str(shape))}\)"):
        layer.forward(np.ones(shape), training=True)
    np.testing.assert_array_equal(layer.running_var, np.ones(3))  # nothing moved
    assert layer.forward(np.ones(shape)).shape == shape  # evaluation needs no batch statistics


def test_batchnorm_declares_parameters_and_state():
    layer = BatchNorm(4)
    assert parameter_names(layer) == ("gamma", "beta")
    assert decayed_names(layer) == () and state_names(layer) == ("running_mean", "running_var")
    for name, value in (("gamma", 1), ("beta", 0), ("running_mean", 0), ("running_var", 1)):
        np.testing.assert_array_equal(getattr(layer, name), np.full(4, float(value)))
    assert regularization_loss(layer) == 0.0


@given(n=st.integers(2, 6), features=st.integers(1, 4), image=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), training=st.booleans())
def test_batchnorm_keeps_dtype(n, features, image, dtype, training):
    layer = BatchNorm(features, dtype=dtype)
    shape = (n, features, 3, 2) if image else (n, features)
    out = layer.forward(np.linspace(-3, 3, np.prod(shape), dtype=dtype).reshape(shape), training)
    dx = layer.backward(np.ones_like(out))
    for array in (out, dx, layer.dgamma, layer.dbeta, layer.running_mean, layer.running_var):
        assert array.dtype == dtype


def test_batchnorm_backward_changes_neither_parameters_nor_state():
    layer, x, upstream = batchnorm_case((5, 3), seed=0)
    layer.forward(x, training=True)
    before = {name: getattr(layer, name).copy()
              for name in ("gamma", "beta", "running_mean", "running_var")}
    layer.backward(upstream)
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(layer, name), value)


@pytest.mark.parametrize("layer, text", [(BatchNorm(16), "BatchNorm(16)"),
                                         (BatchNorm(3, momentum=0.01, epsilon=1e-3),
                                          "BatchNorm(3, momentum=0.01, epsilon=0.001)")])
def test_batchnorm_repr(layer, text):
    assert repr(layer) == text


@pytest.mark.parametrize("args, kwargs, message", [
    ((0,), {}, r"BatchNorm\(0\): n_features must be a whole number >= 1, got 0"),
    ((2.5,), {}, r"n_features .* got 2.5"),
    ((3,), {"momentum": -0.1}, r"momentum must be a number in \[0, 1\], got -0.1"),
    ((3,), {"momentum": 1.5}, r"momentum .* got 1.5"),
    ((3,), {"momentum": float("nan")}, r"momentum .* got nan"),
    ((3,), {"epsilon": 0}, r"epsilon must be a finite number > 0, got 0"),
    ((3,), {"epsilon": float("inf")}, r"epsilon .* got inf"),
    ((3,), {"epsilon": "1e-5"}, r"epsilon .* got '1e-5'"),
])
def test_batchnorm_rejects_bad_construction(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchNorm(*args, **kwargs)


@pytest.mark.parametrize("shape", [(4, 2), (4, 3, 2), (4, 2, 5, 5), (4,)])
def test_batchnorm_forward_names_layer_and_shape(shape):
    expected = (r"BatchNorm\(3\) expects inputs of shape \(N, 3\) or \(N, 3, H, W\), "
                rf"got {re.escape(str(shape))}")
    with pytest.raises(ValueError, match=expected):
        BatchNorm(3).forward(np.ones(shape), training=True)


# --- All the new layers together -----------------------------------------------------------


@pytest.mark.parametrize("make, shape", [
    (lambda: Conv2D(2, 3, 3, stride=2, padding=1, **REGULARISERS), (3, 2, 5, 6)),
    (lambda: MaxPool2D(2), (3, 2, 5, 6)),
    (lambda: MaxPool2D(3, stride=1), (3, 2, 5, 6)),
    (lambda: Flatten(), (3, 2, 5, 6)),
    (lambda: Reshape((2, 5)), (3, 10)),
    (lambda: BatchNorm(2), (3, 2, 5, 6)),
    (lambda: BatchNorm(2), (3, 2)),
], ids=["conv2d", "maxpool", "maxpool-overlapping", "flatten", "reshape", "batchnorm-images",
        "batchnorm"])
@pytest.mark.parametrize("training", [False, True])
def test_new_layers_leave_their_arguments_unchanged(make, shape, training):
    assert_arguments_unchanged(make(), np.random.default_rng(0).standard_normal(shape), training)


def test_a_small_convolutional_network_backpropagates_exactly():
    # Rows in, classes out, through every new layer, the layouts as they
    # flow (channels-last views between the layers). BatchNorm comes first:
    # after a layer with biases it would make their gradient exactly zero
    # (a constant per channel is what it subtracts).
    rng = np.random.default_rng(6)
    conv1 = Conv2D(1, 3, 3, padding=1, rng=rng, **REGULARISERS)
    conv2 = Conv2D(3, 4, 2, stride=2, rng=rng)
    relu, pool, norm = ReLU(), MaxPool2D(2), BatchNorm(1)
    norm.gamma, norm.beta = np.array([1.5]), np.array([0.2])
    layers = [Reshape((1, 6, 5)), norm, conv1, relu, pool, conv2, Tanh(), Flatten(),
              Dense(4, 3, rng=rng, init="glorot")]
    x = rng.standard_normal((4, 30))
    upstream = rng.standard_normal((4, 3))

    def loss():
        out = x
        for layer in layers:
            out = layer.forward(out, True)
        value = float((out * upstream).sum()) + sum(map(regularization_loss, layers))
        sides = np.concatenate([(relu.inputs > 0).ravel(), pool.argmax.ravel()])
        assert np.array_equal(sides, reference), "a perturbation crossed a kink"
        return value

    out = x
    for layer in layers:
        out = layer.forward(out, True)
    reference = np.concatenate([(relu.inputs > 0).ravel(), pool.argmax.ravel()])
    grad = upstream
    for layer in reversed(layers):
        grad = layer.backward(grad)
    checked = [(grad, x)] + [(getattr(layer, "d" + name), getattr(layer, name))
                             for layer in layers for name in parameter_names(layer)]
    assert len(checked) == 1 + 2 + 2 + 2 + 2
    for analytic, array in checked:
        assert_gradient_matches(analytic.copy(), numerical_gradient(loss, array))
