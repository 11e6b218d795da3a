"""The HLMM of one SNP from genotype-class statistics: likelihood, exact derivatives, Newton.

:class:`ClassStatsHLMM` (hard-call classes; dosages:
:class:`hlmm.models.hlmm_carriers.CarrierStatsHLMM`) evaluates ``f = −2L − n·log2π`` of
``y ~ N(α0 + α1·x, D + h2·GGᵀ)``, ``d_k = exp(β0 + β1·x_k)``, and its gradient in O(l³),
independent of n (DESIGN.md §3); :meth:`ClassStatsHLMM.hessian` gives the exact Hessian
from the same per-class quantities.  :func:`_newton_hlmm` maximises the profile
likelihood over (β0, β1, h2 ≥ h2_min); :class:`hlmm.scan.class_engines.HLMMClassScan` drives it.
"""
import numpy as np
from scipy import linalg
from scipy.linalg import blas

from .._core import _classfit, _gram

# l²-sized BLAS calls without the GIL (see _classfit): phenotypes' fits overlap in threads
_ddot = _classfit.nogil_ddot
_dsymv = _classfit.nogil_dsymv
_dsymm = _classfit.nogil_dsymm

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
        # A − I and, for hessian(), K1 = Σ w_k x_k M_k: one pass over the M_k
        A, K1 = np.empty((self.l, self.l)), np.empty((self.l, self.l))
        _gram.combine_two(self.M, h2 * w, w * self.x, A, K1)
        A.flat[:: self.l + 1] += 1.0
        chol = _chol_inverse(A)
        if chol is None:
            return None
        logdet, Ainv = chol
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
        Q = _dsymm(Ainv, P)     # Ainv symmetric: .T is the Fortran view
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
        z = _dsymv(Ainv, bvec)
        f = float(self.nk @ eta + logdet + w @ rr - h2 * _ddot(bvec, z))
        # tr(A⁻¹M_k) and M_k z: one pass over the M_k
        trk, Mz = np.empty(len(self.M)), np.empty((len(self.M), self.l))
        _gram.traces_and_products(self.M, Ainv, z, trk, Mz)
        zMz = np.array([_ddot(z, v) for v in Mz])
        first = self.nk - h2 * w * trk
        q = rr - 2.0 * h2 * (gr * z).sum(axis=1) + h2 * h2 * zMz      # Σ_{i∈k} ρ_i²
        a = self.S1 - self.nk * mu - h2 * (self.u * z).sum(axis=1)     # Σ_{i∈k} ρ_i
        g_alpha = -2.0 * V.T @ (w * a)
        g_beta = V.T @ (first - w * q)
        g_h2 = w @ trk - _ddot(z, z)
        self.last_terms = (w, mu, z, float(w @ trk))   # for robust SEs at the optimum
        grad = np.concatenate([g_alpha, g_beta, [g_h2]])
        if not (np.isfinite(f) and np.all(np.isfinite(grad))):
            return None
        self._at = (h2, w, z, Ainv, Q, trk, Mz, gr, a, q, XSX, K1)   # for hessian()
        return f, grad, alpha, XSX

    def mean_gg(self):
        """``m̄ = Σ_i ‖g_i‖² / n`` over the model's individuals."""
        return sum(float(np.trace(Mk)) for Mk in self.M) / self.n

    def hessian(self):
        """Exact Hessian of f over (α0, α1, β0, β1, h2) at the last point :meth:`evaluate`
        was called at (with its α), from the same class quantities plus one l×l product.

        With ``B = A⁻¹``, ``q = Σ⁻¹r``, ``ρ_i = d_i q_i = r_i − h2·g_iᵀz``, per class
        ``a_k = Σ_{i∈k} ρ_i``, ``q_k = Σ_{i∈k} ρ_i²``, ``t_k = tr(BM_k)``, and
        ``e_a = Σ_k w_k v_ka (gr_k − h2·M_k z) = GᵀW diag(v_a) ρ``,
        ``K^(a) = Σ_k w_k v_ka M_k`` (``v_k = (1, x_k)``; ``K^(0) = K = (A − I)/h2``,
        so ``h2·BK = I − B =: E``) and ``Y = BK^(1)``.  From
        ``∂²f/∂θ_i∂θ_j = tr(Σ⁻¹Σ_ij) − tr(Σ⁻¹Σ_iΣ⁻¹Σ_j) + 2qᵀΣ_iΣ⁻¹Σ_j q − qᵀΣ_ij q``,
        ``∂²f/∂α∂θ_j = 2XᵀΣ⁻¹Σ_j q``, ``Σ⁻¹G = WGB``, ``GᵀΣ⁻¹G = BK``, ``GᵀΣ⁻¹r = z``:

        - ``∂²f/∂α² = 2XᵀΣ⁻¹X``
        - ``∂²f/∂α_c∂β_a = 2[Σ_k v_kc v_ka w_k a_k − h2·Q_cᵀe_a]``, ``Q = B·GᵀWX``
        - ``∂²f/∂α_c∂h2 = 2Q_cᵀz``
        - ``∂²f/∂β_a∂β_b = Σ_k v_ka v_kb w_k (h2·t_k + q_k) − h2²·tr(BK^(a)BK^(b))
          − 2h2·e_aᵀBe_b``
        - ``∂²f/∂β_a∂h2 = −tr(B²K^(a)) + 2e_aᵀBz``
        - ``∂²f/∂h2² = −tr((BK)²) + 2zᵀBKz``

        where ``h2²·tr(BKBK) = ‖E‖²``, ``h2²·tr(BKBK^(1)) = h2·⟨E, Y⟩``,
        ``tr(BK^(1)BK^(1)) = ⟨Y, Yᵀ⟩``, ``tr(B²K) = ⟨B, E⟩/h2``, ``tr(B²K^(1)) = ⟨B, Y⟩``:
        one l×l gemm (Y) beyond the evaluation.
        """
        h2, w, z, B, Q, trk, Mz, gr, a, q, XSX, K1 = self._at
        x, l = self.x, self.l
        e = np.zeros((l, 2), order="F")
        for k in range(len(self.M)):
            rk = gr[k] - h2 * Mz[k]
            e[:, 0] += w[k] * rk
            e[:, 1] += (w[k] * x[k]) * rk
        return _assemble_hessian(h2, w, x, z, B, Q, trk, a, q, XSX, K1, e,
                                 lambda: _combine(self.M, w))

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


