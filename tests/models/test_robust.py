"""Robust (sandwich) standard errors: HLM and HLMM against per-individual scores from
numerical derivatives and dense formulas, Monte Carlo SDs of the estimates on a
heavy-tailed trait, the class engines against the general path, the class power-sum
kernel, the joint test and the kurtosis warning."""
import numpy as np
import pytest

from clihelp import column, read_models, run, write_bed, write_table
from hlmm import HLM, HLMM
from hlmm.models import robust as R
from hlmm._core import _bed
from hlmm.io.output import neglog10_pval
from hlmm.scan.class_engines import HLMClassScan, HLMMClassScan

LOG2PI = np.log(2 * np.pi)


def _design(rng, n, p, q):
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])
    V = np.column_stack([np.ones(n), rng.standard_normal((n, q - 1))])
    return X, V


def _logdens(y, x, v, theta, p):
    """log N(y; xᵀα, exp(vᵀβ)) for one individual, vectorised over leading axes."""
    a, b = theta[..., :p], theta[..., p:]
    eta = (v * b).sum(-1)
    r = y - (x * a).sum(-1)
    return -0.5 * (LOG2PI + eta + r * r * np.exp(-eta))


def _scores(y, X, V, theta, h=1e-5):
    """Per-individual scores ∂ log f(y_i)/∂θ by central differences (n × (p+q))."""
    p = X.shape[1]
    S = np.empty((y.shape[0], theta.size))
    for j in range(theta.size):
        dt = np.zeros_like(theta)
        dt[j] = h
        S[:, j] = (_logdens(y, X, V, theta + dt, p) - _logdens(y, X, V, theta - dt, p)) / (2 * h)
    return S


def _expected_info(X, V, beta):
    w = np.exp(-(V @ beta))
    p, q = X.shape[1], V.shape[1]
    info = np.zeros((p + q, p + q))
    info[:p, :p] = (X * w[:, None]).T @ X
    info[p:, p:] = 0.5 * V.T @ V
    return info


@pytest.mark.parametrize("p,q", [(1, 1), (2, 2), (3, 2)])
def test_hlm_hc0_is_the_sandwich_of_numerical_scores(rng, p, q):
    n = 120
    X, V = _design(rng, n, p, q)
    y = X @ rng.normal(0, 1, p) + np.exp(0.5 * V @ rng.normal(0, 0.3, q)) * rng.standard_t(4, n)
    res = HLM(y, X, V).fit(robust="hc0")
    theta = np.concatenate([res.alpha, res.beta])
    S = _scores(y, X, V, theta)
    assert np.abs(S.sum(0)).max() < 1e-5 * n          # scores vanish at the MLE
    Iinv = np.linalg.inv(_expected_info(X, V, res.beta))
    oracle = Iinv @ (S.T @ S) @ Iinv
    np.testing.assert_allclose(res.cov_params(), oracle, rtol=1e-6, atol=1e-12)
    assert res.cov_type == "robust (hc0)"


@pytest.mark.parametrize("p,q", [(1, 1), (2, 2)])
def test_hlm_pooled_is_the_sandwich_over_all_residual_pairings(rng, p, q):
    """Pooled meat = the HC0 meat averaged over every pairing of an individual's design
    with another individual's standardised residual (the i.i.d.-shape assumption)."""
    n = 50
    X, V = _design(rng, n, p, q)
    y = X @ rng.normal(0, 1, p) + np.exp(0.5 * V @ rng.normal(0, 0.3, q)) * rng.chisquare(3, n)
    res = HLM(y, X, V).fit(robust=True)
    theta = np.concatenate([res.alpha, res.beta])
    e = (y - X @ res.alpha) * np.exp(-0.5 * V @ res.beta)
    meat = np.zeros((p + q, p + q))
    for j in range(n):       # individual i with residual e_j: y_ij = x_iᵀα + √d_i·e_j
        yj = X @ res.alpha + np.exp(0.5 * V @ res.beta) * e[j]
        S = _scores(yj, X, V, theta)
        meat += S.T @ S / n
    Iinv = np.linalg.inv(_expected_info(X, V, res.beta))
    np.testing.assert_allclose(res.cov_params(), Iinv @ meat @ Iinv, rtol=1e-6, atol=1e-12)
    # the HLM is the c̄ = 1 case of the mixed model's C + CΔC form
    m2, m3, m4 = R.pooled_moments(e)
    w = np.exp(-V @ res.beta)
    D = R.pooled_excess(m2, m3, m4, 1.0, (X * w[:, None]).T @ X,
                        (X * np.sqrt(w)[:, None]).T @ V, V.T @ V)
    C = np.linalg.inv(_expected_info(X, V, res.beta))
    np.testing.assert_allclose(R.with_excess(C, D), res.cov_params(), rtol=1e-9, atol=1e-14)


