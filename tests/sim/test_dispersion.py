"""Dispersion effects: Huber IRLS against hand computations, statsmodels RLM, and the
original tutorial's R (MASS::rlm) analysis."""
import gzip

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from hlmm.cli.main import main
from hlmm.sim.dispersion import (DISPERSION_COLUMNS, dispersion_effects, dispersion_table,
                             genomic_control, headline_statistics, huber_regression,
                             ks_chi2_pvalue)
from hlmm.io.results_table import read_table

HEADER = ("SNP n frequency likelihood add add_se add_t add_pval var var_se var_t var_pval "
          "av_pval").split()


def _write_table(path, add, add_se, var, var_se, compress=True):
    lines = ["\t".join(HEADER)]
    for j, (a, ase, v, vse) in enumerate(zip(add, add_se, var, var_se)):
        if np.isnan(a):
            vals = ["NaN"] * 8
            lik = "nan"
            av = "nan"
        else:
            at, vt = a / ase, v / vse
            ap = -stats.chi2.logsf(at ** 2, 1) / np.log(10)
            vp = -stats.chi2.logsf(vt ** 2, 1) / np.log(10)
            vals = [repr(float(x)) for x in (a, ase, at, ap, v, vse, vt, vp)]
            lik = "-100.5"
            av = repr(float(-stats.chi2.logsf(at ** 2 + vt ** 2, 2) / np.log(10)))
        lines.append("\t".join([f"rs{j}", "1000", "0.3", lik, *vals, av]))
    text = "\n".join(lines) + "\n"
    if compress:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def _toy(rng, m=60):
    add = rng.normal(0, 0.05, m)
    add_se = rng.uniform(0.004, 0.006, m)
    var = -0.25 * add + rng.normal(0, 0.01, m)
    var[3] += 0.2  # an outlier the Huber fit downweights
    var_se = rng.uniform(0.006, 0.008, m)
    return add, add_se, var, var_se


# ------------------------------------------------------------------ Huber regression

def test_huber_hand_computed_fixed_point():
    # Five points, slope through the origin. At the fixed point b, with s = median|e|/0.6745
    # and weights w = min(1, k s/|e|), b = Σ w x y / Σ w x².
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([1.1, 1.9, 3.2, 3.9, 9.0])
    fit = huber_regression(x, y)
    b = fit.coef[0]
    e = y - b * x
    s = np.median(np.abs(e)) / 0.6745
    w = np.minimum(1.0, 1.345 * s / np.abs(e))
    assert fit.converged
    assert b == pytest.approx(np.sum(w * x * y) / np.sum(w * x * x), rel=1e-10)
    # the last point is an outlier and is downweighted; the others keep weight 1
    assert w[-1] < 1 and np.all(w[:-1] == 1)
    # By hand: the outlier contributes x5·k·s to Σ x ψ(e/s)·s = 0, the inliers x(y − bx);
    # s = |e2|/0.6745 = (2b − 1.9)/0.6745 (the median |residual|), so with
    # c = 5k/0.6745: 30.1 + c(2b − 1.9) = 30b, i.e. b = (30.1 − 1.9c)/(30 − 2c).
    c = 5 * 1.345 / 0.6745
    assert b == pytest.approx((30.1 - 1.9 * c) / (30 - 2 * c), rel=1e-10)
    assert b == pytest.approx(1.1090567, abs=1e-7)
    # least squares would be pulled up by the outlier
    assert np.sum(x * y) / np.sum(x * x) > b + 0.1


