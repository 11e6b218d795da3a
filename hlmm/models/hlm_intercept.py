"""The HLM with intercept-only mean and log-variance, in closed form.

With ``X = V = 1`` (the scan's null model without covariates) the model is
``y_i ~ N(α, exp(β))`` i.i.d., and ``−2L − n·log2π = f(α, β) = n·β + e^{−β}·Σ_i (y_i − α)²``
is minimised by

    α̂ = ȳ,   σ̂² = exp(β̂) = S/n,   S = Σ_i (y_i − ȳ)²,   L̂ = −½·n·(log 2π + β̂ + 1).

This is the MLE :meth:`hlmm.models.hlm.HLM.fit` converges to by Newton's method (to its
tolerance, ~1e-15 relative here), at the cost of a few O(n) passes instead of
5–6 Newton evaluations of two O(n) kernel passes each: a 100-phenotype scan fits 100
null models.  Standard errors as :meth:`HLM.fit` defines them (expected information):
``var(α̂) = (XᵀWX)⁻¹ = σ̂²/n``, ``var(β̂) = 2(VᵀV)⁻¹ = 2/n``, uncorrelated.
"""
import numpy as np

from .hlm import LOG2PI
from .results import FitResults

CLOSED_FORM = "closed form"     # FitResults.message of these fits (n_iter is 0)


def fit_intercept_only(y):
    """:class:`~hlmm.models.results.FitResults` of ``y ~ N(α, exp(β))`` (see the module
    docstring), equal to ``HLM(y, 1, 1).fit()`` up to that fit's tolerance.

    ȳ is refined once (``ȳ₀ + mean(y − ȳ₀)``), which recovers the digits a plain sum
    loses when |mean| ≫ SD, as the compensated sums of the Newton kernels do.
    Raises the errors :meth:`HLM.fit` raises: ValueError when y is constant (the
    likelihood is unbounded), FloatingPointError when ``Σ(y − ȳ)²`` overflows or
    underflows the float range.  The fit also carries the exact Hessian of ``f`` over
    (α, β) at the MLE (``_hessian_f``), which starts the SNP fits of ``--fit-covariates``:
    ``∂²f/∂α² = 2n·e^{−β}``, ``∂²f/∂α∂β = 2e^{−β}·Σr``, ``∂²f/∂β² = e^{−β}·S``.
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    a0 = np.mean(y)
    r = y - a0
    c = np.mean(r)
    r -= c              # in place: each new n-vector costs its page faults
    alpha = a0 + c
    # the criterion of HLM.start_beta for an exact fit (max |·| from max and min: no
    # temporaries)
    if not max(r.max(), -r.min()) > 1e-11 * max(y.max(), -y.min()):
        raise ValueError("y is fitted exactly by X: zero residual variance, the "
                         "likelihood is unbounded")
    sum_r = float(np.sum(r))
    S = float(np.sum(np.square(r, out=r)))
    var = S / n
    if not (np.isfinite(var) and var >= np.finfo(float).tiny):
        raise FloatingPointError("the likelihood is not finite at the closed-form MLE")
    beta = np.log(var)
    w = np.exp(-beta)
    f = n * beta + w * S
    loglik = -0.5 * (f + n * LOG2PI)
    cov = np.array([[1.0 / (n * w), 0.0], [0.0, 2.0 / n]])
    res = FitResults(np.array([alpha]), np.array([beta]), cov, loglik,
                     bool(np.isfinite(loglik)), 0, n, message=CLOSED_FORM)
    c_ab = 2.0 * w * sum_r
    res._hessian_f = np.array([[2.0 * n * w, c_ab], [c_ab, w * S]])
    return res
