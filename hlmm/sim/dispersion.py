"""Dispersion effects: variance effects of SNPs adjusted for their mean effects.

Under many models of a trait (e.g. the Gamma model of the tutorial, or any trait on a scale
where the variance grows with the mean) a SNP's effect on the variance of the trait is
partly a by-product of its effect on the mean. Following the original hlmm tutorial
(``examples/estimate_dispersion_effects.R``), the *dispersion effect* of a SNP removes the
part of its variance effect that is predicted by its mean effect:

* ``r``: slope of a Huber robust regression, without intercept, of the variance effects
  ``var`` on the mean effects ``add`` across the SNPs of the scan
  (:func:`huber_regression`; the R original used ``MASS::rlm(var ~ 0 + add)``).
* ``add`` is estimated with noise, which attenuates the slope. With
  ``mean_noise = mean(add_se²)`` and ``var(add)`` the sample variance (n − 1) of the
  estimates, the slope corrected for the attenuation is
  ``r_av = r · (1 + mean_noise / (var(add) − mean_noise))``.
* ``dispersion = var − r_av·add``, ``dispersion_se = √(var_se² + r_av²·add_se²)``,
  ``dispersion_t = dispersion / dispersion_se``, ``dispersion_pval = −log10 p`` with
  p = P(χ²₁ > dispersion_t²).

SNPs without estimates (NaN rows of filtered SNPs) are excluded from the regression and
keep NaN dispersion columns.

The method assumes polygenic mean effects: the attenuation correction divides by
``var(add) − mean(add_se²)``, the variance of the true mean effects, which is estimated
with noise. Where it is not clearly positive, ``r_av`` is noise divided by noise and
``dispersion`` becomes a rescaled mean test (REGENIE's Y1: adjustment 37, ``dispersion_t``
correlated 0.93 with ``add_t``). :func:`polygenic_signal` tests it: without mean effects
(and SNPs independent), ``add_j ~ N(0, add_se_j²)``, so ``Q = Σ_j (add_j − mean(add))²``
is a quadratic form in normals with ``E[Q] = (1 − 1/m)·Σ s_j²`` and
``Var[Q] = 2[(1 − 2/m)·Σ s_j⁴ + (Σ s_j²)²/m²]`` (s = add_se); ``Q ≈ c·χ²_ν`` with the
same mean and variance (Satterthwaite; exact when the SEs are equal) gives the p-value
of "no polygenic mean signal". :func:`dispersion_effects` refuses when ``p > 0.001``
(:data:`SIGNAL_P`) unless forced.

The original stopped MASS::rlm at its default loose tolerance (relative change of the
residuals ≤ 1e-4, at most 20 iterations); :func:`huber_regression` iterates to
convergence by default (1e-12), which changes the slope in about the fifth significant
digit. ``huber_regression(x, y, tol=1e-4, maxiter=20)`` reproduces MASS::rlm exactly.
"""
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..io.results_table import read_table

HUBER_K = 1.345
MAD_CONSTANT = 0.6745  # MASS::rlm's scale: median(|resid|) / 0.6745
SIGNAL_P = 1e-3      # below it, var(add) − mean(add_se²) is deemed clearly positive
DISPERSION_COLUMNS = ("dispersion", "dispersion_se", "dispersion_t", "dispersion_pval")


@dataclass
class HuberFit:
    """Result of :func:`huber_regression`."""

    coef: np.ndarray  # regression coefficients
    scale: float  # MAD scale of the residuals at the final coefficients' previous step
    weights: np.ndarray  # final IRLS weights ψ(u)/u
    n_iter: int
    converged: bool


