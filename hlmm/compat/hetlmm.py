"""The original hlmm 1.x API for the heteroskedastic linear mixed model, kept for old scripts.

``hlmm.hetlmm.model(y, X, V, G)`` has the original's methods and return conventions;
the computations are those of :class:`hlmm.HLMM` (O(n·l²) low-rank identities, exact
Newton fit and analytic Hessian instead of the original's L-BFGS-B and finite
differences of the gradient).
"""
import numpy as np

from ..models.hlmm import HLMM
from ..sim.simulate import simulate as _simulate

# The original bounded h2 below by 1e-5 in optimize_model.
H2_LOWER = 1e-5


class _HLMM(HLMM):
    # As in the original, any model can be built and its likelihood and gradient
    # evaluated; only optimize_model needs more observations than parameters.
    _check_sample_size_on_init = False


class model:
    """Heteroskedastic linear mixed model ``y ~ N(Xα, diag(exp(Vβ)) + h2·GGᵀ)`` (original API).

    1-D ``X``, ``V`` or ``G`` are taken as one column.  As in the original, the model
    may have more parameters than observations (``p + q + 1 ≥ n``): the likelihood,
    its gradient and α̂ are defined, and only :meth:`optimize_model` refuses it.

    Parameters
    ----------
    y : (n,) array_like
        The trait.
    X : (n, p) or (n,) array_like
        Mean design (include an intercept column yourself).
    V : (n, q) or (n,) array_like
        Log-variance design.
    G : (n, l) or (n,) array_like
        Random-effects design.

    See Also
    --------
    hlmm.HLMM : the same model in the current API.

    Examples
    --------
    >>> import numpy as np
    >>> from hlmm import hetlmm
    >>> np.random.seed(1)                     # hetlmm.simulate uses numpy's global state
    >>> m = hetlmm.simulate(1000, 50, np.array([1.0]), np.array([0.5]), 0.3)
    >>> m.n, m.l, m.n_fixed_mean, m.n_fixed_variance
    (1000, 50, 1, 1)
    >>> optim = m.optimize_model(0.1)
    >>> sorted(optim)                          # doctest: +NORMALIZE_WHITESPACE
    ['alpha', 'alpha_se', 'beta', 'beta_se', 'h2', 'h2_se', 'likelihood', 'par_cov',
     'success', 'warnflag']
    >>> optim['success'], optim['warnflag']
    (True, 0)
    """

    def __init__(self, y, X, V, G):
        self._m = _HLMM(y, X, V, G)
        self.y, self.X, self.V, self.G = self._m.y, self._m.X, self._m.V, self._m.G
        self.n, self.l = self._m.n, self._m.l
        self.n_fixed_mean = self._m.p
        self.n_fixed_variance = self._m.q

    def likelihood(self, beta, h2, negative=False):
        """Profile log-likelihood ``L(α̂(β, h2), β, h2)``; with ``negative=True`` the
        original's returned quantity ``−2L/n − log2π``."""
        if negative:
            # the very number likelihood_and_gradient returns, as in the original
            return self.likelihood_and_gradient(beta, h2, return_grad=False)
        return self._m.profile_loglik(beta, h2)

    def likelihood_and_gradient(self, beta, h2, return_grad=True):
        """``(−2L/n − log2π, ∇/n)`` at ``α = α̂(β, h2)``, ∇ the gradient of −2L over
        ``(β_1, …, β_q, h2)``; only the first with ``return_grad=False``."""
        pt = self._m._at(None, beta, h2, 1 if return_grad else 0)
        f = pt.f / self.n
        if not return_grad:
            return f
        return f, pt.grad[self.n_fixed_mean:] / self.n

    def alpha_mle(self, beta, h2):
        """``α̂ = (XᵀΣ⁻¹X)⁻¹XᵀΣ⁻¹y``."""
        return self._m.alpha_mle(beta, h2)

    def alpha_ols(self):
        """Ordinary least-squares estimate of α."""
        return np.linalg.solve(self.X.T @ self.X, self.X.T @ self.y)

    def optimize_model(self, h2, SEs=True, dx=1e-6):
        """Maximum-likelihood fit from the starting value ``h2`` (bounded below by 1e-5,
        as in the original).

        Parameters
        ----------
        h2 : float
            Starting value of h2.
        SEs : bool, default True
            Also the standard errors and the covariance of (α, β, h2).
        dx : float
            Accepted for compatibility: the Hessian is analytic.

        Returns
        -------
        dict
            Keys ``alpha, beta, h2, likelihood`` (L), ``success``, ``warnflag`` (0 on
            success, 1 iteration limit, 2 otherwise) and, with ``SEs``,
            ``par_cov, alpha_se, beta_se, h2_se``.

        Raises
        ------
        ValueError
            If ``n ≤ p + q + 1``.
        """
        n, n_par = self.n, self.n_fixed_mean + self.n_fixed_variance + 1
        if n <= n_par:
            raise ValueError(
                f"optimize_model: y has {n} observations, too few to fit {n_par} parameters "
                f"({self.n_fixed_mean} mean, {self.n_fixed_variance} variance and h2); "
                "the likelihood and its gradient can still be evaluated")
        res = self._m.fit(h2_init=max(float(h2), H2_LOWER), h2_min=H2_LOWER)
        optim = {"success": res.converged}
        if res.converged:
            optim["warnflag"] = 0
        else:
            print("Optimization unsuccessful.")
            optim["warnflag"] = 1 if res.message.startswith("maximum") else 2
        optim["beta"] = res.beta
        optim["h2"] = res.h2
        optim["alpha"] = res.alpha
        optim["likelihood"] = res.loglik
        if SEs:
            optim["par_cov"] = self.parameter_covariance(res.alpha, res.beta, res.h2, dx)
            with np.errstate(invalid="ignore"):
                se = np.sqrt(np.diag(optim["par_cov"]))
            p, q = self.n_fixed_mean, self.n_fixed_variance
            optim["alpha_se"] = se[:p]
            optim["beta_se"] = se[p:p + q]
            optim["h2_se"] = se[p + q]
        return optim

    def parameter_covariance(self, alpha, beta, h2, dx=1e-6):
        """Inverse observed information over (α, β, h2) (``inv(½H)``, H the Hessian of
        −2L), from the analytic Hessian; ``dx`` is accepted for compatibility."""
        return self._m.covariance(alpha, beta, h2)


def simulate(n, l, alpha, beta, h2):
    """Simulate data as :func:`hlmm.simulate` and return it as a :class:`model`.

    As in the original, the draws come from numpy's global random state, so
    ``np.random.seed(s)`` makes them reproducible (X, V and G are then the original's
    draws; y has the same distribution).

    Parameters
    ----------
    n, l : int
        Individuals and random-effect SNPs.
    alpha, beta : array_like
        Mean and log-variance effects.
    h2 : float
        Variance of the random effect.

    Returns
    -------
    model
        The simulated data in a :class:`model`.
    """
    # The numpy.random module's functions draw from the global RandomState.
    y, X, V, G = _simulate(n, l, alpha, beta, h2, rng=np.random)
    return model(y, X, V, G)
