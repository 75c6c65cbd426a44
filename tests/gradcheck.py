"""Central finite differences, the yardstick every backward pass is held to."""

import numpy as np

H = 1e-6
TOLERANCE = 1e-6


def numerical_gradient(f, x, h=H):
    """d f() / d x by central differences, perturbing ``x`` in place entry by entry.

    ``f`` takes no arguments and reads ``x`` (or an object holding it); ``x``
    is restored exactly after each entry.
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


def relative_error(analytic, numeric):
    """||a - n|| / (||a|| + ||n||), 0 when both are exactly zero."""
    denominator = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(analytic - numeric) / denominator)


def away_from_zero(rng, shape, margin=0.1):
    """Random values with |x| >= margin, to keep finite differences off kinks."""
    values = rng.standard_normal(shape)
    return np.sign(values) * (margin + np.abs(values))


def assert_gradient_matches(analytic, numeric, tolerance=TOLERANCE):
    """Fail unless the two agree; a zero numeric gradient fails too (nothing was tested)."""
    assert analytic.shape == numeric.shape
    assert np.linalg.norm(numeric) > 0, "numeric gradient is zero: the check cannot fail"
    error = relative_error(analytic, numeric)
    assert error < tolerance, f"relative error {error:.2e} >= {tolerance:.0e}"
    return error
