"""The heteroskedastic linear model (HLM).

``y_i ~ N(x_iᵀα, exp(v_iᵀβ))`` independently.  α is profiled out by weighted least
squares, and the profile likelihood in β is maximised by Newton's method with its
exact Hessian (backtracking line search; Fisher scoring where the Hessian is not
positive definite).  One iteration is two fused O(n·(p+q)²) passes (``_core._hlm``).
"""
import warnings

import numpy as np
from scipy import linalg

from ._core import _hlm
from ._validate import as_design, as_vector, check_sample_size
from .results import FitResults
from . import robust as _robust

LOG2PI = np.log(2.0 * np.pi)
# E[log χ²₁]: the offset between log r² and log σ² for a Gaussian residual.
_E_LOG_CHI2_1 = -1.2703628454614782


class HLM:
    """Heteroskedastic linear model ``y ~ N(Xα, diag(exp(Vβ)))``.

    Parameters
    ----------
    y : (n,) array
    X : (n, p) or (n,) array, mean design (include an intercept column yourself)
    V : (n, q) or (n,) array, log-variance design
    """

    # hlmm.hetlm.model (the original API) sets this False: it evaluates models with more
    # parameters than observations and checks the sample size in optimize_model.
    _check_sample_size_on_init = True

    def __init__(self, y, X, V):
        self.y = as_vector(y, "y")
        n = self.y.shape[0]
        self.X = as_design(X, n, "X")
        self.V = as_design(V, n, "V")
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

    def fit(self, beta_init=None, tol=1e-10, max_iter=200, robust=False):
        """Maximum-likelihood fit.

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
        covariance of :mod:`hlmm.robust` instead, valid for residuals of any shape
        (``results.cov_type`` says which).
        """
        kind = None if robust is False or robust is None else _robust.check_kind(robust)
        with warnings.catch_warnings():
            # Only when the likelihood is unbounded (a variance group fitted exactly) do the
            # weights diverge and XᵀWX become singular; that ends as converged=False.
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
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
        VtV = self.V.T @ self.V
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
        return FitResults(alpha, beta, cov, loglik, converged and np.isfinite(loglik), it,
                          self.n, message=message)
