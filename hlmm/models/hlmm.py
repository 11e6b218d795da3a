"""The heteroskedastic linear mixed model (HLMM).

``y ~ N(Xα, Σ)``, ``Σ = D + h2·GGᵀ``, ``D = diag(d)``, ``d_i = exp(v_iᵀβ)``, ``h2 ≥ 0``.
Write ``W = D⁻¹ = diag(w)``, ``A = I_l + h2·GᵀWG``, ``r = y − Xα`` and
``F = log|Σ| + rᵀΣ⁻¹r = −2L − n·log2π``.  Nothing n×n is ever formed:

- ``log|Σ| = Σ_i log d_i + log|A|``, ``Σ⁻¹ = W − h2·WGA⁻¹GᵀW`` (Woodbury),
- ``Σ⁻¹r = s``, ``s_i = w_i(r_i − h2·g_iᵀz)``, ``z = A⁻¹GᵀWr``,
- ``(Σ⁻¹)_ii = w_i − h2·w_i²·c_i``, ``c_i = g_iᵀA⁻¹g_i``.

One evaluation costs one weighted Gram ``GᵀWG`` (BLAS syrk) and a Cholesky of A;
its gradient one more triangular solve over G; the exact Hessian one signed Gram per
non-constant column of V.  α is profiled out by GLS and ``(β, h2)`` are fitted by
Newton's method on the profile likelihood with the exact Hessian (projected for the
bound on h2, Fisher scoring where the Hessian is not positive definite).

With V a single constant column (the null model of a scan), ``Σ = dI + h2·GGᵀ`` is
diagonal in the basis of G's left singular vectors, and after one thin SVD every
evaluation is O(l·p²) (the ``spectral`` method).
"""
import numpy as np
from scipy import linalg

from .._core import _gram
from .hlmm_points import _LowRankPoint, _SpectralPoint, _profile_hessian
from ._validate import as_design, as_vector, check_sample_size
from .._threads import numpy_blas_single_threaded
from .hlm import HLM, LOG2PI
from .results import FitResults
from . import robust as _robust


