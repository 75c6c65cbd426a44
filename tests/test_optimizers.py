import math
import weakref

import numpy as np
import pytest

from activations import ReLU
from layers import Dense
from optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSProp, cosine, exponential, inverse


class Quadratic:
    """A stand-in layer whose loss is 0.5 * sum(scale * (p - target)^2) per parameter.

    Its gradient scale * (p - target) depends on where the optimizer moved p,
    so a wrong update changes every later step of the trajectory.
    """

    def __init__(self, seed, shapes=((3, 2), (1, 2))):
        rng = np.random.default_rng(seed)
        self.weights = rng.standard_normal(shapes[0])
        self.biases = rng.standard_normal(shapes[1])
        self.scale_w = rng.uniform(0.1, 3.0, shapes[0])
        self.scale_b = rng.uniform(0.1, 3.0, shapes[1])
        self.compute_gradients()

    def compute_gradients(self):
        self.dweights = self.scale_w * (self.weights - 1.0)
        self.dbiases = self.scale_b * (self.biases + 0.5)


def reference(rule, p, grad_of, steps, learning_rate, decay, weight_decay=0.0, **hp):
    """The update rules of API.md, written out plainly, one fresh array per step.

    ``weight_decay``: AdamW's decoupled decay of p, before the rule.
    """
    state_a = np.zeros_like(p)  # velocity, cache or first moment
    state_b = np.zeros_like(p)  # Adam's second moment
    for t in range(steps):
        g = grad_of(p)
        lr = learning_rate / (1 + decay * t)
        if weight_decay:
            p = p - lr * weight_decay * p
        if rule == "sgd":
            if hp.get("momentum", 0.0):
                state_a = hp["momentum"] * state_a - lr * g
                p = p + state_a
            else:
                p = p - lr * g
        elif rule == "adagrad":
            state_a = state_a + g**2
            p = p - lr * g / (np.sqrt(state_a) + hp["epsilon"])
        elif rule == "rmsprop":
            state_a = hp["rho"] * state_a + (1 - hp["rho"]) * g**2
            p = p - lr * g / (np.sqrt(state_a) + hp["epsilon"])
        elif rule == "adam":
            state_a = hp["beta_1"] * state_a + (1 - hp["beta_1"]) * g
            state_b = hp["beta_2"] * state_b + (1 - hp["beta_2"]) * g**2
            m_hat = state_a / (1 - hp["beta_1"] ** (t + 1))
            v_hat = state_b / (1 - hp["beta_2"] ** (t + 1))
            p = p - lr * m_hat / (np.sqrt(v_hat) + hp["epsilon"])
    return p


CASES = [
    ("sgd", SGD, dict(momentum=0.0)),
    ("sgd", SGD, dict(momentum=0.9)),
    ("sgd", SGD, dict(momentum=0.5)),
    ("adagrad", Adagrad, dict(epsilon=1e-7)),
    ("rmsprop", RMSProp, dict(epsilon=1e-7, rho=0.9)),
    ("rmsprop", RMSProp, dict(epsilon=1e-3, rho=0.999)),
    ("adam", Adam, dict(epsilon=1e-7, beta_1=0.9, beta_2=0.999)),
    ("adam", Adam, dict(epsilon=1e-4, beta_1=0.5, beta_2=0.9)),
]


@pytest.mark.parametrize("rule, cls, hp", CASES)
@pytest.mark.parametrize("learning_rate", [1e-3, 0.8])
@pytest.mark.parametrize("decay", [0.0, 0.1])
@pytest.mark.parametrize("steps", [1, 50])
def test_trajectory_matches_update_rule(rule, cls, hp, learning_rate, decay, steps):
    layer = Quadratic(seed=steps)
    start_w, start_b = layer.weights.copy(), layer.biases.copy()
    optimizer = cls(learning_rate=learning_rate, decay=decay, **hp)
    for _ in range(steps):
        layer.compute_gradients()
        optimizer.step([layer])
    expected_w = reference(rule, start_w, lambda p: layer.scale_w * (p - 1.0), steps,
                           learning_rate, decay, **hp)
    expected_b = reference(rule, start_b, lambda p: layer.scale_b * (p + 0.5), steps,
                           learning_rate, decay, **hp)
    np.testing.assert_allclose(layer.weights, expected_w, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.biases, expected_b, rtol=1e-12, atol=1e-14)
    assert optimizer.iterations == steps
    last_rate = learning_rate / (1 + decay * (steps - 1))
    assert optimizer.current_learning_rate == pytest.approx(last_rate)


class Scalar:
    """One weight and one bias with fixed gradients, for numbers worked out by hand."""

    def __init__(self, w, dw, b=0.0, db=1.0):
        self.weights, self.dweights = np.array([[w]]), np.array([[dw]])
        self.biases, self.dbiases = np.array([[b]]), np.array([[db]])


def test_sgd_by_hand():
    layer = Scalar(w=1.0, dw=2.0, b=0.5, db=-1.0)
    SGD(learning_rate=0.25).step([layer])
    assert layer.weights[0, 0] == 0.5 and layer.biases[0, 0] == 0.75


def test_sgd_momentum_by_hand():
    layer = Scalar(w=1.0, dw=1.0)
    optimizer = SGD(learning_rate=0.5, momentum=0.5)
    optimizer.step([layer])  # v = -0.5;               w = 0.5
    optimizer.step([layer])  # v = 0.5 * -0.5 - 0.5;   w = -0.25
    assert layer.weights[0, 0] == -0.25


def test_decay_schedule_by_hand():
    layer = Scalar(w=0.0, dw=1.0)
    optimizer = SGD(learning_rate=1.0, decay=0.5)
    assert optimizer.current_learning_rate == 1.0 and optimizer.iterations == 0
    optimizer.step([layer])  # lr_0 = 1
    optimizer.step([layer])  # lr_1 = 1 / 1.5
    optimizer.step([layer])  # lr_2 = 1 / 2
    assert optimizer.current_learning_rate == 0.5
    assert layer.weights[0, 0] == pytest.approx(-(1 + 1 / 1.5 + 0.5))


