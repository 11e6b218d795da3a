"""The HLMM of one dosage SNP: the modal dosage value as one class, every other
individual with a call (a carrier) its own row (DESIGN.md §3 with classes of one).

:class:`CarrierStatsHLMM` evaluates ``f = −2L − n·log2π`` and its gradient at one
weighted syrk over the carriers' rows and O(l³) per evaluation, and the exact Hessian
(:meth:`CarrierStatsHLMM.hessian`) at one more syrk and one l×l product, so that
:func:`hlmm.models.hlmm_classes._newton_exact` fits it as it fits hard-call classes.
"""
import numpy as np
from scipy.linalg import blas

from .._core import _classfit, _gram
from .hlmm_classes import ClassStatsHLMM, _assemble_hessian, _solve2


class CarrierStatsHLMM(ClassStatsHLMM):
    """Log-likelihood of one dosage SNP's HLMM: one class (the modal dosage value, its
    sums ``n0, S1_0, S2_0, u0, s0, M0``) plus the carriers' own rows ``G_c, y_c, x_c``.

    The formulas are those of :class:`ClassStatsHLMM` with every carrier a class of one
    (``M_i = g_i g_iᵀ``, ``u_i = g_i``, ``s_i = y_i g_i``), computed without forming the
    ``M_i``: ``Σ_i w_i M_i = G_cᵀ W_c G_c`` (weighted syrk), ``tr(A⁻¹M_i) = g_iᵀA⁻¹g_i`` and
    ``zᵀM_i z = (g_iᵀz)²`` (one triangular multiply with ``L⁻¹``, ``A = LLᵀ``).
    Classes are ordered [mode, carriers…] in ``last_terms``.

    :meth:`hessian` is :meth:`ClassStatsHLMM.hessian` with the carriers as classes of one.
    Its l×l inputs beyond the evaluation's are ``K^(1) = w0·x0·M0 + Σ_i w_i x_i g_i g_iᵀ``
    and ``e_a = w0·v_0a(gr0 − h2·M0 z) + Σ_i w_i v_ia ρ_i g_i`` (``ρ_i = r_i − h2·g_iᵀz``):
    one more weighted syrk over the carriers, with the weights made non-negative by
    ``Σ_i w_i x_i g_i g_iᵀ = x̄·K_c − Σ_i w_i (x̄ − x_i) g_i g_iᵀ``, ``x̄ = max_i x_i``,
    ``K_c = Σ_i w_i g_i g_iᵀ`` (the evaluation's), and one n_c × 2 product.
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
        from .._core import _mixed

        b0, b1 = float(beta[0]), float(beta[1])
        with np.errstate(over="ignore"):
            w0 = np.exp(-(b0 + b1 * self.x0))
            wc = np.exp(-(b0 + b1 * self.xc))
        if not (np.isfinite(w0) and np.all(np.isfinite(wc))):
            return None
        l, Gc = self.l, self.Gc
        Kc = np.zeros((l, l))              # Σ_i w_i g_i g_iᵀ over the carriers
        if len(wc):
            _gram.weighted_gram(Gc, wc, Kc)
        A = h2 * (Kc + w0 * self.M0)
        A.flat[:: l + 1] += 1.0
        Linv = np.empty((l, l))
        logdet = _classfit.chol_inverse_factor(A, Linv)     # A ← A⁻¹
        if logdet is None:
            return None
        Ainv = A
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
        M0z = blas.dsymv(1.0, self.M0, z)
        zMz0 = float(blas.ddot(z, M0z))
        if len(wc):
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
        rho = rc - h2 * az
        a0 = self.S1_0 - self.n0 * mu0 - h2 * uz0
        q0 = rr0 - 2.0 * h2 * (gr0 @ z) + h2 * h2 * zMz0
        self._at = (h2, w0, wc, z, Ainv, Q, np.concatenate([[trk0], trc]),
                    np.concatenate([[a0], rho]), np.concatenate([[q0], rho * rho]),
                    XSX, Kc, gr0 - h2 * M0z, rho)
        return f, grad, alpha, XSX

    def mean_gg(self):
        """``m̄ = Σ_i ‖g_i‖² / n`` over the model's individuals."""
        gg = float(np.einsum("ij,ij->", self.Gc, self.Gc)) if len(self.yc) else 0.0
        return (float(np.trace(self.M0)) + gg) / self.n

    def hessian(self):
        """Exact Hessian of f over (α0, α1, β0, β1, h2) at the last point :meth:`evaluate`
        was called at (with its α): :meth:`ClassStatsHLMM.hessian`'s formulas (see the
        class docstring), one weighted syrk over the carriers and one l×l product."""
        h2, w0, wc, z, B, Q, trk, a, q, XSX, Kc, r0, rho = self._at
        l, x0, xc = self.l, self.x0, self.xc
        K1 = (w0 * x0) * self.M0
        e = np.zeros((l, 2), order="F")
        e[:, 0] = w0 * r0
        e[:, 1] = (w0 * x0) * r0
        if len(wc):
            xbar = float(xc.max())
            tmp = np.empty((l, l))
            _gram.weighted_gram(self.Gc, wc * (xbar - xc), tmp)
            K1 += xbar * Kc - tmp
            e += blas.dgemm(1.0, self.Gc.T, np.column_stack([wc * rho, wc * xc * rho]))
        return _assemble_hessian(h2, np.concatenate([[w0], wc]), self.x, z, B, Q, trk, a,
                                 q, XSX, K1, e, lambda: w0 * self.M0 + Kc)
