"""Central finite differences: the yardstick every backward pass is held to.

    dL/dp ~ (L(p + h) - L(p - h)) / (2 h)        error O(h^2), h = 1e-6

The tests use ``numerical_gradient`` on each class; ``check_network`` runs
the same comparison on a whole configured network (``main.py
--check-gradients``).
"""

import copy
import time

import numpy as np

from layers import Dropout, parameter_names, state_names
from losses import EPS, MeanAbsoluteError
from program import registry

H = 1e-6


def numerical_gradient(f, x, h=H):
    """d f() / d x by central differences, perturbing ``x`` in place entry by entry.

    ``f`` takes no arguments and reads ``x`` (or an object holding it); each
    entry of ``x`` is restored exactly after it has been perturbed.
    """
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + h
        f_plus = f()
        x[index] = original - h
        f_minus = f()
        x[index] = original
        grad[index] = (f_plus - f_minus) / (2 * h)
    return grad


def relative_error(analytic, numeric, floor=0.0):
    """||a - n|| / max(||a|| + ||n||, floor); 0 when both are exactly zero.

    ``floor`` keeps gradients too small for finite differences to resolve
    from turning rounding noise into a large relative error.
    """
    denominator = max(np.linalg.norm(analytic) + np.linalg.norm(numeric), floor)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(analytic - numeric) / denominator)


def check_network(network, x, y, *, max_samples=100, seed=0, h=1e-5, sample=None,
                  progress=None, every=5.0):
    """Compare backpropagated gradients of a network with central differences.

    Works on a float64 copy of ``network`` (the original is not touched), on
    at most ``max_samples`` samples spread over ``x``, with dropout on and each
    Dropout layer drawing the same mask at every evaluation. The loss is the
    total one, mean data loss plus the L1/L2 penalties, whatever the head.

    Samples that sit exactly on a ReLU kink (an input of 0, as the spiral's
    points at the origin give with zero biases) are left out, their number
    returned. Of the rest, an entry is skipped when its +h and -h evaluations
    fall on different sides of a kink: a ReLU (or leaky ReLU) input or an
    L1-penalised parameter crossing 0, another position becoming a pooling
    window's maximum, a probability crossing a clip edge of the loss, or a
    prediction crossing its target under the absolute error.
    h = 1e-5 rather than the tests' 1e-6, and the relative error of an array
    is taken against at least 1e-4 per entry (``floor``): at initialisation
    some gradients are ~1e-6 (the output biases of balanced classes, say),
    and rounding in a loss of ~1 (~1e-16 / h per evaluation) would otherwise
    pass for a wrong gradient. A bug still shows: a wrong gradient of
    1e-6 gives an error of order 1e-2, far above 1e-5.

    ``sample``: check at most that many entries of each parameter array,
    chosen at random (seeded), instead of all of them: a large network has
    too many for two forward passes each. ``progress(done, total, seconds)``
    is called after one second and then every ``every`` seconds.

    Returns ``(samples left out, [(name, relative error, checked, skipped)])``
    with one tuple per parameter array.
    """
    net = copy.deepcopy(network)
    for layer in net.layers:
        for name in (*parameter_names(layer), *state_names(layer)):
            setattr(layer, name, getattr(layer, name).astype(np.float64))
    take = np.unique(np.linspace(0, len(y) - 1, min(len(y), max_samples)).astype(int))
    x, y = np.asarray(x, np.float64)[take], np.asarray(y)[take]
    if net.head.task == "regression":
        y = y.astype(np.float64)
    relus = [layer for layer in net.layers if registry.kind_of(layer) in ("relu", "leaky_relu")]
    dropouts = [layer for layer in net.layers if isinstance(layer, Dropout)]

    def total_loss():
        for index, layer in enumerate(dropouts):
            layer.rng = np.random.default_rng([seed, index])
        return net.forward(x, y, training=True) + net.regularization_loss()

    def kinks():
        """Which side of every kink the last evaluation was on."""
        # A pooling layer's winners exist only after a forward pass: read them now.
        sides = [layer.inputs > 0 for layer in relus] + [
            layer.argmax for layer in net.layers if getattr(layer, "argmax", None) is not None]
        out = net.head.output
        if net.head.task == "classes":
            p = out[np.arange(len(y)), y]
            sides.append((p > EPS) & (p < 1 - EPS))
        elif net.head.task == "binary":
            sides.append((out > EPS) & (out < 1 - EPS))
        elif isinstance(net.head.loss, MeanAbsoluteError):
            sides.append(out > y.reshape(out.shape))
        return np.concatenate([side.ravel() for side in sides])

    total_loss()
    on_kink = np.zeros(len(y), dtype=bool)
    for layer in relus:
        on_kink |= (np.abs(layer.inputs) < 1e-12).reshape(len(y), -1).any(axis=1)
    x, y = x[~on_kink], y[~on_kink]
    total_loss()
    net.backward(y)
    chooser = np.random.default_rng(seed)
    l1_of = _l1_penalties(net)
    plan = []  # (name, parameter, its gradient, the entries to check)
    for (name, param), (_, layer_grad) in zip(net.parameters(), net.gradients(), strict=True):
        entries = list(np.ndindex(param.shape))
        if sample is not None and sample < len(entries):
            picked = chooser.choice(len(entries), size=sample, replace=False)
            entries = [entries[i] for i in sorted(picked)]
        plan.append((name, param, layer_grad.copy(), entries))
    total, done = sum(len(entries) for *_, entries in plan), 0
    started = time.perf_counter()
    last_report = started - every + 1.0  # the first report after one second, if it lasts
    results = []
    for name, param, analytic, entries in plan:
        l1 = l1_of.get(name, 0.0)
        numeric = np.zeros(len(entries))
        keep = np.ones(len(entries), dtype=bool)
        for position, index in enumerate(entries):
            original = param[index]
            param[index] = original + h
            f_plus, side_plus = total_loss(), kinks()
            param[index] = original - h
            f_minus, side_minus = total_loss(), kinks()
            param[index] = original
            numeric[position] = (f_plus - f_minus) / (2 * h)
            if (side_plus != side_minus).any() or (l1 and abs(original) <= h):
                keep[position] = False
            done += 1
            now = time.perf_counter()
            if progress is not None and now - last_report >= every:
                progress(done, total, now - started)
                last_report = now
        checked = np.array([analytic[index] for index in entries])
        floor = 1e-4 * np.sqrt(keep.sum())
        results.append((name, relative_error(checked[keep], numeric[keep], floor),
                        int(keep.sum()), int((~keep).sum())))
    return int(on_kink.sum()), results


def _l1_penalties(net):
    """{parameter name: its L1 coefficient} for the parameters that have one."""
    penalties = {}
    for layer, layer_name in zip(net.layers, net.names, strict=True):
        for name, attribute in (("weights", "weight_regularizer_l1"),
                                ("biases", "bias_regularizer_l1")):
            if name in parameter_names(layer) and getattr(layer, attribute, 0.0):
                penalties[f"{layer_name}.{name}"] = getattr(layer, attribute)
    return penalties
