"""The HLMM of one SNP from genotype-class statistics: likelihood, exact derivatives, Newton.

:class:`ClassStatsHLMM` (hard-call classes) and :class:`CarrierStatsHLMM` (dosages: the
modal value as one class, every carrier its own row) evaluate ``f = −2L − n·log2π`` of
``y ~ N(α0 + α1·x, D + h2·GGᵀ)``, ``d_k = exp(β0 + β1·x_k)``, and its gradient in O(l³),
independent of n (DESIGN.md §3); :meth:`ClassStatsHLMM.hessian` gives the exact Hessian
from the same per-class quantities.  :func:`_newton_hlmm` maximises the profile
likelihood over (β0, β1, h2 ≥ h2_min); :class:`hlmm.scan_engine.HLMMClassScan` drives it.
"""
import numpy as np
from scipy import linalg
from scipy.linalg import blas, lapack

from ._core import _gram

LOG2PI = np.log(2.0 * np.pi)
H2_MIN = 1e-5  # the original's lower bound on h2

class ClassStatsHLMM:
    """Log-likelihood of one SNP's HLMM from class statistics (DESIGN.md §3).

    ``y ~ N(Xα, Σ)``, ``Σ = D + h2·GGᵀ``, ``X = V = [1, x]``.  With
    ``A = I + h2·Σ_k w_k M_k``, ``gr_k = s_k − μ_k u_k``, ``b = Σ_k w_k gr_k``,
    ``z = A⁻¹b`` and ``rr_k = S2_k − 2μ_k S1_k + n_k μ_k²``:

    - ``f = −2L − n·log2π = Σ_k n_k η_k + log|A| + Σ_k w_k rr_k − h2·bᵀz``
    - ``∂f/∂α = −2 Σ_k v_k w_k (S1_k − n_k μ_k − h2·u_kᵀz)``
    - ``∂f/∂β = Σ_k v_k [n_k − h2 w_k tr(A⁻¹M_k) − w_k(rr_k − 2h2·zᵀgr_k + h2²·zᵀM_k z)]``
    - ``∂f/∂h2 = Σ_k w_k tr(A⁻¹M_k) − zᵀz``

    and the profiled ``α̂ = (XᵀΣ⁻¹X)⁻¹XᵀΣ⁻¹y`` from ``XᵀΣ⁻¹X = XᵀWX − h2·PᵀA⁻¹P``,
    ``P = GᵀWX = [Σ w_k u_k, Σ w_k x_k u_k]``.  Each evaluation is a Cholesky and an
    inverse of the l×l matrix A, independent of n.  Arrays are over present classes.
    """

    def __init__(self, n, S1, S2, u, s, M, x):
        self.nk = np.asarray(n, float)
        self.S1, self.S2 = np.asarray(S1, float), np.asarray(S2, float)
        self.u, self.s = np.asarray(u, float), np.asarray(s, float)  # C × l
        self.M = M                                                   # list of l × l
        self.x = np.asarray(x, float)
        self.n = float(self.nk.sum())
        self.l = self.u.shape[1]

    def evaluate(self, beta, h2, alpha=None):
        """``(f, ∂f/∂(α, β, h2), α, XᵀΣ⁻¹X)`` at (α, β, h2); α = α̂(β, h2) when None.
        Returns None where Σ is not positive definite or the weights overflow."""
        b0, b1 = float(beta[0]), float(beta[1])
        eta = b0 + b1 * self.x
        with np.errstate(over="ignore"):
            w = np.exp(-eta)
        if not np.all(np.isfinite(w)):
            return None
        A = self.M[0] * (h2 * w[0])
        for k in range(1, len(self.M)):
            A += self.M[k] * (h2 * w[k])
        A.flat[:: self.l + 1] += 1.0
        chol = _chol_inverse(A, keep_factor=False)
        if chol is None:
            return None
        logdet, _, Ainv = chol
        # l-sized products go through scipy's BLAS only: numpy may carry its own
        # OpenBLAS, and two thread pools alternating spin against each other (measured:
        # 50× slower per evaluation on 2 cores).  Sums over the ≤ 3 classes are loops.
        C = len(self.M)
        V = np.column_stack([np.ones_like(self.x), self.x])           # C × 2
        P = np.zeros((self.l, 3), order="F")
        for k in range(C):
            P[:, 0] += w[k] * self.u[k]
            P[:, 1] += (w[k] * self.x[k]) * self.u[k]
            P[:, 2] += w[k] * self.s[k]
        Q = blas.dsymm(1.0, Ainv, P)
        PQ = (P[:, :2, None] * Q[:, None, :]).sum(axis=0)            # 2 × 3 = PᵀA⁻¹P
        XSX = (V.T * (w * self.nk)) @ V - h2 * PQ[:, :2]
        if alpha is None:
            alpha = _solve2(XSX, V.T @ (w * self.S1) - h2 * PQ[:, 2])
            if alpha is None:
                return None
        alpha = np.asarray(alpha, float)
        mu = alpha[0] + alpha[1] * self.x
        rr = self.S2 - 2.0 * mu * self.S1 + self.nk * mu * mu
        gr = self.s - mu[:, None] * self.u                             # C × l
        bvec = (gr * w[:, None]).sum(axis=0)
        z = blas.dsymv(1.0, Ainv, bvec)
        f = float(self.nk @ eta + logdet + w @ rr - h2 * blas.ddot(bvec, z))
        a_flat = Ainv.reshape(-1)
        trk = np.array([blas.ddot(a_flat, Mk.reshape(-1)) for Mk in self.M])
        zMz = np.array([blas.ddot(z, blas.dsymv(1.0, Mk, z)) for Mk in self.M])
        first = self.nk - h2 * w * trk
        second = w * (rr - 2.0 * h2 * (gr * z).sum(axis=1) + h2 * h2 * zMz)
        uz = (self.u * z).sum(axis=1)
        g_alpha = -2.0 * V.T @ (w * (self.S1 - self.nk * mu - h2 * uz))
        g_beta = V.T @ (first - second)
        g_h2 = w @ trk - blas.ddot(z, z)
        self.last_terms = (w, mu, z, float(w @ trk))   # for robust SEs at the optimum
        grad = np.concatenate([g_alpha, g_beta, [g_h2]])
        if not (np.isfinite(f) and np.all(np.isfinite(grad))):
            return None
        return f, grad, alpha, XSX

    # --- public, in log-likelihood units --------------------------------------------
    def loglik(self, alpha, beta, h2):
        """``L(α, β, h2)``."""
        r = self.evaluate(beta, h2, alpha)
        return -np.inf if r is None else -0.5 * (r[0] + self.n * LOG2PI)

    def gradient(self, alpha, beta, h2):
        """``∂L/∂(α0, α1, β0, β1, h2)`` (NaN where Σ is not positive definite)."""
        r = self.evaluate(beta, h2, alpha)
        return np.full(5, np.nan) if r is None else -0.5 * r[1]

    def profile_loglik(self, beta, h2):
        """``L(α̂(β, h2), β, h2)``."""
        r = self.evaluate(beta, h2)
        return -np.inf if r is None else -0.5 * (r[0] + self.n * LOG2PI)

    def profile_gradient(self, beta, h2):
        """``dL(α̂, β, h2)/d(β0, β1, h2)`` (= the partial gradient, since ∂L/∂α = 0 at α̂)."""
        r = self.evaluate(beta, h2)
        return np.full(3, np.nan) if r is None else -0.5 * r[1][2:]