def test_adagrad_by_hand():
    layer = Scalar(w=1.0, dw=3.0)
    optimizer = Adagrad(learning_rate=0.5, epsilon=0.0)
    optimizer.step([layer])  # c = 9;  w = 1 - 0.5 * 3 / 3
    optimizer.step([layer])  # c = 18; w = 0.5 - 0.5 * 3 / sqrt(18)
    assert layer.weights[0, 0] == pytest.approx(0.5 - 1.5 / math.sqrt(18), rel=1e-15)


def test_rmsprop_by_hand():
    layer = Scalar(w=1.0, dw=2.0)
    RMSProp(learning_rate=0.1, epsilon=0.0, rho=0.75).step([layer])  # c = 0.25 * 4 = 1
    assert layer.weights[0, 0] == pytest.approx(1.0 - 0.1 * 2.0, rel=1e-15)


def test_adam_first_step_is_learning_rate_times_sign():
    # m_hat = g and v_hat = g^2 after one step, so the step is lr * g / (|g| + eps).
    layer = Scalar(w=1.0, dw=-4.0, b=0.0, db=1e-3)
    Adam(learning_rate=0.01, epsilon=0.0).step([layer])
    assert layer.weights[0, 0] == pytest.approx(1.01, rel=1e-15)
    assert layer.biases[0, 0] == pytest.approx(-0.01, rel=1e-12)


@pytest.mark.parametrize("cls", [SGD, Adagrad, RMSProp, Adam])
def test_layers_without_weights_are_skipped(cls):
    layer = Scalar(w=1.0, dw=1.0)
    cls(learning_rate=0.1).step([ReLU(), layer, ReLU()])
    assert layer.weights[0, 0] < 1.0


# Factories, not optimizers: an optimizer built at import time would carry its
# state from one run of the suite to the next in the same process.
OPTIMIZERS = [lambda: SGD(0.1, momentum=0.9), lambda: Adagrad(0.1), lambda: RMSProp(0.01),
              lambda: Adam(0.01), lambda: AdamW(0.01, weight_decay=0.5)]
NAMES = ["sgd", "adagrad", "rmsprop", "adam", "adamw"]


@pytest.mark.parametrize("make", OPTIMIZERS, ids=NAMES)
def test_two_layers_keep_separate_state(make):
    optimizer = make()
    together = [Quadratic(seed=1), Quadratic(seed=2)]
    apart = [Quadratic(seed=1), Quadratic(seed=2)]
    separate_optimizers = [type(optimizer)(**_settings(optimizer)) for _ in apart]
    for _ in range(20):
        for layer in together + apart:
            layer.compute_gradients()
        optimizer.step(together)
        for layer, own in zip(apart, separate_optimizers, strict=True):
            own.step([layer])
    for joint, alone in zip(together, apart, strict=True):
        np.testing.assert_array_equal(joint.weights, alone.weights)
        np.testing.assert_array_equal(joint.biases, alone.biases)


def _settings(optimizer):
    """The constructor's arguments that ``optimizer`` was built with."""
    names = ("learning_rate", "decay", "momentum", "epsilon", "rho", "beta_1", "beta_2",
             "weight_decay")
    return {name: value for name, value in vars(optimizer).items() if name in names}


def test_adam_after_adagrad_on_the_same_layer():
    layer = Dense(2, 3, rng=np.random.default_rng(0))
    layer.forward(np.ones((4, 2)))
    layer.backward(np.ones((4, 3)))
    Adagrad(0.1).step([layer])
    adam = Adam(0.1)
    adam.step([layer])
    assert np.isfinite(layer.weights).all() and adam.iterations == 1


@pytest.mark.parametrize("make", OPTIMIZERS, ids=NAMES)
def test_optimizer_writes_nothing_but_weights_and_biases(make):
    optimizer = make()
    layer = Dense(2, 3, weight_regularizer_l2=0.1, rng=np.random.default_rng(0))
    layer.forward(np.ones((4, 2)))
    layer.backward(np.ones((4, 3)))
    before = dict(vars(layer))
    snapshot = {name: np.copy(value) for name, value in before.items()
                if isinstance(value, np.ndarray)}
    optimizer.step([layer])
    assert set(vars(layer)) == set(before)
    for name, value in vars(layer).items():
        assert value is before[name], name
        if name not in ("weights", "biases") and name in snapshot:
            np.testing.assert_array_equal(value, snapshot[name])
    assert not np.array_equal(layer.weights, snapshot["weights"])


@pytest.mark.parametrize("make", OPTIMIZERS, ids=NAMES)
@pytest.mark.parametrize("fused", [False, True])
def test_float32_parameters_stay_float32(make, fused):
    optimizer = make()
    optimizer.fused = fused
    layer = Dense(2, 3, dtype=np.float32)
    layer.forward(np.ones((4, 2), dtype=np.float32))
    layer.backward(np.ones((4, 3), dtype=np.float32))
    optimizer.step([layer])
    assert layer.weights.dtype == np.float32 and layer.biases.dtype == np.float32


BAD_HYPERPARAMETERS = [
    (SGD, "learning_rate", 0.0), (SGD, "learning_rate", -1.0),
    (SGD, "learning_rate", float("inf")), (SGD, "learning_rate", float("nan")),
    (SGD, "learning_rate", "fast"), (SGD, "decay", -1e-3), (SGD, "decay", float("inf")),
    (SGD, "momentum", 1.0), (SGD, "momentum", -0.1),
    (Adagrad, "epsilon", -1e-7), (Adagrad, "epsilon", float("nan")),
    (RMSProp, "rho", 1.0), (RMSProp, "rho", -0.5),
    (Adam, "beta_1", 1.0), (Adam, "beta_2", 1.5), (Adam, "beta_2", -0.1),
    (Adam, "epsilon", float("-inf")),
]


