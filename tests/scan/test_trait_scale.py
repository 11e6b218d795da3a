"""Numbers reported on the user's own scale (issue #20, items 1 and 2).

Covariate effects, intercepts included, are those of the model fitted on the raw
covariates (``HLM.fit`` is the oracle), whatever the covariates' location and scale.
Every likelihood (SNP rows, the null models in the log) is the log-density of the trait
itself, so ``2(ℓ_SNP − ℓ_null)`` is a likelihood-ratio statistic.
"""
import re

import numpy as np
import pytest
from scipy.stats import norm

from clihelp import column, read_models, run, write_bed, write_table
from hlmm import HLM


def _effects(path):
    rows = [line.split("\t") for line in open(path).read().splitlines()[1:]]
    return [r[0] for r in rows], np.array([[float(r[1]), float(r[2])] for r in rows])


def _data(rng, n=400, shift=(50.0, -2.0), scale=(3.0, 0.1)):
    C = rng.normal(size=(n, 2)) * scale + shift
    Z = (C - C.mean(0)) / C.std(0)
    y = 1.0 + Z @ [0.4, -0.3] + np.exp(0.5 * (Z @ [0.3, 0.2])) * rng.normal(size=n)
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    return ids, y, C


def _write(tmp_path, ids, y, C):
    pheno = write_table(tmp_path / "p.txt", ids, y[:, None], header=["y"])
    cov = write_table(tmp_path / "c.txt", ids, C, header=["c1", "c2"])
    return pheno, cov


