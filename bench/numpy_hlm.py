"""Plain-numpy reference implementation of the HLM fit, for benchmarking hlmm.HLM.

Same algorithm as :meth:`hlmm.HLM.fit`: Newton's method on the profile likelihood of β
(α̂(β) by weighted least squares) with the exact Hessian, backtracking line search,
Fisher scoring (``VᵀV``) where the Hessian is not positive definite, and the same
stopping rule (Newton decrement of the profile ``−2L`` below ``tol``).

With ``f(α, β) = −2L − n·log2π = Σ_i [η_i + w_i r_i²]``, ``η = Vβ``, ``w = exp(−η)``,
``r = y − Xα``, ``e = w∘r∘r``:

- ``∂f/∂β = Vᵀ(1 − e)``, ``∂²f/∂β∂βᵀ = Vᵀdiag(e)V``, ``∂²f/∂β∂αᵀ = 2Vᵀdiag(w∘r)X``,
  ``∂²f/∂α∂αᵀ = 2XᵀWX``;
- profile Hessian ``H = Vᵀdiag(e)V − 2C(XᵀWX)⁻¹Cᵀ`` with ``C = Vᵀdiag(w∘r)X``.

Everything is vectorised numpy (n-vectors and n×p temporaries, BLAS for the Grams).
"""
import numpy as np
from scipy import linalg

_E_LOG_CHI2_1 = -1.2703628454614782


def start_beta(y, X, V):
    alpha, *_ = linalg.lstsq(X, y)
    r2 = np.square(y - X @ alpha)
    floor = 1e-8 * max(r2.mean(), np.finfo(float).tiny)
    beta, *_ = linalg.lstsq(V, np.log(r2 + floor) - _E_LOG_CHI2_1)
    return beta


def _wls(y, X, V, beta):
    eta = V @ beta
    w = np.exp(-eta)
    Xw = X * w[:, None]
    XtWX = Xw.T @ X
    alpha = linalg.solve(XtWX, Xw.T @ y, assume_a="pos")
    return alpha, XtWX


def _derivatives(y, X, V, beta, alpha):
    eta = V @ beta
    w = np.exp(-eta)
    r = y - X @ alpha
    rw = r * w
    e = rw * r
    f = eta.sum() + e.sum()
    g = V.T @ (1.0 - e)
    H_bb = (V * e[:, None]).T @ V
    C = (V * rw[:, None]).T @ X
    return f, g, H_bb, C


def fit(y, X, V, tol=1e-10, max_iter=200):
    """Returns ``(alpha, beta, loglik, n_iter, converged)``."""
    n = y.shape[0]
    VtV = V.T @ V
    beta = start_beta(y, X, V)
    alpha, XtWX = _wls(y, X, V, beta)
    f, g, H_bb, C = _derivatives(y, X, V, beta, alpha)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        H = H_bb - 2.0 * C @ linalg.solve(XtWX, C.T, assume_a="pos")
        try:
            step = -linalg.solve(H, g, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            step = -linalg.solve(VtV, g, assume_a="pos")
        dec = -g @ step
        if dec < 0:
            step = -linalg.solve(VtV, g, assume_a="pos")
            dec = -g @ step
        t = 1.0
        for _ in range(60):
            b_new = beta + t * step
            a_new, XtWX_new = _wls(y, X, V, b_new)
            d_new = _derivatives(y, X, V, b_new, a_new)
            if d_new[0] <= f - 1e-4 * t * dec or (dec < tol and d_new[0] <= f + 1e-12 * abs(f)):
                break
            t *= 0.5
        else:
            break
        beta, alpha, XtWX = b_new, a_new, XtWX_new
        f, g, H_bb, C = d_new
        if dec < tol:
            converged = True
            break
    loglik = -0.5 * (f + n * np.log(2 * np.pi))
    return alpha, beta, loglik, it, converged