def huber_regression(X, y, k=HUBER_K, tol=1e-12, maxiter=1000, mad_constant=MAD_CONSTANT):
    """Huber M-estimate of a linear regression by IRLS, as MASS::rlm with its defaults.

    Model ``y = Xb + e`` (no intercept unless X has a column of ones). Starting from least
    squares, iterate:

    1. scale ``s = median(|e|) / 0.6745`` (the MAD about zero, re-scaled to the normal SD),
       computed from the current residuals ``e = y − Xb``;
    2. Huber weights ``w_i = min(1, k / |e_i/s|)`` with k = 1.345;
    3. ``b ← (XᵀWX)⁻¹XᵀWy``;

    until ``‖e_new − e_old‖ / ‖e_old‖ ≤ tol`` (MASS's ``irls.delta`` on the residuals).
    The fixed point solves ``Σ_i ψ_k(e_i/s)·x_i = 0`` with ``s`` the MAD of the residuals.
    MASS::rlm uses tol = 1e-4 and maxiter = 20; the default here iterates to convergence.

    Returns a :class:`HuberFit`; ``converged`` is False if ``maxiter`` was reached.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if X.shape[0] != y.shape[0]:
        raise ValueError("X and y have different numbers of rows")
    if X.shape[0] <= X.shape[1]:
        raise ValueError(f"{X.shape[0]} observations are too few for {X.shape[1]} "
                         "coefficients")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError("X and y must be finite")
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    resid = y - X @ coef
    w = np.ones_like(y)
    scale = np.nan
    converged = False
    n_iter = 0
    for n_iter in range(1, maxiter + 1):
        old = resid
        scale = np.median(np.abs(resid)) / mad_constant
        if scale == 0:  # perfect fit of more than half the points
            converged = True
            break
        u = np.abs(resid / scale)
        w = np.where(u <= k, 1.0, k / np.maximum(u, k))
        sw = np.sqrt(w)
        coef = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
        resid = y - X @ coef
        delta = np.sqrt(np.sum((old - resid) ** 2) / max(1e-20, np.sum(old ** 2)))
        if delta <= tol:
            converged = True
            break
    return HuberFit(coef=coef, scale=float(scale), weights=w, n_iter=n_iter,
                    converged=converged)


@dataclass
class DispersionFit:
    """Dispersion effects of every SNP of a scan (NaN where the SNP has no estimates)."""

    r: float  # Huber slope of var on add
    mean_noise: float  # mean(add_se²) over the SNPs used
    noise_adjustment: float  # 1 + mean_noise / (var(add) − mean_noise)
    r_av: float  # r · noise_adjustment
    n_used: int  # SNPs in the regression
    signal_ratio: float  # var(add) / mean(add_se²): 1 without polygenic mean effects
    signal_p: float  # p-value of "no polygenic mean signal" (polygenic_signal)
    dispersion: np.ndarray
    dispersion_se: np.ndarray
    dispersion_t: np.ndarray
    dispersion_pval: np.ndarray  # −log10 p
    huber: HuberFit


def neglog10_chi2_sf(stat, df=1):
    """−log10 P(χ²_df > stat), accurate far in the tail (NaN stays NaN)."""
    stat = np.asarray(stat, dtype=np.float64)
    return -stats.chi2.logsf(stat, df) / np.log(10)


class NoMeanSignal(ValueError):
    """The scan's mean effects are not clearly above their noise (see the module doc)."""


def polygenic_signal(add, add_se):
    """``(ratio, p)``: ``var(add)/mean(add_se²)`` and the p-value of the test of no mean
    effects (finite values only), Satterthwaite's χ² approximation of ``Q`` (module
    docstring). SNPs in LD make ``Var[Q]`` larger than assumed, so p is then too small."""
    add = np.asarray(add, dtype=np.float64)
    s2 = np.asarray(add_se, dtype=np.float64) ** 2
    m = add.shape[0]
    q = float(np.sum((add - add.mean()) ** 2))
    mean_q = (1.0 - 1.0 / m) * s2.sum()
    var_q = 2.0 * ((1.0 - 2.0 / m) * np.sum(s2 * s2) + s2.sum() ** 2 / m ** 2)
    c = var_q / (2.0 * mean_q)
    nu = 2.0 * mean_q ** 2 / var_q
    return q / (m - 1) / s2.mean(), float(stats.chi2.sf(q / c, nu))