def test_hlm_robust_se_matches_monte_carlo_sd_on_t5(rng):
    """The robust SE of the variance slope is the SD of its estimate over replicates
    (t(5) residuals); HLM.fit's model-based SE of the same fits is far too small (it
    assumes normal residuals: kurtosis 3, not t(5)'s 9)."""
    n, reps = 1000, 300
    X, V = _design(rng, n, 2, 2)
    est, rob, mod = [], [], []
    scale = np.sqrt(3.0 / 5.0)           # t(5) has variance 5/3
    for _ in range(reps):
        y = X @ [0.3, 0.2] + np.exp(0.5 * V @ [0.1, 0.25]) * scale * rng.standard_t(5, n)
        r = HLM(y, X, V).fit(robust=True)
        r0 = HLM(y, X, V).fit()
        assert r0.beta[1] == pytest.approx(r.beta[1], rel=1e-10)    # the same estimate
        est.append(r.beta[1])
        rob.append(r.beta_se[1])
        mod.append(r0.beta_se[1])
    sd = np.std(est)
    assert np.mean(rob) == pytest.approx(sd, rel=0.12)
    # the model-based SE is the normal theory's: var(β̂) = 2·[(VᵀV)⁻¹]₁₁ (as if kurtosis 3)
    assert np.mean(mod) == pytest.approx(np.sqrt(2 * np.linalg.inv(V.T @ V)[1, 1]), rel=0.02)
    assert np.mean(mod) < 0.75 * sd
    # with kurtosis κ the sandwich is ≈ (κ − 1)/2 times the model-based variance: t(5)'s
    # κ = 9 makes it ≈ 4 times (sample kurtosis falls short of 9 at n = 1000)
    assert 2.0 < np.mean(np.square(rob)) / np.mean(np.square(mod)) < 4.5


def test_hlm_robust_close_to_model_based_on_normal_data(rng):
    n = 20000
    X, V = _design(rng, n, 2, 2)
    y = X @ [0.3, 0.2] + np.exp(0.5 * V @ [0.1, 0.25]) * rng.standard_normal(n)
    r0, r1 = HLM(y, X, V).fit(), HLM(y, X, V).fit(robust=True)
    np.testing.assert_allclose(r1.bse, r0.bse, rtol=0.05)


def test_robust_argument_checked(rng):
    X, V = _design(rng, 50, 1, 1)
    y = rng.standard_normal(50)
    with pytest.raises(ValueError, match="robust"):
        HLM(y, X, V).fit(robust="hc3")
    G = rng.standard_normal((50, 5)) / np.sqrt(5)
    with pytest.raises(ValueError, match="pooled"):
        HLMM(y, X, V, G).fit(robust="hc0")


