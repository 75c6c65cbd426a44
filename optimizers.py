"""Gradient-descent optimizers: learning-rate schedules, warm-up, clipping, weight decay.

Every optimizer updates the parameters of the layers passed to ``step``,
those each layer names in ``parameters`` (Dense's ``weights`` and ``biases``,
BatchNorm's ``gamma`` and ``beta``), from their gradients, the attributes
"d" + name. With g a gradient, t the number of steps already taken (0 for
the first step), T = total_steps and W = warmup, one step is below. Its
first rate is the default schedule, ``inverse``; a step t >= T of
``cosine`` has the rate of t = T - 1.

    Decay:     lr_t = learning_rate / (1 + decay * t)
               lr_t = learning_rate * exp(-decay * t)            with schedule=exponential
               lr_t = learning_rate * (1 + cos(pi * t / T)) / 2  with schedule=cosine
               lr_t = lr_t * (t + 1) / W                         then, while t < W (warm-up)
    Clipping:  g = g * clip_norm / ||g||   if ||g|| > clip_norm, with ||g|| the L2 norm
               of every gradient of the step together
    Weight decay:  p = p - lr_t * weight_decay * p   (decayed parameters only, AdamW)
    Update:    the rule of the optimizer, with lr_t and g

Per-parameter state (momentums, caches) lives in the optimizer, keyed by the
parameter array it belongs to and created as zeros on first use. Nothing but
the parameters is ever written onto a layer, and those are updated in place:
clipping scales a copy of the gradients, never the layer's own arrays.
"""

import math
import operator

import numpy as np

from layers import decayed_names, parameter_names

# Learning-rate schedules: lr_t from the step t alone, so that a resumed run
# (iterations restored) goes on with the rates it would have had.


def inverse(learning_rate, decay, t, total_steps):
    """lr_t = learning_rate / (1 + decay * t): the book's decay, and the default.

    ``total_steps`` is not used. decay = 0 keeps the rate constant.
    """
    return learning_rate / (1.0 + decay * t)


def exponential(learning_rate, decay, t, total_steps):
    """lr_t = learning_rate * exp(-decay * t), never below the smallest positive float.

    ``total_steps`` is not used. The rate falls by the factor exp(-decay)
    each step; once that product would round to 0 (after about 745 / decay
    steps) it stays at 5e-324 instead, a rate that no longer moves anything
    but is still > 0, as the checkpoint requires of a rate.
    """
    return max(learning_rate * math.exp(-decay * t), math.ulp(0.0))


def cosine(learning_rate, decay, t, total_steps):
    """lr_t = learning_rate * (1 + cos(pi * t / T)) / 2 for t = 0 .. T - 1, T = total_steps.

    Half a cosine from learning_rate down towards 0 (Loshchilov & Hutter
    2017, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR,
    without the restarts). The last step, t = T - 1, still has a rate > 0;
    a step t >= T (a resumed run that goes on) keeps that last rate rather
    than reaching 0 or rising again. ``decay`` is not used.

    Computed as learning_rate * cos(pi * t / (2 T))^2, the same number
    (tested), because 1 + cos(x) cancels near x = pi: its last rate is 10%
    off at T = 10^8 and rounds to 0 from T = 3 * 10^8, where this one stays
    accurate and > 0.
    """
    if total_steps is None:
        raise ValueError("total_steps must be given with the cosine schedule: the number "
                         "of steps its rate falls over")
    total_steps = _whole("total_steps", total_steps, 1)
    t = min(t, total_steps - 1)
    return learning_rate * math.cos(math.pi * t / (2 * total_steps)) ** 2


