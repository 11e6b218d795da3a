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


def dense_hlm_fit(y, X, V, offset=None):
    """An independent HLM fit (the GxE oracle): BFGS on the full −log-likelihood
    ``½Σ(v_i + r_i²e^{−v_i})`` over (α, β) jointly from OLS, polished by Newton steps on a
    central-difference Hessian of its analytic gradient.  Returns ``(θ, loglik,
    H_num, cov_expected)``: the MLE, its log-likelihood, the numerical observed
    information and the expected-information covariance ``diag((XᵀWX)⁻¹, 2(VᵀV)⁻¹)``.
    ``offset``: a fixed term of every log-variance, ``v = offset + Vβ``."""
    from scipy import optimize

    n, p = X.shape
    q = V.shape[1]
    off = np.zeros(n) if offset is None else offset

    def nll(t):
        a, b = t[:p], t[p:]
        v = off + V @ b
        r = y - X @ a
        return 0.5 * np.sum(v + r * r * np.exp(-v))

    def grad(t):
        a, b = t[:p], t[p:]
        v = off + V @ b
        r = y - X @ a
        w = np.exp(-v)
        return np.r_[-X.T @ (w * r), 0.5 * V.T @ (1.0 - w * r * r)]

    a0 = np.linalg.lstsq(X, y, rcond=None)[0]
    b0 = np.zeros(q)
    b0[0] = np.log(np.mean((y - X @ a0) ** 2 * np.exp(-off)))
    t = optimize.minimize(nll, np.r_[a0, b0], jac=grad, method="BFGS",
                          options={"gtol": 1e-9, "maxiter": 10000}).x

    def hess(t, h=1e-5):
        k = t.size
        H = np.empty((k, k))
        for j in range(k):
            e = np.zeros(k)
            e[j] = h
            H[:, j] = (grad(t + e) - grad(t - e)) / (2 * h)
        return 0.5 * (H + H.T)

    for _ in range(5):
        t = t - np.linalg.solve(hess(t), grad(t))
    H = hess(t)
    w = np.exp(-(off + V @ t[p:]))
    cov = np.zeros((p + q, p + q))
    cov[:p, :p] = np.linalg.inv(X.T @ (w[:, None] * X))
    cov[p:, p:] = 2.0 * np.linalg.inv(V.T @ V)
    return t, -nll(t) - 0.5 * n * np.log(2 * np.pi), H, cov


def dense_sandwich_hc0(y, X, V, t):
    """HC0 sandwich of an HLM at θ: expected-information bread, Σ s_i s_iᵀ meat, the
    per-individual scores ``s_α = w r x``, ``s_β = ½(w r² − 1)v`` written out."""
    p = X.shape[1]
    w = np.exp(-(V @ t[p:]))
    r = y - X @ t[:p]
    S = np.column_stack([X * (w * r)[:, None], V * (0.5 * (w * r * r - 1.0))[:, None]])
    bread = np.zeros((S.shape[1],) * 2)
    bread[:p, :p] = X.T @ (w[:, None] * X)
    bread[p:, p:] = 0.5 * V.T @ V
    Bi = np.linalg.inv(bread)
    return Bi @ (S.T @ S) @ Bi