# --- HLMM ------------------------------------------------------------------------------
def test_hlmm_robust_matches_dense_formulas(rng):
    n, l = 300, 12
    X, V = _design(rng, n, 2, 2)
    G = rng.standard_normal((n, l)) / np.sqrt(l)
    y = (X @ [0.5, 0.3] + G @ rng.standard_normal(l) * 0.6
         + np.exp(0.5 * V @ [0.0, 0.3]) * rng.standard_t(5, n))
    res = HLMM(y, X, V, G).fit(h2_init=0.2, robust=True)
    base = HLMM(y, X, V, G).fit(h2_init=0.2)
    a, b, h2 = res.alpha, res.beta, res.h2
    d = np.exp(V @ b)
    Si = np.linalg.inv(np.diag(d) + h2 * G @ G.T)        # dense n × n, independent
    et = np.sqrt(d) * (Si @ (y - X @ a))
    cbar = np.mean(d * np.diag(Si))
    u = et / np.sqrt(cbar)
    m2, m3, m4 = np.mean(u ** 2), np.mean(u * (u ** 2 - 1)), np.mean((u ** 2 - 1) ** 2)
    w = 1 / d
    p = 2
    D = np.zeros((4, 4))
    D[:p, :p] = (m2 - 1) * cbar * (X.T * w) @ X
    D[:p, p:] = 0.5 * m3 * cbar ** 1.5 * (X.T * np.sqrt(w)) @ V
    D[p:, :p] = D[:p, p:].T
    D[p:, p:] = 0.25 * (m4 - 2) * cbar ** 2 * V.T @ V
    C = base.cov_params()
    oracle = C + C[:, :4] @ D @ C[:4, :]
    np.testing.assert_allclose(res.cov_params(), oracle, rtol=1e-7)
    assert res.beta_se[1] > 1.1 * base.beta_se[1]        # heavy tails: wider
    assert res.cov_type == "robust (pooled)"


def test_hlmm_class_engine_robust_equals_general(rng):
    n, l = 500, 25
    G = rng.standard_normal((n, l)) / np.sqrt(l)
    y = rng.lognormal(0, 0.6, n) + G @ rng.standard_normal(l) * 0.4
    y = (y - y.mean()) / y.std()
    g = rng.binomial(2, 0.25, n).astype(float)
    g[rng.random(n) < 0.02] = np.nan
    codes = np.where(np.isnan(g), -1, g).astype(np.int8)
    ok = ~np.isnan(g)
    x = g[ok] - g[ok].mean()
    X = np.column_stack([np.ones(ok.sum()), x])
    gen = HLMM(y[ok], X, X, G[ok]).fit(h2_init=0.1, h2_min=1e-5, robust=True)
    cls = HLMMClassScan(y, G, 0.1, robust=True).fit_snp(codes)
    assert cls["ok"]
    assert cls["add_se"] == pytest.approx(gen.alpha_se[1], rel=1e-6)
    assert cls["var_se"] == pytest.approx(gen.beta_se[1], rel=1e-6)
    assert cls["av_cov"] == pytest.approx(gen.cov_params()[1, 3], rel=1e-5, abs=1e-12)


