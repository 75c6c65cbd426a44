"""The part of a step every optimizer shares: the rate, clipping, weight decay, state.

Each optimizer in ``optimizers.py`` is an update rule for one parameter
array. ``Optimizer``, their base class, does the rest of a step: with g a
gradient, t the number of steps already taken (0 for the first step),
T = total_steps and W = warmup,

    Rate:      lr_t = schedule(learning_rate, decay, t, T)    (``inverse`` by default)
               lr_t = lr_t * (t + 1) / W                       while t < W (warm-up)
    Clipping:  g = g * clip_norm / ||g||   if ||g|| > clip_norm, with ||g|| the L2 norm
               of every gradient of the step together
    Weight decay:  p = p - lr_t * weight_decay * p   (decayed parameters only, AdamW)
    Update:    the rule of the optimizer, with lr_t and g

The schedules come first, then ``Optimizer``, then its one fast path,
``fused=True`` (``FlatParameters``), which a caller opts into.
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
    total_steps = whole("total_steps", total_steps, 1)
    t = min(t, total_steps - 1)
    return learning_rate * math.cos(math.pi * t / (2 * total_steps)) ** 2


class Optimizer:
    """One step: the rate, the clipped gradients, the weight decay, the update.

        lr_t = learning_rate_at(t)         the schedule's rate, scaled while warming up
        g = g * clip_norm / ||g||          only if ||g|| > clip_norm
        p = p - lr_t weight_decay p        decayed parameters only, if weight_decay
        update(p, g, state(p), lr_t)       the subclass's rule, p changed in place

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
    fused        True opts into the fast path ``FlatParameters`` (below): the same
                 numbers, fewer NumPy calls

    A subclass that sets ``weight_decay`` (AdamW) has the decayed parameters
    of each layer (``layers.decayed_names``: weights, never biases or
    BatchNorm's gamma and beta) shrunk by lr_t * weight_decay * p before
    its update.

    Per-parameter state (momentums, caches) lives in the optimizer, keyed by
    the parameter array it belongs to and created as zeros on first use.
    Nothing but the parameters is ever written onto a layer, and those are
    updated in place: clipping scales a copy of the gradients, never the
    layer's own arrays.
    """

    slots = ()
    weight_decay = 0.0

    def __init__(self, learning_rate, decay, *, schedule=inverse, total_steps=None, warmup=0,
                 clip_norm=None, fused=False):
        self.learning_rate = hyperparameter("learning_rate", learning_rate, positive=True)
        self.decay = hyperparameter("decay", decay)
        if not callable(schedule):
            raise ValueError(f"schedule must be a function (learning_rate, decay, t, "
                             f"total_steps) -> rate, got {schedule!r}")
        self.schedule = schedule
        self.total_steps = None if total_steps is None else whole("total_steps", total_steps, 1)
        self.warmup = whole("warmup", warmup, 0)
        self.clip_norm = (None if clip_norm is None
                          else hyperparameter("clip_norm", clip_norm, positive=True))
        self.fused = fused
        self.learning_rate_at(0)  # a schedule that cannot run (cosine without T) fails here
        self.current_learning_rate = self.learning_rate
        self.gradient_norm = None
        self.iterations = 0
        # id(param) -> (param, {slot name: array}); the array is held so that
        # its id cannot be reused by another array while the state exists.
        self._state = {}
        self._flat = None  # fused: the FlatParameters of the last step

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
        """The step of ``fused=True``; False when the parameters cannot share one array.

        ``places`` are the (layer, parameter name) pairs of the step.
        """
        if not places:
            return True
        if self._flat is None or not self._flat.holds(places):
            if len({getattr(layer, name).dtype for layer, name in places}) != 1:
                return False  # one array holds one dtype: no silent cast
            self._flat = FlatParameters(self, places)
        self._flat.step(self, places, lr, scale)
        return True


class FlatParameters:
    """The fast path ``fused=True``: one pass of the update rule over every parameter.

    On its first step the optimizer lays every parameter end to end in one
    flat array, and the layers then hold views of it as their parameters;
    each step copies the gradients end to end into a second flat array and
    runs the element-wise rule (all of them are element-wise) once over the
    pair, instead of once per parameter array. Every entry goes through the
    same arithmetic as on the plain path, so the numbers are the same, bit
    for bit (tested). A parameter a caller replaces is noticed on the next
    step and the flat array is rebuilt, the new parameter starting with fresh
    state, exactly as without ``fused``.

    What it is worth (``fast.py`` has the table): without it, workload A of
    bench.py (Adam on the book's 2-64-3 network) runs 16% more instructions
    an epoch, and takes 1.16 times as long; B, 2%. The program opts into it
    for every optimizer (``registry.py``).
    """

    def __init__(self, optimizer, places):
        """Move every parameter of ``places``, and its state, into one flat array.

        Each layer's parameters become views into the flat parameters, and
        each parameter's state arrays views into the flat state, so that
        ``optimizer.state(param)`` and the plain path see the same numbers as
        the fused one. A flat boolean mask marks the entries of decayed
        parameters.
        """
        arrays = [getattr(layer, name) for layer, name in places]
        self.values = np.concatenate([array.reshape(-1) for array in arrays])
        self.grads = np.empty_like(self.values)
        self.state = {slot: np.concatenate([optimizer.state(array)[slot].reshape(-1)
                                            for array in arrays])
                      for slot in optimizer.slots}
        self.decayed = np.concatenate([
            np.full(array.size, name in decayed_names(layer))
            for (layer, name), array in zip(places, arrays, strict=True)])
        for array in arrays:
            optimizer._state.pop(id(array), None)
        self.views, offset = [], 0
        for (layer, name), array in zip(places, arrays, strict=True):
            part = slice(offset, offset + array.size)
            view = self.values[part].reshape(array.shape)
            setattr(layer, name, view)
            optimizer._state[id(view)] = (view, {slot: self.state[slot][part].reshape(array.shape)
                                                 for slot in optimizer.slots})
            self.views.append(view)
            offset += array.size

    def holds(self, places):
        """Whether the layers of ``places`` still hold exactly this array's views."""
        return len(self.views) == len(places) and all(
            view is getattr(layer, name)
            for view, (layer, name) in zip(self.views, places, strict=True))

    def step(self, optimizer, places, lr, scale):
        """The plain step's clipping, weight decay and update, over the flat arrays."""
        np.concatenate([getattr(layer, "d" + name).reshape(-1) for layer, name in places],
                       out=self.grads)
        if scale < 1.0:
            self.grads *= scale  # the optimizer's own copy of the gradients
        if optimizer.weight_decay:
            # The plain path's p -= lr * weight_decay * p, only where the mask is set.
            np.subtract(self.values, lr * optimizer.weight_decay * self.values,
                        out=self.values, where=self.decayed)
        optimizer.update(self.values, self.grads, self.state, lr)


def hyperparameter(name, value, *, below_one=False, positive=False):
    """``value`` as a float if it is a finite number >= 0, else a ValueError naming it.

    ``positive``: it must be > 0 (a learning rate); ``below_one``: < 1 (a decay
    of an average, such as momentum or beta_1).
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if positive and number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    if below_one and number >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return number


def whole(name, value, low):
    """Return ``value`` as an int if it is a whole number >= ``low``, or raise ValueError."""
    try:
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or isinstance(value, bool) or number < low:
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
    return number