def _solve2(XSX, XSy):
    """α̂ = (XᵀΣ⁻¹X)⁻¹XᵀΣ⁻¹y for the 2×2 system; None unless positive definite."""
    det = XSX[0, 0] * XSX[1, 1] - XSX[0, 1] * XSX[1, 0]
    if not (det > 0 and XSX[0, 0] > 0):
        return None
    return np.array([XSX[1, 1] * XSy[0] - XSX[0, 1] * XSy[1],
                     XSX[0, 0] * XSy[1] - XSX[1, 0] * XSy[0]]) / det


def _chol_inverse(A, keep_factor):
    """``(log|A|, L, A⁻¹)`` for symmetric positive definite A (L lower, None unless
    ``keep_factor``; A is overwritten otherwise); None if A is not positive definite."""
    c, info = lapack.dpotrf(A, lower=1, clean=1 if keep_factor else 0,
                            overwrite_a=0 if keep_factor else 1)
    if info != 0:
        return None
    logdet = 2.0 * np.log(np.diag(c)).sum()
    Ainv, info = lapack.dpotri(c, lower=1, overwrite_c=0 if keep_factor else 1)
    if info != 0:
        return None
    return logdet, (c if keep_factor else None), np.tril(Ainv) + np.tril(Ainv, -1).T


