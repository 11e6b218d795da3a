"""Simulate data from the HLMM, as the original ``hetlmm.simulate`` did."""
from typing import NamedTuple

import numpy as np


class Simulation(NamedTuple):
    """Simulated data; unpacks as ``y, X, V, G = simulate(...)``."""

    y: np.ndarray
    X: np.ndarray
    V: np.ndarray
    G: np.ndarray


def simulate(n, l, alpha, beta, h2, seed=None, rng=None):
    """Draw ``(y, X, V, G)`` from the HLMM.

    ``X`` (n×p) and ``V`` (n×q) standard Gaussian (no intercept column, as in the
    original), ``G = zscore(Binomial(2, ½)^{n×l}, axis=0)·l^-½`` (a column without
    variation is set to 0 instead of NaN), and
    ``y = √h2·Gu + ε∘exp(Vβ/2) + Xα`` with ``u ~ N(0, I_l)``, ``ε ~ N(0, I_n)``.

    Parameters
    ----------
    n, l : int
    alpha, beta : array-like, mean and log-variance effects (p and q of them)
    h2 : float ≥ 0
    seed : int, optional, seeds ``numpy.random.default_rng`` when ``rng`` is None
    rng : numpy.random.Generator, optional; a ``numpy.random.RandomState``, or the
        ``numpy.random`` module itself for numpy's global state (what
        :func:`hlmm.hetlmm.simulate` uses, as the original did), also works: only
        ``rng.standard_normal(size)`` and ``rng.binomial(n, p, size)`` are called.
    """
    n, l = int(n), int(l)
    if n < 1 or l < 1:
        raise ValueError(f"n and l must be positive, got n={n}, l={l}")
    alpha = np.atleast_1d(np.asarray(alpha, dtype=float))
    beta = np.atleast_1d(np.asarray(beta, dtype=float))
    h2 = float(h2)
    if not np.isfinite(h2) or h2 < 0:
        raise ValueError(f"h2 must be finite and non-negative, got {h2}")
    if rng is None:
        rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, alpha.size))
    V = rng.standard_normal((n, beta.size))
    counts = rng.binomial(2, 0.5, (n, l)).astype(float)
    sd = counts.std(axis=0)
    G = np.zeros((n, l))
    ok = sd > 0
    G[:, ok] = (counts[:, ok] - counts[:, ok].mean(axis=0)) / sd[ok]
    G *= l ** -0.5
    y = (np.sqrt(h2) * (G @ rng.standard_normal(l))
         + rng.standard_normal(n) * np.exp(V @ beta / 2.0) + X @ alpha)
    return Simulation(y, X, V, G)
