"""Every fast path gives the numbers of the plain class it stands in for, bit for bit."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import activations
import fast
import layers

# --- fast.Softmax -------------------------------------------------------------------------


@given(n=st.integers(1, 300), classes=st.integers(1, 10), scale=st.sampled_from([1e-3, 1, 30]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1),
       layout=st.sampled_from(["c", "fortran", "every other column"]))
def test_fast_softmax_gives_the_plain_probabilities_bit_for_bit(n, classes, scale, dtype, seed,
                                                                layout):
    logits = (scale * np.random.default_rng(seed).standard_normal((n, 2 * classes))).astype(dtype)
    if layout == "every other column":
        x = logits[:, ::2]
    else:
        x = logits[:, :classes].copy(order="C" if layout == "c" else "F")
    plain, quick = activations.Softmax(), fast.Softmax()
    p = quick.forward(x)
    np.testing.assert_array_equal(p, plain.forward(x))
    assert p.dtype == dtype and quick.inputs is x
    g = np.random.default_rng(seed + 1).standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(quick.backward(g), plain.backward(g))


def test_fast_softmax_takes_the_column_by_column_route_for_2_to_7_classes_only():
    # Equal probabilities would also come from always taking the plain route: is it avoided?
    calls = []

    class Counted(np.ndarray):
        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            calls.append((ufunc.__name__, method))
            inputs = [np.asarray(i) for i in inputs]
            if "out" in kwargs:
                kwargs["out"] = tuple(np.asarray(o) for o in kwargs["out"])
            return getattr(ufunc, method)(*inputs, **kwargs)

    for classes, fast_route in ((2, True), (7, True), (8, False), (1, False)):
        calls.clear()
        x = np.random.default_rng(classes).standard_normal((5, classes)).view(Counted)
        fast.Softmax().forward(x)
        assert (("maximum", "__call__") in calls) == fast_route
        assert (("maximum", "reduce") in calls) != fast_route


def test_fast_softmax_of_extreme_logits_is_finite_and_sums_to_one():
    logits = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, -999.0]], dtype=np.float32)
    p = fast.Softmax().forward(logits)
    np.testing.assert_array_equal(p, activations.Softmax().forward(logits))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)


# --- fast.Dropout -------------------------------------------------------------------------

SHAPES = [(300, 64), (3000, 64), (7, 9), (1, 1), (2, 3), (4, 1), (5, 5), (16,)]


def where(rng):
    """What decides a generator's next draws: its state, and the half of a 64-bit draw it
    keeps, if it keeps one (``uinteger`` holds a stale half otherwise, never read)."""
    state = dict(rng.bit_generator.state)
    if not state["has_uint32"]:
        del state["uinteger"]
    return state


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.3, 0.9, 1e-9, 1 - 1e-9, 0.123456789])
def test_fast_dropout_draws_the_plain_masks_and_leaves_the_generator_where_the_plain_one_does(
        rate):
    # Odd and even numbers of units in turn: an odd one leaves half a 64-bit draw kept.
    plain = layers.Dropout(rate, rng=np.random.default_rng(17))
    quick = fast.Dropout(rate, rng=np.random.default_rng(17))
    for shape in SHAPES + SHAPES[::-1]:
        x = np.ones(shape, dtype=np.float32)
        np.testing.assert_array_equal(quick.forward(x, training=True),
                                      plain.forward(x, training=True))
        np.testing.assert_array_equal(quick.mask, plain.mask)
        assert where(quick.rng) == where(plain.rng)


def test_fast_dropout_reads_raw_bits_when_it_can(monkeypatch):
    # Equal masks would also come from always taking the plain draw: is the fast one taken?
    plain_draws = []
    draw = layers.Dropout.bernoulli
    monkeypatch.setattr(layers.Dropout, "bernoulli",
                        lambda self, shape, p: plain_draws.append(shape) or draw(self, shape, p))
    layer = fast.Dropout(0.1, rng=np.random.default_rng(0))
    for shape in ((300, 64), (3, 3), (2, 2), (3, 3), (2, 2)):
        layer.forward(np.ones(shape), training=True)
    # (300, 64): raw bits. (3, 3): odd, plain, and the high half of its last 64-bit draw is
    # kept for the next draw; (2, 2) starts with that half, plain, and keeps a half of its
    # own; the second (3, 3) uses it up, and the last (2, 2) reads raw bits again.
    assert plain_draws == [(3, 3), (2, 2), (3, 3)]


def test_fast_dropout_draws_as_the_plain_layer_from_another_bit_generator():
    # MT19937's raw outputs are 32 bits each: read as halves of 64 they would be wrong.
    plain = layers.Dropout(0.4, rng=np.random.Generator(np.random.MT19937(5)))
    quick = fast.Dropout(0.4, rng=np.random.Generator(np.random.MT19937(5)))
    x = np.ones((30, 40))
    np.testing.assert_array_equal(quick.forward(x, training=True), plain.forward(x, training=True))


class GivenBits(np.random.PCG64):
    """A PCG64 whose raw outputs are given, as pairs of 32-bit halves (low half first)."""

    def __init__(self, halves):
        super().__init__(0)
        self.raw = np.array(halves, dtype=np.uint32).view(np.uint64)

    def random_raw(self, size=None, output=True):
        return self.raw[:size]


def float32_uniform(u):
    """NumPy's float32 uniform from 32 random bits u: (u >> 8) 2^-24."""
    return (np.asarray(u, dtype=np.uint32) >> 8).astype(np.float32) * np.float32(2**-24)


@pytest.mark.parametrize("p", [0.9, 0.1, 0.5, 0.75, 1e-9, 1 - 1e-9, 1 - 2**-24, 2**-24, 0.3])
def test_fast_dropout_keeps_exactly_the_bits_whose_float32_uniform_is_below_p(p):
    # The bound 256 ceil(p 2^24): the draws on either side of it, and of its neighbours.
    bound = 256 * math.ceil(np.float32(p) * 2**24)
    halves = [u for u in (0, 255, bound - 257, bound - 256, bound - 255, bound - 1, bound,
                          bound + 1, 2**32 - 1) if 0 <= u < 2**32]
    halves += [0] * (len(halves) % 2)
    layer = fast.Dropout(1 - p, rng=np.random.Generator(GivenBits(halves)))
    kept = layer.bernoulli((len(halves),), p)
    np.testing.assert_array_equal(kept, float32_uniform(halves) < np.float32(p))
