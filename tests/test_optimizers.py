import math
import weakref

import numpy as np
import pytest

from activations import ReLU
from layers import Dense
from optimizers import SGD, Adagrad, Adam, Optimizer, RMSProp


class Quadratic:
    """A stand-in layer whose loss is 0.5 * sum(scale * (p - target)^2) per parameter.

    Its gradient scale * (p - target) depends on where the optimizer moved p,
    so a wrong update changes every later step of the trajectory.
    """

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.weights = rng.standard_normal((3, 2))
        self.biases = rng.standard_normal((1, 2))
        self.scale_w = rng.uniform(0.1, 3.0, (3, 2))
        self.scale_b = rng.uniform(0.1, 3.0, (1, 2))
        self.compute_gradients()

    def compute_gradients(self):
        self.dweights = self.scale_w * (self.weights - 1.0)
        self.dbiases = self.scale_b * (self.biases + 0.5)


def reference(rule, p, grad_of, steps, learning_rate, decay, **hp):
    """The update rules of API.md, written out plainly, one fresh array per step."""
    state_a = np.zeros_like(p)  # velocity, cache or first moment
    state_b = np.zeros_like(p)  # Adam's second moment
    for t in range(steps):
        g = grad_of(p)
        lr = learning_rate / (1 + decay * t)
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
              lambda: Adam(0.01)]
NAMES = ["sgd", "adagrad", "rmsprop", "adam"]


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
    names = ("learning_rate", "decay", "momentum", "epsilon", "rho", "beta_1", "beta_2")
    return {name: getattr(optimizer, name) for name in names if hasattr(optimizer, name)}


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
