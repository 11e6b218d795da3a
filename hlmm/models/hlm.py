"""The heteroskedastic linear model (HLM).

``y_i ~ N(x_iᵀα, exp(v_iᵀβ))`` independently.  α is profiled out by weighted least
squares, and the profile likelihood in β is maximised by Newton's method with its
exact Hessian (backtracking line search; Fisher scoring where the Hessian is not
positive definite).  One iteration is two fused O(n·(p+q)²) passes (``_core._hlm``).
"""
import warnings

import numpy as np
from scipy import linalg

from .._core import _hlm
from ._validate import as_design, as_vector, check_sample_size, full_column_rank
from .results import FitResults
from . import robust as _robust

LOG2PI = np.log(2.0 * np.pi)
# E[log χ²₁]: the offset between log r² and log σ² for a Gaussian residual.
_E_LOG_CHI2_1 = -1.2703628454614782


def _checked_gram(A, name):
    """``AᵀA``, raising the ValueError of :func:`hlmm.models._validate.as_design` when A is
    rank deficient: the Gram's eigenvalue test settles most designs, the SVD test of
    :func:`~hlmm.models._validate.full_column_rank` the nearly collinear ones."""
    gram = A.T @ A
    d = np.diag(gram)
    ok = False
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if np.all(np.isfinite(gram)) and np.all(d > 0):
            sc = 1.0 / np.sqrt(d)
            lam = np.linalg.eigvalsh(gram * sc[:, None] * sc[None, :])
            ok = lam[0] > 1e-8 * lam[-1]
    if not (ok or full_column_rank(A)):
        raise ValueError(f"{name} is rank deficient: its columns are linearly dependent")
    return gram