@pytest.mark.parametrize("cls, name, value", BAD_HYPERPARAMETERS)
def test_bad_hyperparameter_is_value_error_naming_it(cls, name, value):
    with pytest.raises(ValueError, match=f"{name}.*{value!r}"):
        cls(**{name: value})


def test_defaults_match_api():
    assert _settings(SGD()) == dict(learning_rate=1.0, decay=0.0, momentum=0.0)
    assert _settings(Adagrad()) == dict(learning_rate=1.0, decay=0.0, epsilon=1e-7)
    assert _settings(RMSProp()) == dict(learning_rate=0.001, decay=0.0, epsilon=1e-7, rho=0.9)
    assert _settings(Adam()) == dict(learning_rate=0.001, decay=0.0, epsilon=1e-7,
                                     beta_1=0.9, beta_2=0.999)
    assert _settings(AdamW()) == dict(learning_rate=0.001, decay=0.0, epsilon=1e-7,
                                      beta_1=0.9, beta_2=0.999, weight_decay=0.01)


def two_layer_step(layers, optimizer, x):
    """One step on a small 3-5-2 network with a tanh between the layers."""
    hidden = np.tanh(layers[0].forward(x))
    out = layers[1].forward(hidden)
    layers[0].backward(layers[1].backward(np.sin(out)) * (1 - hidden**2))
    optimizer.step(layers)


SETTINGS = [
    (SGD, dict(learning_rate=0.5, momentum=0.9, decay=0.01)), (SGD, dict(learning_rate=0.1)),
    (Adagrad, dict(decay=0.1)), (RMSProp, dict(learning_rate=0.01, rho=0.5)),
    (Adam, dict(learning_rate=0.05, decay=1e-3))]


@pytest.mark.parametrize("cls, settings", SETTINGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_path_equals_per_array_path(cls, settings, dtype):
    x = np.random.default_rng(1).standard_normal((8, 3)).astype(dtype)
    runs = []
    for fused in (False, True):
        rng = np.random.default_rng(0)
        layers = [Dense(3, 5, rng=rng, dtype=dtype), Dense(5, 2, rng=rng, dtype=dtype)]
        optimizer = cls(**settings, fused=fused)
        for _ in range(30):
            two_layer_step(layers, optimizer, x)
        runs.append((layers, optimizer))
    (plain, plain_opt), (fused, fused_opt) = runs
    for a, b in zip(plain, fused, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.biases, b.biases)
        assert b.weights.dtype == dtype
        for name in cls.slots if cls is not SGD else ():
            np.testing.assert_array_equal(plain_opt.state(a.weights)[name],
                                          fused_opt.state(b.weights)[name])
    assert fused_opt.iterations == plain_opt.iterations == 30


def test_fused_layers_hold_views_of_one_array():
    layers = [Dense(3, 5), Dense(5, 2)]
    two_layer_step(layers, Adam(0.01, fused=True), np.ones((4, 3)))
    bases = {id(array.base) for layer in layers for array in (layer.weights, layer.biases)}
    assert len(bases) == 1 and layers[0].weights.base.size == 3 * 5 + 5 + 5 * 2 + 2


@pytest.mark.parametrize("replace", ["weights", "biases"])
def test_fused_path_adopts_a_replaced_parameter_like_the_plain_path(replace):
    """A caller may replace weights (API.md); the new array starts with fresh state."""
    x = np.random.default_rng(1).standard_normal((8, 3))
    runs = []
    for fused in (False, True):
        rng = np.random.default_rng(0)
        layers = [Dense(3, 5, rng=rng), Dense(5, 2, rng=rng)]
        optimizer = Adam(0.05, fused=fused)
        for step in range(20):
            if step == 10:
                setattr(layers[1], replace, getattr(layers[1], replace) * 0.5 + 0.25)
            two_layer_step(layers, optimizer, x)
        runs.append(layers)
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.biases, b.biases)


def test_fused_path_with_changing_layer_lists_keeps_each_state():
    runs = []
    for fused in (False, True):
        layers = [Dense(3, 5, rng=np.random.default_rng(0)),
                  Dense(5, 2, rng=np.random.default_rng(1))]
        optimizer = Adam(0.05, fused=fused)
        grads = np.random.default_rng(3)
        for step in range(12):
            for layer in layers:
                layer.dweights = grads.standard_normal(layer.weights.shape)
                layer.dbiases = grads.standard_normal(layer.biases.shape)
            # Every third step updates the layers one at a time.
            if step % 3 == 2:
                optimizer.step(layers[:1])
                optimizer.iterations -= 1
                optimizer.step(layers[1:])
            else:
                optimizer.step(layers)
        runs.append(layers)
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.biases, b.biases)


def test_fused_path_with_mixed_dtypes_falls_back_to_per_array():
    layers = [Dense(3, 5, dtype=np.float32), Dense(5, 2)]
    plain = [Dense(3, 5, dtype=np.float32), Dense(5, 2)]
    x = np.ones((4, 3), dtype=np.float32)
    fused_opt, plain_opt = Adam(0.05, fused=True), Adam(0.05)
    for _ in range(3):
        two_layer_step(layers, fused_opt, x)
        two_layer_step(plain, plain_opt, x)
    assert layers[0].weights.dtype == np.float32 and layers[1].weights.dtype == np.float64
    for a, b in zip(layers, plain, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)


@pytest.mark.parametrize("cls", [SGD, Adagrad, RMSProp, Adam])
def test_fused_layers_keep_their_views_from_step_to_step(cls):
    layers = [Dense(3, 5), Dense(5, 2)]
    optimizer = cls(learning_rate=0.01, fused=True)
    assert optimizer.fused is True and cls(learning_rate=0.01).fused is False
    x = np.ones((4, 3))
    two_layer_step(layers, optimizer, x)
    views = [array for layer in layers for array in (layer.weights, layer.biases)]
    base = views[0].base
    assert all(view.base is base for view in views)
    two_layer_step(layers, optimizer, x)
    assert all(a is b for a, b in zip(views, (array for layer in layers
                                              for array in (layer.weights, layer.biases)),
                                      strict=True))