def _fd_profile_hessian(model, theta, g):
    """Profile Hessian of f over (β0, β1, h2) by forward differences of the analytic
    profile gradient (only used to steer Newton; h2 is stepped upwards, so stays ≥ 0)."""
    H = np.empty((3, 3))
    for j in range(3):
        d = 1e-6 * max(1.0, abs(theta[j]))
        tp = theta.copy()
        tp[j] += d
        ev = model.evaluate(tp[:2], tp[2])
        if ev is None:
            return None
        H[:, j] = (ev[1][2:] - g) / d
    return 0.5 * (H + H.T)


def _newton_hlmm(model, theta, h2_min, tol, max_iter):
    """Projected Newton on f(β0, β1, h2) (α profiled) subject to h2 ≥ h2_min.

    h2 is held at the bound while it sits there with ∂f/∂h2 > 0; otherwise all three
    move.  Indefinite Hessians get their eigenvalues reflected.  Backtracking Armijo
    search along the projected path.  Stops after the step whose Newton decrement
    gᵀH⁻¹g (on the free set) is below ``tol``.
    Returns (theta, f, grad, alpha, XSX, n_iter, message) or message only on failure.
    """
    theta = np.array(theta, dtype=float)
    theta[2] = max(theta[2], h2_min)
    ev = model.evaluate(theta[:2], theta[2])
    if ev is None:
        return "likelihood not finite at the start"
    f, grad, alpha, XSX = ev
    H, dec = None, np.inf
    for it in range(1, max_iter + 1):
        g = grad[2:]
        # Near the optimum (last decrement below 1e-4) the previous Hessian is still
        # accurate enough for quadratic-like convergence; re-differencing it would cost
        # three more l³ evaluations per iteration.
        if H is None or dec >= 1e-4:
            H = _fd_profile_hessian(model, theta, g)
            if H is None or not np.all(np.isfinite(H)):
                return "Hessian not finite"
        free = np.array([True, True, not (theta[2] <= h2_min and g[2] > 0)])
        lam, U = linalg.eigh(H[np.ix_(free, free)])
        lam = np.maximum(np.abs(lam), 1e-12 * max(np.abs(lam).max(), 1.0))
        step = np.zeros(3)
        step[free] = -U @ ((U.T @ g[free]) / lam)
        dec = -(g @ step)
        # below ~1e-10·|f| Armijo cannot resolve the decrease (f ~ n): take the full
        # step unless it raises f beyond rounding
        near = dec < 1e-10 * max(1.0, abs(f))
        t = 1.0
        for _ in range(60):
            cand = theta + t * step
            cand[2] = max(cand[2], h2_min)
            ev_new = model.evaluate(cand[:2], cand[2])
            if ev_new is not None:
                f_new = ev_new[0]
                if f_new <= f + 1e-4 * min(g @ (cand - theta), 0.0) or (
                        near and t == 1.0 and f_new <= f + 1e-12 * abs(f)):
                    break
            t *= 0.5
        else:
            return "line search failed"
        theta = cand
        f, grad, alpha, XSX = ev_new
        if dec < tol:
            return theta, f, grad, alpha, XSX, it, ""
    return "not converged"


