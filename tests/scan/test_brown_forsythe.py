"""The Brown–Forsythe test from packed .bed bytes (hlmm.scan.levene, hlmm._core._levene) against
scipy.stats.levene(..., center='median')."""
import concurrent.futures as cf
import math
import warnings

import numpy as np
import pytest
import scipy.stats as st

from clihelp import write_bed
from hlmm._core import _bed, _levene
from hlmm.io.bed import BedFile
from hlmm.scan.levene import BrownForsythe, f_logsf

# 2-bit .bed code -> class (−1 missing)
CLASS = {True: np.array([2, -1, 1, 0]), False: np.array([0, -1, 1, 2])}
# class -> 2-bit code
CODE = {True: np.array([0b11, 0b10, 0b00]), False: np.array([0b00, 0b10, 0b11])}


def pack(codes):
    """n_snps × n_fam 2-bit codes -> n_snps × ceil(n_fam/4) .bed bytes."""
    codes = np.atleast_2d(np.asarray(codes, np.uint8))
    ns, n_fam = codes.shape
    bps = (n_fam + 3) // 4
    pad = np.zeros((ns, 4 * bps), np.uint8)
    pad[:, :n_fam] = codes
    return np.ascontiguousarray(pad[:, 0::4] | (pad[:, 1::4] << 2) | (pad[:, 2::4] << 4)
                                | (pad[:, 3::4] << 6))


def random_codes(rng, ns, n_fam, missing=0.03):
    maf = rng.uniform(0.02, 0.5, ns)
    g = rng.binomial(2, maf[:, None], size=(ns, n_fam))
    codes = np.array([0b00, 0b10, 0b11], np.uint8)[g]
    codes[rng.random((ns, n_fam)) < missing] = 0b01
    return codes


def reference(codes, sample_index, y, count_a1):
    """Per SNP: (F, −log10 p) from scipy, NaN where the test is undefined (fewer than two
    classes, or no within-class dispersion of Z), and the per-class medians and A."""
    cls = CLASS[count_a1][codes[:, sample_index]]
    ns = codes.shape[0]
    F, lp = np.full(ns, np.nan), np.full(ns, np.nan)
    med, A = np.full((ns, 3), np.nan), np.zeros((ns, 3))
    for s in range(ns):
        groups = []
        W = Q = 0.0
        for k in range(3):
            g = y[cls[s] == k]
            if g.size:
                med[s, k] = np.median(g)
                z = np.abs(g - med[s, k])
                A[s, k] = z.sum()
                W += ((z - z.mean()) ** 2).sum()
                Q += (z ** 2).sum()
                groups.append(g)
        if len(groups) < 2 or W <= 1e-9 * Q:
            continue
        r = st.levene(*groups, center="median")
        F[s] = r.statistic
        lp[s] = -np.log10(r.pvalue) if r.pvalue > 0 else np.inf
    return F, lp, med, A