class HLM:
    """Heteroskedastic linear model ``y ~ N(Xα, diag(exp(Vβ)))``.

    Individuals are independent, ``y_i ~ N(x_iᵀα, exp(v_iᵀβ))``: α are the mean effects,
    β the effects on the natural log of the variance.  :meth:`fit` gives the
    maximum-likelihood estimates (α profiled out, Newton's method on β with its exact
    Hessian) as a :class:`~hlmm.FitResults`.

    Parameters
    ----------
    y : (n,) array_like
        The trait; no missing values.
    X : (n, p) or (n,) array_like
        Mean design.  Include an intercept column yourself; a 1-D array is one column.
    V : (n, q) or (n,) array_like
        Log-variance design, likewise.

    Raises
    ------
    ValueError
        When a design is rank deficient, has non-finite values or does not match y, or
        when there are no more observations than parameters (``n ≤ p + q``).

    See Also
    --------
    hlmm.HLMM : the same model with a polygenic random effect.

    Examples
    --------
    >>> import numpy as np
    >>> from hlmm import HLM
    >>> rng = np.random.default_rng(1)
    >>> n = 5000
    >>> X = np.column_stack([np.ones(n), rng.standard_normal(n)])   # mean design
    >>> V = np.column_stack([np.ones(n), rng.standard_normal(n)])   # log-variance design
    >>> y = X @ [1.0, 0.5] + rng.standard_normal(n) * np.exp(V @ [0.2, 0.4] / 2)
    >>> res = HLM(y, X, V).fit()
    >>> res.converged
    True
    >>> np.round(res.alpha, 2), np.round(res.beta, 2)
    (array([0.98, 0.54]), array([0.18, 0.4 ]))
    >>> np.round(res.beta_se, 3)               # 2(VᵀV)⁻¹, the expected information
    array([0.02, 0.02])
    >>> print(res.summary())                   # doctest: +NORMALIZE_WHITESPACE, +ELLIPSIS
    HLM fit: n = 5000, log-likelihood = -7542.55..., converged = True (3 iterations)
    standard errors: model-based
                  estimate      std.err          t      P>|t|
    alpha[0]      0.98...
    ...
    >>> HLM(y, X, V).fit(robust=True).cov_type  # sandwich SEs for non-normal residuals
    'robust (pooled)'
    """

    # hlmm.hetlm.model (the original API) sets this False: it evaluates models with more
    # parameters than observations and checks the sample size in optimize_model.
    _check_sample_size_on_init = True

    def __init__(self, y, X, V):
        self.y = as_vector(y, "y")
        n = self.y.shape[0]
        # The rank checks' Grams: VᵀV is kept for the SEs, and V equal to X (the
        # --fit-covariates designs) becomes the same array, checked once and read once
        # per pass by the kernels.
        self.X = as_design(X, n, "X", check_rank=False)
        XtX = _checked_gram(self.X, "X")
        if V is not X:
            V = as_design(V, n, "V", check_rank=False)
        if V is X or (V.shape == self.X.shape and np.array_equal(V, self.X)):
            self.V, self._VtV = self.X, XtX
        else:
            self.V, self._VtV = V, _checked_gram(V, "V")
        self.n = n
        self.p = self.X.shape[1]
        self.q = self.V.shape[1]
        if self._check_sample_size_on_init:
            check_sample_size(n, self.p + self.q)

    # --- building blocks --------------------------------------------------------------
    def _beta(self, beta):
        b = np.ascontiguousarray(np.asarray(beta, dtype=np.float64).reshape(-1))
        if b.shape[0] != self.q:
            raise ValueError(f"beta has {b.shape[0]} elements, V has {self.q} columns")
        return b

    def _alpha(self, alpha):
        a = np.ascontiguousarray(np.asarray(alpha, dtype=np.float64).reshape(-1))
        if a.shape[0] != self.p:
            raise ValueError(f"alpha has {a.shape[0]} elements, X has {self.p} columns")
        return a

    def _wls(self, beta):
        XtWX = np.empty((self.p, self.p))
        XtWy = np.empty(self.p)
        _hlm.wls_moments(self.y, self.X, self.V, beta, XtWX, XtWy)
        return XtWX, XtWy

    def _derivatives(self, beta, alpha):
        grad = np.empty(self.q)
        H_bb = np.empty((self.q, self.q))
        C_ba = np.empty((self.q, self.p))
        f, _ = _hlm.profile_derivatives(self.y, self.X, self.V, beta, alpha, grad, H_bb, C_ba)
        return f, grad, H_bb, C_ba

    # --- public functions of the parameters ------------------------------------------
    def alpha_mle(self, beta):
        """``α̂(β) = (XᵀWX)⁻¹XᵀWy``, ``W = diag(exp(−Vβ))``."""
        XtWX, XtWy = self._wls(self._beta(beta))
        return linalg.solve(XtWX, XtWy, assume_a="pos")

    def loglik(self, alpha, beta):
        """``L = −½ Σ_i [log 2π + v_iᵀβ + (y_i − x_iᵀα)² exp(−v_iᵀβ)]``."""
        f, *_ = self._derivatives(self._beta(beta), self._alpha(alpha))
        return -0.5 * (f + self.n * LOG2PI)

    def gradient(self, alpha, beta):
        """Gradient of :meth:`loglik` over ``(α, β)``.

        ``∂L/∂α = XᵀWr``, ``∂L/∂β = −½ Vᵀ(1 − r∘r∘w)`` with ``r = y − Xα``.
        """
        a, b = self._alpha(alpha), self._beta(beta)
        _, grad_b, _, _ = self._derivatives(b, a)
        w = np.exp(-(self.V @ b))
        grad_a = self.X.T @ (w * (self.y - self.X @ a))
        return np.concatenate([grad_a, -0.5 * grad_b])

    def profile_loglik(self, beta):
        """``L(α̂(β), β)``."""
        b = self._beta(beta)
        return self.loglik(self.alpha_mle(b), b)

    def profile_gradient(self, beta):
        """``dL(α̂(β), β)/dβ``; equals the partial gradient since ``∂L/∂α = 0`` at α̂."""
        b = self._beta(beta)
        _, g, _, _ = self._derivatives(b, self.alpha_mle(b))
        return -0.5 * g

    def start_beta(self):
        """Scale-equivariant start: regress ``log r² − E[log χ²₁]`` on V, r the OLS residuals.

        Both regressions are solved by their normal equations, whose moments come from
        one pass of the compensated kernel (a Householder or SVD least squares on the tall
        matrix is ~10 times slower).  Raises ValueError if X fits y exactly.
        """
        XtX, Xty = self._wls(np.zeros(self.q))
        alpha_ols = linalg.solve(XtX, Xty, assume_a="pos")
        r = self.y - self.X @ alpha_ols
        # log r² = 2·log s + log (r/s)²: no overflow of r² for |y| up to the float range.
        s = np.max(np.abs(r))
        if not s > 1e-11 * np.max(np.abs(self.y)):
            raise ValueError("y is fitted exactly by X: zero residual variance, the "
                             "likelihood is unbounded")
        r2 = np.square(r / s)
        target = 2.0 * np.log(s) + np.log(r2 + 1e-8 * r2.mean()) - _E_LOG_CHI2_1
        VtV = np.empty((self.q, self.q))
        Vtt = np.empty(self.q)
        _hlm.wls_moments(target, self.V, self.V, np.zeros(self.q), VtV, Vtt)
        return linalg.solve(VtV, Vtt, assume_a="pos")

    # --- fit ---------------------------------------------------------------------------
    def _evaluate(self, beta):
        """Profile quantities at β: ``α̂(β)``, XᵀWX and ``(f, s, ∂f/∂β, H_bb, C_ba)`` at
        (α̂, β) (see ``_core._hlm.profile_derivatives``); None where β overflows the weights."""
        XtWX, XtWy = self._wls(beta)
        if not (np.all(np.isfinite(XtWX)) and np.all(np.isfinite(XtWy))):
            return None
        try:
            alpha = linalg.solve(XtWX, XtWy, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            return None
        grad = np.empty(self.q)
        H_bb = np.empty((self.q, self.q))
        C_ba = np.empty((self.q, self.p))
        f, s = _hlm.profile_derivatives(self.y, self.X, self.V, beta, alpha, grad, H_bb, C_ba)
        if not (np.isfinite(f) and np.all(np.isfinite(grad)) and np.all(np.isfinite(H_bb))
                and np.all(np.isfinite(C_ba))):
            return None
        return alpha, XtWX, f, s, grad, H_bb, C_ba

    def fit(self, beta_init=None, tol=1e-10, max_iter=200, robust=False, start=None):
        """Maximum-likelihood fit.

        Parameters
        ----------
        beta_init : (q,) array_like, optional
            Starting value of β (default: a regression of log squared OLS residuals on V).
        tol : float, default 1e-10
            Convergence tolerance on the Newton decrement.
        max_iter : int, default 200
            Maximum number of Newton iterations.
        robust : bool or {"pooled", "hc0"}, default False
            Sandwich standard errors instead of the model-based ones; ``True`` means
            ``"pooled"``.
        start : FitResults, optional
            A fit of this model without its last columns (see below).

        Returns
        -------
        FitResults
            Estimates, standard errors, log-likelihood and convergence.

        Notes
        -----
        Newton's method on the profile ``f(β) = −2L(α̂(β), β) − n·log2π`` with its exact
        Hessian ``H = Σ_i e_i v_i v_iᵀ − 2C(XᵀWX)⁻¹Cᵀ`` (``e_i = w_i r_i²``,
        ``C = Σ_i w_i r_i v_i x_iᵀ``), Fisher scoring (``H ≈ VᵀV``) where H is not positive
        definite, and an Armijo backtracking line search.  Stops when the Newton decrement
        ``gᵀH⁻¹g`` falls below ``tol`` or below the rounding error of f
        (``~1e-13·Σ_i(|v_iᵀβ| + e_i)``, which matters only for n ≳ 10⁷); the Newton step
        of that last iteration is taken.

        Standard errors as the original hlmm defines them: ``cov(β) = 2(VᵀV)⁻¹`` (the
        expected information), ``cov(α) = (XᵀD⁻¹X)⁻¹``, α and β uncorrelated; valid for
        normal residuals.  ``robust=True`` (or ``"pooled"``, ``"hc0"``) gives the sandwich
        covariance of :mod:`hlmm.models.robust` instead, valid for residuals of any shape
        (``results.cov_type`` says which).

        ``start``: the results of this model without its last columns fitted to the same
        individuals (the scan's null model, before a SNP's columns are appended): the
        fit then starts from its estimates with the new effects at 0 and its exact
        Hessian, the new columns' rows of which cost one O(n·(p+q)) pass
        (:meth:`_fit_nested`); each further step is one such pass, and one Gram at the
        end gives the SEs.  It falls back to the Newton fit above when that start is
        not close enough.  The results carry their exact Hessian for such use.
        """
        kind = None if robust is False or robust is None else _robust.check_kind(robust)
        with warnings.catch_warnings():
            # Only when the likelihood is unbounded (a variance group fitted exactly) do the
            # weights diverge and XᵀWX become singular; that ends as converged=False.
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            res = None
            if start is not None and beta_init is None:
                res = self._fit_nested(start, tol, max_iter)
                if res is None and len(start.beta) <= self.q:
                    beta_init = np.r_[start.beta, np.zeros(self.q - len(start.beta))]
            if res is None:
                res = self._fit(beta_init, tol, max_iter)
        if kind is not None:
            res._cov = _robust.hlm_sandwich(self.y, self.X, self.V, res.alpha, res.beta, kind)
            res.cov_type = f"robust ({kind})"
        return res

    def _fit(self, beta_init, tol, max_iter):
        beta = self.start_beta() if beta_init is None else self._beta(beta_init).copy()
        state = self._evaluate(beta)
        if state is None and beta_init is not None:
            beta = self.start_beta()
            state = self._evaluate(beta)
        if state is None:
            raise FloatingPointError("HLM.fit: the likelihood is not finite at the start values")
        alpha, XtWX, f, s, g, H_bb, C_ba = state
        VtV = self._VtV
        converged = False
        message = "maximum number of iterations reached"
        it = 0
        for it in range(1, max_iter + 1):
            H = H_bb - 2.0 * C_ba @ linalg.solve(XtWX, C_ba.T, assume_a="pos")
            try:
                step = -linalg.solve(H, g, assume_a="pos")
                decrement = -g @ step
            except (linalg.LinAlgError, ValueError):
                decrement = -1.0
            if not decrement >= 0:
                step = -linalg.solve(VtV, g, assume_a="pos")
                decrement = -g @ step
            # Below this the change in f is lost in its own rounding, so Armijo's test
            # cannot be decided: take the Newton step and stop.
            done = decrement < max(tol, 1e-13 * s)
            t = 1.0
            for _ in range(60):
                trial = self._evaluate(beta + t * step)
                if trial is not None and (trial[2] <= f - 1e-4 * t * decrement
                                          or (done and trial[2] <= f + 1e-12 * s)):
                    break
                t *= 0.5
            else:
                message = "line search failed"
                break
            beta = beta + t * step
            alpha, XtWX, f, s, g, H_bb, C_ba = trial
            if done:
                converged = True
                message = "converged"
                break
        loglik = -0.5 * (f + self.n * LOG2PI)
        cov = np.zeros((self.p + self.q, self.p + self.q))
        cov[: self.p, : self.p] = linalg.inv(XtWX)
        cov[self.p:, self.p:] = 2.0 * linalg.inv(VtV)
        res = FitResults(alpha, beta, cov, loglik, converged and np.isfinite(loglik), it,
                         self.n, message=message)
        # the exact Hessian of f over (α, β) at the end, for fits started from this one
        res._hessian_f = np.block([[2.0 * XtWX, 2.0 * C_ba.T], [2.0 * C_ba, H_bb]])
        return res

    def _fit_nested(self, start, tol, max_iter):
        """Newton-chord steps on ``f(α, β) = −2L − n·log2π`` from ``start`` (a fit of the
        first p0 columns of X and q0 of V) with the new effects at 0.

        The Hessian is held at the start, θ₀ = (α₀, 0, β₀, 0):
        ``∂²f/∂α² = 2Σ_i w_i x_i x_iᵀ``, ``∂²f/∂α∂βᵀ = 2Σ_i w_i r_i x_i v_iᵀ``,
        ``∂²f/∂β² = Σ_i e_i v_i v_iᵀ``, whose old-columns block at θ₀ is the start's own
        exact Hessian at its MLE (the same weights and residuals), and whose new rows
        and columns come from one :func:`~hlmm._core._hlm.joint_cross` pass.  It
        differs from the Hessian at the MLE only through the new effects' change of
        the weights and residuals, so each step shrinks the decrement ``gᵀH₀⁻¹g`` by a
        factor of order their square; one step costs a
        :func:`~hlmm._core._hlm.joint_cross` pass at the new point (which also
        refreshes the new columns of the Hessian), O(n·(p+q)), no Gram.  The steps
        run until the last one's predicted remaining decrement (``dec²/dec_prev``,
        dec shrinking linearly) is below ``1e-4·tol``, as after a Newton step; below
        the rounding of f (or tol) Armijo cannot be decided and full steps are taken.  Then α is re-profiled,
        ``α̂ = (XᵀWX)⁻¹XᵀWy`` at the final β, from one Gram pass that also gives the
        SEs and ``f = Σ_i v_iᵀβ + yᵀWy − 2α̂ᵀXᵀWy + α̂ᵀXᵀWXα̂``; the expected-information
        decrement there, ``gᵀdiag(2XᵀWX, VᵀV)⁻¹g``, must be below tol too.  Returns None
        (the caller falls back to Newton) if ``start`` does not nest in this model,
        H₀ is not positive definite, a line search fails or the decrement shrinks by
        less than 4× per step.
        """
        p, q = self.p, self.q
        H_start = getattr(start, "_hessian_f", None)
        p0, q0 = len(start.alpha), len(start.beta)
        if H_start is None or p0 > p or q0 > q or H_start.shape != (p0 + q0, p0 + q0):
            return None
        theta = np.zeros(p + q)
        theta[:p0], theta[p:p + q0] = start.alpha, start.beta
        g_a, g_b = np.empty(p), np.empty(q)
        Hx, Hv = np.empty((p + q, p - p0)), np.empty((p + q, q - q0))
        old = np.r_[np.arange(p0), p + np.arange(q0)]
        new = np.r_[np.arange(p0, p), p + np.arange(q0, q)]

        def value(th):
            fv, sv = _hlm.joint_cross(self.y, self.X, self.V, th[:p], th[p:], p0, q0,
                                      g_a, g_b, Hx, Hv)
            gv = np.concatenate([g_a, g_b])
            Hv_ = np.empty((p + q, p + q))
            Hv_[np.ix_(old, old)] = H_start
            Hv_[:, new] = np.column_stack([Hx, Hv])
            Hv_[new, :] = Hv_[:, new].T
            ok = np.isfinite(fv) and np.all(np.isfinite(gv)) and np.all(np.isfinite(Hv_))
            return (fv, sv, gv, Hv_) if ok else None

        state = value(theta)
        if state is None:
            return None
        f, s, g, H = state
        dec_prev = np.inf
        it = 0
        for it in range(1, max_iter + 1):
            try:
                step = -linalg.cho_solve(linalg.cho_factor(H), g)
            except (linalg.LinAlgError, ValueError):
                return None
            dec = -(g @ step)
            if not dec >= 0:
                return None
            # the steps contract the error by ~√(dec/dec_prev): stop when the last one
            # leaves a decrement ≲ 1e-4·tol, as a Newton step would
            if dec < 1e-4 * tol or (dec < tol and dec * dec < 1e-4 * tol * dec_prev):
                theta = theta + step
                break
            if it > 2 and dec > 0.25 * dec_prev:
                return None
            small = dec < max(tol, 1e-13 * s)
            t = 1.0
            for _ in range(30):
                trial = value(theta + t * step)
                if trial is not None and (small or trial[0] <= f - 1e-4 * t * dec):
                    break
                t *= 0.5
            else:
                return None
            theta = theta + t * step
            f, s, g, H = trial
            dec_prev = dec
        else:
            return None
        beta = theta[p:]
        XtWX, XtWy, yWy = np.empty((p, p)), np.empty(p), np.empty(1)
        sum_eta = _hlm.wls_moments(self.y, self.X, self.V, beta, XtWX, XtWy, yWy)
        try:
            alpha = linalg.solve(XtWX, XtWy, assume_a="pos")
            cov_a = linalg.inv(XtWX)
            J = np.r_[linalg.cho_solve(linalg.cho_factor(2.0 * XtWX), g[:p]),
                      linalg.solve(self._VtV, g[p:], assume_a="pos")]
        except (linalg.LinAlgError, ValueError):
            return None
        if not g @ J < max(tol, 1e-13 * s):
            return None
        f = sum_eta + yWy[0] - 2.0 * (alpha @ XtWy) + alpha @ XtWX @ alpha
        loglik = -0.5 * (f + self.n * LOG2PI)
        cov = np.zeros((p + q, p + q))
        cov[:p, :p] = cov_a
        cov[p:, p:] = 2.0 * linalg.inv(self._VtV)
        return FitResults(alpha, beta, cov, loglik, bool(np.isfinite(loglik)), it, self.n,
                          message="converged")
