"""Tail probabilities of small counts: Poisson, and negative binomial for noisy series.

A complaint count per hour is small (often 0, 1 or 2), so a normal approximation would
call 2 -> 6 a catastrophe and miss nothing real; the exact count model says how likely a
count is given what was expected. Series that swing more than Poisson allows (a
newsletter sender whose complaints arrive with its batches) are read with a negative
binomial: variance = mean + dispersion x mean².

Everything is vectorised over numpy arrays. The tails use a closed-form bound (the
probability of the count itself divided by one minus the ratio of neighbouring
probabilities), which is within a small factor of the exact tail and never below it, so
a count judged improbable really is.
"""

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Below this dispersion a series is read as Poisson (the negative binomial tends to it).
POISSON_DISPERSION = 1e-4
_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)
_SHIFT = 8.0


def log_gamma(z: npt.ArrayLike) -> FloatArray:
    """Return ln Γ(z) for positive *z*, element-wise (Stirling's series, shifted up)."""
    values = np.asarray(z, dtype=np.float64)
    shifted = values.copy()
    correction = np.zeros_like(values)
    # Γ(z) = Γ(z + 1) / z: move every value above the shift, where Stirling is exact
    # to about 1e-12.
    for _ in range(int(_SHIFT)):
        small = shifted < _SHIFT
        if not small.any():
            break
        correction -= np.where(small, np.log(np.where(small, shifted, 1.0)), 0.0)
        shifted = np.where(small, shifted + 1.0, shifted)
    inverse = 1.0 / shifted
    inverse2 = inverse * inverse
    series = inverse * (
        1.0 / 12.0 - inverse2 * (1.0 / 360.0 - inverse2 * (1.0 / 1260.0 - inverse2 / 1680.0))
    )
    result: FloatArray = (
        (shifted - 0.5) * np.log(shifted) - shifted + _HALF_LOG_TWO_PI + series + correction
    )
    return result


def log_probability(
    count: npt.ArrayLike, mean: npt.ArrayLike, dispersion: npt.ArrayLike
) -> FloatArray:
    """Return ln P(X = count) for X negative binomial with *mean* and *dispersion*.

    A dispersion below ``POISSON_DISPERSION`` gives the Poisson probability.
    """
    x = np.asarray(count, dtype=np.float64)
    mu = np.maximum(np.asarray(mean, dtype=np.float64), 1e-12)
    phi = np.asarray(dispersion, dtype=np.float64)
    x, mu, phi = np.broadcast_arrays(x, mu, phi)
    poisson = x * np.log(mu) - mu - log_gamma(x + 1.0)
    negative = phi >= POISSON_DISPERSION
    if not negative.any():
        return poisson
    size = 1.0 / np.where(negative, phi, 1.0)
    nb = (
        log_gamma(x + size)
        - log_gamma(size)
        - log_gamma(x + 1.0)
        + size * np.log(size / (size + mu))
        + x * np.log(mu / (size + mu))
    )
    result: FloatArray = np.where(negative, nb, poisson)
    return result


def upper_tail(count: npt.ArrayLike, mean: npt.ArrayLike, dispersion: npt.ArrayLike) -> FloatArray:
    """Return P(X >= count), bounded from above; 1 where the count is not above the mean."""
    x = np.asarray(count, dtype=np.float64)
    mu = np.maximum(np.asarray(mean, dtype=np.float64), 1e-12)
    phi = np.asarray(dispersion, dtype=np.float64)
    x, mu, phi = np.broadcast_arrays(x, mu, phi)
    negative = phi >= POISSON_DISPERSION
    size = 1.0 / np.where(negative, phi, 1.0)
    share = mu / (size + mu)
    # P(k + 1) / P(k): falls towards `share` (NB) or towards 0 (Poisson) as k grows, so
    # the larger of its value at the count and its limit bounds every later ratio.
    ratio = np.where(
        negative,
        np.maximum((x + size) / (x + 1.0) * share, share),
        mu / (x + 1.0),
    )
    ratio = np.minimum(ratio, 1.0 - 1e-12)
    log_tail = log_probability(x, mu, phi) - np.log1p(-ratio)
    tail = np.minimum(np.exp(np.minimum(log_tail, 0.0)), 1.0)
    result: FloatArray = np.where(x > mu, tail, 1.0)
    return result


def lower_tail(count: npt.ArrayLike, mean: npt.ArrayLike, dispersion: npt.ArrayLike) -> FloatArray:
    """Return P(X <= count), bounded from above; 1 where the count is not below the mean.

    Dispersion above 1 is read as 1 here: a collapse is judged against a series that is
    at worst as noisy as a geometric one, which keeps the bound valid.
    """
    x = np.asarray(count, dtype=np.float64)
    mu = np.maximum(np.asarray(mean, dtype=np.float64), 1e-12)
    phi = np.minimum(np.asarray(dispersion, dtype=np.float64), 1.0)
    x, mu, phi = np.broadcast_arrays(x, mu, phi)
    negative = phi >= POISSON_DISPERSION
    size = 1.0 / np.where(negative, phi, 1.0)
    share = mu / (size + mu)
    # P(k - 1) / P(k) = k / ((k - 1 + size) x share): with size >= 1 it grows with k, so
    # its value at the count bounds every ratio below it.
    below = np.maximum((x - 1.0 + size) * share, 1e-300)
    ratio = np.where(x <= 0.0, 0.0, np.where(negative, x / below, x / mu))
    ratio = np.clip(ratio, 0.0, 1.0 - 1e-12)
    log_tail = log_probability(x, mu, phi) - np.log1p(-ratio)
    tail = np.minimum(np.exp(np.minimum(log_tail, 0.0)), 1.0)
    result: FloatArray = np.where(x < mu, tail, 1.0)
    return result
