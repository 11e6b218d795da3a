"""Gene–environment interaction (GxE) in the HLM: one SNP's full model and its Wald tests.

Per SNP, with ``x`` the centred genotype, ``E`` the environment (one column for a numeric
E, k−1 dummy columns for a categorical one), ``C`` the mean covariates and ``D`` the
variance covariates:

    mean          y_i = C_iα_c + E_iα_E + x_iα_g + (x_i·E_i)γ
    log-variance  v_i = D_iβ_d + E_iβ_E + x_iβ_g (+ (x_i·E_i)δ with ``interaction_var``)

E enters the variance model whatever the variance covariates are: when E changes the
trait's variance, ordinary least squares weights the individuals wrongly and its test
of γ is inflated (λ ≈ 1.5 for log-variance 0.6·E), while the HLM's weights
``w_i = exp(−v_i)`` make the Wald test of γ valid.

Tests (:func:`interaction_tests`), all Wald tests ``θ_Sᵀ Σ_S⁻¹ θ_S ~ χ²_|S|`` on the
fitted covariance Σ (model-based or the sandwich of :mod:`hlmm.models.robust`):
``int``: γ = 0 (|S| = columns of E); ``gxe``: α_g = γ = 0 (|S| + 1 df); ``vint``: δ = 0.
"""
from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc, log_ndtr


@dataclass
class InteractionDesign:
    """The designs of one SNP's GxE model and where its effects sit.

    ``X``, ``V``: mean and log-variance designs; ``add``: column of x in X; ``int``:
    columns of x·E in X; ``var``: column of x in V; ``vint``: columns of x·E in V
    (empty without ``interaction_var``); ``names``: the columns' names in X and V."""
    X: np.ndarray
    V: np.ndarray
    add: int
    int: list
    var: int
    vint: list
    X_names: list
    V_names: list


def _as_columns(a, n, what):
    a = np.asarray(a, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] != n:
        raise ValueError(f"{what} must have {n} rows, got shape {np.shape(a)}")
    return a


