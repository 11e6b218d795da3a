"""The heteroskedastic linear model (HLM).

``y_i ~ N(x_iᵀα, exp(v_iᵀβ))`` independently.  α is profiled out by weighted least
squares, and the profile likelihood in β is maximised by Newton's method with its
exact Hessian (backtracking line search; Fisher scoring where the Hessian is not
positive definite).  One iteration is two fused O(n·(p+q)²) passes (``_core._hlm``).
"""
import numpy as np
from scipy import linalg

from ._core import _hlm
from ._validate import as_design, as_vector, check_sample_size
from .results import FitResults

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

    def __init__(self, y, X, V):
        self.y = as_vector(y, "y")
        n = self.y.shape[0]
        self.X = as_design(X, n, "X")
        self.V = as_design(V, n, "V")
        self.n = n
        self.p = self.X.shape[1]
        self.q = self.V.shape[1]
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
        f = _hlm.profile_derivatives(self.y, self.X, self.V, beta, alpha, grad, H_bb, C_ba)
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
        """Scale-equivariant start: regress ``log r² − E[log χ²₁]`` on V, r the OLS residuals."""
        alpha_ols, *_ = linalg.lstsq(self.X, self.y)
        r2 = np.square(self.y - self.X @ alpha_ols)
        floor = 1e-8 * max(r2.mean(), np.finfo(float).tiny)
        target = np.log(r2 + floor) - _E_LOG_CHI2_1
        beta0, *_ = linalg.lstsq(self.V, target)
        return beta0

    # --- fit ---------------------------------------------------------------------------
    def _profile_f(self, beta):
        """−2L − n·log2π at (α̂(β), β), or inf where the weights overflow."""
        with np.errstate(over="ignore", invalid="ignore"):
            XtWX, XtWy = self._wls(beta)
            if not np.all(np.isfinite(XtWX)) or not np.all(np.isfinite(XtWy)):
                return np.inf, None, XtWX
            try:
                alpha = linalg.solve(XtWX, XtWy, assume_a="pos")
            except (linalg.LinAlgError, ValueError):
                return np.inf, None, XtWX
            f, *_ = self._derivatives(beta, alpha)
        return (f if np.isfinite(f) else np.inf), alpha, XtWX

    def fit(self, beta_init=None, tol=1e-10, max_iter=200):
        """Maximum-likelihood fit.

        Stops when the Newton decrement ``gᵀH⁻¹g`` of the profile ``−2L`` falls below
        ``tol`` (a predicted log-likelihood gain below ``tol/4``).

        Standard errors as the original hlmm defines them: ``cov(β) = 2(VᵀV)⁻¹`` (the
        expected information), ``cov(α) = (XᵀD⁻¹X)⁻¹``, α and β uncorrelated.
        """
        beta = self.start_beta() if beta_init is None else self._beta(beta_init).copy()
        f, alpha, XtWX = self._profile_f(beta)
        if not np.isfinite(f):
            beta = self.start_beta()
            f, alpha, XtWX = self._profile_f(beta)
        VtV = self.V.T @ self.V
        converged = False
        message = "maximum number of iterations reached"
        it = 0
        for it in range(1, max_iter + 1):
            f, g, H_bb, C_ba = self._derivatives(beta, alpha)
            H = H_bb - 2.0 * C_ba @ linalg.solve(XtWX, C_ba.T, assume_a="pos")
            try:
                step = -linalg.solve(H, g, assume_a="pos")
            except (linalg.LinAlgError, ValueError):
                step = -linalg.solve(VtV, g, assume_a="pos")
            decrement = -g @ step
            if decrement < 0:
                step = -linalg.solve(VtV, g, assume_a="pos")
                decrement = -g @ step
            t = 1.0
            for _ in range(60):
                f_new, alpha_new, XtWX_new = self._profile_f(beta + t * step)
                # The slack absorbs rounding in f (a sum of n terms) near the optimum, where
                # the true decrease is below what double precision can resolve.
                if f_new <= f - 1e-4 * t * decrement + 1e-12 * max(1.0, abs(f)):
                    break
                t *= 0.5
            else:
                message = "line search failed"
                break
            beta = beta + t * step
            alpha, XtWX = alpha_new, XtWX_new
            if decrement < tol:
                converged = True
                message = "converged"
                break
        f, *_ = self._derivatives(beta, alpha)
        loglik = -0.5 * (f + self.n * LOG2PI)
        cov = np.zeros((self.p + self.q, self.p + self.q))
        cov[: self.p, : self.p] = linalg.inv(XtWX)
        cov[self.p:, self.p:] = 2.0 * linalg.inv(VtV)
        return FitResults(alpha, beta, cov, loglik, converged and np.isfinite(loglik), it,
                          self.n, message=message)