def _combine(Ms, c):
    """``Σ_k c_k M_k`` (a new C-ordered l×l array) by BLAS axpys, without temporaries."""
    out = np.multiply(Ms[0], c[0])
    flat = out.reshape(-1)
    for Mk, ck in zip(Ms[1:], c[1:]):
        _classfit.nogil_daxpy(Mk.reshape(-1), flat, float(ck))
    return out


def _assemble_hessian(h2, w, x, z, B, Q, trk, a, q, XSX, K1, e, K_at_zero):
    """The Hessian of :meth:`ClassStatsHLMM.hessian` from its per-class arrays (over the
    classes: ``w_k, x_k, t_k, a_k, q_k``), the evaluation's ``z, B, Q, XᵀΣ⁻¹X``, and
    ``K^(1)``, ``e`` (l × 2); ``K_at_zero()`` gives ``K = Σ_k w_k M_k``, needed only at
    h2 = 0.  Shared by :class:`hlmm.models.hlmm_carriers.CarrierStatsHLMM` (every
    carrier a class of one)."""
    l, C = B.shape[0], len(w)
    # B, K1 and M_k are symmetric and C-ordered: their transposes are the Fortran
    # views scipy's BLAS takes without a copy
    Be = _dsymm(B, e)
    Bz = _dsymv(B, z)
    Y = np.empty((l, l), order="F")
    _classfit.sym_product(B, K1, Y)          # = blas.dgemm(1.0, B.T, K1.T), no GIL
    # Y.T is C-ordered: ⟨B, Yᵀ⟩ = ⟨B, Y⟩ (B symmetric), ⟨E, Yᵀ⟩ = ⟨E, Y⟩, one pass
    BY, EE, BE, EY = _classfit.inner_products_ie(B, Y.T)
    YY = _classfit.trace_square(Y.T)         # ⟨Y, Yᵀ⟩
    if h2 > 0:
        t00, t01 = EE, h2 * EY                     # h2²·tr(BK^(a)BK^(b))
        b2k0, bkk = BE / h2, EE / (h2 * h2)       # tr(B²K), tr((BK)²)
        zbkz = (_ddot(z, z) - _ddot(z, Bz)) / h2
    else:                                          # B = I
        K = K_at_zero()
        t00 = t01 = 0.0
        b2k0, bkk = float(w @ trk), _ddot(K.reshape(-1), K.reshape(-1))
        zbkz = _ddot(z, _dsymv(K, z))
    t11 = h2 * h2 * YY
    V = np.column_stack([np.ones(C), x])
    H = np.empty((5, 5))
    H[:2, :2] = XSX + XSX.T
    # l-long products through scipy's BLAS (see ClassStatsHLMM.evaluate)
    H[:2, 2:4] = 2.0 * ((V.T * (w * a)) @ V - h2 * blas.dgemm(1.0, Q[:, :2], e, trans_a=1))
    H[:2, 4] = 2.0 * blas.dgemv(1.0, Q[:, :2], z, trans=1)
    T = np.array([[t00, t01], [t01, t11]])
    H[2:4, 2:4] = ((V.T * (w * (h2 * trk + q))) @ V - T
                   - 2.0 * h2 * blas.dgemm(1.0, e, Be, trans_a=1))
    H[2:4, 4] = -np.array([b2k0, BY]) + 2.0 * blas.dgemv(1.0, e, Bz, trans=1)
    H[4, 4] = -bkk + 2.0 * zbkz
    H[2:, :2] = H[:2, 2:].T
    H[4, 2:4] = H[2:4, 4]
    H[2:4, 2:4] = 0.5 * (H[2:4, 2:4] + H[2:4, 2:4].T)
    return H