def _observed_information(model, theta, alpha, XSX, boundary):
    """Observed information ``−∂²L`` over (α0, α1, β0, β1, h2) at the MLE (without h2 at
    the boundary).  The α block is analytic, ``XᵀΣ⁻¹X``; the β and h2 columns are central
    differences of the analytic gradient at fixed α (never differences of L)."""
    n_par = 4 if boundary else 5
    H = np.zeros((n_par, n_par))
    H[:2, :2] = 2.0 * XSX
    for j in range(n_par - 2):
        if j < 2:
            d = 1e-4 * max(1.0, abs(theta[j]))
        else:
            d = min(1e-4 * max(1.0, theta[2]), 0.5 * theta[2])
        cols = []
        for sign in (1.0, -1.0):
            tp = theta.copy()
            tp[j] += sign * d
            ev = model.evaluate(tp[:2], tp[2], alpha)
            if ev is None:
                return None
            cols.append(ev[1][:n_par])
        H[:, 2 + j] = (cols[0] - cols[1]) / (2.0 * d)
    H[2:, :2] = H[:2, 2:].T  # α-θ cross terms: the differenced ones
    H[2:, 2:] = 0.5 * (H[2:, 2:] + H[2:, 2:].T)
    return 0.5 * H  # f = −2L − const


