"""Dense O(n³) formulas of the HLMM (Σ formed explicitly, small n): the oracles of
tests/models/test_hlmm.py and tests/compat/test_hetlmm_compat.py."""
import numpy as np
from scipy import linalg

LOG2PI = np.log(2 * np.pi)


_GGT = {}


def _ggt(G):
    # Cached: the dense reference is evaluated hundreds of times per test.
    key = (id(G), G.shape)
    if key not in _GGT:
        _GGT.clear()
        _GGT[key] = (G, G @ G.T)
    return _GGT[key][1]


def dense_sigma(V, G, beta, h2):
    S = h2 * _ggt(G)
    S[np.diag_indices_from(S)] += np.exp(V @ beta)
    return S


def dense_loglik(y, X, V, G, alpha, beta, h2):
    """``L = −½(n·log2π + log|Σ| + rᵀΣ⁻¹r)`` with Σ formed explicitly."""
    cf = linalg.cho_factor(dense_sigma(V, G, beta, h2))
    r = y - X @ alpha
    logdet = 2 * np.sum(np.log(np.diag(cf[0])))
    return -0.5 * (len(y) * LOG2PI + logdet + r @ linalg.cho_solve(cf, r))


def dense_alpha(y, X, V, G, beta, h2):
    Si = np.linalg.inv(dense_sigma(V, G, beta, h2))
    return np.linalg.solve(X.T @ Si @ X, X.T @ Si @ y)


def dense_grad(y, X, V, G, alpha, beta, h2):
    """∂L/∂α = XᵀΣ⁻¹r, ∂L/∂θ_j = −½[tr(Σ⁻¹Σ_j) − rᵀΣ⁻¹Σ_jΣ⁻¹r], by dense algebra."""
    Si = np.linalg.inv(dense_sigma(V, G, beta, h2))
    s = Si @ (y - X @ alpha)
    d = np.exp(V @ beta)
    gb = [-0.5 * (np.sum(np.diag(Si) * V[:, j] * d) - s @ (V[:, j] * d * s))
          for j in range(V.shape[1])]
    GGt = _ggt(G)
    gh = -0.5 * (np.sum(Si * GGt) - s @ GGt @ s)
    return np.concatenate([X.T @ s, gb, [gh]])


def dense_hess(y, X, V, G, t, p, q, h=1e-6):
    """Central differences of :func:`dense_grad` (a cheap, accurate reference Hessian)."""
    H = np.empty((t.size, t.size))
    for k in range(t.size):
        e = np.zeros(t.size)
        e[k] = h
        up, lo = t + e, t - e
        H[:, k] = (dense_grad(y, X, V, G, up[:p], up[p:p + q], up[-1])
                   - dense_grad(y, X, V, G, lo[:p], lo[p:p + q], lo[-1])) / (2 * h)
    return 0.5 * (H + H.T)


def make_data(n, p, q, l, h2=0.4, seed=0, const_v=1.0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])
    V = np.column_stack([np.full(n, const_v), rng.standard_normal((n, q - 1))])
    G = rng.standard_normal((n, l)) / np.sqrt(l)
    beta = np.concatenate([[0.0], 0.3 * rng.standard_normal(q - 1)])
    alpha = rng.standard_normal(p)
    y = (X @ alpha + np.sqrt(h2) * G @ rng.standard_normal(l)
         + rng.standard_normal(n) * np.exp(V @ beta / 2))
    return y, X, V, G