def _solve2(XSX, XSy):
    """α̂ = (XᵀΣ⁻¹X)⁻¹XᵀΣ⁻¹y for the 2×2 system; None unless positive definite."""
    det = XSX[0, 0] * XSX[1, 1] - XSX[0, 1] * XSX[1, 0]
    if not (det > 0 and XSX[0, 0] > 0):
        return None
    return np.array([XSX[1, 1] * XSy[0] - XSX[0, 1] * XSy[1],
                     XSX[0, 0] * XSy[1] - XSX[1, 0] * XSy[0]]) / det


def _chol_inverse(A):
    """``(log|A|, A⁻¹)`` for symmetric positive definite, C-ordered A, overwritten in
    place and without the GIL (phenotypes' fits run in threads); None if A is not
    positive definite."""
    logdet = _classfit.chol_inverse_inplace(A)
    return None if logdet is None else (logdet, A)


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


def _start(model, theta, h2_min):
    """``(θ, evaluation)`` at the start with h2 raised to its bound, or a message."""
    theta = np.array(theta, dtype=float)
    theta[2] = max(theta[2], h2_min)
    ev = model.evaluate(theta[:2], theta[2])
    return "likelihood not finite at the start" if ev is None else (theta, ev)


def _projected_step(H, g, theta, h2_min):
    """Newton step on the free set (h2 held while at the bound with ∂f/∂h2 > 0), the
    Hessian's eigenvalues reflected, and its decrement ``−gᵀstep``."""
    free = np.array([True, True, not (theta[2] <= h2_min and g[2] > 0)])
    lam, U = linalg.eigh(H[np.ix_(free, free)])
    lam = np.maximum(np.abs(lam), 1e-12 * max(np.abs(lam).max(), 1.0))
    step = np.zeros(3)
    step[free] = -U @ ((U.T @ g[free]) / lam)
    return step, -(g @ step)


def _line_search(model, theta, step, f, g, dec, h2_min):
    """Backtracking Armijo search along the projected path: ``(θ_new, evaluation)``,
    or None after 60 halvings."""
    # below ~1e-10·|f| Armijo cannot resolve the decrease (f ~ n): take the full
    # step unless it raises f beyond rounding
    near = dec < 1e-10 * max(1.0, abs(f))
    t = 1.0
    for _ in range(60):
        cand = theta + t * step
        # at the bound (also a face step's θ_h + (h2_min − θ_h), off by rounding)
        cand[2] = h2_min if cand[2] <= h2_min * (1.0 + 1e-12) else cand[2]
        ev_new = model.evaluate(cand[:2], cand[2])
        if ev_new is not None:
            f_new = ev_new[0]
            if f_new <= f + 1e-4 * min(g @ (cand - theta), 0.0) or (
                    near and t == 1.0 and f_new <= f + 1e-12 * abs(f)):
                return cand, ev_new
        t *= 0.5
    return None


def _newton_hlmm(model, theta, h2_min, tol, max_iter):
    """Projected Newton on f(β0, β1, h2) (α profiled) subject to h2 ≥ h2_min.

    h2 is held at the bound while it sits there with ∂f/∂h2 > 0; otherwise all three
    move.  Indefinite Hessians get their eigenvalues reflected.  Backtracking Armijo
    search along the projected path.  Stops after the step whose Newton decrement
    gᵀH⁻¹g (on the free set) is below ``tol``.
    Returns (theta, f, grad, alpha, XSX, n_iter, message) or message only on failure.
    """
    start = _start(model, theta, h2_min)
    if isinstance(start, str):
        return start
    theta, (f, grad, alpha, XSX) = start
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
        step, dec = _projected_step(H, g, theta, h2_min)
        found = _line_search(model, theta, step, f, g, dec, h2_min)
        if found is None:
            return "line search failed"
        theta, (f, grad, alpha, XSX) = found
        if dec < tol:
            return theta, f, grad, alpha, XSX, it, ""
    return "not converged"


def _profile(H):
    """Hessian of the profile f(α̂(θ), θ) over θ = (β0, β1, h2) from the full one at
    α̂: the Schur complement ``H_θθ − H_θα H_αα⁻¹ H_αθ``."""
    return H[2:, 2:] - H[2:, :2] @ np.linalg.solve(H[:2, :2], H[:2, 2:])