class CarrierStatsHLMM(ClassStatsHLMM):
    """Log-likelihood of one dosage SNP's HLMM: one class (the modal dosage value, its
    sums ``n0, S1_0, S2_0, u0, s0, M0``) plus the carriers' own rows ``G_c, y_c, x_c``.

    The formulas are those of :class:`ClassStatsHLMM` with every carrier a class of one
    (``M_i = g_i g_iᵀ``, ``u_i = g_i``, ``s_i = y_i g_i``), computed without forming the
    ``M_i``: ``Σ_i w_i M_i = G_cᵀ W_c G_c`` (weighted syrk), ``tr(A⁻¹M_i) = g_iᵀA⁻¹g_i`` and
    ``zᵀM_i z = (g_iᵀz)²`` (one triangular multiply with ``L⁻¹``, ``A = LLᵀ``).
    Classes are ordered [mode, carriers…] in ``last_terms``.
    """

    def __init__(self, n0, S1_0, S2_0, u0, s0, M0, x0, Gc, yc, xc):
        self.n0, self.S1_0, self.S2_0 = float(n0), float(S1_0), float(S2_0)
        self.u0, self.s0, self.M0 = u0, s0, M0
        self.x0 = float(x0)
        self.Gc, self.yc, self.xc = Gc, np.asarray(yc, float), np.asarray(xc, float)
        self.n = self.n0 + len(self.yc)
        self.l = M0.shape[0]
        self.nk = np.concatenate([[self.n0], np.ones(len(self.yc))])
        self.x = np.concatenate([[self.x0], self.xc])

    def evaluate(self, beta, h2, alpha=None):
        from ._core import _mixed

        b0, b1 = float(beta[0]), float(beta[1])
        with np.errstate(over="ignore"):
            w0 = np.exp(-(b0 + b1 * self.x0))
            wc = np.exp(-(b0 + b1 * self.xc))
        if not (np.isfinite(w0) and np.all(np.isfinite(wc))):
            return None
        l, Gc = self.l, self.Gc
        A = np.empty((l, l))
        if len(wc):
            _gram.weighted_gram(Gc, wc, A)
            A = np.triu(A) + np.triu(A, 1).T
        else:
            A[:] = 0.0
        A = h2 * (A + w0 * self.M0)
        A.flat[:: l + 1] += 1.0
        chol = _chol_inverse(A, keep_factor=True)
        if chol is None:
            return None
        logdet, c, Ainv = chol
        # l-sized products through scipy's BLAS only (see ClassStatsHLMM.evaluate)
        W3 = np.column_stack([wc, wc * self.xc, wc * self.yc])
        P = blas.dgemm(1.0, Gc.T, W3) if len(wc) else np.zeros((l, 3), order="F")
        P[:, 0] += w0 * self.u0
        P[:, 1] += (w0 * self.x0) * self.u0
        P[:, 2] += w0 * self.s0
        Q = blas.dsymm(1.0, Ainv, P)
        PQ = P.T @ Q
        sw = w0 * self.n0 + wc.sum()
        swx = w0 * self.n0 * self.x0 + wc @ self.xc
        swxx = w0 * self.n0 * self.x0 ** 2 + wc @ (self.xc * self.xc)
        XSX = np.array([[sw, swx], [swx, swxx]]) - h2 * PQ[:2, :2]
        if alpha is None:
            alpha = _solve2(XSX, np.array([w0 * self.S1_0 + wc @ self.yc,
                                           w0 * self.x0 * self.S1_0 + wc @ (self.xc * self.yc)])
                            - h2 * PQ[:2, 2])
            if alpha is None:
                return None
        alpha = np.asarray(alpha, float)
        mu0 = alpha[0] + alpha[1] * self.x0
        muc = alpha[0] + alpha[1] * self.xc
        rc = self.yc - muc
        rr0 = self.S2_0 - 2.0 * mu0 * self.S1_0 + self.n0 * mu0 * mu0
        gr0 = self.s0 - mu0 * self.u0
        bvec = w0 * gr0 + (blas.dgemv(1.0, Gc.T, wc * rc) if len(wc) else 0.0)
        z = blas.dsymv(1.0, Ainv, bvec)
        eta0, etac = b0 + b1 * self.x0, b0 + b1 * self.xc
        f = float(self.n0 * eta0 + etac.sum() + logdet + w0 * rr0 + wc @ (rc * rc)
                  - h2 * bvec @ z)
        trk0 = float(blas.ddot(Ainv.reshape(-1), self.M0.reshape(-1)))
        zMz0 = float(blas.ddot(z, blas.dsymv(1.0, self.M0, z)))
        if len(wc):
            Linv, _ = lapack.dtrtri(c, lower=1)
            Linv = np.ascontiguousarray(np.tril(Linv))
            trc, az = np.empty(len(wc)), np.empty(len(wc))
            _mixed.row_terms(Gc, Linv, z, trc, az)
        else:
            trc = az = np.zeros(0)
        first = np.concatenate([[self.n0 - h2 * w0 * trk0], 1.0 - h2 * wc * trc])
        second = np.concatenate([[w0 * (rr0 - 2.0 * h2 * (gr0 @ z) + h2 * h2 * zMz0)],
                                 wc * (rc * rc - 2.0 * h2 * rc * az + h2 * h2 * az * az)])
        uz0 = self.u0 @ z
        ga = np.concatenate([[w0 * (self.S1_0 - self.n0 * mu0 - h2 * uz0)],
                             wc * (rc - h2 * az)])
        V1 = self.x
        g_alpha = -2.0 * np.array([ga.sum(), ga @ V1])
        d = first - second
        g_beta = np.array([d.sum(), d @ V1])
        wtrk = w0 * trk0 + wc @ trc
        g_h2 = wtrk - z @ z
        grad = np.concatenate([g_alpha, g_beta, [g_h2]])
        if not (np.isfinite(f) and np.all(np.isfinite(grad))):
            return None
        self.last_terms = (np.concatenate([[w0], wc]), np.concatenate([[mu0], muc]), z,
                           float(wtrk))
        return f, grad, alpha, XSX
