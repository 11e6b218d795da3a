"""One point (β, h2) of the HLMM's likelihood ``F = −2L − n·log2π`` with its gradient
and exact Hessian, for :class:`hlmm.models.hlmm.HLMM` (whose docstring has the
model and the identities used):

- :class:`_LowRankPoint`, any V: one weighted Gram ``GᵀWG`` and a Cholesky of
  ``A = I + h2·GᵀWG`` per point (Woodbury; nothing n×n);
- :class:`_SpectralPoint`, V one constant column: every term a sum over the
  eigenvalues of Σ after one thin SVD of G, O(l·p²) per point;

and the assembly of the Hessian's blocks and its profile over α.
"""
import numpy as np
from scipy import linalg
from scipy.linalg import lapack

from .._core import _gram, _mixed


class _LowRankPoint:
    """``F`` and its derivatives at one (β, h2), general V, via the identities above."""

    def __init__(self, m, beta, h2):
        self.m, self.beta, self.h2 = m, beta, h2
        self.Vb = m.V @ beta
        with np.errstate(over="ignore"):
            self.w = np.exp(-self.Vb)
        self.ok = bool(np.all(np.isfinite(self.w)) and np.all(self.w > 0))
        if not self.ok:
            return
        l = m.l
        self.K = self._gram(self.w)
        A = h2 * self.K
        A[np.diag_indices(l)] += 1.0
        try:
            self.L = np.ascontiguousarray(linalg.cholesky(A, lower=True, check_finite=True))
        except (linalg.LinAlgError, ValueError):
            self.ok = False
            return
        self.logdetA = 2.0 * np.sum(np.log(np.diag(self.L)))
        self.GWXY = self._cross(m.G, m.XY, self.w)
        XWXY = self._cross(m.XY, m.XY, self.w)
        # [X y]ᵀ Σ⁻¹ [X y], for the GLS normal equations
        self.Q = XWXY - h2 * self.GWXY.T @ self.solve(self.GWXY)

    # The O(n·l²) and O(n·l) passes over G; bench/numpy_hlmm.py swaps them for numpy.
    def _gram(self, w):
        out = np.empty((self.m.l, self.m.l))
        _gram.weighted_gram(self.m.G, w, out)
        return out

    def _signed_gram(self, a):
        out = np.empty((self.m.l, self.m.l))
        _mixed.signed_gram(self.m.G, np.ascontiguousarray(a), out)
        return out

    @staticmethod
    def _cross(A, B, w):
        out = np.empty((A.shape[1], B.shape[1]))
        _gram.weighted_cross(A, B, w, out)
        return out

    def _row_terms(self, z):
        """``c_i = g_iᵀA⁻¹g_i`` and ``g_iᵀz``."""
        c, az = np.empty(self.m.n), np.empty(self.m.n)
        _mixed.row_terms(self.m.G, self.Linv(), z, c, az)
        return c, az

    def Linv(self):
        """``L⁻¹`` (lower, C order)."""
        if getattr(self, "_Linv", None) is None:
            Li, info = lapack.dtrtri(self.L, lower=1)
            if info != 0:
                raise linalg.LinAlgError("singular Cholesky factor")
            self._Linv = np.ascontiguousarray(np.tril(Li))
        return self._Linv

    def Ainv(self):
        """``A⁻¹`` from the Cholesky factor (potri: a third of the flops of cho_solve(I))."""
        Ai, info = lapack.dpotri(self.L, lower=1)
        if info != 0:
            raise linalg.LinAlgError("singular Cholesky factor")
        Ai = np.tril(Ai)
        return Ai + np.tril(Ai, -1).T

    def solve(self, B):
        """``A⁻¹B``."""
        return linalg.cho_solve((self.L, True), B, check_finite=False)

    def value(self, alpha=None):
        """``F`` at α (default ``α̂ = (XᵀΣ⁻¹X)⁻¹XᵀΣ⁻¹y``)."""
        m, p = self.m, self.m.p
        self.XSX = self.Q[:p, :p]
        if alpha is None:
            alpha = linalg.solve(self.XSX, self.Q[:p, p], assume_a="pos")
        self.alpha = alpha
        # r is formed explicitly: the quadratic form of Q would lose digits to cancellation.
        self.r = m.y - m.X @ alpha
        wr = self.w * self.r
        b = m.G.T @ wr
        self.z = self.solve(b)
        quad = self.r @ wr - self.h2 * b @ self.z
        self.f = np.sum(self.Vb) + self.logdetA + quad
        return self.f

    def gradient(self):
        """``∂F/∂α = −2Xᵀs``, ``∂F/∂β = Vᵀ(1 − h2·w∘c − w∘e²)``, ``∂F/∂h2 = Σ_i w_i c_i − ‖z‖²``,
        with ``e = r − h2·Gz`` (so ``s = w∘e``); ``Σ_i w_i c_i = tr(A⁻¹GᵀWG)``."""
        m, h2, w = self.m, self.h2, self.w
        self.c, az = self._row_terms(self.z)
        self.e = self.r - h2 * az
        self.s = w * self.e
        wc = w * self.c
        self.wc = wc
        g_a = -2.0 * (m.X.T @ self.s)
        g_b = m.V.T @ (1.0 - h2 * wc - self.e * self.s)
        g_h = np.sum(wc) - self.z @ self.z
        self.grad = np.concatenate([g_a, g_b, [g_h]])
        return self.grad

    def hessian(self):
        """Exact Hessian of F over (α, β, h2) and the expected one over (β, h2).

        With ``Σ_j = ∂Σ/∂θ_j`` and ``t_j = Σ_jΣ⁻¹r``:
        ``∂²F/∂θ_j∂θ_k = tr(Σ⁻¹Σ_jk) − sᵀΣ_jk s − tr(Σ⁻¹Σ_jΣ⁻¹Σ_k) + 2t_jᵀΣ⁻¹t_k``,
        ``∂²F/∂α∂θ_j = 2XᵀΣ⁻¹t_j``, ``∂²F/∂α² = 2XᵀΣ⁻¹X``; the expectation of the
        (β, h2) block is ``tr(Σ⁻¹Σ_jΣ⁻¹Σ_k)``.  For β, ``Σ_j = diag(v_j∘d)``, ``t_j = v_j∘e``;
        for h2, ``Σ_h = GGᵀ``, ``t_h = GGᵀs``.  The traces reduce to l×l algebra with
        ``M_j = Gᵀdiag(v_j∘w)G``: ``Σ_ik v_ij d_i(Σ⁻¹)_ik² d_k v_kj' = Σ_i v_ij v_ij'(1 − 2h2·w_i c_i)
        + h2²·tr(A⁻¹M_jA⁻¹M_j')``, ``tr(Σ⁻¹Σ_jΣ⁻¹GGᵀ) = tr(A⁻²M_j)``,
        ``tr((Σ⁻¹GGᵀ)²) = tr((A⁻¹GᵀWG)²)``.
        """
        m, h2, w = self.m, self.h2, self.w
        q, p, l = m.q, m.p, m.l
        Ainv = self.Ainv()
        # A⁻¹GᵀWG = (I − A⁻¹)/h2 saves an l³ product; below h2 = 1e-4 the difference
        # would cost more than 4 digits, so multiply instead.
        if h2 > 1e-4:
            P = -Ainv / h2
            P[np.diag_indices(l)] += 1.0 / h2
        else:
            P = Ainv @ self.K
        N = [m.V[0, j] * P if m.const_cols[j] else Ainv @ self._signed_gram(m.V[:, j] * w)
             for j in range(q)]
        T = np.array([[np.sum(N[j] * N[k].T) for k in range(q)] for j in range(q)])
        tr2 = np.array([np.sum(Ainv * N[j].T) for j in range(q)])
        # t_j and W t_j as columns, j over β and then h2
        Gts = m.G.T @ self.s
        th = m.G @ Gts
        Tm = np.column_stack([m.V * self.e[:, None], th])
        Wt = np.column_stack([m.V * self.s[:, None], w * th])
        GWt = m.G.T @ Wt
        ZWt = self.solve(GWt)
        tSt = Tm.T @ Wt - h2 * GWt.T @ ZWt
        XSt = m.X.T @ Wt - h2 * self.GWXY[:, :p].T @ ZWt
        E = np.empty((q + 1, q + 1))
        E[:q, :q] = (m.V.T * (1.0 - 2.0 * h2 * self.wc)) @ m.V + h2 * h2 * T
        E[:q, q] = E[q, :q] = tr2
        E[q, q] = np.sum(P * P.T)
        Ftt = 2.0 * tSt - E
        Ftt[:q, :q] += (m.V.T * (1.0 - h2 * self.wc - self.e * self.s)) @ m.V
        self.fisher = E
        self.hess = _assemble(2.0 * self.XSX, 2.0 * XSt, Ftt)
        return self.hess


