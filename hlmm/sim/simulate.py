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
    n : int
        Individuals.
    l : int
        Random-effect SNPs (columns of G).
    alpha : array_like
        Mean effects; their number p is the number of columns of X.
    beta : array_like
        Log-variance effects; their number q is the number of columns of V.
    h2 : float
        Variance of the random effect, ≥ 0.
    seed : int, optional
        Seeds ``numpy.random.default_rng`` when ``rng`` is None.
    rng : numpy.random.Generator, optional
        The random generator.  A ``numpy.random.RandomState``, or the ``numpy.random``
        module itself for numpy's global state (what :func:`hlmm.hetlmm.simulate`
        uses, as the original did), also works: only ``rng.standard_normal(size)`` and
        ``rng.binomial(n, p, size)`` are called.

    Returns
    -------
    Simulation
        A named tuple ``(y, X, V, G)`` of arrays of shapes (n,), (n, p), (n, q), (n, l).

    Raises
    ------
    ValueError
        When n or l is not positive, or h2 is negative or not finite.

    Examples
    --------
    >>> from hlmm import simulate
    >>> y, X, V, G = simulate(n=500, l=20, alpha=[1.0, -0.5], beta=[0.3], h2=0.2, seed=1)
    >>> y.shape, X.shape, V.shape, G.shape
    ((500,), (500, 2), (500, 1), (500, 20))
    >>> bool(abs(G.std(axis=0) - 20 ** -0.5).max() < 1e-12)   # standardised, times l^-½
    True
    >>> bool((simulate(500, 20, [1.0, -0.5], [0.3], 0.2, seed=1).y == y).all())
    True
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