def snp_columns(x, E, X0, V0, interaction_var=False, X0_names=None, V0_names=None,
                E_names=None):
    """The SNP model ``X = [X0, x, x·E]``, ``V = [V0, x (, x·E)]`` of null designs X0 and
    V0 that already hold E (the scan's case: its null model is then nested, the SNP's
    columns last, :meth:`hlmm.models.hlm.HLM.fit` ``start``)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    E = _as_columns(E, n, "E")
    X0, V0 = _as_columns(X0, n, "X0"), _as_columns(V0, n, "V0")
    xE = x[:, None] * E
    X = np.column_stack([X0, x, xE])
    V = np.column_stack([V0, x, xE] if interaction_var else [V0, x])
    p0, q0, k = X0.shape[1], V0.shape[1], E.shape[1]
    en = list(E_names) if E_names is not None else (
        ["E"] if k == 1 else [f"E{j + 1}" for j in range(k)])
    xn = list(X0_names) if X0_names is not None else [f"x0_{j}" for j in range(p0)]
    vn = list(V0_names) if V0_names is not None else [f"v0_{j}" for j in range(q0)]
    inter = [f"g:{e}" for e in en]
    return InteractionDesign(
        X, V, p0, list(range(p0 + 1, p0 + 1 + k)), q0,
        list(range(q0 + 1, q0 + 1 + k)) if interaction_var else [],
        xn + ["g"] + inter, vn + ["g"] + (inter if interaction_var else []))


def interaction_design(g, E, covariates=None, var_covariates=None, interaction_var=False,
                       E_names=None, centre_genotype=True):
    """The designs of the GxE HLM of one SNP (see the module docstring), for
    :class:`hlmm.models.hlm.HLM` (or :class:`hlmm.models.hlmm.HLMM`).

    ``g``: genotypes (n,); ``E``: the environment, (n,) or (n, k) (dummy columns of a
    categorical E, baseline left out); ``covariates``/``var_covariates``: (n, ·) mean and
    variance covariates without an intercept or E (both are added).  The genotype is
    centred (``x = g − ḡ``, so ``add`` is the SNP's effect at E = 0: centre E too for its
    effect at the mean E).  Returns an :class:`InteractionDesign`.

    >>> d = interaction_design(g, E, covariates=C)
    >>> res = HLM(y, d.X, d.V).fit()          # robust=True for the sandwich
    >>> interaction_tests(res, d)["int_pval"]  # −log10 p of γ = 0
    """
    g = np.asarray(g, dtype=float)
    n = g.shape[0]
    x = g - g.mean() if centre_genotype else g
    E = _as_columns(E, n, "E")
    k = E.shape[1]
    en = list(E_names) if E_names is not None else (
        ["E"] if k == 1 else [f"E{j + 1}" for j in range(k)])
    parts_x, names_x = [np.ones((n, 1))], ["Intercept"]
    if covariates is not None:
        C = _as_columns(covariates, n, "covariates")
        parts_x.append(C)
        names_x += [f"c{j + 1}" for j in range(C.shape[1])]
    parts_v, names_v = [np.ones((n, 1))], ["Intercept"]
    if var_covariates is not None:
        D = _as_columns(var_covariates, n, "var_covariates")
        parts_v.append(D)
        names_v += [f"d{j + 1}" for j in range(D.shape[1])]
    X0 = np.column_stack(parts_x + [E])
    V0 = np.column_stack(parts_v + [E])
    return snp_columns(x, E, X0, V0, interaction_var, names_x + en, names_v + en, en)


def neglog10_chi2(stat, df):
    """``−log10 P(χ²_df > stat)``, accurate far into the tail (df 1: ``2Φ(−√stat)``;
    the same formulas as :func:`hlmm.io.output.neglog10_pval`, which lives a layer up)."""
    stat = max(float(stat), 0.0) if np.isfinite(stat) else np.nan
    if not np.isfinite(stat):
        return np.nan
    if df == 1:
        return float(-(np.log(2.0) + log_ndtr(-np.sqrt(stat))) / np.log(10.0))
    if df == 2:
        return stat / 2.0 / np.log(10.0)
    return float(-np.log(chdtrc(df, stat)) / np.log(10.0))


def wald(est, cov, idx):
    """``(χ², df)`` of the Wald test that the parameters ``idx`` are all 0 (NaN when
    their covariance is singular)."""
    idx = list(idx)
    theta = np.asarray(est, dtype=float)[idx]
    S = np.asarray(cov, dtype=float)[np.ix_(idx, idx)]
    # numpy's Cholesky, not scipy's checked wrappers: the scan calls this twice per SNP
    try:
        z = np.linalg.solve(np.linalg.cholesky(S), theta)
        stat = float(z @ z) if np.all(np.isfinite(z)) else np.nan
    except np.linalg.LinAlgError:
        stat = np.nan
    return stat, len(idx)


def interaction_tests(res, design, E_scale=None):
    """The SNP's effects and tests from a fit ``res`` (:class:`FitResults`) of the
    ``design`` (:class:`InteractionDesign`): a dict with ``add``, ``add_se``, ``var``,
    ``var_se``, ``int``/``int_se`` (arrays over E's columns), ``int_chi2``, ``int_df``,
    ``int_pval``, ``gxe_chi2``, ``gxe_pval`` and, with x·E in the variance, the same for
    ``vint`` (−log10 p-values); ``av_cov``: the covariance of add and var.

    ``E_scale``: E's columns were divided by these (z-scores): γ and δ are reported
    per unit of E's own scale (γ/s); the tests do not change."""
    cov = res.cov_params()
    est = np.r_[res.alpha, res.beta]
    p = len(res.alpha)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    scale = np.ones(len(design.int)) if E_scale is None else np.asarray(E_scale, float)
    out = {"add": est[design.add], "add_se": se[design.add],
           "var": est[p + design.var], "var_se": se[p + design.var],
           "av_cov": cov[design.add, p + design.var],
           "int": est[design.int] / scale, "int_se": se[design.int] / scale}
    out["int_chi2"], out["int_df"] = wald(est, cov, design.int)
    out["int_pval"] = neglog10_chi2(out["int_chi2"], out["int_df"])
    out["gxe_chi2"], df = wald(est, cov, [design.add] + list(design.int))
    out["gxe_pval"] = neglog10_chi2(out["gxe_chi2"], df)
    if design.vint:
        vi = [p + j for j in design.vint]
        out["vint"], out["vint_se"] = est[vi] / scale, se[vi] / scale
        out["vint_chi2"], out["vint_df"] = wald(est, cov, vi)
        out["vint_pval"] = neglog10_chi2(out["vint_chi2"], out["vint_df"])
    return out