def _face_step(Hp, g, theta, h2_min):
    """:func:`_projected_step`, except that a step taking h2 below its bound becomes
    the quadratic model's minimiser on the face ``h2 = h2_min``: ``s_h = h2_min − h2``,
    ``s_β = −H_ββ⁻¹(g_β + H_βh·s_h)`` (projecting the unconstrained step instead
    leaves β where the old h2 wanted it, one more iteration)."""
    step, dec = _projected_step(Hp, g, theta, h2_min)
    if theta[2] + step[2] < h2_min and step[2] < 0:
        sh = h2_min - theta[2]
        Hb = Hp[:2, :2]
        if Hb[0, 0] > 0 and np.linalg.det(Hb) > 0:
            face = np.r_[-np.linalg.solve(Hb, g[:2] + Hp[:2, 2] * sh), sh]
            if g @ face < 0:
                return face, -(g @ face)
    return step, dec


def _newton_exact(model, theta, h2_min, tol, max_iter, se_moved=1e-8, chord=0.1,
                  chord_max=1e-2):
    """:func:`_newton_hlmm` with the exact Hessian (``model.hessian()``, one l×l gemm)
    and :func:`_face_step` at the bound.

    **Which Hessian steers.**  Each step solves with the last exact Hessian ``H_j``
    (from iterate j): at a new iterate it is refreshed unless the chord step with it
    is predicted to end below ``tol``.  With ``s`` the last step and ``y`` the change in
    the gradient along it, ``ρ² = (H_j s − y)ᵀH_j⁻¹(H_j s − y) / sᵀH_j s`` measures how
    far ``H_j`` is from the Hessian along the path (the secant), and a chord step from a
    point of decrement ``d`` leaves about ``ρ²·d``; ``H_j`` is kept while ``d <
    chord_max`` and ``ρ²·d < chord·tol``, which saves the Hessian of a middle iterate
    (3 evaluations and 2 Hessians instead of 3 and 3) without adding an evaluation.

    **Where the SEs' Hessian is taken.**  Where the decrement falls below ``tol`` the
    Hessian also gives the SEs, so it is refreshed there unless the steps since it was
    computed total a decrement below ``se_moved`` = 1e-8 (it is then within ~1e-4 SEs
    of the point: relative errors of ~1e-7 in the SEs, up to ~1e-5 for h2's;
    ``se_moved = 0`` refreshes it at any move): so the returned H is exact at the last
    point evaluated, whichever Hessians steered.  The last step (decrement below
    ``tol``, ‖step‖ ≲ 1e-5 SEs) is not evaluated but extrapolated on the quadratic
    model: ``f + gᵀs + ½sᵀHs`` and ``α̂ + (dα̂/dθ)s``, ``dα̂/dθ = −H_αα⁻¹H_αθ``, with
    errors O(‖s‖³) and O(‖s‖²), far below the SEs.  Returns (theta, f, grad, alpha,
    XSX, n_iter, message, H) with H the full Hessian over (α, β, h2), or a message on
    failure.
    """
    start = _start(model, theta, h2_min)
    if isinstance(start, str):
        return start
    theta, (f, grad, alpha, XSX) = start
    H = None
    moved = 0.0             # Σ decrements of the steps since H
    rho2 = np.inf           # H's secant error along the last step (above)
    for it in range(1, max_iter + 1):
        g = grad[2:]
        while True:
            if H is None:
                H, moved = model.hessian(), 0.0
                if not np.all(np.isfinite(H)):
                    return "Hessian not finite"
                Hp = _profile(H)
            step, dec = _face_step(Hp, g, theta, h2_min)
            if moved > 0 and ((dec < tol and moved >= se_moved) or (
                    dec >= tol and (dec >= chord_max or rho2 * dec >= chord * tol))):
                H = None
                continue
            break
        if dec < tol:
            cand = theta + step
            cand[2] = max(cand[2], h2_min)
            s = cand - theta
            g_new = g + Hp @ s
            f_new = f + g @ s + 0.5 * s @ Hp @ s
            alpha_new = alpha - np.linalg.solve(H[:2, :2], H[:2, 2:] @ s)
            return (cand, f_new, np.r_[0.0, 0.0, g_new], alpha_new, XSX, it, "", H)
        found = _line_search(model, theta, step, f, g, dec, h2_min)
        if found is None:
            return "line search failed"
        theta_new, (f, grad, alpha, XSX) = found
        s = theta_new - theta
        Hs = Hp @ s
        r = Hs - (grad[2:] - g)
        sHs = s @ Hs
        rho2 = float(r @ np.linalg.solve(Hp, r)) / sHs if sHs > 0 else np.inf
        if not rho2 >= 0:       # Hp indefinite: its secant error says nothing
            rho2 = np.inf
        theta = theta_new
        moved += dec
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