@pytest.mark.parametrize("cls, name", [
    (SGD, "learning_rate"), (SGD, "decay"), (SGD, "momentum"), (Adagrad, "epsilon"),
    (RMSProp, "epsilon"), (RMSProp, "rho"), (Adam, "epsilon"), (Adam, "beta_1"),
    (Adam, "beta_2")])
def test_a_bad_hyperparameter_message_starts_with_its_name(cls, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        cls(**{name: -5.0})


class Halving(Optimizer):
    """A new rule written the documented way: p <- p - lr_t g / 2."""

    def __init__(self, learning_rate):
        super().__init__(learning_rate, 0.0)

    def update(self, param, grad, state, lr):
        param -= lr * grad / 2


def test_a_new_optimizer_takes_the_plain_path_unless_it_opts_in():
    optimizer = Halving(0.5)
    assert optimizer.fused is False
    layer = Scalar(w=1.0, dw=2.0)
    weights = layer.weights
    optimizer.step([layer])
    assert layer.weights is weights and weights[0, 0] == 0.5


@pytest.mark.parametrize("make", [lambda: SGD(0.1, momentum=0.9, fused=True),
                                  lambda: Adam(0.01, fused=True)], ids=["sgd", "adam"])
def test_fused_packing_lets_go_of_the_former_parameter_arrays(make):
    optimizer, layer = make(), Quadratic(seed=0)
    former = [weakref.ref(layer.weights), weakref.ref(layer.biases)]
    optimizer.step([layer])
    assert [ref() for ref in former] == [None, None]  # the layer holds views of one array now


# --- Learning-rate schedules -------------------------------------------------------------

ALL_CLASSES = [SGD, Adagrad, RMSProp, Adam, AdamW]


def test_schedules_by_hand():
    assert inverse(0.5, 1.0, 3, None) == 0.125
    assert exponential(2.0, math.log(2), 3, None) == pytest.approx(0.25, rel=1e-15)
    assert exponential(2.0, 0.0, 7, None) == 2.0
    half = math.sqrt(0.5)
    by_hand = [1.0, (1 + half) / 2, 0.5, (1 - half) / 2]  # (1 + cos(pi t / 4)) / 2
    for t, rate in enumerate(by_hand):
        assert cosine(1.0, 0.0, t, 4) == pytest.approx(rate, rel=1e-15), t
    assert cosine(3.0, 0.0, 1, 3) == pytest.approx(3.0 * 0.75, rel=1e-15)  # cos(pi / 3) = 1/2


def test_cosine_keeps_its_last_rate_after_total_steps():
    last = cosine(1.0, 0.0, 3, 4)
    assert last > 0
    assert [cosine(1.0, 0.0, t, 4) for t in (4, 5, 8, 10**9)] == [last] * 4
    assert cosine(2.0, 0.0, 0, 1) == cosine(2.0, 0.0, 5, 1) == 2.0  # one step: the full rate


def test_cosine_ignores_decay_and_exponential_and_inverse_ignore_total_steps():
    assert cosine(1.0, 0.7, 2, 4) == cosine(1.0, 0.0, 2, 4)
    assert exponential(1.0, 0.3, 5, None) == exponential(1.0, 0.3, 5, 9)
    assert inverse(1.0, 0.3, 5, None) == inverse(1.0, 0.3, 5, 9)


@pytest.mark.parametrize("total_steps", [1, 2, 7, 100, 1000])
def test_cosine_equals_the_plain_formula(total_steps):
    """cos(pi t / 2T)^2, as computed, is (1 + cos(pi t / T)) / 2, as documented."""
    t = np.arange(total_steps)
    plain = 0.3 * (1 + np.cos(np.pi * t / total_steps)) / 2
    computed = [cosine(0.3, 0.0, int(step), total_steps) for step in t]
    np.testing.assert_allclose(computed, plain, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("total_steps", [10**9, 10**12])
def test_cosine_last_rate_stays_positive_for_long_runs(total_steps):
    # (1 + cos(pi (T - 1) / T)) / 2 rounds to 0 from T of about 3e8; the rate is
    # about (pi / 2T)^2 there.
    last = cosine(1.0, 0.0, total_steps - 1, total_steps)
    assert last == pytest.approx((math.pi / (2 * total_steps)) ** 2, rel=1e-6)


def test_exponential_rate_stays_positive_after_underflow():
    assert exponential(1.0, 1.0, 800, None) > 0  # exp(-800) is 0 in floating point
    layer = Scalar(w=0.0, dw=1.0)
    optimizer = SGD(1.0, decay=10.0, schedule=exponential)
    for _ in range(100):
        optimizer.step([layer])
    assert 0 < optimizer.current_learning_rate < 1e-300


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_the_default_schedule_is_the_contracts_rule_bit_for_bit(cls):
    for learning_rate, decay in ((1.0, 0.0), (0.05, 1e-3), (0.3, 0.7)):
        optimizer = cls(learning_rate=learning_rate, decay=decay)
        assert optimizer.schedule is inverse
        for t in (0, 1, 2, 17, 10**6):
            assert optimizer.learning_rate_at(t) == learning_rate / (1.0 + decay * t)


def test_default_schedule_trajectory_bit_for_bit():
    layer = Scalar(w=0.0, dw=1.0)
    optimizer = SGD(learning_rate=0.3, decay=0.7)
    expected = 0.0
    for t in range(10):
        optimizer.step([layer])
        expected -= 0.3 / (1.0 + 0.7 * t)
        assert optimizer.current_learning_rate == 0.3 / (1.0 + 0.7 * t)
    assert layer.weights[0, 0] == expected


@pytest.mark.parametrize("schedule, decay, total_steps", [
    (inverse, 0.5, None), (exponential, 0.5, None), (cosine, 0.0, 5), (cosine, 0.0, 3)])
@pytest.mark.parametrize("warmup", [0, 3])
def test_sgd_moves_by_the_scheduled_rates(schedule, decay, total_steps, warmup):
    """With g = 1 each step moves w by -lr_t: the rates are read off the trajectory."""
    layer = Scalar(w=0.0, dw=1.0)
    optimizer = SGD(learning_rate=0.8, decay=decay, schedule=schedule,
                    total_steps=total_steps, warmup=warmup)
    rates = []
    for t in range(6):
        rate = schedule(0.8, decay, t, total_steps) * (min(t + 1, warmup) / warmup if warmup
                                                       else 1.0)
        before = layer.weights[0, 0]
        optimizer.step([layer])
        assert before - layer.weights[0, 0] == pytest.approx(rate, rel=1e-12)
        assert optimizer.current_learning_rate == pytest.approx(rate, rel=1e-15)
        rates.append(rate)
    assert layer.weights[0, 0] == pytest.approx(-sum(rates), rel=1e-12)


def test_warmup_by_hand():
    layer = Scalar(w=0.0, dw=1.0)
    optimizer = SGD(learning_rate=1.0, warmup=4)
    assert optimizer.current_learning_rate == 1.0  # the rate before any step
    seen = []
    for _ in range(6):
        optimizer.step([layer])
        seen.append(optimizer.current_learning_rate)
    assert seen == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert layer.weights[0, 0] == -4.5


def test_warmup_scales_the_schedules_rate():
    layer = Scalar(w=0.0, dw=1.0)
    optimizer = SGD(learning_rate=2.0, schedule=cosine, total_steps=4, warmup=2)
    seen = []
    for _ in range(4):
        optimizer.step([layer])
        seen.append(optimizer.current_learning_rate)
    half = math.sqrt(0.5)
    expected = [2.0 * 1 / 2, 2.0 * (1 + half) / 2, 2.0 * 0.5, 2.0 * (1 - half) / 2]
    assert seen == pytest.approx(expected, rel=1e-15)


def test_a_resumed_cosine_run_keeps_the_last_rate():
    optimizer = SGD(learning_rate=1.0, schedule=cosine, total_steps=3)
    layer = Scalar(w=0.0, dw=1.0)
    optimizer.iterations = 2  # as a checkpoint restores it
    optimizer.step([layer])
    last = optimizer.current_learning_rate
    assert last == pytest.approx(0.25, rel=1e-15)  # (1 + cos(2 pi / 3)) / 2
    for _ in range(3):
        optimizer.step([layer])
        assert optimizer.current_learning_rate == last
    assert layer.weights[0, 0] == pytest.approx(-1.0, rel=1e-15)


def test_a_schedule_that_gives_no_positive_rate_is_refused_before_any_change():
    def linear(learning_rate, decay, t, total_steps):
        return learning_rate * (1 - t / 2)

    layer = Scalar(w=1.0, dw=1.0)
    optimizer = SGD(learning_rate=1.0, schedule=linear)
    optimizer.step([layer])
    optimizer.step([layer])
    with pytest.raises(ValueError, match=r"^schedule linear gave the learning rate 0\.0 at "
                                         r"step 2; a rate must be a finite number > 0$"):
        optimizer.step([layer])
    assert layer.weights[0, 0] == -0.5 and optimizer.iterations == 2
    with pytest.raises(ValueError, match="learning rate nan at step 0"):
        SGD(schedule=lambda learning_rate, decay, t, total_steps: math.nan)


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_cosine_without_total_steps_is_refused_naming_it(cls):
    with pytest.raises(ValueError, match="^total_steps must be given with the cosine schedule"):
        cls(schedule=cosine)
    assert cls(schedule=cosine, total_steps=10).total_steps == 10


BAD_OPTIONS = [
    ("warmup", -1), ("warmup", 2.5), ("warmup", True), ("warmup", "3"), ("warmup", None),
    ("clip_norm", 0.0), ("clip_norm", -1.0), ("clip_norm", float("inf")),
    ("clip_norm", float("nan")), ("clip_norm", True), ("clip_norm", "large"),
    ("total_steps", 0), ("total_steps", 2.5), ("total_steps", True), ("total_steps", -3),
    ("schedule", "cosine"), ("schedule", None),
]


@pytest.mark.parametrize("cls", ALL_CLASSES)
@pytest.mark.parametrize("name, value", BAD_OPTIONS)
def test_a_bad_option_is_a_one_line_value_error_naming_it(cls, name, value):
    with pytest.raises(ValueError, match=f"^{name} must be") as caught:
        cls(**{name: value})
    message = str(caught.value)
    assert repr(value) in message and "\n" not in message


@pytest.mark.parametrize("value", [-0.1, float("inf"), float("nan"), "heavy", True])
def test_a_bad_weight_decay_is_refused_naming_it(value):
    with pytest.raises(ValueError, match=f"^weight_decay must be.*{value!r}"):
        AdamW(weight_decay=value)


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_every_optimizer_takes_the_options(cls):
    optimizer = cls(learning_rate=0.4, schedule=cosine, total_steps=8, warmup=2,
                    clip_norm=0.5, fused=True)
    assert (optimizer.schedule, optimizer.total_steps, optimizer.warmup, optimizer.clip_norm,
            optimizer.fused) == (cosine, 8, 2, 0.5, True)
    optimizer.step([Quadratic(seed=0)])
    assert optimizer.current_learning_rate == 0.4 * 0.5  # warm-up's 1/2 of cosine's 1
    assert optimizer.gradient_norm > 0.5


def test_a_new_optimizer_gets_the_options_from_the_base_class():
    class Halves(Optimizer):
        def __init__(self, learning_rate, **options):
            super().__init__(learning_rate, 0.0, **options)

        def update(self, param, grad, state, lr):
            param -= lr * grad / 2

    layer = Scalar(w=1.0, dw=6.0, db=8.0)  # ||g|| = 10
    optimizer = Halves(1.0, warmup=2, clip_norm=5.0)
    optimizer.step([layer])
    assert optimizer.gradient_norm == 10.0
    assert layer.weights[0, 0] == 1.0 - 0.5 * 3.0 / 2  # lr 1/2, g clipped to 3
    assert layer.biases[0, 0] == 0.0 - 0.5 * 4.0 / 2


# --- Gradient clipping -------------------------------------------------------------------

def test_clipping_by_hand_over_every_layer_of_the_step():
    first, second = Scalar(w=1.0, dw=3.0, b=0.0, db=0.0), Scalar(w=1.0, dw=0.0, b=2.0, db=4.0)
    gradients = [first.dweights, first.dbiases, second.dweights, second.dbiases]
    optimizer = SGD(learning_rate=1.0, clip_norm=1.0)
    optimizer.step([ReLU(), first, second])  # ||g|| = sqrt(3^2 + 4^2) = 5
    assert optimizer.gradient_norm == 5.0
    assert first.weights[0, 0] == pytest.approx(1.0 - 0.6, rel=1e-15)
    assert second.biases[0, 0] == pytest.approx(2.0 - 0.8, rel=1e-15)
    assert second.weights[0, 0] == 1.0 and first.biases[0, 0] == 0.0
    # The layers' gradients are as backward left them: the same arrays, unscaled.
    assert [first.dweights, first.dbiases, second.dweights, second.dbiases] == gradients
    assert (first.dweights[0, 0], second.dbiases[0, 0]) == (3.0, 4.0)


def test_gradient_norm_is_none_without_clipping():
    optimizer = Adam(0.01)
    optimizer.step([Quadratic(seed=0)])
    assert optimizer.gradient_norm is None


def _network_gradients(layers):
    return [getattr(layer, "d" + name) for layer in layers
            for name in ("weights", "biases")]


@pytest.mark.parametrize("make", OPTIMIZERS, ids=NAMES)
def test_a_gradient_norm_below_clip_norm_leaves_the_step_unchanged(make):
    x = np.random.default_rng(1).standard_normal((8, 3))
    runs, norms = [], []
    for clip_norm in (None, 1e3):
        rng = np.random.default_rng(0)
        layers = [Dense(3, 5, rng=rng), Dense(5, 2, rng=rng)]
        optimizer = make()
        optimizer.clip_norm = clip_norm
        for _ in range(20):
            two_layer_step(layers, optimizer, x)
            if clip_norm is not None:
                norm = np.linalg.norm(np.concatenate(
                    [g.ravel() for g in _network_gradients(layers)]))
                assert optimizer.gradient_norm == pytest.approx(norm, rel=1e-12)
                norms.append(norm)
        runs.append(layers)
    assert 0 < max(norms) < 1e3
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.biases, b.biases)


@pytest.mark.parametrize("make", OPTIMIZERS, ids=NAMES)
@pytest.mark.parametrize("fused", [False, True])
def test_a_clipped_step_is_the_step_of_the_scaled_gradient(make, fused):
    clip_norm = 0.5
    clipped = [Quadratic(seed=1), Quadratic(seed=2)]
    scaled = [Quadratic(seed=1), Quadratic(seed=2)]
    clipping, plain = make(), make()
    clipping.clip_norm, clipping.fused = clip_norm, fused
    for _ in range(25):
        for layer in clipped + scaled:
            layer.compute_gradients()
        gradients = [g for layer in scaled for g in (layer.dweights, layer.dbiases)]
        norm = math.sqrt(sum(float(np.sum(g**2)) for g in gradients))
        assert norm > clip_norm  # every step clips
        for layer in scaled:
            layer.dweights = layer.dweights * (clip_norm / norm)
            layer.dbiases = layer.dbiases * (clip_norm / norm)
        clipping.step(clipped)
        plain.step(scaled)
        assert clipping.gradient_norm == pytest.approx(norm, rel=1e-12)
    for a, b in zip(clipped, scaled, strict=True):
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(a.biases, b.biases, rtol=1e-10, atol=1e-13)


def test_clipping_float32_gradients_beyond_float32_squares():
    # 1e20^2 overflows float32 (largest 3.4e38): the norm is summed in float64.
    layer = Scalar(w=0.0, dw=1e20, db=0.0)
    layer.weights, layer.dweights = layer.weights.astype(np.float32), np.float32([[1e20]])
    layer.biases, layer.dbiases = layer.biases.astype(np.float32), np.float32([[0.0]])
    optimizer = SGD(learning_rate=1.0, clip_norm=2.0)
    optimizer.step([layer])
    assert optimizer.gradient_norm == pytest.approx(1e20, rel=1e-7)
    assert layer.weights[0, 0] == pytest.approx(-2.0, rel=1e-6)
    assert layer.weights.dtype == np.float32


@pytest.mark.parametrize("cls, settings", SETTINGS + [(AdamW, dict(learning_rate=0.05,
                                                                   weight_decay=0.3))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clipping_fused_equals_plain(cls, settings, dtype):
    x = np.random.default_rng(1).standard_normal((8, 3)).astype(dtype)
    runs = []
    # A first run, that never clips, gives the norms; their median is the clip_norm.
    for fused, clip_norm in ((False, 1e300), (False, None), (True, None)):
        rng = np.random.default_rng(0)
        layers = [Dense(3, 5, rng=rng, dtype=dtype), Dense(5, 2, rng=rng, dtype=dtype)]
        clip_norm = clip_norm or float(np.median(runs[0][1]))
        optimizer = cls(**settings, clip_norm=clip_norm, fused=fused)
        norms = []
        for _ in range(30):
            two_layer_step(layers, optimizer, x)
            norms.append(optimizer.gradient_norm)
        runs.append((layers, norms))
    (plain, plain_norms), (fused, fused_norms) = runs[1:]
    assert max(plain_norms) > clip_norm  # steps that clip
    assert plain_norms == fused_norms
    for a, b in zip(plain, fused, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.biases, b.biases)
        assert b.weights.dtype == dtype


# --- Any layer's parameters, weight decay, AdamW -----------------------------------------

class Norm:
    """A BatchNorm-like stand-in: gamma and beta of shape (F,), neither decayed.

    Its numbers and loss are those of ``Quadratic(seed, shapes=((F,), (F,)))``
    under other names, so both must train alike; the running statistics are
    state, saved but never trained.
    """

    parameters = ("gamma", "beta")
    decayed = ()
    state = ("running_mean", "running_var")

    def __init__(self, seed, features=4):
        twin = Quadratic(seed, shapes=((features,), (features,)))
        self.gamma, self.beta = twin.weights, twin.biases
        self.scale_g, self.scale_b = twin.scale_w, twin.scale_b
        self.running_mean, self.running_var = np.zeros(features), np.ones(features)
        self.compute_gradients()

    def compute_gradients(self):
        self.dgamma = self.scale_g * (self.gamma - 1.0)
        self.dbeta = self.scale_b * (self.beta + 0.5)


class Kernel:
    """A layer of the reader's own with names of its own: ``kernel`` decayed, ``offset`` not."""

    parameters = ("kernel", "offset")
    decayed = ("kernel",)

    def __init__(self, seed):
        twin = Quadratic(seed, shapes=((2, 3), (3,)))
        self.kernel, self.offset = twin.weights, twin.biases
        self.scale_k, self.scale_o = twin.scale_w, twin.scale_b
        self.compute_gradients()

    def compute_gradients(self):
        self.dkernel = self.scale_k * (self.kernel - 1.0)
        self.doffset = self.scale_o * (self.offset + 0.5)


MAKERS = OPTIMIZERS[:4] + [lambda: AdamW(0.01, weight_decay=0.0)]


@pytest.mark.parametrize("make", MAKERS, ids=NAMES)
@pytest.mark.parametrize("fused", [False, True])
def test_a_batchnorm_like_layer_trains_exactly_like_a_dense(make, fused):
    norm, dense = Norm(seed=3), Quadratic(seed=3, shapes=((4,), (4,)))
    norm_opt, dense_opt = make(), make()
    norm_opt.fused = dense_opt.fused = fused
    for _ in range(20):
        norm.compute_gradients()
        dense.compute_gradients()
        norm_opt.step([norm])
        dense_opt.step([dense])
    assert not np.array_equal(norm.gamma, Norm(seed=3).gamma)
    np.testing.assert_array_equal(norm.gamma, dense.weights)
    np.testing.assert_array_equal(norm.beta, dense.biases)
    assert norm.gamma.shape == norm.beta.shape == (4,)
    for slot in norm_opt.slots:
        np.testing.assert_array_equal(norm_opt.state(norm.gamma)[slot],
                                      dense_opt.state(dense.weights)[slot])


@pytest.mark.parametrize("make", OPTIMIZERS, ids=NAMES)
def test_optimizer_writes_nothing_but_parameters_of_a_batchnorm_like_layer(make):
    optimizer = make()
    optimizer.clip_norm = 0.1
    layer = Norm(seed=0)
    before = dict(vars(layer))
    snapshot = {name: np.copy(value) for name, value in before.items()}
    optimizer.step([layer])
    assert optimizer.gradient_norm > 0.1
    assert set(vars(layer)) == set(before)
    for name, value in vars(layer).items():
        assert value is before[name], name
        if name not in ("gamma", "beta"):
            np.testing.assert_array_equal(value, snapshot[name], err_msg=name)
    assert not np.array_equal(layer.gamma, snapshot["gamma"])
    assert not np.array_equal(layer.beta, snapshot["beta"])


def test_adamw_by_hand():
    # Decay first: w = 1 - 0.01 * 0.5 * 1 = 0.995; then Adam's first step, lr * sign(g).
    layer = Scalar(w=1.0, dw=-4.0, b=2.0, db=1e-3)
    AdamW(learning_rate=0.01, epsilon=0.0, weight_decay=0.5).step([layer])
    assert layer.weights[0, 0] == pytest.approx(0.995 + 0.01, rel=1e-15)
    assert layer.biases[0, 0] == pytest.approx(2.0 - 0.01, rel=1e-15)  # biases never decay


@pytest.mark.parametrize("learning_rate, decay, weight_decay",
                         [(1e-3, 0.0, 0.01), (0.1, 0.1, 0.5), (0.8, 0.0, 1.0)])
@pytest.mark.parametrize("steps", [1, 50])
def test_adamw_trajectory_matches_update_rule(learning_rate, decay, weight_decay, steps):
    hp = dict(epsilon=1e-7, beta_1=0.9, beta_2=0.999)
    layer = Quadratic(seed=steps)
    start_w, start_b = layer.weights.copy(), layer.biases.copy()
    optimizer = AdamW(learning_rate=learning_rate, decay=decay, weight_decay=weight_decay, **hp)
    for _ in range(steps):
        layer.compute_gradients()
        optimizer.step([layer])
    expected_w = reference("adam", start_w, lambda p: layer.scale_w * (p - 1.0), steps,
                           learning_rate, decay, weight_decay=weight_decay, **hp)
    expected_b = reference("adam", start_b, lambda p: layer.scale_b * (p + 0.5), steps,
                           learning_rate, decay, **hp)
    np.testing.assert_allclose(layer.weights, expected_w, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.biases, expected_b, rtol=1e-12, atol=1e-14)


def _mixed_layers():
    """Dense-like layers (book-style, a Dense, a Kernel) between BatchNorm-like ones."""
    return [Quadratic(seed=1), Norm(seed=2), Dense(3, 4, rng=np.random.default_rng(3)),
            Norm(seed=4, features=3), Kernel(seed=6), Quadratic(seed=5)]


def _mixed_gradients(layers, rng):
    for layer in layers:
        if isinstance(layer, Dense):
            layer.dweights = rng.standard_normal(layer.weights.shape)
            layer.dbiases = rng.standard_normal(layer.biases.shape)
        else:
            layer.compute_gradients()


def _parameters(layers):
    return [getattr(layer, name) for layer in layers
            for name in getattr(layer, "parameters", ("weights", "biases"))]


@pytest.mark.parametrize("options", [
    dict(),
    dict(clip_norm=2.0, warmup=5),
    dict(schedule=cosine, total_steps=30, decay=0.0),
    dict(schedule=exponential, decay=0.05, clip_norm=3.0)], ids=["plain", "clip-warmup",
                                                                 "cosine", "exponential"])
def test_weight_decay_fused_equals_plain_with_mixed_layers(options):
    settings = dict(learning_rate=0.05, decay=0.01, weight_decay=0.2) | options
    runs = []
    for fused in (False, True):
        layers = _mixed_layers()
        optimizer = AdamW(**settings, fused=fused)
        grads = np.random.default_rng(7)
        for _ in range(30):
            _mixed_gradients(layers, grads)
            optimizer.step(layers)
        runs.append((layers, optimizer))
    (plain, plain_opt), (fused, fused_opt) = runs
    assert len({id(param.base) for param in _parameters(fused)}) == 1  # one flat array
    for a, b in zip(_parameters(plain), _parameters(fused), strict=True):
        np.testing.assert_array_equal(a, b)
        for slot in AdamW.slots:
            np.testing.assert_array_equal(plain_opt.state(a)[slot], fused_opt.state(b)[slot])


@pytest.mark.parametrize("fused", [False, True])
def test_weight_decay_shrinks_weights_only(fused):
    """AdamW against Adam on the same layers: only the weights differ."""
    runs = []
    for cls in (Adam, AdamW):
        layers = _mixed_layers()
        optimizer = cls(0.05, fused=fused, **({"weight_decay": 0.5} if cls is AdamW else {}))
        grads = np.random.default_rng(7)
        for _ in range(10):
            _mixed_gradients(layers, grads)
            optimizer.step(layers)
        runs.append(layers)
    for adam, adamw in zip(*runs, strict=True):
        for name in getattr(adam, "parameters", ("weights", "biases")):
            same = np.array_equal(getattr(adam, name), getattr(adamw, name))
            assert same == (name not in ("weights", "kernel")), (type(adam).__name__, name)


@pytest.mark.parametrize("fused", [False, True])
def test_adamw_without_weight_decay_is_adam_exactly(fused):
    runs = []
    for optimizer in (Adam(0.05, decay=0.01, fused=fused),
                      AdamW(0.05, decay=0.01, weight_decay=0.0, fused=fused)):
        layers = _mixed_layers()
        grads = np.random.default_rng(7)
        for _ in range(20):
            _mixed_gradients(layers, grads)
            optimizer.step(layers)
        runs.append(layers)
    for a, b in zip(_parameters(runs[0]), _parameters(runs[1]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_weight_decay_lives_in_the_base_class():
    """Any optimizer that sets weight_decay gets the decoupled decay, here SGD's."""
    class DecayedSGD(SGD):
        weight_decay = 0.25

    layer = Scalar(w=2.0, dw=1.0, b=2.0, db=1.0)
    DecayedSGD(learning_rate=0.5).step([layer])
    assert layer.weights[0, 0] == 2.0 - 0.5 * 0.25 * 2.0 - 0.5 * 1.0
    assert layer.biases[0, 0] == 2.0 - 0.5 * 1.0


def test_adamw_follows_torch_optim_adamw():
    """The trajectory of torch.optim.AdamW, biases and gamma/beta in a group without decay.

    One test, with and without the inverse schedule (torch's LambdaLR), since
    building a torch optimizer first costs seconds of imports.
    """
    torch = pytest.importorskip("torch")
    hp = dict(learning_rate=0.05, epsilon=1e-8, beta_1=0.8, beta_2=0.99, weight_decay=0.3)
    for decay in (0.0, 0.05):
        ours = [Quadratic(seed=1), Norm(seed=2)]
        arrays = {"w": ours[0].weights, "b": ours[0].biases, "gamma": ours[1].gamma,
                  "beta": ours[1].beta}
        theirs = {name: torch.tensor(np.copy(array), requires_grad=True)
                  for name, array in arrays.items()}
        targets = {"w": (ours[0].scale_w, 1.0), "b": (ours[0].scale_b, -0.5),
                   "gamma": (ours[1].scale_g, 1.0), "beta": (ours[1].scale_b, -0.5)}
        optimizer = AdamW(decay=decay, **hp)
        torch_optimizer = torch.optim.AdamW(
            [dict(params=[theirs["w"]], weight_decay=hp["weight_decay"]),
             dict(params=[theirs["b"], theirs["gamma"], theirs["beta"]], weight_decay=0.0)],
            lr=hp["learning_rate"], betas=(hp["beta_1"], hp["beta_2"]), eps=hp["epsilon"])
        schedule = torch.optim.lr_scheduler.LambdaLR(
            torch_optimizer, lambda t, decay=decay: 1 / (1 + decay * t))
        for _ in range(40):
            for layer in ours:
                layer.compute_gradients()
            optimizer.step(ours)
            for name, tensor in theirs.items():
                scale, target = targets[name]
                tensor.grad = torch.from_numpy(scale) * (tensor.detach() - target)
            torch_optimizer.step()
            schedule.step()
        for name, array in arrays.items():  # updated in place by our steps
            np.testing.assert_allclose(array, theirs[name].detach().numpy(), rtol=1e-10,
                                       atol=1e-12, err_msg=f"{name}, decay {decay}")
