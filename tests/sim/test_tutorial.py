"""``hlmm tutorial`` end to end at a small size: its files, its printed statistics
recomputed independently from them, and what its figures show."""
import gzip
import re

import numpy as np
import pytest
from click.testing import CliRunner

from hlmm.cli.main import main
from hlmm.sim.dispersion import dispersion_table, headline_statistics
from hlmm.io.results_table import read_table

pytest.importorskip("hlmm.cli.chr", reason="the tutorial runs `hlmm chr`")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _headline_number(text, label):
    m = re.search(re.escape(label) + r"[^0-9-]*(-?[0-9.]+(?:e-?[0-9]+)?)", text)
    assert m, f"{label!r} not in output:\n{text}"
    return float(m.group(1))


def _content(fig):
    """What a figure shows, per axes: the points of each scatter, the axis ranges, the
    lines' data and the legend's texts."""
    axes = []
    for ax in fig.axes:
        legend = ax.get_legend()
        axes.append({
            "points": [np.asarray(c.get_offsets(), dtype=float) for c in ax.collections
                       if type(c).__name__ == "PathCollection"],
            "xlim": ax.get_xlim(), "ylim": ax.get_ylim(),
            "lines": [np.asarray(ln.get_xydata(), dtype=float) for ln in ax.get_lines()],
            "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
            "texts": [t.get_text() for t in ax.texts],
        })
    return axes


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The tutorial at a small size; the content of each figure it draws is recorded
    (by kind: qq, manhattan, add_var) as it is written."""
    import hlmm.plots as plots

    d = tmp_path_factory.mktemp("tutorial")
    figures = {}
    real = plots._write_figures

    def record(figs):
        for fig, path in figs:
            figures[path.rsplit(".", 2)[-2]] = _content(fig)
        return real(figs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "_write_figures", record)
        res = CliRunner().invoke(main, ["tutorial", str(d), "--n", "2000", "--snps", "30",
                                        "--random-snps", "30", "--seed", "3"])
    res.figures = figures
    return d, res


def test_tutorial_runs(run):
    d, res = run
    assert res.exit_code == 0, res.output
    for name in ("test.bed", "test.bim", "test.fam", "random.bed", "random.bim",
                 "random.fam", "test_phenotype.fam", "out_hlm.models.gz",
                 "out_hlm.dispersion.tsv"):
        assert (d / name).is_file() and (d / name).stat().st_size > 0, name
    for kind in ("qq", "manhattan", "add_var"):
        png = d / f"out_hlm.{kind}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000
    assert not list(d.glob(".tmp*")) and not list(d.glob("*.part"))
    assert "[hlmm tutorial] step 5/5" in res.stderr  # progress on stderr


def test_tutorial_outputs(run):
    d, res = run
    assert res.exit_code == 0, res.output
    with gzip.open(d / "out_hlm.models.gz", "rt") as fh:
        header = fh.readline().split()
    assert header[:13] == ("SNP n frequency likelihood add add_se add_t add_pval var var_se "
                           "var_t var_pval av_pval").split()
    scan = read_table(d / "out_hlm.models.gz")
    assert scan.n_rows == 30 and scan.text["SNP"][0] == "null_0"
    assert set(scan.text["n"]) == {"2000"}
    disp = read_table(d / "out_hlm.dispersion.tsv")
    assert disp.columns[-4:] == ["dispersion", "dispersion_se", "dispersion_t",
                                 "dispersion_pval"]
    table, fit = dispersion_table(d / "out_hlm.models.gz")
    np.testing.assert_allclose(disp.float("dispersion"), fit.dispersion, rtol=1e-12)
    # the headline statistics printed on stdout are those of the files
    h = headline_statistics(table, fit)
    out = res.stdout
    assert _headline_number(out, "median add_t^2:") == pytest.approx(h["median_add_t2"],
                                                                     rel=1e-3)
    assert _headline_number(out, "median var_t^2:") == pytest.approx(h["median_var_t2"],
                                                                     rel=1e-3)
    assert _headline_number(out, "KS test of var_t^2 against chi2_1: p =") == \
        pytest.approx(h["ks_var_p"], rel=1e-2)
    assert _headline_number(out, "(first SNP excluded) against chi2_1: p =") == \
        pytest.approx(h["ks_dispersion_p"], rel=1e-2)
    assert _headline_number(out, "null_0 (simulated dispersion effect): dispersion =") == \
        pytest.approx(h["first_dispersion"], rel=1e-3)
    # the phenotype file is the tutorial's format and inverse-normal
    y = np.array([float(ln.split()[2]) for ln in
                  (d / "test_phenotype.fam").read_text().splitlines()])
    assert y.shape == (2000,) and abs(np.median(y)) < 0.01


def _kolmogorov_p(x, cdf):
    """The asymptotic KS p-value computed here, not by hlmm: D = sup |F_n − F| over the
    sorted sample, p = P(K > √n·D) (scipy.special.kolmogorov, R's ks.test above n = 100)."""
    from scipy.special import kolmogorov

    x = np.sort(x)
    n = x.size
    F = cdf(x)
    D = max(np.max(np.arange(1, n + 1) / n - F), np.max(F - np.arange(n) / n))
    return float(kolmogorov(np.sqrt(n) * D))


def test_tutorial_statistics_independently(run):
    """Each printed statistic recomputed from the files by other means than hlmm's: the
    p-values from the t statistics with scipy, the KS tests on the p-values against the
    uniform (scipy.stats.kstest) and by hand, the Huber slope by its estimating equation,
    the noise adjustment and the dispersion columns from their formulas."""
    from scipy import stats

    d, res = run
    out = res.stdout
    t = read_table(d / "out_hlm.dispersion.tsv")
    add, add_se, var, var_se = (t.float(c) for c in ("add", "add_se", "var", "var_se"))
    add_t, var_t = t.float("add_t"), t.float("var_t")
    assert np.all(np.isfinite(add_t)) and add_t.size == 30
    np.testing.assert_allclose(add_t, add / add_se, rtol=1e-5)
    np.testing.assert_allclose(var_t, var / var_se, rtol=1e-5)
    for name, tt in (("add", add_t), ("var", var_t)):
        np.testing.assert_allclose(t.float(f"{name}_pval"),
                                   -np.log10(stats.chi2.sf(tt ** 2, 1)), rtol=1e-4, atol=1e-5)
    assert _headline_number(out, "median add_t^2:") == pytest.approx(
        np.median((add / add_se) ** 2), rel=1e-3)
    assert _headline_number(out, "median var_t^2:") == pytest.approx(
        np.median((var / var_se) ** 2), rel=1e-3)
    # KS of var_t² against χ²₁ = KS of the var p-values against the uniform (a monotone
    # map), by scipy and by hand
    p_var = 10 ** -t.float("var_pval")
    ks = _headline_number(out, "KS test of var_t^2 against chi2_1: p =")
    assert ks == pytest.approx(stats.kstest(p_var, "uniform", method="asymp").pvalue,
                               rel=1e-2)
    assert ks == pytest.approx(_kolmogorov_p((var / var_se) ** 2, stats.chi2(1).cdf),
                               rel=1e-2)
    # the Huber slope r solves Σ ψ_k(e_i/s)·add_i = 0, e = var − r·add, s = MAD about 0
    m = re.search(r"Huber slope of var on add: r = (\S+), noise-adjusted r_av = (\S+)", out)
    r, r_av = float(m.group(1)), float(m.group(2))
    e = var - r * add
    s = np.median(np.abs(e)) / 0.6745
    psi = np.clip(e / s, -1.345, 1.345)
    assert abs(np.sum(psi * add)) < 1e-4 * np.sum(np.abs(add))
    noise = np.mean(add_se ** 2)
    assert r_av == pytest.approx(r * (1 + noise / (np.var(add, ddof=1) - noise)), rel=1e-5)
    disp = var - r_av * add
    disp_se = np.sqrt(var_se ** 2 + r_av ** 2 * add_se ** 2)
    np.testing.assert_allclose(t.float("dispersion"), disp, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(t.float("dispersion_se"), disp_se, rtol=1e-4)
    np.testing.assert_allclose(t.float("dispersion_pval"),
                               -np.log10(stats.chi2.sf((disp / disp_se) ** 2, 1)),
                               rtol=1e-3, atol=1e-4)
    ks_d = _headline_number(out, "(first SNP excluded) against chi2_1: p =")
    p_disp = 10 ** -t.float("dispersion_pval")[1:]
    assert ks_d == pytest.approx(stats.kstest(p_disp, "uniform", method="asymp").pvalue,
                                 rel=1e-2)
    assert _headline_number(out, "null_0 (simulated dispersion effect): dispersion =") == \
        pytest.approx(disp[0], rel=1e-3)
    # every SNP has a simulated mean effect: add_t² well above χ²₁'s median 0.455
    assert np.median(add_t ** 2) > 0.455


def test_tutorial_figures_show_the_table(run):
    """The figures' content: one point per SNP in every panel, at the table's values;
    the axis ranges the plots promise."""
    d, res = run
    t = read_table(d / "out_hlm.dispersion.tsv")
    figs = res.figures
    assert set(figs) == {"qq", "manhattan", "add_var"}
    names = ("add", "var", "dispersion")
    m = t.n_rows
    # QQ: per statistic, m points (expected −log10((i − ½)/m), observed sorted), x axis
    # from 0 to 1.05 × the largest expected value
    qq = figs["qq"]
    assert len(qq) == 3
    expected = -np.log10((np.arange(1, m + 1) - 0.5) / m)
    for ax, name in zip(qq, names):
        (pts,) = ax["points"]
        assert pts.shape == (m, 2)
        np.testing.assert_allclose(pts[:, 0], expected, rtol=1e-12)
        obs = np.sort(t.float(f"{name}_pval"))[::-1]
        np.testing.assert_allclose(pts[:, 1], obs, rtol=1e-9)
        assert ax["xlim"] == pytest.approx((0, 1.05 * expected[0]))
        assert sorted(ax["legend"]) == ["95 % band", "expected under the null"]
    # Manhattan: per statistic, m points at (bp position, −log10 p), the Bonferroni line,
    # y from 0 to 1.3 × the highest of both
    man = figs["manhattan"]
    assert len(man) == 3
    pos = t.float("pos")
    for ax, name in zip(man, names):
        (pts,) = ax["points"]
        p = t.float(f"{name}_pval")
        assert pts.shape == (m, 2)
        np.testing.assert_allclose(pts[:, 0], pos - pos.min(), rtol=1e-12)
        np.testing.assert_allclose(pts[:, 1], p, rtol=1e-9)
        bonf = -np.log10(0.05 / m)
        assert ax["lines"][0][:, 1] == pytest.approx([bonf, bonf])
        assert ax["ylim"] == pytest.approx((0, 1.3 * max(p.max(), bonf)))
        assert ax["legend"] == [f"Bonferroni p = 0.05/m, m = {m}"]
    # add-versus-var: m points at (add_t, var_t), the Huber line through the origin over
    # add_t's range, and the largest |dispersion_t| (null_0's simulated effect) named
    (ax,) = figs["add_var"]
    cloud, marked = ax["points"]
    add_t, var_t = t.float("add_t"), t.float("var_t")
    np.testing.assert_allclose(cloud, np.column_stack([add_t, var_t]), rtol=1e-12)
    j = int(np.argmax(np.abs(t.float("dispersion_t"))))
    np.testing.assert_allclose(marked, [[add_t[j], var_t[j]]], rtol=1e-12)
    assert ax["texts"] == [t.text["SNP"][j]]
    line = ax["lines"][-1]
    assert line[:, 0] == pytest.approx([add_t.min(), add_t.max()])
    slope = line[1, 1] / line[1, 0]
    assert line[0, 1] == pytest.approx(slope * line[0, 0])      # through the origin
    assert ax["legend"] == [f"Huber fit, slope {slope:.3f}"]


def test_tutorial_mixed(tmp_path):
    res = CliRunner().invoke(main, ["tutorial", str(tmp_path), "--n", "600", "--snps", "6",
                                    "--random-snps", "20", "--mixed", "--seed", "5"])
    assert res.exit_code == 0, res.output
    assert "HLMM scan: 6 SNPs" in res.stdout and "HLM scan: 6 SNPs" in res.stdout
    assert read_table(tmp_path / "out_hlmm.dispersion.tsv").n_rows == 6
    assert (tmp_path / "out_hlmm.qq.png").stat().st_size > 5000


def test_tutorial_bad_dir(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    res = CliRunner().invoke(main, ["tutorial", str(f), "--n", "100"])
    assert res.exit_code != 0 and "afile" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["tutorial", str(tmp_path / "d"), "--n", "5"])
    assert res.exit_code != 0 and "--n" in res.output