def check(codes, sample_index, y, count_a1, rtol=1e-9):
    n_fam = codes.shape[1]
    bf = BrownForsythe(sample_index, y, n_fam, count_a1)
    d = bf.details(pack(codes))
    F, lp, med, A = reference(codes, sample_index, y, count_a1)
    np.testing.assert_array_equal(np.isnan(d["F"]), np.isnan(F))
    np.testing.assert_allclose(d["F"], F, rtol=rtol, atol=0)
    np.testing.assert_allclose(d["neglog10_p"], lp, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(d["median"], med, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d["A"], A, rtol=1e-9, atol=1e-9 * (1 + np.abs(y).max()))
    cls = CLASS[count_a1][codes[:, sample_index]]
    for k in range(3):
        np.testing.assert_array_equal(d["n"][:, k], (cls == k).sum(axis=1))
    return d


@pytest.mark.parametrize("count_a1", [True, False])
@pytest.mark.parametrize("n_fam", [9, 50, 101, 1000, 1003])
@pytest.mark.parametrize("order", ["identity", "permuted subset"])
def test_random_snps_match_scipy(n_fam, count_a1, order):
    rng = np.random.default_rng(n_fam + 7 * count_a1 + (order == "identity"))
    codes = random_codes(rng, 40, n_fam)
    if order == "identity":
        index = np.arange(n_fam)
    else:
        index = rng.permutation(n_fam)[: max(5, n_fam - n_fam // 7)]
    y = rng.standard_normal(index.size)
    d = check(codes, index.astype(np.intp), y, count_a1)
    if n_fam >= 1000:
        assert np.isfinite(d["F"]).all()


@pytest.mark.parametrize("kind", ["ties", "skewed", "offset", "heteroscedastic",
                                  "mean effect"])
@pytest.mark.parametrize("count_a1", [True, False])
def test_phenotype_shapes(kind, count_a1):
    rng = np.random.default_rng(11)
    n_fam = 2002
    codes = random_codes(rng, 30, n_fam, missing=0.01)
    index = rng.permutation(n_fam)[:1901].astype(np.intp)
    y = rng.standard_normal(index.size)
    if kind == "ties":
        y = np.round(2 * y) / 2          # a handful of distinct values
    elif kind == "skewed":
        y = rng.lognormal(0.0, 1.2, index.size)
    elif kind == "offset":
        y = 1e4 + y
    elif kind == "heteroscedastic":       # a variance effect of the first SNP
        g = CLASS[count_a1][codes[0, index]]
        y = y * np.exp(0.3 * np.where(g > 0, g, 0))
    else:                                 # class medians far apart: the walk goes far
        g = CLASS[count_a1][codes[0, index]]
        y = y + 4.0 * np.where(g > 0, g, 0)
    check(codes, index, y, count_a1, rtol=1e-7 if kind == "offset" else 1e-9)


@pytest.mark.parametrize("count_a1", [True, False])
def test_tiny_classes_and_degenerate_snps(count_a1):
    """Classes with 0, 1 or 2 members, monomorphic, all-missing, and SNPs without
    within-class dispersion (NaN), against scipy."""
    rng = np.random.default_rng(5)
    n_fam = 203
    index = rng.permutation(n_fam)[:190].astype(np.intp)
    y = np.round(rng.standard_normal(index.size), 1)
    c0, c1, c2 = CODE[count_a1]
    rows = []

    def row(sizes, missing=0):
        r = np.full(n_fam, c0, np.uint8)
        pos = rng.permutation(index)
        r[pos[:sizes[1]]] = c1
        r[pos[sizes[1]:sizes[1] + sizes[2]]] = c2
        r[pos[sizes[1] + sizes[2]:sizes[1] + sizes[2] + missing]] = 0b01
        return r

    for sizes in [(0, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1), (0, 2, 0), (0, 2, 1),
                  (0, 2, 2), (0, 3, 0), (0, 5, 1), (0, 1, 2), (0, 20, 3)]:
        rows.append(row(sizes))
        rows.append(row(sizes, missing=7))
    mono = np.full(n_fam, c1, np.uint8)          # all heterozygous
    rows.append(mono)
    rows.append(np.full(n_fam, 0b01, np.uint8))   # all missing
    # only the individuals outside the analysis differ
    out = np.full(n_fam, c0, np.uint8)
    out[np.setdiff1d(np.arange(n_fam), index)] = c2
    rows.append(out)
    # one individual per class in the analysis, the rest missing: N − K = 0
    r3 = np.full(n_fam, 0b01, np.uint8)
    r3[index[:3]] = [c0, c1, c2]
    rows.append(r3)
    # two classes of two members: Z equal within each class
    r4 = np.full(n_fam, 0b01, np.uint8)
    r4[index[:4]] = [c0, c0, c2, c2]
    rows.append(r4)
    codes = np.array(rows, np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        d = check(codes, index, y, count_a1)
    nan_rows = [0, 1, 2 * 11, 2 * 11 + 1, 2 * 11 + 2, 2 * 11 + 3, 2 * 11 + 4]
    assert np.isnan(d["F"][nan_rows]).all() and np.isnan(d["neglog10_p"][nan_rows]).all()
    assert np.isfinite(d["F"][2:22]).all()           # the large class 0 has dispersion
    assert d["n"][-1].tolist() == [2, 0, 2] and d["n"][-2].tolist() == [1, 1, 1]


def test_constant_classes_are_nan():
    n = 40
    y = np.r_[np.zeros(20), np.ones(20)]
    codes = np.r_[np.zeros(20), np.full(20, 0b11)].astype(np.uint8)[None]
    F, lp = BrownForsythe(np.arange(n), y, n, False).block(pack(codes))
    assert np.isnan(F[0]) and np.isnan(lp[0])


def test_against_bed_reader_file(tmp_path):
    """End to end through a real .bed written by bed_reader and BedFile.read_packed."""
    rng = np.random.default_rng(3)
    n, m = 1003, 25
    dos = rng.binomial(2, rng.uniform(0.05, 0.5, m), size=(n, m)).astype(float)
    dos[rng.random((n, m)) < 0.02] = np.nan
    path = write_bed(tmp_path / "g", dos)
    index = rng.permutation(n)[:950].astype(np.intp)
    y = rng.standard_normal(index.size) + 0.4 * np.nan_to_num(dos[index, 0]) * \
        rng.standard_normal(index.size)
    for count_a1 in (True, False):
        bed = BedFile(path, count_a1=count_a1)
        F, lp = BrownForsythe(index, y, n, count_a1).block(bed.read_packed(0, m))
        g = dos[index]                                 # A1 counts
        if not count_a1:
            g = 2 - g
        for s in range(m):
            groups = [y[g[:, s] == k] for k in range(3) if (g[:, s] == k).any()]
            r = st.levene(*groups, center="median")
            assert F[s] == pytest.approx(r.statistic, rel=1e-9)
            assert lp[s] == pytest.approx(-math.log10(r.pvalue), rel=1e-9)


def test_fast_walk_equals_plain_walk_and_given_stats():
    rng = np.random.default_rng(8)
    n_fam = 3001
    codes = random_codes(rng, 60, n_fam)
    index = rng.permutation(n_fam)[:2900].astype(np.intp)
    y = rng.gamma(2.0, size=index.size) + 3.0
    bf = BrownForsythe(index, y, n_fam, True)
    packed = pack(codes)
    stats = bf.class_stats(packed)
    out = []
    for fast in (True, False):
        classes, F = np.empty((60, 9)), np.empty(60)
        _levene.bf_block(packed, bf.pos, bf.ys, stats, True, classes, F, fast)
        out.append((classes, F))
    # the same medians and counts; sums differ only by the order of additions
    np.testing.assert_array_equal(out[0][0][:, [0, 1, 3, 4, 6, 7]], out[1][0][:, [0, 1, 3, 4, 6, 7]])
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-11)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-10)
    # the scan's own (uncentred) class statistics give the same answer
    raw = np.empty((60, 9))
    _bed.class_stats(packed, index, y, True, raw)
    F1, lp1 = bf.block(packed)
    F2, lp2 = bf.block(packed, stats=raw)
    np.testing.assert_allclose(F2, F1, rtol=1e-9)
    np.testing.assert_allclose(lp2, lp1, rtol=1e-9)


def test_threads_give_the_same_result():
    rng = np.random.default_rng(9)
    n_fam = 4001
    codes = random_codes(rng, 64, n_fam)
    y = rng.standard_normal(n_fam)
    bf = BrownForsythe(np.arange(n_fam), y, n_fam, False)
    packed = pack(codes)
    F, lp = bf.block(packed)
    with cf.ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(lambda s: bf.block(packed[s:s + 8]), range(0, 64, 8)))
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), F)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), lp)