def dispersion_effects(add, add_se, var, var_se, tol=1e-12, maxiter=1000, force=False):
    """Dispersion effects from the mean (``add``) and variance (``var``) effects of a scan.

    See the module docstring for the formulas. Rows where any of the four inputs is NaN
    are left out of the regression and get NaN outputs. Raises ValueError when fewer than
    three SNPs have estimates or when ``var(add) ≤ mean(add_se²)`` (the attenuation
    correction is undefined), and :class:`NoMeanSignal` when the test of no polygenic
    mean signal has ``p > SIGNAL_P``, unless ``force``.
    """
    add, add_se, var, var_se = (np.asarray(a, dtype=np.float64).reshape(-1)
                                for a in (add, add_se, var, var_se))
    n = add.shape[0]
    if not all(a.shape[0] == n for a in (add_se, var, var_se)):
        raise ValueError("add, add_se, var and var_se must have the same length")
    ok = np.isfinite(add) & np.isfinite(add_se) & np.isfinite(var) & np.isfinite(var_se)
    n_used = int(ok.sum())
    if n_used < 3:
        raise ValueError(f"only {n_used} SNPs have mean and variance estimates; "
                         "at least 3 are needed")
    huber = huber_regression(add[ok], var[ok], tol=tol, maxiter=maxiter)
    r = float(huber.coef[0])
    mean_noise = float(np.mean(add_se[ok] ** 2))
    var_add = float(np.var(add[ok], ddof=1))
    if not var_add > mean_noise:
        raise ValueError(
            f"the variance of the mean effects ({var_add:.3g}) does not exceed their mean "
            f"squared standard error ({mean_noise:.3g}): no polygenic mean signal, no "
            "attenuation correction possible")
    ratio, signal_p = polygenic_signal(add[ok], add_se[ok])
    if signal_p > SIGNAL_P and not force:
        raise NoMeanSignal(
            f"no clear polygenic mean signal (var(add) / mean(add_se^2) = {ratio:.4g}, "
            f"p = {signal_p:.3g} against no mean effects; needs p <= {SIGNAL_P:g}): the "
            f"noise adjustment "
            f"{1.0 + mean_noise / (var_add - mean_noise):.4g} would turn dispersion into "
            "a mean test (--force to compute it anyway)")
    adjustment = 1.0 + mean_noise / (var_add - mean_noise)
    r_av = r * adjustment
    disp = np.full(n, np.nan)
    se = np.full(n, np.nan)
    disp[ok] = var[ok] - r_av * add[ok]
    se[ok] = np.sqrt(var_se[ok] ** 2 + r_av ** 2 * add_se[ok] ** 2)
    t = disp / se
    pval = neglog10_chi2_sf(t ** 2)
    return DispersionFit(r=r, mean_noise=mean_noise, noise_adjustment=adjustment, r_av=r_av,
                         n_used=n_used, signal_ratio=ratio, signal_p=signal_p,
                         dispersion=disp, dispersion_se=se, dispersion_t=t,
                         dispersion_pval=pval, huber=huber)


def dispersion_table(path, tol=1e-12, maxiter=1000, force=False):
    """Read a results table and return ``(table, fit)`` with the dispersion columns added.

    The table needs the columns ``add add_se var var_se``; existing dispersion columns
    (e.g. from an earlier run) are replaced.
    """
    table = read_table(path)
    table.require("add", "add_se", "var", "var_se")
    fit = dispersion_effects(table.float("add"), table.float("add_se"), table.float("var"),
                             table.float("var_se"), tol=tol, maxiter=maxiter,
                             force=force)
    for name in DISPERSION_COLUMNS:
        table.add_column(name, getattr(fit, name))
    return table, fit


def ks_chi2_pvalue(t):
    """KS test of ``t²`` against χ²₁ (NaN dropped), asymptotic p-value as R's ks.test.

    R's ``ks.test(x, "pchisq", 1)`` uses the asymptotic Kolmogorov distribution for
    100 or more observations; this does so at every size (``P(K > √n·D)``).
    """
    x = np.asarray(t, dtype=np.float64) ** 2
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan
    return float(stats.kstest(x, stats.chi2(1).cdf, method="asymp").pvalue)


def genomic_control(t):
    """Genomic-control λ: median of the χ²₁ statistics ``t²`` over the χ²₁ median 0.4549."""
    x = np.asarray(t, dtype=np.float64) ** 2
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan
    return float(np.median(x) / stats.chi2.ppf(0.5, 1))


def headline_statistics(table, fit=None):
    """The tutorial's summary of a scan (and its dispersion effects, when given).

    Keys: ``n_snps`` (with estimates), ``median_add_t2``, ``median_var_t2`` (the χ²₁
    median is 0.455), ``ks_var_p`` (KS test of var_t² against χ²₁), and with ``fit``:
    ``r``, ``r_av``, ``ks_dispersion_p`` (KS test of dispersion_t², first SNP excluded,
    as it was simulated with a dispersion effect), and the first SNP's ``first_snp``,
    ``first_dispersion``, ``first_dispersion_se``, ``first_dispersion_pval`` (−log10 p).
    """
    table.require("add_t", "var_t")
    add_t = table.float("add_t")
    var_t = table.float("var_t")
    ok = np.isfinite(add_t) & np.isfinite(var_t)
    out = {
        "n_snps": int(ok.sum()),
        "median_add_t2": float(np.median(add_t[ok] ** 2)) if ok.any() else np.nan,
        "median_var_t2": float(np.median(var_t[ok] ** 2)) if ok.any() else np.nan,
        "ks_var_p": ks_chi2_pvalue(var_t),
    }
    if fit is not None:
        out.update({
            "r": fit.r,
            "r_av": fit.r_av,
            "ks_dispersion_p": ks_chi2_pvalue(fit.dispersion_t[1:]),
            "first_snp": table.text["SNP"][0] if "SNP" in table else "1",
            "first_dispersion": float(fit.dispersion[0]),
            "first_dispersion_se": float(fit.dispersion_se[0]),
            "first_dispersion_pval": float(fit.dispersion_pval[0]),
        })
    return out
