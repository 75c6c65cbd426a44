"""Gradient-descent optimizers with learning-rate decay.

Every optimizer updates the ``weights`` and ``biases`` of the layers passed
to ``step`` from their ``dweights`` and ``dbiases``. With g a gradient and t
the number of steps already taken (0 for the first step):

    Decay:     lr_t = learning_rate / (1 + decay * t)

Per-parameter state (momentums, caches) lives in the optimizer, keyed by the
parameter array it belongs to and created as zeros on first use; nothing but
``weights`` and ``biases`` is ever written onto a layer, and those two are
updated in place.

Every update rule is element-wise, so it gives the same numbers applied to
each parameter array in turn or to all of them laid end to end in one flat
array. When the parameters are consecutive views into one buffer (as
``model.Network`` arranges), ``step`` gathers the gradients into one flat
array and runs the rule once, instead of once per array: a fixed handful of
NumPy calls whatever the number of layers.
"""

import math
import operator

import numpy as np


def _hyperparameter(name, value, *, low=0.0, below_one=False, positive=False):
    """Return ``value`` as a float, or raise ValueError naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if positive and number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if number < low:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    if below_one and number >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return number


class Optimizer:
    """Shared bookkeeping: the decay schedule, the step counter and the state.

    A subclass implements ``_update(param, grad, state, lr)``, which changes
    ``param`` in place, and lists in ``_slots`` the names of its per-parameter
    state arrays.
    """

    _slots = ()

    def __init__(self, learning_rate, decay):
        self.learning_rate = _hyperparameter("learning_rate", learning_rate, positive=True)
        self.decay = _hyperparameter("decay", decay)
        self.current_learning_rate = self.learning_rate
        self.iterations = 0
        # id(param) -> (param, {slot name: array}); the array is held so that
        # its id cannot be reused by another array while the state exists.
        self._state = {}
        # The last parameter list seen tiling one buffer, with its flat state.
        self._flat = None

    def step(self, layers):
        """Update every layer in ``layers`` that has weights, then count one step."""
        lr = self.learning_rate / (1.0 + self.decay * self.iterations)
        params, grads = [], []
        for layer in layers:
            if hasattr(layer, "weights"):
                params += (layer.weights, layer.biases)
                grads += (layer.dweights, layer.dbiases)
        flat = self._flat_layout(params)
        if flat is not None:
            buffer, grad_buffer, state = flat
            np.concatenate([grad.reshape(-1) for grad in grads], out=grad_buffer)
            self._update(buffer, grad_buffer, state, lr)
        else:
            for param, grad in zip(params, grads, strict=True):
                self._update(param, grad, self._state_of(param), lr)
        self.current_learning_rate = lr
        self.iterations += 1

    def _state_of(self, param):
        entry = self._state.get(id(param))
        if entry is None or entry[0] is not param:
            entry = (param, {name: np.zeros_like(param) for name in self._slots})
            self._state[id(param)] = entry
        return entry[1]

    def _flat_layout(self, params):
        """(buffer, gradient buffer, flat state) if ``params`` tile one buffer, else None.

        The flat state is assembled from each parameter's own state, and each
        parameter's state then becomes a view into it, so the per-array path
        and the flat path read and write the same numbers.
        """
        if self._flat is not None:
            known, layout = self._flat
            same = len(known) == len(params) and all(map(operator.is_, known, params))
            if same:
                return layout
        buffer = _tiled_buffer(params)
        if buffer is None:
            return None
        state = {}
        for name in self._slots:
            state[name] = np.concatenate(
                [self._state_of(param)[name].reshape(-1) for param in params])
        offset = 0
        for param in params:
            views = {name: state[name][offset:offset + param.size].reshape(param.shape)
                     for name in self._slots}
            self._state[id(param)] = (param, views)
            offset += param.size
        layout = (buffer, np.empty_like(buffer), state)
        self._flat = (list(params), layout)
        return layout

    def _update(self, param, grad, state, lr):
        raise NotImplementedError


def _tiled_buffer(params):
    """The 1-D array that ``params`` cover end to end, in order, or None."""
    if not params:
        return None
    base = params[0].base
    if base is None or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    address = base.__array_interface__["data"][0]
    for param in params:
        if (param.base is not base or not param.flags.c_contiguous
                or param.__array_interface__["data"][0] != address):
            return None
        address += param.nbytes
    return base if address == base.__array_interface__["data"][0] + base.nbytes else None


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (heavy-ball) momentum.

    Update:    p <- p - lr_t g                                  (momentum = 0)
               v <- momentum v - lr_t g;  p <- p + v            (v starts at 0)

    Robbins & Monro (1951); momentum after Polyak (1964).
    """

    def __init__(self, learning_rate=1.0, decay=0.0, momentum=0.0):
        super().__init__(learning_rate, decay)
        self.momentum = _hyperparameter("momentum", momentum, below_one=True)
        self._slots = ("velocity",) if self.momentum else ()

    def _update(self, param, grad, state, lr):
        if not self.momentum:
            param -= lr * grad
            return
        velocity = state["velocity"]
        velocity *= self.momentum
        velocity -= lr * grad
        param += velocity