class _SpectralPoint:
    """``F`` and its derivatives at one (β, h2) when V is one constant column c.

    ``Σ = U diag(λ) Uᵀ + d(I − UUᵀ)``, ``λ_j = d + h2·s_j²``, ``d = exp(cβ)``: every
    term is a sum over eigenvalues ``μ`` of Σ (the complement contributing ``n − k``
    copies of d) of functions of μ and the squared projection ``ρ²`` of r, e.g.
    ``F = Σ log μ + ρ²/μ``, ``∂F/∂θ_j = Σ μ_j(1/μ − ρ²/μ²)``,
    ``∂²F/∂θ_j∂θ_k = Σ μ_jk(1/μ − ρ²/μ²) + μ_jμ_k(2ρ²/μ³ − 1/μ²)``, with
    ``μ_β = c·d``, ``μ_ββ = c²·d``, ``μ_h = s²`` (0 on the complement).
    """

    def __init__(self, m, beta, h2):
        self.m, self.beta, self.h2 = m, beta, h2
        sp = m._spectral()
        self.cv = m.V[0, 0]
        with np.errstate(over="ignore"):
            self.d = float(np.exp(self.cv * beta[0]))
        self.ok = bool(np.isfinite(self.d) and self.d > 0)
        if self.ok:
            self.lam = self.d + h2 * sp["s2"]

    def value(self, alpha=None):
        m, sp, d, lam = self.m, self.m._spectral(), self.d, self.lam
        xi, eta, C, nk = sp["xi"], sp["eta"], sp["C"], sp["n_rest"]
        p = m.p
        self.XSX = xi.T @ (xi / lam[:, None]) + C[:p, :p] / d
        if alpha is None:
            alpha = linalg.solve(self.XSX, xi.T @ (eta / lam) + C[:p, p] / d, assume_a="pos")
        self.alpha = alpha
        self.rho = eta - xi @ alpha
        u = np.append(-alpha, 1.0)
        Cu = C @ u
        self.xr = Cu[:p]
        self.rr = max(u @ Cu, 0.0) if nk > 0 else 0.0
        self.f = (np.sum(np.log(lam)) + nk * np.log(d) + np.sum(self.rho ** 2 / lam)
                  + self.rr / d)
        return self.f

    def gradient(self):
        sp, d, lam, rho, cv = self.m._spectral(), self.d, self.lam, self.rho, self.cv
        s2, nk = sp["s2"], sp["n_rest"]
        g_a = -2.0 * (sp["xi"].T @ (rho / lam) + self.xr / d)
        first = 1.0 / lam - rho ** 2 / lam ** 2
        g_b = cv * d * (np.sum(first) + nk / d - self.rr / d ** 2)
        g_h = np.sum(s2 * first)
        self.grad = np.concatenate([g_a, [g_b, g_h]])
        return self.grad

    def hessian(self):
        sp, d, lam, rho, cv = self.m._spectral(), self.d, self.lam, self.rho, self.cv
        s2, nk, xi = sp["s2"], sp["n_rest"], sp["xi"]
        mb = cv * d
        first = np.sum(1.0 / lam - rho ** 2 / lam ** 2) + nk / d - self.rr / d ** 2
        sec = 2.0 * rho ** 2 / lam ** 3 - 1.0 / lam ** 2
        sec_rest = 2.0 * self.rr / d ** 3 - nk / d ** 2
        Ftt = np.array([[cv * mb * first + mb * mb * (np.sum(sec) + sec_rest), mb * np.sum(s2 * sec)],
                        [0.0, np.sum(s2 * s2 * sec)]])
        Ftt[1, 0] = Ftt[0, 1]
        inv2 = 1.0 / lam ** 2
        self.fisher = np.array([[mb * mb * (np.sum(inv2) + nk / d ** 2), mb * np.sum(s2 * inv2)],
                                [mb * np.sum(s2 * inv2), np.sum(s2 * s2 * inv2)]])
        Fat = 2.0 * np.column_stack([mb * (xi.T @ (rho * inv2) + self.xr / d ** 2),
                                     xi.T @ (s2 * rho * inv2)])
        self.hess = _assemble(2.0 * self.XSX, Fat, Ftt)
        return self.hess


def _assemble(Faa, Fat, Ftt):
    p = Faa.shape[0]
    H = np.empty((p + Ftt.shape[0],) * 2)
    H[:p, :p], H[:p, p:], H[p:, :p], H[p:, p:] = Faa, Fat, Fat.T, Ftt
    return H


def _profile_hessian(H, p):
    """Hessian of ``F(α̂(θ), θ)``: ``F_θθ − F_θα F_αα⁻¹ F_αθ`` (α̂ stationary in α)."""
    return H[p:, p:] - H[p:, :p] @ linalg.solve(H[:p, :p], H[:p, p:], assume_a="pos")