# --- class power sums and the HLM class engine ----------------------------------------
@pytest.mark.parametrize("count_a1", [True, False])
def test_class_moments_kernel_matches_decoded_codes(rng, count_a1):
    n_fam, m = 1003, 17
    packed = rng.integers(0, 256, size=(m, (n_fam + 3) // 4), dtype=np.uint8)
    idx = rng.permutation(n_fam)[:850].astype(np.intp)
    y = rng.standard_normal(850)
    tables, members = _bed.subset_tables(idx, y, n_fam, 4)
    out = np.empty((m, 15))
    _bed.class_moments_tabled(packed, tables, members, count_a1, out)
    codes = np.empty((m, 850), dtype=np.int8)
    _bed.decode_codes(packed, idx, count_a1, codes)
    for k in range(3):
        for j in range(5):
            np.testing.assert_allclose(out[:, 5 * k + j], ((codes == k) * y ** j).sum(1),
                                       rtol=1e-12, atol=1e-9)
    with pytest.raises(ValueError, match="n_powers=4"):
        _bed.class_moments_tabled(packed, *_bed.subset_tables(idx, y, n_fam), count_a1, out)


@pytest.mark.parametrize("kind", ["pooled", "hc0"])
def test_hlm_class_engine_robust_equals_hlm_fit(rng, kind):
    n = 1501
    y = rng.chisquare(4, n)
    y = (y - y.mean()) / y.std()
    for maf in (0.01, 0.1, 0.4):
        g = rng.binomial(2, maf, n).astype(float)
        g[rng.random(n) < 0.01] = np.nan
        codes = np.where(np.isnan(g), -1, g)
        P = np.array([[((codes == k) * y ** j).sum() for k in range(3) for j in range(5)]])
        cls = HLMClassScan(y).fit_block_robust(P, kind)
        ok = ~np.isnan(g)
        x = g[ok] - g[ok].mean()
        X = np.column_stack([np.ones(ok.sum()), x])
        gen = HLM(y[ok], X, X).fit(robust=kind)
        assert cls["ok"][0]
        assert cls["add_se"][0] == pytest.approx(gen.alpha_se[1], rel=1e-9)
        assert cls["var_se"][0] == pytest.approx(gen.beta_se[1], rel=1e-9)
        assert cls["av_cov"][0] == pytest.approx(gen.cov_params()[1, 3], rel=1e-7, abs=1e-15)


# --- the scan ---------------------------------------------------------------------------
@pytest.fixture
def heavy(tmp_path, rng):
    n, m = 1500, 30
    f = rng.uniform(0.02, 0.5, m)
    dos = rng.binomial(2, f, size=(n, m)).astype(float)
    dos[rng.random((n, m)) < 0.01] = np.nan
    bed = write_bed(tmp_path / "g", dos)
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    y = rng.standard_t(4, n) + 0.2 * np.nan_to_num(dos[:, 0])
    pheno = write_table(tmp_path / "p.txt", ids, y[:, None])
    covar = write_table(tmp_path / "c.txt", ids, rng.standard_normal((n, 1)))
    G = rng.binomial(2, 0.3, size=(n, 20)).astype(float)
    rbed = write_bed(tmp_path / "r", G)
    return {"bed": bed, "pheno": pheno, "covar": covar, "rbed": rbed, "m": m,
            "out": tmp_path / "out", "n": n}


def _table(prefix):
    h, rows = read_models(str(prefix) + ".models.gz")
    return {c: column(h, rows, c) for c in ("add", "add_se", "var", "var_se", "var_pval",
                                            "av_pval", "n")}


@pytest.mark.parametrize("extra", [[], ["--robust-estimator", "hc0"]])
def test_scan_robust_class_engine_equals_general_path(heavy, extra):
    d = heavy
    run(["chr", d["bed"], 0, d["m"], d["pheno"], str(d["out"]) + "a", "--robust", *extra])
    run(["chr", d["bed"], 0, d["m"], d["pheno"], str(d["out"]) + "b", "--robust", *extra,
         "--engine", "general"])
    a, b = _table(str(d["out"]) + "a"), _table(str(d["out"]) + "b")
    for c in a:
        np.testing.assert_allclose(a[c], b[c], rtol=2e-5, atol=2e-6, equal_nan=True)
    base = _table_run(d, "base")
    assert np.nanmedian(a["var_se"] / base["var_se"]) > 1.3     # t(4): wider


def _table_run(d, name, *extra):
    run(["chr", d["bed"], 0, d["m"], d["pheno"], str(d["out"]) + name, *extra])
    return _table(str(d["out"]) + name)


def test_scan_robust_joint_test_uses_the_covariance(heavy):
    """av_pval with --robust is the Wald χ²₂ of (add, var) with their robust covariance
    (correlated through skewness), checked against HLM.fit on the SNP's data."""
    d = heavy
    rng = np.random.default_rng(7)
    n = d["n"]
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    y = rng.lognormal(0, 0.8, n)
    pheno = write_table(str(d["out"]) + "_skew.txt", ids, y[:, None])
    run(["chr", d["bed"], 0, d["m"], pheno, str(d["out"]) + "sk", "--robust"])
    t = _table(str(d["out"]) + "sk")
    import bed_reader
    dos = bed_reader.open_bed(d["bed"]).read()
    j = 3
    ok = ~np.isnan(dos[:, j])
    null = HLM(y, np.ones((n, 1)), np.ones((n, 1))).fit()
    ys = (y - null.alpha[0]) * np.exp(-0.5 * null.beta[0])
    x = dos[ok, j] - dos[ok, j].mean()
    X = np.column_stack([np.ones(ok.sum()), x])
    r = HLM(ys[ok], X, X).fit(robust=True)
    th = np.array([r.alpha[1], r.beta[1]])
    C = r.cov_params()[np.ix_([1, 3], [1, 3])]
    wald = th @ np.linalg.solve(C, th)
    assert t["av_pval"][j] == pytest.approx(neglog10_pval(wald, 2), rel=1e-4, abs=1e-5)
    assert abs(C[0, 1]) / np.sqrt(C[0, 0] * C[1, 1]) > 0.05    # skewness correlates them


def test_scan_robust_hlmm_class_engine_equals_general(heavy):
    d = heavy
    args = ["chr", d["bed"], 0, 6, d["pheno"]]
    run(args + [str(d["out"]) + "ma", "--robust", "--random-gts", d["rbed"]])
    run(args + [str(d["out"]) + "mb", "--robust", "--random-gts", d["rbed"], "--engine",
                "general"])
    a, b = _table(str(d["out"]) + "ma"), _table(str(d["out"]) + "mb")
    for c in a:
        # h2 ≥ 1e-5 in the class engine, ≥ 0 in the general one: estimates near the
        # boundary differ in the 6th digit
        np.testing.assert_allclose(a[c], b[c], rtol=1e-4, atol=1e-5, equal_nan=True)
    log = (d["out"].parent / "outma.log").read_text()
    assert "Standard errors: robust" in log


def test_hlmm_hc0_refused_in_scan(heavy):
    d = heavy
    res = run(["chr", d["bed"], 0, 3, d["pheno"], str(d["out"]) + "x", "--robust",
               "--robust-estimator", "hc0", "--random-gts", d["rbed"]], expect_ok=False)
    assert res.exit_code != 0 and "only 'pooled'" in res.output


def test_kurtosis_warning(heavy, tmp_path):
    """t(4) residuals (kurtosis far above 3): the warning says the model-based variance
    tests are inflated, with κ and λ = (κ − 1)/2 of the residuals; none with --robust or
    a normal trait.  (The threshold itself: tests/scan/test_kurtosis_warning.py.)"""
    import re

    from scipy import stats

    d = heavy
    res = run(["chr", d["bed"], 0, 3, d["pheno"], tmp_path / "w"])
    y = np.loadtxt(d["pheno"], usecols=2)
    kappa = stats.kurtosis(y, fisher=False)
    assert kappa > 3.5
    warned = [ln for ln in res.output.splitlines() if "the kurtosis of" in ln]
    assert len(warned) == 1
    m = re.search(r"is ([0-9.]+) \(3 for a normal trait\): model-based variance tests are "
                  r"inflated, about λ = ([0-9.]+); use --robust", warned[0])
    assert m, warned[0]
    assert float(m.group(1)) == pytest.approx(kappa, rel=5e-3)
    assert float(m.group(2)) == pytest.approx((kappa - 1) / 2, abs=0.006)
    log = (tmp_path / "w.log").read_text()
    assert warned[0].removeprefix("hlmm: ") in log and "Standard errors: model-based" in log
    res = run(["chr", d["bed"], 0, 3, d["pheno"], tmp_path / "wr", "--robust"])
    assert "the kurtosis of" not in res.output
    rng = np.random.default_rng(3)
    ids = [(f"f{i}", f"i{i}") for i in range(d["n"])]
    normal = write_table(tmp_path / "normal.txt", ids, rng.standard_normal((d["n"], 1)))
    res = run(["chr", d["bed"], 0, 3, normal, tmp_path / "wn"])
    assert "the kurtosis of" not in res.output
    assert "warning: the kurtosis" not in (tmp_path / "wn.log").read_text()


def test_hlmm_fit_robust_cli(heavy, tmp_path):
    d = heavy
    run(["fit", d["pheno"], tmp_path / "f", "--var-covar", d["covar"], "--robust"])
    text = (tmp_path / "f.variance_effects.txt").read_text().splitlines()
    se_cli = float(text[1].split("\t")[2])
    import hlmm.io.tables as T
    y = T.read_table(d["pheno"]).values[:, 0]
    c = T.read_table(d["covar"]).values[:, 0]
    n = y.shape[0]
    # the file's intercept is on the covariate's own scale: the fit on the raw covariate
    V = np.column_stack([np.ones(n), c])
    r = HLM(y, np.ones((n, 1)), V).fit(robust=True)
    assert se_cli == pytest.approx(r.beta_se[0], rel=1e-8)
    assert "Standard errors: robust" in (tmp_path / "f.log").read_text()