class Adagrad(Optimizer):
    """Adaptive gradient: each parameter's step shrinks with its gradient history.

    Update:    c <- c + g^2;  p <- p - lr_t g / (sqrt(c) + epsilon)    (c starts at 0)

    Duchi, Hazan & Singer (2011), "Adaptive Subgradient Methods for Online
    Learning and Stochastic Optimization", JMLR 12.
    """

    _slots = ("cache",)

    def __init__(self, learning_rate=1.0, decay=0.0, epsilon=1e-7):
        super().__init__(learning_rate, decay)
        self.epsilon = _hyperparameter("epsilon", epsilon)

    def _update(self, param, grad, state, lr):
        cache = state["cache"]
        cache += grad * grad
        param -= lr * grad / (np.sqrt(cache) + self.epsilon)


class RMSProp(Optimizer):
    """Root-mean-square propagation: Adagrad with a decaying average of g^2.

    Update:    c <- rho c + (1 - rho) g^2;  p <- p - lr_t g / (sqrt(c) + epsilon)
               (c starts at 0)

    Tieleman & Hinton (2012), Coursera "Neural Networks for Machine Learning",
    lecture 6e.
    """

    _slots = ("cache",)

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7, rho=0.9):
        super().__init__(learning_rate, decay)
        self.epsilon = _hyperparameter("epsilon", epsilon)
        self.rho = _hyperparameter("rho", rho, below_one=True)

    def _update(self, param, grad, state, lr):
        cache = state["cache"]
        cache *= self.rho
        cache += (1 - self.rho) * grad * grad
        param -= lr * grad / (np.sqrt(cache) + self.epsilon)


class Adam(Optimizer):
    """Adaptive moment estimation: momentum plus RMSProp, both bias-corrected.

    Update:    m <- beta_1 m + (1 - beta_1) g      v <- beta_2 v + (1 - beta_2) g^2
               m_hat = m / (1 - beta_1^(t+1))      v_hat = v / (1 - beta_2^(t+1))
               p <- p - lr_t m_hat / (sqrt(v_hat) + epsilon)    (m, v start at 0)

    The corrections undo the pull of the zero start towards 0 in early steps.
    Kingma & Ba (2014), "Adam: A Method for Stochastic Optimization",
    arXiv:1412.6980.
    """

    _slots = ("m", "v")

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7,
                 beta_1=0.9, beta_2=0.999):
        super().__init__(learning_rate, decay)
        self.epsilon = _hyperparameter("epsilon", epsilon)
        self.beta_1 = _hyperparameter("beta_1", beta_1, below_one=True)
        self.beta_2 = _hyperparameter("beta_2", beta_2, below_one=True)

    def _update(self, param, grad, state, lr):
        m, v = state["m"], state["v"]
        m *= self.beta_1
        m += (1 - self.beta_1) * grad
        v *= self.beta_2
        v += (1 - self.beta_2) * grad * grad
        t = self.iterations + 1
        m_hat = m / (1 - self.beta_1 ** t)
        v_hat = v / (1 - self.beta_2 ** t)
        param -= lr * m_hat / (np.sqrt(v_hat) + self.epsilon)
