"""Assertions shared by the tests: the gradient checks, and a guard against a hang."""

import threading

import numpy as np

from gradcheck import relative_error

TOLERANCE = 1e-6


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