@pytest.mark.parametrize("shift", [(0.0, 0.0), (50.0, -2.0), (-1e3, 7.0)])
def test_fit_covariate_effects_equal_the_raw_covariate_fit(rng, tmp_path, shift):
    ids, y, C = _data(rng, shift=shift)
    pheno, cov = _write(tmp_path, ids, y, C)
    out = run(["fit", pheno, tmp_path / "f", "--mean-covar", cov, "--var-covar", cov]).output
    D = np.column_stack([np.ones(len(y)), C])
    ref = HLM(y, D, D).fit()
    names, mean = _effects(tmp_path / "f.mean_effects.txt")
    _, var = _effects(tmp_path / "f.variance_effects.txt")
    assert names == ["Intercept", "c1", "c2"]
    np.testing.assert_allclose(mean[:, 0], ref.alpha, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(mean[:, 1], ref.alpha_se, rtol=1e-7)
    np.testing.assert_allclose(var[:, 0], ref.beta, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(var[:, 1], ref.beta_se, rtol=1e-7)
    # the printed own-scale table too, and the z-scored one says it is z-scored
    assert "z-scored" in out.split("\n")[0]
    line = [ln for ln in out.splitlines() if "mean" in ln and "Intercept" in ln][-1]
    assert float(line.split()[2]) == pytest.approx(ref.alpha[0], rel=1e-5, abs=1e-9)


def test_chr_null_effects_on_the_covariates_own_scale(rng, tmp_path):
    ids, y, C = _data(rng)
    pheno, cov = _write(tmp_path, ids, y, C)
    g = rng.binomial(2, 0.3, size=(len(y), 3)).astype(float)
    bed = write_bed(tmp_path / "g", g, fid=[i[0] for i in ids], iid=[i[1] for i in ids])
    run(["chr", bed, 0, 3, pheno, tmp_path / "o", "--mean-covar", cov, "--var-covar", cov])
    D = np.column_stack([np.ones(len(y)), C])
    ref = HLM(y, D, D).fit()
    _, mean = _effects(tmp_path / "o.null_mean_effects.txt")
    _, var = _effects(tmp_path / "o.null_variance_effects.txt")
    np.testing.assert_allclose(mean, np.column_stack([ref.alpha, ref.alpha_se]), rtol=1e-7)
    np.testing.assert_allclose(var, np.column_stack([ref.beta, ref.beta_se]), rtol=1e-7)
    log = open(tmp_path / "o.log").read()
    m = re.search(r"null mean effect Intercept: (\S+) \(SE (\S+)\)", log)
    assert float(m.group(1)) == pytest.approx(ref.alpha[0], rel=1e-7)
    m = re.search(r"Null HLM: log-likelihood (\S+),", log)
    assert float(m.group(1)) == pytest.approx(ref.loglik, rel=1e-10)


def test_fit_hlmm_covariate_effects_equal_the_raw_covariate_fit(rng, tmp_path):
    """With random effects: the own-scale effects are those of ``HLMM.fit`` on the raw
    covariates (the random-effects design standardised as DESIGN.md §4 says)."""
    from hlmm import HLMM

    n, l = 300, 20
    ids, y, C = _data(rng, n=n)
    R = rng.binomial(2, 0.4, size=(n, l)).astype(float)
    bed = write_bed(tmp_path / "r", R, fid=[i[0] for i in ids], iid=[i[1] for i in ids])
    pheno, cov = _write(tmp_path, ids, y, C)
    run(["fit", pheno, tmp_path / "h", "--mean-covar", cov, "--var-covar", cov,
         "--random-gts", bed])
    G = (R - R.mean(0)) / R.std(0) / np.sqrt(l)
    D = np.column_stack([np.ones(n), C])
    ref = HLMM(y, D, D, G).fit()
    _, mean = _effects(tmp_path / "h.mean_effects.txt")
    _, var = _effects(tmp_path / "h.variance_effects.txt")
    np.testing.assert_allclose(mean, np.column_stack([ref.alpha, ref.alpha_se]), rtol=1e-5)
    np.testing.assert_allclose(var, np.column_stack([ref.beta, ref.beta_se]), rtol=1e-5)


def _scan(tmp_path, rng, extra, n=500, m=6, missing=True, vcov=True):
    ids, y, C = _data(rng, n=n)
    pheno, cov = _write(tmp_path, ids, y, C)
    g = rng.binomial(2, 0.35, size=(n, m)).astype(float)
    if missing:
        g[rng.random((n, m)) < 0.03] = np.nan       # 3 % missing calls, under --max-missing 5
    bed = write_bed(tmp_path / "g", g, fid=[i[0] for i in ids], iid=[i[1] for i in ids])
    args = ["chr", bed, 0, m, pheno, tmp_path / "o", "--mean-covar", cov] + (
        ["--var-covar", cov] if vcov else []) + extra
    run(args)
    h, rows = read_models(tmp_path / "o.models.gz")
    log = open(tmp_path / "o.log").read()
    null = float(re.search(r"Null HLM: log-likelihood (\S+),", log).group(1))
    return y, C, g, column(h, rows, "likelihood"), null


def _full_loglik(y, X, V, x):
    ok = ~np.isnan(x)
    xc = x[ok] - x[ok].mean()
    return HLM(y[ok], np.column_stack([X[ok], xc]), np.column_stack([V[ok], xc])).fit().loglik


def test_fit_covariates_rows_give_likelihood_ratios(rng, tmp_path):
    """--fit-covariates: 2(ℓ_SNP − ℓ_null) is the likelihood-ratio statistic of the full
    models (SNPs without missing calls, so that both are fitted on the same people)."""
    y, C, g, ll, null = _scan(tmp_path, rng, ["--fit-covariates"], missing=False)
    D = np.column_stack([np.ones(len(y)), C])
    ref_null = HLM(y, D, D).fit().loglik
    assert null == pytest.approx(ref_null, rel=1e-10)
    for j in range(g.shape[1]):
        lr = 2 * (_full_loglik(y, D, D, g[:, j]) - ref_null)
        assert 2 * (ll[j] - null) == pytest.approx(lr, rel=1e-6, abs=1e-6)
        assert lr >= 0


@pytest.mark.parametrize("vcov", [True, False])
@pytest.mark.parametrize("engine", ["auto", "general"])
def test_default_mode_likelihood_is_on_the_trait_scale(rng, tmp_path, vcov, engine):
    """Default mode: the SNP model is fitted to e = (y − Xα̂)/σ_i; its row is
    ℓ(e) − Σ_called log σ_i, the log-density of y under the fitted model, so on a SNP
    without missing calls ℓ_SNP ≥ ℓ_null, and 2(ℓ_SNP − ℓ_null) = 2(ℓ_e,SNP − ℓ_e(0, 1))."""
    y, C, g, ll, null = _scan(tmp_path, rng, ["--engine", engine], vcov=vcov)
    D = np.column_stack([np.ones(len(y)), C])
    V = D if vcov else D[:, :1]
    fit0 = HLM(y, D, V).fit()
    assert null == pytest.approx(fit0.loglik, rel=1e-10)
    log_sd = 0.5 * (V @ fit0.beta)
    e = (y - D @ fit0.alpha) / np.exp(log_sd)
    one = np.ones((len(y), 1))
    for j in range(g.shape[1]):
        ok = ~np.isnan(g[:, j])
        assert ok.sum() < len(y)            # each SNP has missing calls
        want = _full_loglik(e, one, one, g[:, j]) - log_sd[ok].sum()
        assert ll[j] == pytest.approx(want, rel=1e-9)
    # the same SNPs with every call: never below the null
    ok_all = np.isfinite(ll)
    assert ok_all.all()
    full = [_full_loglik(e, one, one, np.nan_to_num(g[:, j], nan=1.0)) - log_sd.sum()
            for j in range(g.shape[1])]
    e_null = norm.logpdf(e).sum() - log_sd.sum()
    assert e_null == pytest.approx(null, rel=1e-9)
    assert min(full) >= null - 1e-9


def test_hlmm_null_likelihood_on_the_trait_scale(rng, tmp_path):
    """The log's null HLMM log-likelihood is that of y (default mode: of the standardised
    trait plus the Jacobian), comparable with the null HLM's: never below it, since the
    HLMM nests the HLM at h2 = 0."""
    n = 300
    ids, y, C = _data(rng, n=n)
    pheno, cov = _write(tmp_path, ids, y, C)
    fids, iids = [i[0] for i in ids], [i[1] for i in ids]
    R = rng.binomial(2, 0.4, size=(n, 30)).astype(float)
    rbed = write_bed(tmp_path / "r", R, fid=fids, iid=iids)
    bed = write_bed(tmp_path / "g", rng.binomial(2, 0.3, size=(n, 2)).astype(float),
                    fid=fids, iid=iids)
    run(["chr", bed, 0, 2, pheno, tmp_path / "o", "--mean-covar", cov, "--var-covar", cov,
         "--random-gts", rbed])
    log = open(tmp_path / "o.log").read()
    null = float(re.search(r"Null HLM: log-likelihood (\S+),", log).group(1))
    hl = float(re.search(r"Null h2: .*log-likelihood (\S+)", log).group(1))
    assert hl >= null - 1e-9
    assert hl - null < 20          # the same scale: the difference is a modest LR


def test_hlmm_rows_on_the_trait_scale(rng, tmp_path):
    """The HLMM class engine's rows: ℓ of the standardised trait's HLMM (the dense
    ``HLMM.fit`` as oracle, at the scan's h2 start) minus Σ_called log σ_i."""
    from hlmm import HLMM

    n, l, m = 240, 12, 3
    ids, y, C = _data(rng, n=n)
    R = rng.binomial(2, 0.4, size=(n, l)).astype(float)
    G = (R - R.mean(0)) / R.std(0) / np.sqrt(l)
    y = y + G @ rng.normal(size=l)            # h2 well inside (0, 1): no boundary
    pheno, cov = _write(tmp_path, ids, y, C)
    fids, iids = [i[0] for i in ids], [i[1] for i in ids]
    rbed = write_bed(tmp_path / "r", R, fid=fids, iid=iids)
    g = rng.binomial(2, 0.35, size=(n, m)).astype(float)
    g[rng.random((n, m)) < 0.03] = np.nan
    bed = write_bed(tmp_path / "g", g, fid=fids, iid=iids)
    run(["chr", bed, 0, m, pheno, tmp_path / "o", "--mean-covar", cov, "--var-covar", cov,
         "--random-gts", rbed])
    h, rows = read_models(tmp_path / "o.models.gz")
    ll = column(h, rows, "likelihood")
    D = np.column_stack([np.ones(n), C])
    fit0 = HLM(y, D, D).fit()
    log_sd = 0.5 * (D @ fit0.beta)
    e = (y - D @ fit0.alpha) / np.exp(log_sd)
    for j in range(m):
        ok = ~np.isnan(g[:, j])
        xc = g[ok, j] - g[ok, j].mean()
        X = np.column_stack([np.ones(ok.sum()), xc])
        want = HLMM(e[ok], X, X, G[ok]).fit().loglik - log_sd[ok].sum()
        assert ll[j] == pytest.approx(want, rel=1e-7)


@pytest.mark.parametrize("values, warned", [((0.0, 1.0), True), ((1.0, 2.0), True),
                                            ((0.0, 1.0, 2.0), False), (None, False)])
def test_binary_trait_is_warned_about(rng, tmp_path, values, warned):
    """A two-valued phenotype's variance is fixed by its mean: warned about, with the
    word "binary", on stderr and in the log (hlmm chr and hlmm fit)."""
    n = 300
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    y = rng.normal(size=n) if values is None else rng.choice(values, size=n)
    pheno = write_table(tmp_path / "p.txt", ids, y[:, None], header=["y"])
    g = rng.binomial(2, 0.3, size=(n, 2)).astype(float)
    bed = write_bed(tmp_path / "g", g, fid=[i[0] for i in ids], iid=[i[1] for i in ids])
    r = run(["chr", bed, 0, 2, pheno, tmp_path / "o"])
    # ("is binary": the test's own tmp_path holds the word too)
    assert ("is binary" in r.stderr) == warned
    assert ("is binary" in open(tmp_path / "o.log").read()) == warned
    r = run(["fit", pheno, tmp_path / "f"])
    assert ("is binary" in r.stderr) == warned
    assert ("is binary" in open(tmp_path / "f.log").read()) == warned


def test_binary_phenotypes_of_a_many_phenotype_run_are_named(rng, tmp_path):
    n = 300
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    Y = np.column_stack([rng.normal(size=n), rng.integers(0, 2, size=n) + 1.0])
    pheno = write_table(tmp_path / "p.txt", ids, Y, header=["q", "case"])
    g = rng.binomial(2, 0.3, size=(n, 2)).astype(float)
    bed = write_bed(tmp_path / "g", g, fid=[i[0] for i in ids], iid=[i[1] for i in ids])
    r = run(["chr", bed, 0, 2, pheno, tmp_path / "o", "--all-pheno"])
    line = [ln for ln in r.stderr.splitlines() if "are binary" in ln]
    assert len(line) == 1 and "1 of 2" in line[0] and "case" in line[0]
    assert "'case' is binary" in open(tmp_path / "o.log").read()
    assert "'q' is binary" not in open(tmp_path / "o.log").read()