def test_huber_no_outliers_is_least_squares(rng):
    x = rng.normal(size=(200, 2))
    y = x @ np.array([0.5, -1.0]) + rng.normal(0, 0.01, 200)
    fit = huber_regression(x, y, k=100.0)  # every |e/s| < k: all weights 1
    assert np.allclose(fit.coef, np.linalg.lstsq(x, y, rcond=None)[0], rtol=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_huber_matches_statsmodels_rlm(seed):
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(seed)
    n = 300
    x = rng.normal(size=n)
    y = -0.3 * x + rng.standard_t(2, size=n) * 0.1
    mass_scale = lambda model, resid: np.median(np.abs(resid)) / 0.6745  # noqa: E731
    ref = sm.RLM(y, x[:, None], M=sm.robust.norms.HuberT(t=1.345)).fit(
        tol=1e-12, maxiter=1000, scale_est=mass_scale)
    ours = huber_regression(x, y)
    assert ours.converged
    assert ours.coef[0] == pytest.approx(ref.params[0], rel=1e-9, abs=1e-12)
    # statsmodels' own MAD uses Φ⁻¹(0.75) = 0.67449 instead of MASS's 0.6745
    ref2 = sm.RLM(y, x[:, None]).fit(tol=1e-12, maxiter=1000)
    ours2 = huber_regression(x, y, mad_constant=stats.norm.ppf(0.75))
    assert ours2.coef[0] == pytest.approx(ref2.params[0], rel=1e-9, abs=1e-12)


def test_huber_rejects_bad_input():
    with pytest.raises(ValueError):
        huber_regression([1.0, 2.0], [1.0, np.nan, 3.0])
    with pytest.raises(ValueError):
        huber_regression([1.0], [1.0])
    with pytest.raises(ValueError):
        huber_regression([1.0, 2.0, np.inf], [1.0, 2.0, 3.0])


# ------------------------------------------------------------------ dispersion effects

def test_dispersion_effects_hand_computed(rng):
    add, add_se, var, var_se = _toy(rng)
    fit = dispersion_effects(add, add_se, var, var_se)
    r = huber_regression(add, var).coef[0]
    mean_noise = np.mean(add_se ** 2)
    r_av = r * (1 + mean_noise / (np.var(add, ddof=1) - mean_noise))
    assert fit.r == pytest.approx(r, rel=1e-14)
    assert fit.r_av == pytest.approx(r_av, rel=1e-14)
    assert fit.r_av / fit.r > 1  # the attenuation correction enlarges the slope
    d = var - r_av * add
    se = np.sqrt(var_se ** 2 + r_av ** 2 * add_se ** 2)
    np.testing.assert_allclose(fit.dispersion, d, rtol=1e-12)
    np.testing.assert_allclose(fit.dispersion_se, se, rtol=1e-12)
    np.testing.assert_allclose(fit.dispersion_t, d / se, rtol=1e-12)
    np.testing.assert_allclose(fit.dispersion_pval,
                               -np.log10(stats.chi2.sf((d / se) ** 2, 1)), rtol=1e-10)
    assert np.argmax(fit.dispersion_pval) == 3


def test_dispersion_nan_rows_excluded(rng):
    add, add_se, var, var_se = _toy(rng)
    full = dispersion_effects(add[5:], add_se[5:], var[5:], var_se[5:])
    for a in (add, add_se, var, var_se):
        a[:5] = np.nan
    fit = dispersion_effects(add, add_se, var, var_se)
    assert fit.n_used == len(add) - 5
    assert np.all(np.isnan(fit.dispersion[:5])) and np.all(np.isnan(fit.dispersion_pval[:5]))
    assert fit.r == full.r
    np.testing.assert_array_equal(fit.dispersion[5:], full.dispersion)


def test_dispersion_needs_enough_snps():
    with pytest.raises(ValueError, match="at least 3"):
        dispersion_effects([0.1, np.nan], [0.01, 0.01], [0.1, 0.1], [0.01, 0.01])
    with pytest.raises(ValueError, match="does not exceed"):  # add is pure noise
        dispersion_effects([0.0, 0.001, -0.001, 0.0005], [0.1] * 4, [0.1, 0.2, 0.0, 0.1],
                           [0.01] * 4)


def test_ks_and_lambda():
    t = stats.norm.ppf(np.linspace(0.001, 0.999, 999))
    assert genomic_control(t) == pytest.approx(1.0, abs=1e-2)
    assert ks_chi2_pvalue(t) > 0.99
    assert ks_chi2_pvalue(2 * t) < 1e-10
    assert ks_chi2_pvalue(np.r_[t, np.nan]) == ks_chi2_pvalue(t)


# ------------------------------------------------------------------ the original tutorial

def test_reference_tutorial_dispersion(reference_dir):
    path = reference_dir / "tutorial" / "out_hlm.models.gz"  # plain text despite the name
    table = read_table(path)
    add, var = table.float("add"), table.float("var")
    # MASS::rlm's own stopping rule reproduces R's slope to rounding
    mass = huber_regression(add, var, tol=1e-4, maxiter=20)
    assert mass.coef[0] == pytest.approx(-0.23023013525433, rel=1e-12)
    # converged, it moves in the 6th significant digit (agrees with statsmodels)
    sm = pytest.importorskip("statsmodels.api")
    ref = sm.RLM(var, add[:, None], M=sm.robust.norms.HuberT(t=1.345)).fit(
        tol=1e-12, maxiter=1000, scale_est=lambda m, r: np.median(np.abs(r)) / 0.6745)
    table, fit = dispersion_table(path)
    assert fit.r == pytest.approx(ref.params[0], rel=1e-10)
    assert fit.r == pytest.approx(-0.23023013525433, rel=2e-5)
    assert fit.noise_adjustment == pytest.approx(1.10209958931103, rel=1e-12)
    assert fit.mean_noise == pytest.approx(3.3642440362e-05, rel=1e-10)
    assert fit.r_av == pytest.approx(-0.25373653751082, rel=2e-5)
    # null_0 as in logs/tutorial_dispersion.log: -0.0451 (SE 0.00715), -log10 p 9.55
    assert table.text["SNP"][0] == "null_0"
    assert fit.dispersion[0] == pytest.approx(-0.0450977290838248, abs=5e-6)
    assert round(fit.dispersion[0], 4) == -0.0451
    assert fit.dispersion_se[0] == pytest.approx(0.00715014150784945, rel=1e-5)
    assert round(fit.dispersion_pval[0], 2) == 9.55
    h = headline_statistics(table, fit)
    assert h["median_add_t2"] == pytest.approx(5.2315141352825, rel=1e-12)
    assert h["median_var_t2"] == pytest.approx(0.6380514080685, rel=1e-12)
    assert h["ks_var_p"] == pytest.approx(3.34959462203743e-05, rel=1e-6)
    assert h["ks_dispersion_p"] == pytest.approx(0.233947500096328, abs=1e-3)
    # the whole dispersion table of R, column by column
    rtab = read_table(reference_dir / "tutorial" / "out_hlm.dispersion.tsv")
    assert rtab.text["SNP"] == table.text["SNP"]
    for col in DISPERSION_COLUMNS:
        ours, theirs = table.float(col), rtab.float(col)
        scale = np.max(np.abs(theirs))
        np.testing.assert_allclose(ours, theirs, rtol=2e-4, atol=2e-5 * scale, err_msg=col)
    # and with R's slope, the same to R's printing precision
    exact = dispersion_effects(add, table.float("add_se"), var, table.float("var_se"),
                               tol=1e-4, maxiter=20)
    for col in DISPERSION_COLUMNS:
        np.testing.assert_allclose(getattr(exact, col), rtab.float(col), rtol=1e-11,
                                   atol=1e-13, err_msg=col)


# ------------------------------------------------------------------ the command

def test_cli_dispersion_gzip_and_nan_rows(tmp_path, rng):
    add, add_se, var, var_se = _toy(rng)
    add[[7, 9]] = np.nan
    src = _write_table(tmp_path / "scan.models.gz", add, add_se, var, var_se)
    res = CliRunner().invoke(main, ["dispersion", str(src)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "scan.dispersion.tsv"
    table = read_table(out)
    assert table.columns == HEADER + list(DISPERSION_COLUMNS)
    original = read_table(src)
    for c in HEADER:  # input columns are copied verbatim
        assert table.text[c] == original.text[c]
    d = table.float("dispersion")
    assert np.isnan(d[7]) and np.isnan(d[9]) and np.isfinite(np.delete(d, [7, 9])).all()
    assert table.text["dispersion"][7] == "NA"
    ok = np.isfinite(add)
    fit = dispersion_effects(add[ok], add_se[ok], var[ok], var_se[ok])
    np.testing.assert_allclose(d[ok], fit.dispersion, rtol=1e-12)
    np.testing.assert_allclose(table.float("dispersion_pval")[ok], fit.dispersion_pval,
                               rtol=1e-12)


def test_cli_dispersion_plain_text_and_out(tmp_path, rng):
    src = _write_table(tmp_path / "scan.models.gz", *_toy(rng), compress=False)
    res = CliRunner().invoke(main, ["dispersion", str(src), "-o", str(tmp_path / "d.tsv")])
    assert res.exit_code == 0, res.output
    assert read_table(tmp_path / "d.tsv").n_rows == 60
    assert not (tmp_path / "scan.dispersion.tsv").exists()


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("SNP\tadd\tadd_se\nrs1\t0.1\t0.01\n", "missing column"),
    ("\t".join(HEADER) + "\nrs1\t1\n", "line 2"),
])
def test_cli_dispersion_bad_input(tmp_path, content, message):
    src = tmp_path / "bad.models.gz"
    src.write_text(content)
    res = CliRunner().invoke(main, ["dispersion", str(src)])
    assert res.exit_code != 0
    assert message in res.output and "bad.models.gz" in res.output
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == [src]  # nothing written


def test_cli_dispersion_bad_output_dir(tmp_path, rng):
    src = _write_table(tmp_path / "scan.models.gz", *_toy(rng))
    res = CliRunner().invoke(main, ["dispersion", str(src), "-o",
                                    str(tmp_path / "nope" / "d.tsv")])
    assert res.exit_code != 0 and "--out" in res.output
    res = CliRunner().invoke(main, ["dispersion", str(tmp_path / "missing.gz")])
    assert res.exit_code != 0 and "missing.gz" in res.output


def test_results_table_missing_values_and_round_trip(tmp_path):
    src = tmp_path / "t.tsv"
    src.write_text("SNP\tadd\tvar\nrs1\t0.5\tNA\nrs2\tnan\t-1e-3\nrs3\tNaN\t2\n")
    t = read_table(src)
    np.testing.assert_array_equal(np.isnan(t.float("add")), [False, True, True])
    np.testing.assert_array_equal(np.isnan(t.float("var")), [True, False, False])
    t.add_column("x", [1.0, np.nan, 0.1])
    t.write(tmp_path / "u.tsv.gz")  # gzip by name; read back by content
    u = read_table(tmp_path / "u.tsv.gz")
    assert u.columns == ["SNP", "add", "var", "x"]
    assert u.text["var"] == ["NA", "-1e-3", "2"] and u.text["x"] == ["1.0", "NA", "0.1"]
    with pytest.raises(ValueError, match="column SNP, row 1"):
        u.float("SNP")


# ------------------------------------------------------------------ polygenic mean signal

def test_polygenic_signal_test_is_calibrated_and_detects_signal(rng):
    """Without mean effects p is uniform (heterogeneous SEs, few and many SNPs); mean
    effects of twice the noise variance give p far below SIGNAL_P."""
    from hlmm.sim.dispersion import SIGNAL_P, polygenic_signal

    for m in (30, 1000):
        ps = []
        for _ in range(1000):
            se = rng.uniform(0.02, 0.08, m)
            ps.append(polygenic_signal(rng.normal(0, se), se)[1])
        ps = np.array(ps)
        assert 0.03 < np.mean(ps < 0.05) < 0.07 and np.mean(ps < 0.01) < 0.02
    se = rng.uniform(0.02, 0.08, 500)
    ratio, p = polygenic_signal(rng.normal(0, np.sqrt(3) * se), se)
    assert 2.5 < ratio < 3.5 and p < SIGNAL_P


def test_no_mean_signal_refused_unless_forced(rng):
    from hlmm.sim.dispersion import NoMeanSignal

    m = 1000
    add_se = rng.uniform(0.08, 0.1, m)
    add = rng.normal(0, add_se)
    add[0] = 3.0 * add_se[0]        # var(add) just above mean(add_se²): today's trap
    var_se = rng.uniform(0.1, 0.12, m)
    var = 0.1 * add + rng.normal(0, var_se)
    with pytest.raises(NoMeanSignal, match="--force"):
        dispersion_effects(add, add_se, var, var_se)
    fit = dispersion_effects(add, add_se, var, var_se, force=True)
    assert fit.signal_p > 1e-3


def _null_scan_table(tmp_path, rng, m=400):
    add_se = rng.uniform(0.08, 0.1, m)
    add = rng.normal(0, add_se)
    # var(add) above mean(add_se²), so the old code computed an adjustment
    add *= np.sqrt(1.03 * np.mean(add_se ** 2) / np.var(add, ddof=1))
    var_se = rng.uniform(0.1, 0.12, m)
    return _write_table(tmp_path / "null.models.gz", add, add_se,
                        0.1 * add + rng.normal(0, var_se), var_se)


def test_cli_dispersion_refuses_scan_without_mean_signal(tmp_path, rng):
    src = _null_scan_table(tmp_path, rng)
    res = CliRunner().invoke(main, ["dispersion", str(src)])
    assert res.exit_code != 0
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "null.models.gz" in err
    assert "polygenic mean signal" in err and "--force" in err
    assert not (tmp_path / "null.dispersion.tsv").exists()
    res = CliRunner().invoke(main, ["dispersion", str(src), "--force"])
    assert res.exit_code == 0, res.output
    assert "WARNING: no clear polygenic mean signal" in res.stderr
    assert (tmp_path / "null.dispersion.tsv").exists()


def test_signal_criterion_on_simulated_genotypes(tmp_path):
    """The tutorial's polygenic model (10,000 individuals, 200 SNPs) passes; the same
    genotypes with the phenotype permuted (no mean effects) are refused."""
    res = CliRunner().invoke(
        main, ["tutorial", str(tmp_path / "t"), "--n", "10000", "--snps", "200"])
    assert res.exit_code == 0, res.output
    assert "WARNING" not in res.stderr
    d = tmp_path / "t"
    res = CliRunner().invoke(main, ["dispersion", str(d / "out_hlm.models.gz")])
    assert res.exit_code == 0 and "WARNING" not in res.stderr
    rows = (d / "test_phenotype.fam").read_text().splitlines()
    y = [r.split()[2] for r in rows]
    perm = np.random.default_rng(5).permutation(len(y))
    (d / "null.fam").write_text("".join(" ".join(r.split()[:2] + [y[i]]) + "\n"
                                        for r, i in zip(rows, perm)))
    res = CliRunner().invoke(main, ["chr", str(d / "test.bed"), "0", "200", str(d / "null.fam"),
                                    str(d / "null")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["dispersion", str(d / "null.models.gz")])
    assert res.exit_code != 0 and "polygenic mean signal" in res.stderr


@pytest.mark.parametrize("m", [3, 5, 12])
def test_polygenic_signal_moments_equal_the_dense_quadratic_form(rng, m):
    """Q = Σ(add_j − mean)² = aᵀCa (C = I − 11ᵀ/m) with a ~ N(0, diag(s²)):
    E[Q] = tr(CS), Var[Q] = 2·tr(CSCS) from the dense matrices, Q ≈ c·χ²_ν with that mean
    and variance; unequal SEs and small m, where the 1/m terms matter."""
    from scipy import stats

    from hlmm.sim.dispersion import polygenic_signal

    se = rng.uniform(0.02, 0.2, m)
    add = rng.normal(0, 1.5 * se)
    C = np.eye(m) - np.ones((m, m)) / m
    CS = C @ np.diag(se ** 2)
    mean_q, var_q = np.trace(CS), 2 * np.trace(CS @ CS)
    c, nu = var_q / (2 * mean_q), 2 * mean_q ** 2 / var_q
    q = add @ C @ add
    ratio, p = polygenic_signal(add, se)
    assert p == pytest.approx(stats.chi2.sf(q / c, nu), rel=1e-10)
    assert ratio == pytest.approx(q / (m - 1) / np.mean(se ** 2), rel=1e-12)
