"""Results of a model fit, statsmodels style: ``params``, ``bse``, ``cov_params()``, ``summary()``."""
import numpy as np
from scipy.special import ndtr


class FitResults:
    """Estimates of a fitted HLM or HLMM.

    Attributes
    ----------
    alpha, beta : ndarray
        Mean effects α and log-variance effects β.
    alpha_se, beta_se : ndarray
        Their standard errors; ``alpha_cov``, ``beta_cov`` the covariance blocks.
    h2, h2_se : float or None
        Random-effect variance (HLMM only) and its standard error.
    loglik : float
        Maximised log-likelihood ``L`` (not −2L).
    converged : bool
    n_iter : int
        Optimiser iterations.
    params, bse, tvalues, pvalues : ndarray
        All parameters in the order α, β (, h2); p-values are two-sided normal.
    param_names : list of str
        ``alpha[0]``, …, ``beta[0]``, …, ``h2``.
    cov_type : str
        ``"model-based"``, ``"robust (pooled)"`` or ``"robust (hc0)"``: which standard
        errors these are.
    nobs : int
        Number of observations.

    Notes
    -----
    Returned by :meth:`hlmm.HLM.fit` and :meth:`hlmm.HLMM.fit`, not built by hand.  The
    accessors follow statsmodels' names (``params``, ``bse``, ``cov_params()``).

    Examples
    --------
    >>> import numpy as np
    >>> from hlmm import HLM
    >>> rng = np.random.default_rng(3)
    >>> n = 1000
    >>> X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    >>> y = X @ [0.0, 1.0] + rng.standard_normal(n)
    >>> res = HLM(y, X, np.ones(n)).fit()
    >>> res.param_names
    ['alpha[0]', 'alpha[1]', 'beta[0]']
    >>> res.params.shape, res.cov_params().shape
    ((3,), (3, 3))
    >>> bool(np.allclose(res.bse, np.sqrt(np.diag(res.cov_params()))))
    True
    >>> bool(np.allclose(res.tvalues, res.params / res.bse))
    True
    >>> res.h2 is None            # an HLM fit: no random effect
    True
    """

    def __init__(self, alpha, beta, cov, loglik, converged, n_iter, n_obs,
                 h2=None, names=None, message="", boundary=False):
        self.alpha = np.asarray(alpha, dtype=float)
        self.beta = np.asarray(beta, dtype=float)
        self.h2 = None if h2 is None else float(h2)
        self._cov = np.asarray(cov, dtype=float)
        self.loglik = float(loglik)
        self.converged = bool(converged)
        self.n_iter = int(n_iter)
        self.nobs = int(n_obs)
        self.message = message
        self.boundary = bool(boundary)
        self.cov_type = "model-based"      # or "robust (pooled)", "robust (hc0)"
        p, q = self.alpha.size, self.beta.size
        self._p, self._q = p, q
        if names is None:
            names = [f"alpha[{i}]" for i in range(p)] + [f"beta[{i}]" for i in range(q)]
            if h2 is not None:
                names.append("h2")
        self.param_names = list(names)

    # --- statsmodels-style accessors -------------------------------------------------
    @property
    def params(self):
        parts = [self.alpha, self.beta]
        if self.h2 is not None:
            parts.append(np.array([self.h2]))
        return np.concatenate(parts)

    def cov_params(self):
        """Covariance matrix of :attr:`params` (a copy)."""
        return self._cov.copy()

    @property
    def bse(self):
        d = np.diag(self._cov).copy()
        d[d < 0] = np.nan
        return np.sqrt(d)

    @property
    def tvalues(self):
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.params / self.bse

    @property
    def pvalues(self):
        return 2.0 * ndtr(-np.abs(self.tvalues))

    # --- blocks -------------------------------------------------------------------
    @property
    def alpha_cov(self):
        return self._cov[: self._p, : self._p].copy()

    @property
    def beta_cov(self):
        s = slice(self._p, self._p + self._q)
        return self._cov[s, s].copy()

    @property
    def alpha_se(self):
        return self.bse[: self._p]

    @property
    def beta_se(self):
        return self.bse[self._p: self._p + self._q]

    @property
    def h2_se(self):
        return None if self.h2 is None else float(self.bse[-1])

    def summary(self):
        """A plain-text table of estimates, SEs, t and p-values."""
        kind = "HLMM" if self.h2 is not None else "HLM"
        lines = [
            f"{kind} fit: n = {self.nobs}, log-likelihood = {self.loglik:.6f}, "
            f"converged = {self.converged} ({self.n_iter} iterations)",
            f"standard errors: {self.cov_type}",
        ]
        if self.boundary:
            lines.append("h2 is at the boundary 0: its SE is undefined (NaN)")
        w = max(len(s) for s in self.param_names)
        lines.append(f"{'':{w}}  {'estimate':>12} {'std.err':>12} {'t':>10} {'P>|t|':>10}")
        for name, est, se, t, p in zip(self.param_names, self.params, self.bse,
                                       self.tvalues, self.pvalues):
            lines.append(f"{name:{w}}  {est:12.6g} {se:12.6g} {t:10.4g} {p:10.4g}")
        return "\n".join(lines)

    def __repr__(self):
        return self.summary()