@pytest.mark.parametrize("count_a1", [True, False])
def test_extreme_p_values(count_a1):
    """A very strong variance effect: −log10 p far beyond the double range, finite,
    consistent with the F-distribution's log survival function."""
    rng = np.random.default_rng(4)
    n_fam = 20000
    g = rng.binomial(2, 0.3, n_fam)
    codes = CODE[count_a1][g][None].copy()
    codes = np.vstack([codes, np.where(g == 1, CODE[count_a1][2], codes[0])])  # 2 classes
    y = rng.standard_normal(n_fam) * np.exp(1.5 * g)
    bf = BrownForsythe(np.arange(n_fam), y, n_fam, count_a1)
    d = bf.details(pack(codes))
    assert (d["df1"] == [2, 1]).all()
    assert np.isfinite(d["neglog10_p"]).all() and (d["neglog10_p"] > 400).all()
    # F itself still matches scipy
    for s in range(2):
        cls = CLASS[count_a1][codes[s]]
        r = st.levene(*[y[cls == k] for k in range(3) if (cls == k).any()], center="median")
        assert d["F"][s] == pytest.approx(r.statistic, rel=1e-9)
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    for s in range(2):
        F, d1, d2 = d["F"][s], d["df1"][s], d["df2"][s]
        x = mp.mpf(d2) / (d2 + d1 * mp.mpf(F))
        ref = -mp.log10(mp.betainc(d2 / 2, d1 / 2, 0, x, regularized=True))
        assert d["neglog10_p"][s] == pytest.approx(float(ref), rel=1e-10)


@pytest.mark.parametrize("d1", [1, 2])
@pytest.mark.parametrize("d2", [3, 17, 250, 5000, 99997])
def test_f_logsf(d1, d2):
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    Fs = np.array([0.0, 1e-3, 0.5, 1.0, 3.0, 10.0, 50.0, 300.0, 2e3, 1e5, 1e8, 1e12])
    got = f_logsf(Fs, d1, d2)
    for F, lg in zip(Fs, got):
        x = mp.mpf(d2) / (d2 + d1 * mp.mpf(F))
        ref = float(mp.log(mp.betainc(d2 / 2, mp.mpf(d1) / 2, 0, x, regularized=True)))
        assert np.isfinite(lg)
        assert lg == pytest.approx(ref, rel=1e-10, abs=1e-13)
    # scipy agrees where it is finite
    sp = st.f.logsf(Fs, d1, d2)
    fin = np.isfinite(sp) & (sp > -600)
    np.testing.assert_allclose(got[fin], sp[fin], rtol=1e-10, atol=1e-13)
    assert np.isnan(f_logsf(np.nan, d1, d2))


