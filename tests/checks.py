"""Assertions shared by the tests: the gradient checks, and a guard against a hang."""

import threading

import numpy as np

from layers import parameter_names
from losses import regularization_loss
from program.gradcheck import numerical_gradient, relative_error

TOLERANCE = 1e-6


def away_from_zero(rng, shape, margin=0.1):
    """Random values with |x| >= margin, to keep finite differences off kinks."""
    values = rng.standard_normal(shape)
    return np.sign(values) * (margin + np.abs(values))


def distinct(rng, shape, gap=0.01):
    """Values at least ``gap`` apart in a random order: no ties for a maximum to break.

    A perturbation of h = 1e-6 then never changes which entry is largest, so
    max pooling is differentiable at every point of the check.
    """
    size = int(np.prod(shape))
    return (rng.permutation(size) - size / 2).reshape(shape) * gap


def assert_gradient_matches(analytic, numeric, tolerance=TOLERANCE):
    """Fail unless the two agree; a zero numeric gradient fails too (nothing was tested)."""
    assert analytic.shape == numeric.shape
    assert np.linalg.norm(numeric) > 0, "numeric gradient is zero: the check cannot fail"
    error = relative_error(analytic, numeric)
    assert error < tolerance, f"relative error {error:.2e} >= {tolerance:.0e}"
    return error


def layer_gradient_errors(layer, x, upstream, *, training=True, kinks=None):
    """Check ``layer.backward`` against central differences; return the errors by name.

    The loss is L = sum(forward(x) * R) + regularization_loss(layer), R the
    random ``upstream``, so backward(R) must be dL/dX, and after it the
    gradient "d" + name of every parameter the layer declares must be
    dL/d(name). ``kinks()``, when given, describes which side of every kink
    the last forward was on (a ReLU's signs, a pooling's argmax): it must not
    change under any perturbation, so the check never straddles a kink.
    """
    def loss():
        value = float((layer.forward(x, training) * upstream).sum()) + regularization_loss(layer)
        if kinks is not None:
            assert np.array_equal(kinks(), sides), "a perturbation crossed a kink"
        return value

    layer.forward(x, training)
    sides = None if kinks is None else kinks().copy()
    analytic = {"inputs": layer.backward(upstream)}
    names = parameter_names(layer)
    analytic.update({name: getattr(layer, "d" + name).copy() for name in names})
    errors = {"inputs": assert_gradient_matches(analytic["inputs"],
                                                numerical_gradient(loss, x))}
    for name in names:
        errors[name] = assert_gradient_matches(analytic[name],
                                               numerical_gradient(loss, getattr(layer, name)))
    return errors


def assert_arguments_unchanged(layer, x, training=False, seed=0):
    """Run forward and backward; fail if either changed the array it was given."""
    x_copy = x.copy()
    out = layer.forward(x, training)
    np.testing.assert_array_equal(x, x_copy)
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    upstream_copy = upstream.copy()
    layer.backward(upstream)
    np.testing.assert_array_equal(upstream, upstream_copy)


def within(seconds, function):
    """Run ``function`` in a thread; fail instead of hanging if it takes longer."""
    result = {}

    def run():
        try:
            result["value"] = function()
        except BaseException as error:  # handed back to the test
            result["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in result:
        raise result["error"]
    return result["value"]