class HLMM:
    """Heteroskedastic linear mixed model ``y ~ N(Xα, diag(exp(Vβ)) + h2·GGᵀ)``.

    The HLM with a polygenic random effect: ``h2·GGᵀ`` with G the random-effects design
    (in a scan, the random-effect SNPs standardised and scaled by ``l^-½``).  Nothing
    n×n is ever formed: a likelihood evaluation costs O(n·l²) (module docstring).
    :meth:`fit` gives the maximum-likelihood estimates of (α, β, h2) as a
    :class:`~hlmm.FitResults`.

    Parameters
    ----------
    y : (n,) array_like
        The trait; no missing values.
    X : (n, p) or (n,) array_like
        Mean design.  Include an intercept column yourself; a 1-D array is one column.
    V : (n, q) or (n,) array_like
        Log-variance design, likewise.
    G : (n, l) or (n,) array_like
        Random-effects design (l may exceed n).
    method : {"auto", "general", "spectral"}, default "auto"
        ``"spectral"`` (one thin SVD of G, then O(l) evaluations) needs V to be one
        constant column; ``"auto"`` chooses it then, ``"general"`` otherwise.

    Raises
    ------
    ValueError
        When a design is rank deficient, has non-finite values or does not match y, or
        when there are no more observations than parameters.

    See Also
    --------
    hlmm.HLM : the model without the random effect.
    hlmm.simulate : draws data from this model.

    Examples
    --------
    >>> import numpy as np
    >>> from hlmm import HLMM, simulate
    >>> y, X, V, G = simulate(n=2000, l=100, alpha=[1.0], beta=[0.5], h2=0.3, seed=2)
    >>> X = np.column_stack([np.ones(2000), X])     # simulate's designs have no intercept
    >>> V = np.column_stack([np.ones(2000), V])
    >>> res = HLMM(y, X, V, G).fit()
    >>> res.converged
    True
    >>> np.round(res.alpha, 2), np.round(res.beta, 2)
    (array([0.01, 1.01]), array([-0.03,  0.5 ]))
    >>> round(res.h2, 2), round(res.h2_se, 2)
    (0.38, 0.06)
    >>> res.param_names
    ['alpha[0]', 'alpha[1]', 'beta[0]', 'beta[1]', 'h2']
    """

    # hlmm.hetlmm.model (the original API) sets this False: it evaluates models with more
    # parameters than observations and checks the sample size in optimize_model.
    _check_sample_size_on_init = True

    def __init__(self, y, X, V, G, method="auto"):
        self.y = as_vector(y, "y")
        n = self.y.shape[0]
        self.X = as_design(X, n, "X")
        self.V = as_design(V, n, "V")
        self.G = as_design(G, n, "G", check_rank=False)
        self.n, self.p, self.q, self.l = n, self.X.shape[1], self.V.shape[1], self.G.shape[1]
        if self._check_sample_size_on_init:
            check_sample_size(n, self.p + self.q + 1)
        self.XY = np.ascontiguousarray(np.column_stack([self.X, self.y]))
        self.const_cols = [bool(np.all(self.V[:, j] == self.V[0, j])) for j in range(self.q)]
        null = self.q == 1 and self.const_cols[0]
        if method not in ("auto", "general", "spectral"):
            raise ValueError(f"method must be 'auto', 'general' or 'spectral', got {method!r}")
        if method == "spectral" and not null:
            raise ValueError("method='spectral' needs V to be a single constant column")
        self.method = "spectral" if (method == "spectral" or (method == "auto" and null)) else "general"
        self._spec = None
        self._general_point = _LowRankPoint
        self.n_evals = {"likelihood": 0, "gradient": 0, "hessian": 0}

    def _spectral(self):
        """Once: the thin SVD ``G = U S Qᵀ``, ``UᵀX``, ``Uᵀy`` and the Gram of ``(I − UUᵀ)[X y]``.

        For ``l ≤ n/2``, from the eigendecomposition ``GᵀG = Q S² Qᵀ`` (one syrk and an
        l×l eigh instead of an O(n·l²) SVD with a large constant) with U left implicit:
        ``Uᵀ[X y] = S⁻¹QᵀGᵀ[X y]``, and the complement Gram ``[X y]ᵀ[X y] − ‖Uᵀ[X y]‖²``.
        Directions whose s² is at rounding level are left in the complement: their
        eigenvalue ``d + h2·s²`` is d to working precision.
        """
        if self._spec is None:
            n, l = self.G.shape
            eps = np.finfo(float).eps
            if 2 * l <= n:
                GtG = np.empty((l, l))
                _gram.weighted_gram(self.G, np.ones(n), GtG)
                s2, Q = linalg.eigh(GtG)
                keep = s2 > max(s2[-1], 0.0) * l * eps * 10
                s2, Q = s2[keep], Q[:, keep]
                UXY = (Q.T @ (self.G.T @ self.XY)) / np.sqrt(s2)[:, None]
                C = self.XY.T @ self.XY - UXY.T @ UXY
            else:
                U, s, _ = np.linalg.svd(self.G, full_matrices=False)
                keep = s > (s[0] if s.size else 0.0) * max(n, l) * eps
                U, s = U[:, keep], s[keep]
                s2 = s ** 2
                UXY = U.T @ self.XY
                R = self.XY - U @ UXY
                C = R.T @ R
            self._spec = {"s2": s2, "xi": UXY[:, : self.p], "eta": UXY[:, self.p],
                          "C": C, "n_rest": n - s2.size}
        return self._spec

    # --- evaluation -------------------------------------------------------------------
    def _point(self, beta, h2):
        beta = np.ascontiguousarray(np.asarray(beta, dtype=np.float64).reshape(-1))
        if beta.shape[0] != self.q:
            raise ValueError(f"beta has {beta.shape[0]} elements, V has {self.q} columns")
        h2 = float(h2)
        if not np.isfinite(h2) or h2 < 0:
            raise ValueError(f"h2 must be finite and non-negative, got {h2}")
        self.n_evals["likelihood"] += 1
        cls = _SpectralPoint if self.method == "spectral" else self._general_point
        return cls(self, beta, h2)

    def _at(self, alpha, beta, h2, order):
        pt = self._point(beta, h2)
        if not pt.ok:
            raise ValueError("the variance exp(Vβ) overflows or underflows at this beta")
        if alpha is not None:
            alpha = np.asarray(alpha, dtype=np.float64).reshape(-1)
            if alpha.shape[0] != self.p:
                raise ValueError(f"alpha has {alpha.shape[0]} elements, X has {self.p} columns")
        pt.value(alpha)
        if order >= 1:
            self.n_evals["gradient"] += 1
            pt.gradient()
        if order >= 2:
            self.n_evals["hessian"] += 1
            pt.hessian()
        return pt

    def loglik(self, alpha, beta, h2):
        """``L = −½(n·log2π + log|Σ| + rᵀΣ⁻¹r)``, ``r = y − Xα``."""
        return -0.5 * (self._at(alpha, beta, h2, 0).f + self.n * LOG2PI)

    def gradient(self, alpha, beta, h2):
        """Gradient of :meth:`loglik` over (α, β, h2): ``∂L/∂α = XᵀΣ⁻¹r``,
        ``∂L/∂β_j = −½Σ_i v_ij d_i[(Σ⁻¹)_ii − (Σ⁻¹r)_i²]``,
        ``∂L/∂h2 = −½[tr(A⁻¹GᵀWG) − ‖A⁻¹GᵀWr‖²]``."""
        return -0.5 * self._at(alpha, beta, h2, 1).grad

    def hessian(self, alpha, beta, h2):
        """Hessian of :meth:`loglik` over (α, β, h2) (analytic; see ``_LowRankPoint.hessian``)."""
        return -0.5 * self._at(alpha, beta, h2, 2).hess

    def alpha_mle(self, beta, h2):
        """``α̂(β, h2) = (XᵀΣ⁻¹X)⁻¹XᵀΣ⁻¹y``."""
        return self._at(None, beta, h2, 0).alpha

    def profile_loglik(self, beta, h2):
        """``L(α̂(β, h2), β, h2)``."""
        return self.loglik(None, beta, h2)

    def profile_gradient(self, beta, h2):
        """Gradient of :meth:`profile_loglik` over (β, h2): the partial gradient at α̂."""
        return -0.5 * self._at(None, beta, h2, 1).grad[self.p:]

    def covariance(self, alpha, beta, h2):
        """Inverse observed information ``(−∂²L)⁻¹`` over (α, β, h2)."""
        return linalg.inv(-self.hessian(alpha, beta, h2))

    # --- fit ----------------------------------------------------------------------------
    def fit(self, h2_init=0.05, beta_init=None, tol=1e-10, max_iter=100, h2_min=0.0,
            robust=False):
        """Maximum-likelihood fit of (α, β, h2), ``h2 ≥ h2_min``.

        Parameters
        ----------
        h2_init : float, default 0.05
            Starting value of h2.
        beta_init : (q,) array_like, optional
            Starting value of β (default: the HLM's MLE).
        tol : float, default 1e-10
            Convergence tolerance on the Newton decrement.
        max_iter : int, default 100
            Maximum number of Newton iterations.
        h2_min : float, default 0
            Lower bound of h2.
        robust : bool or "pooled", default False
            Pooled sandwich standard errors for (α, β) instead of the model-based ones.

        Returns
        -------
        FitResults
            Estimates (``h2`` included), standard errors, log-likelihood, convergence;
            ``boundary`` is True when h2 ends on ``h2_min``.

        Notes
        -----
        Projected Newton on the profile ``F(θ) = −2L(α̂(θ), θ)``, θ = (β, h2), with the
        exact Hessian ``F_θθ − F_θαF_αα⁻¹F_αθ`` (the expected information where it is
        not positive definite) and an Armijo backtracking line search.  h2 is held at
        ``h2_min`` while ``∂F/∂h2 ≥ 0`` there.  Stops when the Newton decrement over the
        free parameters falls below ``tol`` (a predicted gain in L below ``tol/4``).
        β starts at the HLM's MLE ``HLM(y, X, V).fit().beta``.  The original bounded h2
        below by 1e-5 (``hlmm.hetlmm`` still does); here the default bound is 0.

        Standard errors: inverse observed information over (α, β, h2) at the MLE.  When
        h2 ends on the bound (``boundary=True``) its row and column are NaN and the
        (α, β) block is the inverse of their information with h2 held there.
        ``robust=True`` (or ``"pooled"``): the (α, β) block is the pooled sandwich of
        :func:`hlmm.models.robust.hlmm_robust_cov`, valid for residuals of any shape
        (``results.cov_type`` says which).
        """
        if robust is not False and robust is not None and _robust.check_kind(robust) != "pooled":
            raise ValueError("HLMM.fit: only robust='pooled' (or True) is defined for the HLMM")
        # numpy's BLAS serves only small products here; its threads spinning against
        # scipy's (our kernels') pool cost more than they bring.
        with numpy_blas_single_threaded():
            res = self._fit(h2_init, beta_init, tol, max_iter, h2_min)
            if robust is not False and robust is not None:
                res._cov = _robust.hlmm_robust_cov(self.y, self.X, self.V, self.G, res.alpha,
                                                   res.beta, res.h2, res._cov)
                res.cov_type = "robust (pooled)"
        return res

    def _fit(self, h2_init, beta_init, tol, max_iter, h2_min):
        h2_init = float(h2_init)
        if not np.isfinite(h2_init) or h2_init < 0:
            raise ValueError(f"h2_init must be finite and non-negative, got {h2_init}")
        if h2_min < 0:
            raise ValueError(f"h2_min must be non-negative, got {h2_min}")
        for key in self.n_evals:
            self.n_evals[key] = 0
        if beta_init is None:
            beta = HLM(self.y, self.X, self.V).fit().beta
        else:
            beta = np.asarray(beta_init, dtype=np.float64).reshape(-1)
        theta = np.append(beta, max(h2_init, h2_min))
        pt = self._at(None, theta[:-1], theta[-1], 2)
        q, p = self.q, self.p
        converged, message, it, boundary = False, "maximum number of iterations reached", 0, False
        for it in range(1, max_iter + 1):
            g = pt.grad[p:]
            free = np.ones(q + 1, dtype=bool)
            if theta[-1] <= h2_min and g[-1] >= 0:
                free[-1] = False
            step = np.zeros(q + 1)
            step[free], decrement = _newton_step(_profile_hessian(pt.hess, p)[np.ix_(free, free)],
                                                 pt.fisher[np.ix_(free, free)], g[free])
            if decrement < tol:
                converged, message = True, "converged"
                break
            t = 1.0
            for _ in range(60):
                cand = theta + t * step
                cand[-1] = max(cand[-1], h2_min)
                new = self._point(cand[:-1], cand[-1])
                if new.ok:
                    try:
                        with np.errstate(all="ignore"):
                            f_new = new.value()
                    except (linalg.LinAlgError, ValueError):
                        f_new = np.inf
                    if np.isfinite(f_new) and (
                            f_new <= pt.f + 1e-4 * (g @ (cand - theta))
                            or (decrement < 1e-6 and f_new <= pt.f + 1e-12 * abs(pt.f))):
                        break
                t *= 0.5
            else:
                message = "line search failed"
                break
            theta, pt = cand, new
            self.n_evals["gradient"] += 1
            self.n_evals["hessian"] += 1
            pt.gradient()
            pt.hessian()
        h2 = theta[-1]
        boundary = bool(h2 <= h2_min and pt.grad[-1] >= 0)
        npar = p + q + 1
        cov = np.full((npar, npar), np.nan)
        info = 0.5 * pt.hess
        idx = np.arange(npar - 1) if boundary else np.arange(npar)
        try:
            cov[np.ix_(idx, idx)] = linalg.inv(info[np.ix_(idx, idx)])
        except (linalg.LinAlgError, ValueError):
            message += "; the information matrix is singular"
        loglik = -0.5 * (pt.f + self.n * LOG2PI)
        n_steps = it - 1 if converged else it
        res = FitResults(pt.alpha, theta[:-1], cov, loglik, converged, n_steps, self.n, h2=h2,
                         message=message, boundary=boundary)
        res.n_evals = dict(self.n_evals)
        return res


def _newton_step(H, E, g):
    """Newton step ``−H⁻¹g`` if H is positive definite, else the scoring step ``−E⁻¹g``;
    returns it with its decrement ``gᵀH⁻¹g``."""
    for M in (H, E):
        try:
            step = -linalg.cho_solve(linalg.cho_factor(M), g)
        except (linalg.LinAlgError, ValueError):
            continue
        dec = -g @ step
        if np.isfinite(dec) and dec >= 0:
            return step, dec
    step = -g / max(np.max(np.abs(np.diag(E))), 1.0)
    return step, -g @ step