def test_log_betainc_continued_fraction_at_moderate_values():
    """The far-tail branch of f_logsf against scipy where both are representable."""
    from hlmm.scan.levene import _log_betainc_cf

    for d1 in (1, 2, 3):
        for d2 in (5, 40, 1000, 100000):
            F = np.geomspace(3.0, 1e150, 3000)
            ref = st.f.logsf(F, d1, d2)
            x = d2 / (d2 + d1 * F)
            ok = (np.isfinite(ref) & (ref < -3) & (ref > -700)
                  & (x < (d2 / 2 + 1) / (d2 / 2 + d1 / 2 + 2)))
            got = _log_betainc_cf(d2 / 2, d1 / 2, x[ok])
            np.testing.assert_allclose(got, ref[ok], rtol=1e-10)
            assert ok.sum() >= 8


def test_bad_inputs():
    y = np.ones(3)
    with pytest.raises(IndexError):
        BrownForsythe(np.array([0, 1, 9]), y, 8, True)
    with pytest.raises(ValueError, match="repeats"):
        BrownForsythe(np.array([0, 1, 1]), y, 8, True)
    with pytest.raises(ValueError):
        BrownForsythe(np.array([0, 1]), y, 8, True)
    bf = BrownForsythe(np.array([0, 1, 2]), np.array([0.0, 1.0, 2.0]), 8, True)
    with pytest.raises(ValueError):
        bf.block(np.zeros((2, 3), np.uint8))


# --- the scan: hlmm chr --brown-forsythe ---------------------------------------------------
def test_scan_brown_forsythe_columns_match_scipy_in_every_engine(tmp_path):
    """bf_f/bf_pval of `hlmm chr --brown-forsythe` are scipy's Levene-median test of the
    null model's standardised residuals by genotype class, whatever the engine; filtered
    SNPs get NaN; without the flag the columns are absent."""
    import bed_reader
    from clihelp import column, read_models, run, write_bed, write_table
    from hlmm import HLM

    rng = np.random.default_rng(11)
    n, m = 700, 8
    dos = rng.binomial(2, rng.uniform(0.1, 0.5, m), size=(n, m)).astype(float)
    dos[rng.random((n, m)) < 0.02] = np.nan
    dos[:, 7] = 0.0
    dos[:3, 7] = 1.0                                  # MAF ≈ 0.002: filtered
    bed = write_bed(tmp_path / "g", dos)
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    c = rng.standard_normal(n)
    y = rng.lognormal(0, 0.5, n) + 0.5 * c
    pheno = write_table(tmp_path / "p.txt", ids, y[:, None])
    covar = write_table(tmp_path / "c.txt", ids, c[:, None])
    rbed = write_bed(tmp_path / "r", rng.binomial(2, 0.3, size=(n, 10)).astype(float))
    X = np.column_stack([np.ones(n), (c - c.mean()) / c.std()])
    null = HLM(y, X, X).fit()
    r = (y - X @ null.alpha) * np.exp(-0.5 * X @ null.beta)
    runs = {"classes": [], "general": ["--engine", "general"], "robust": ["--robust"],
            "fitcov": ["--fit-covariates"], "hlmm": ["--random-gts", rbed]}
    tables = {}
    for name, extra in runs.items():
        run(["chr", bed, 0, m, pheno, tmp_path / name, "--mean-covar", covar, "--var-covar",
             covar, "--brown-forsythe", *extra])
        h, rows = read_models(tmp_path / f"{name}.models.gz")
        tables[name] = (column(h, rows, "bf_f"), column(h, rows, "bf_pval"))
    g = bed_reader.open_bed(bed).read()
    for j in range(m - 1):
        groups = [r[g[:, j] == k] for k in range(3) if (g[:, j] == k).any()]
        ref = st.levene(*groups, center="median")
        for name, (F, p) in tables.items():
            assert F[j] == pytest.approx(ref.statistic, rel=1e-5), name
            assert p[j] == pytest.approx(-np.log10(ref.pvalue), rel=1e-5, abs=1e-6), name
    for F, p in tables.values():
        assert np.isnan(F[m - 1]) and np.isnan(p[m - 1])
    run(["chr", bed, 0, m, pheno, tmp_path / "plain"])
    h, _ = read_models(tmp_path / "plain.models.gz")
    assert "bf_f" not in h and "bf_pval" not in h