class Optimizer:
    """One step: the rate, the clipped gradients, the weight decay, the update.

    A subclass lists in ``slots`` the names of its per-parameter state
    arrays, implements ``update(param, grad, state, lr)``, which changes
    ``param`` (and the arrays of ``state``) in place, and passes its keyword
    options on to ``Optimizer.__init__``:

    schedule     a function (learning_rate, decay, t, total_steps) -> lr_t:
                 ``inverse`` (the default), ``exponential`` or ``cosine``
    total_steps  the number of steps of the run, which ``cosine`` needs
    warmup       the first ``warmup`` steps' rates are scaled by (t + 1) / warmup
    clip_norm    the largest global gradient norm a step uses (None: no clipping);
                 the norm before clipping is kept in ``gradient_norm``
    fused        the fast path below

    A subclass that sets ``weight_decay`` (AdamW) has the decayed parameters
    of each layer (``layers.decayed_names``: weights, never biases or
    BatchNorm's gamma and beta) shrunk by lr_t * weight_decay * p before
    its update.

    ``fused=True`` opts into a fast path for element-wise rules (all of
    these): the first step lays every parameter end to end in one flat
    array, the layers then holding views of it as their parameters, and
    each step runs the rule once over that array instead of once per
    parameter array. The numbers are the same (tested); on the book's
    2-64-3 network a step of Adam takes a third of the time. A parameter a
    caller replaces is noticed on the next step and the flat array is
    rebuilt, the new parameter starting with fresh state, exactly as without
    ``fused``.
    """

    slots = ()
    weight_decay = 0.0

    def __init__(self, learning_rate, decay, *, schedule=inverse, total_steps=None, warmup=0,
                 clip_norm=None, fused=False):
        self.learning_rate = _hyperparameter("learning_rate", learning_rate, positive=True)
        self.decay = _hyperparameter("decay", decay)
        if not callable(schedule):
            raise ValueError(f"schedule must be a function (learning_rate, decay, t, "
                             f"total_steps) -> rate, got {schedule!r}")
        self.schedule = schedule
        self.total_steps = None if total_steps is None else _whole("total_steps", total_steps, 1)
        self.warmup = _whole("warmup", warmup, 0)
        self.clip_norm = (None if clip_norm is None
                          else _hyperparameter("clip_norm", clip_norm, positive=True))
        self.fused = fused
        self.learning_rate_at(0)  # a schedule that cannot run (cosine without T) fails here
        self.current_learning_rate = self.learning_rate
        self.gradient_norm = None
        self.iterations = 0
        # id(param) -> (param, {slot name: array}); the array is held so that
        # its id cannot be reused by another array while the state exists.
        self._state = {}
        # fused: (the views the layers hold, flat parameters, flat gradients,
        # flat state, flat mask of the decayed entries)
        self._flat = None

    def learning_rate_at(self, t):
        """The rate of step t: the schedule's, times (t + 1) / warmup while t < warmup."""
        lr = self.schedule(self.learning_rate, self.decay, t, self.total_steps)
        if t < self.warmup:
            lr = lr * (t + 1) / self.warmup
        if not 0.0 < lr < math.inf:
            raise ValueError(f"schedule {getattr(self.schedule, '__name__', self.schedule)} "
                             f"gave the learning rate {lr!r} at step {t}; a rate must be a "
                             f"finite number > 0")
        return lr

    def step(self, layers):
        """Update every parameter of ``layers`` (layers without any are skipped), count one step."""
        lr = self.learning_rate_at(self.iterations)
        places = [(layer, name) for layer in layers for name in parameter_names(layer)]
        scale = self._clip_scale(places)
        if not (self.fused and self._fused_step(places, lr, scale)):
            for layer, name in places:
                param, grad = getattr(layer, name), getattr(layer, "d" + name)
                if scale < 1.0:
                    grad = grad * scale  # a copy: the layer keeps the gradient backward gave
                if self.weight_decay and name in decayed_names(layer):
                    param -= lr * self.weight_decay * param
                self.update(param, grad, self.state(param), lr)
        self.current_learning_rate = lr
        self.iterations += 1

    def update(self, param, grad, state, lr):
        raise NotImplementedError

    def state(self, param):
        """The state arrays of one parameter array, {slot: array}, zeros at first."""
        entry = self._state.get(id(param))
        if entry is None or entry[0] is not param:
            entry = (param, {name: np.zeros_like(param) for name in self.slots})
            self._state[id(param)] = entry
        return entry[1]

    def _clip_scale(self, places):
        """clip_norm / ||g|| when the step's gradients are longer than clip_norm, else 1.

        ||g|| = sqrt(sum of g^2 over every entry of every gradient), summed in
        float64 so that the squares of float32 gradients cannot overflow, and
        kept in ``gradient_norm``. An infinite or NaN gradient gives a norm of
        inf or NaN, kept as it is, and NaN in the parameters after the update,
        which the training loop reports as divergence.
        """
        if self.clip_norm is None:
            return 1.0
        squares = 0.0
        for layer, name in places:
            grad = getattr(layer, "d" + name).astype(np.float64, copy=False)
            squares += float(np.vdot(grad, grad))
        self.gradient_norm = math.sqrt(squares)
        return self.clip_norm / self.gradient_norm if self.gradient_norm > self.clip_norm else 1.0

    def _fused_step(self, places, lr, scale):
        """The ``fused`` fast path; False when the parameters cannot share one array.

        ``places`` are the (layer, parameter name) pairs of the step.
        """
        if not places:
            return True
        params = [getattr(layer, name) for layer, name in places]
        known = self._flat[0] if self._flat is not None else ()
        same = len(known) == len(params) and all(map(operator.is_, known, params))
        if not same:
            if len({param.dtype for param in params}) != 1:
                return False  # one array holds one dtype: no silent cast
            self._pack(places)
        _, values, grads, state, decayed = self._flat
        np.concatenate([getattr(layer, "d" + name).reshape(-1) for layer, name in places],
                       out=grads)
        if scale < 1.0:
            grads *= scale  # the optimizer's own copy of the gradients
        if self.weight_decay:
            # The plain path's p -= lr * weight_decay * p, only where the mask is set.
            np.subtract(values, lr * self.weight_decay * values, out=values, where=decayed)
        self.update(values, grads, state, lr)
        return True

    def _pack(self, places):
        """Move every parameter of ``places``, and its state, into one flat array.

        Each layer's parameters become views into the flat parameters, and
        each parameter's state arrays views into the flat state, so that
        ``state(param)`` and the per-array path see the same numbers as the
        fused one. A flat boolean mask marks the entries of decayed parameters.
        """
        arrays = [getattr(layer, name) for layer, name in places]
        values = np.concatenate([array.reshape(-1) for array in arrays])
        state = {slot: np.concatenate([self.state(array)[slot].reshape(-1) for array in arrays])
                 for slot in self.slots}
        decayed = np.concatenate([np.full(array.size, name in decayed_names(layer))
                                  for (layer, name), array in zip(places, arrays, strict=True)])
        for array in arrays:
            self._state.pop(id(array), None)
        views, offset = [], 0
        for (layer, name), array in zip(places, arrays, strict=True):
            part = slice(offset, offset + array.size)
            view = values[part].reshape(array.shape)
            setattr(layer, name, view)
            self._state[id(view)] = (view, {slot: state[slot][part].reshape(array.shape)
                                            for slot in self.slots})
            views.append(view)
            offset += array.size
        self._flat = (views, values, np.empty_like(values), state, decayed)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (heavy-ball) momentum.

    Update:    p <- p - lr_t g                                  (momentum = 0)
               v <- momentum v - lr_t g;  p <- p + v            (v starts at 0)

    Robbins & Monro (1951); momentum after Polyak (1964).
    """

    def __init__(self, learning_rate=1.0, decay=0.0, momentum=0.0, **options):
        super().__init__(learning_rate, decay, **options)
        self.momentum = _hyperparameter("momentum", momentum, below_one=True)
        self.slots = ("velocity",) if self.momentum else ()

    def update(self, param, grad, state, lr):
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

    slots = ("cache",)

    def __init__(self, learning_rate=1.0, decay=0.0, epsilon=1e-7, **options):
        super().__init__(learning_rate, decay, **options)
        self.epsilon = _hyperparameter("epsilon", epsilon)

    def update(self, param, grad, state, lr):
        cache = state["cache"]
        cache += grad**2
        param -= lr * grad / (np.sqrt(cache) + self.epsilon)


class RMSProp(Optimizer):
    """Root-mean-square propagation: Adagrad with a decaying average of g^2.

    Update:    c <- rho c + (1 - rho) g^2;  p <- p - lr_t g / (sqrt(c) + epsilon)
               (c starts at 0)

    Tieleman & Hinton (2012), Coursera "Neural Networks for Machine Learning",
    lecture 6e.
    """

    slots = ("cache",)

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7, rho=0.9, **options):
        super().__init__(learning_rate, decay, **options)
        self.epsilon = _hyperparameter("epsilon", epsilon)
        self.rho = _hyperparameter("rho", rho, below_one=True)

    def update(self, param, grad, state, lr):
        cache = state["cache"]
        cache *= self.rho
        cache += (1 - self.rho) * grad**2
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

    slots = ("m", "v")

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7,
                 beta_1=0.9, beta_2=0.999, **options):
        super().__init__(learning_rate, decay, **options)
        self.epsilon = _hyperparameter("epsilon", epsilon)
        self.beta_1 = _hyperparameter("beta_1", beta_1, below_one=True)
        self.beta_2 = _hyperparameter("beta_2", beta_2, below_one=True)

    def update(self, param, grad, state, lr):
        m, v = state["m"], state["v"]
        m *= self.beta_1
        m += (1 - self.beta_1) * grad
        v *= self.beta_2
        v += (1 - self.beta_2) * grad**2
        t = self.iterations + 1
        m_hat = m / (1 - self.beta_1 ** t)
        v_hat = v / (1 - self.beta_2 ** t)
        param -= lr * m_hat / (np.sqrt(v_hat) + self.epsilon)


class AdamW(Adam):
    """Adam with decoupled weight decay: the weights shrink apart from the gradient.

    Update:    p <- p - lr_t weight_decay p        (weights only: never biases, gamma, beta)
               then Adam's update of p with g      (g holds no decay term)

    Adding weight_decay p to g instead (L2 regularisation) would have Adam
    divide the decay by sqrt(v_hat) like the gradient, so that weights with
    large gradients would hardly decay; decoupled, every weight shrinks by
    the same fraction lr_t weight_decay. Decay first, then Adam, as
    torch.optim.AdamW orders them. Loshchilov & Hutter (2019), "Decoupled
    Weight Decay Regularization", ICLR.
    """

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7, beta_1=0.9,
                 beta_2=0.999, weight_decay=0.01, **options):
        super().__init__(learning_rate, decay, epsilon, beta_1, beta_2, **options)
        self.weight_decay = _hyperparameter("weight_decay", weight_decay)


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


def _whole(name, value, low):
    """Return ``value`` as an int if it is a whole number >= ``low``, or raise ValueError."""
    try:
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or isinstance(value, bool) or number < low:
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
    return number
