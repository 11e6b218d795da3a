"""The original hlmm 1.x API for the heteroskedastic linear model, kept for old scripts.

``hlmm.hetlm.model(y, X, V)`` has the original's methods and return conventions;
the computations are those of :class:`hlmm.HLM` (exact Newton fit instead of the
original's loosely converged L-BFGS-B).
"""
import numpy as np

from ..models.hlm import HLM


class _HLM(HLM):
    # As in the original, any model can be built and its likelihood and gradient
    # evaluated; only optimize_model needs more observations than parameters.
    _check_sample_size_on_init = False


class model:
    """Heteroskedastic linear model ``y ~ N(Xα, diag(exp(Vβ)))`` (original API).

    1-D ``X`` or ``V`` are taken as one column.  As in the original, the model may have
    more parameters than observations (``p + q ≥ n``): the likelihood, its gradient and
    α̂ are defined, and only :meth:`optimize_model` refuses it.

    Parameters
    ----------
    y : (n,) array_like
        The trait.
    X : (n, p) or (n,) array_like
        Mean design (include an intercept column yourself).
    V : (n, q) or (n,) array_like
        Log-variance design.

    See Also
    --------
    hlmm.HLM : the same model in the current API.

    Examples
    --------
    >>> import numpy as np
    >>> from hlmm import hetlm
    >>> rng = np.random.default_rng(1)
    >>> n = 2000
    >>> X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    >>> V = np.column_stack([np.ones(n), rng.standard_normal(n)])
    >>> y = X @ [1.0, 0.5] + rng.standard_normal(n) * np.exp(V @ [0.3, 0.5] / 2)
    >>> optim = hetlm.model(y, X, V).optimize_model()
    >>> sorted(optim)
    ['alpha', 'alpha_cov', 'alpha_se', 'beta', 'beta_cov', 'beta_se', 'likelihood', 'success']
    >>> optim['success'], np.round(optim['beta'], 1)
    (True, array([0.3, 0.5]))
    """

    def __init__(self, y, X, V):
        self._hlm = _HLM(y, X, V)
        self.y, self.X, self.V = self._hlm.y, self._hlm.X, self._hlm.V
        self.n = self._hlm.n
        self.n_fixed_mean = self._hlm.p
        self.n_fixed_variance = self._hlm.q

    def likelihood(self, beta, alpha, negative=False):
        """Log-likelihood ``L``; with ``negative=True``, ``−2L − n·log2π``."""
        if negative:
            f, *_ = self._hlm._derivatives(self._hlm._beta(beta), self._hlm._alpha(alpha))
            return f
        return self._hlm.loglik(alpha, beta)

    def alpha_mle(self, beta):
        """Weighted least-squares estimate of α given β."""
        return self._hlm.alpha_mle(beta)

    def grad_beta(self, beta, alpha):
        """Gradient over β of ``−2L`` (shape (1, q), as the original returned)."""
        g = self._hlm.gradient(alpha, beta)[self.n_fixed_mean:]
        return (-2.0 * g).reshape((1, self.n_fixed_variance))

    def alpha_ols(self):
        """Ordinary least-squares estimate of α."""
        return np.linalg.solve(self.X.T @ self.X, self.X.T @ self.y)

    def approx_beta_mle(self):
        """The original's one-step approximation to the MLE of β:
        solve ``(Σ_i r_i² v_i v_iᵀ) β = Σ_i v_i (r_i² − 1)`` with OLS residuals r."""
        r2 = np.square(self.y - self.X @ self.alpha_ols())
        b = self.V.T @ (r2 - 1.0)
        A = (self.V.T * r2) @ self.V
        return np.linalg.solve(A, b)

    def beta_cov(self):
        """``2(VᵀV)⁻¹``."""
        return 2.0 * np.linalg.inv(self.V.T @ self.V)

    def alpha_cov(self, beta):
        """``(XᵀD⁻¹X)⁻¹`` at β."""
        w = np.exp(-(self.V @ np.asarray(beta, dtype=float).reshape(-1)))
        return np.linalg.inv((self.X.T * w) @ self.X)

    def optimize_model(self):
        """Maximum-likelihood fit.

        Returns
        -------
        dict
            Keys ``alpha, beta, alpha_se, beta_se, alpha_cov, beta_cov, likelihood``
            (L) and ``success``.

        Raises
        ------
        ValueError
            If ``n ≤ p + q``.
        """
        n, n_par = self.n, self.n_fixed_mean + self.n_fixed_variance
        if n <= n_par:
            raise ValueError(
                f"optimize_model: y has {n} observations, too few to fit {n_par} parameters "
                f"({self.n_fixed_mean} mean and {self.n_fixed_variance} variance); "
                "the likelihood and its gradient can still be evaluated")
        res = self._hlm.fit()
        if not res.converged:
            print("Optimization unsuccessful.")
        return {
            "alpha": res.alpha,
            "beta": res.beta,
            "alpha_se": res.alpha_se,
            "beta_se": res.beta_se,
            "alpha_cov": res.alpha_cov,
            "beta_cov": res.beta_cov,
            "likelihood": res.loglik,
            "success": res.converged,
        }
