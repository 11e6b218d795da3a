"""What a scan does before its SNP loop, made cheap for many phenotypes: the closed-form
null HLM with intercept-only designs (against the Newton fit, scipy's optimiser, exact
rational arithmetic and numdifftools' Hessian) and the per-phenotype samples of a
SampleFrame, whose IDs and designs are shared by phenotypes with the same missing values
(against samples built one by one from scratch, and counts computed here)."""
from fractions import Fraction

import numdifftools as nd
import numpy as np
import pytest
from scipy import optimize

from hlmm import HLM
from hlmm.models.hlm_intercept import CLOSED_FORM, fit_intercept_only
from hlmm.io.sample import SampleFrame
from hlmm.io.tables import Table

LOG2PI = np.log(2 * np.pi)


def _ys(rng):
    return {"normal": rng.normal(size=2000),
            "t5, far from 0": 170 + 10 * rng.standard_t(5, 800),
            "chi2, tiny": rng.chisquare(4, 60) * 1e-7,
            "mean 1e6": 1e6 + rng.normal(size=300),
            "large n": rng.normal(2, 3, 200_000)}


@pytest.mark.parametrize("case", ["normal", "t5, far from 0", "chi2, tiny", "mean 1e6",
                                  "large n"])
def test_closed_form_equals_the_newton_fit(rng, case):
    y = _ys(rng)[case]
    n = len(y)
    one = np.ones(n)
    newton = HLM(y, one, one).fit()
    res = fit_intercept_only(y)
    assert res.converged and res.message == CLOSED_FORM and res.n_iter == 0
    assert res.nobs == n
    # Newton stops at a decrement < 1e-10: the estimates agree to rounding
    np.testing.assert_allclose(res.alpha, newton.alpha, rtol=1e-13, atol=1e-14 * np.std(y))
    np.testing.assert_allclose(res.beta, newton.beta, rtol=0, atol=1e-12)
    assert res.loglik == pytest.approx(newton.loglik, rel=1e-13)
    np.testing.assert_allclose(res.cov_params(), newton.cov_params(), rtol=1e-12, atol=0)
    # (the off-diagonal 2e^{−β}Σr is 0 at the MLE: Newton's is its α's rounding, up to
    # ~1e-9 of the diagonal for mean/SD = 1e6)
    np.testing.assert_allclose(res._hessian_f, newton._hessian_f, rtol=1e-10,
                               atol=1e-8 * np.abs(newton._hessian_f).max())


def test_closed_form_is_the_exact_mle(rng):
    """Against the MLE in exact rational arithmetic (mean, mean square deviation)."""
    for y in (170 + 10 * rng.standard_t(5, 500), 1e6 + rng.normal(size=200)):
        m = sum(map(Fraction, y)) / len(y)
        var = sum((Fraction(v) - m) ** 2 for v in y) / len(y)
        res = fit_intercept_only(y)
        assert abs(float(Fraction(res.alpha[0]) - m)) <= 4e-16 * abs(float(m))
        assert res.beta[0] == pytest.approx(np.log(float(var)), rel=1e-15, abs=1e-15)
        assert res.loglik == pytest.approx(
            -0.5 * len(y) * (LOG2PI + np.log(float(var)) + 1.0), rel=1e-15)


def test_closed_form_maximises_the_likelihood_as_scipy_finds(rng):
    y = rng.standard_t(4, 150) * 2.5 - 1.0
    n = len(y)

    def nll(t):
        return 0.5 * (n * LOG2PI + n * t[1] + np.exp(-t[1]) * np.sum((y - t[0]) ** 2))

    bf = optimize.minimize(nll, [0.0, 0.0], method="Nelder-Mead",
                           options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000})
    res = fit_intercept_only(y)
    np.testing.assert_allclose(res.params, bf.x, atol=1e-6)
    assert res.loglik >= -bf.fun - 1e-10
    assert res.loglik == pytest.approx(-bf.fun, abs=1e-8)
    # the Hessian left for nested fits is −2 × the numerical Hessian of L
    H = nd.Hessian(lambda t: -nll(t), step=1e-4)(res.params)
    np.testing.assert_allclose(res._hessian_f, -2.0 * H, rtol=1e-6,
                               atol=1e-7 * np.abs(H).max())
    # SEs as HLM.fit defines them: (XᵀWX)⁻¹ and 2(VᵀV)⁻¹
    np.testing.assert_allclose(res.bse, [np.sqrt(np.exp(res.beta[0]) / n), np.sqrt(2.0 / n)],
                               rtol=1e-14)


def test_closed_form_errors_are_the_newton_fits(rng):
    one = np.ones(50)
    with pytest.raises(ValueError, match="fitted exactly"):
        HLM(np.full(50, 3.5), one, one).fit()
    with pytest.raises(ValueError, match="fitted exactly"):
        fit_intercept_only(np.full(50, 3.5))
    big = rng.normal(size=50) * 1e200
    with pytest.raises(FloatingPointError):
        with np.errstate(over="ignore", invalid="ignore"):
            fit_intercept_only(big)


# --- SampleFrame.sample: shared parts ------------------------------------------------
def _table(path, ids, values, names):
    return Table(path, list(ids), list(names), np.asarray(values, float),
                 np.isnan(values).sum(axis=0))


def _naive_sample(pheno, covar, order_ids, other, y_all):
    """The analysis sample written out directly: per individual of the list, its rows."""
    prow = {k: i for i, k in enumerate(pheno.ids)}
    crow = {k: i for i, k in enumerate(covar.ids)}
    keep, y, Z = [], [], []
    for k in order_ids:
        i = prow.get(k)
        if i is None or np.isnan(y_all[i]):
            continue
        j = crow.get(k)
        if j is None or np.isnan(covar.values[j]).any() or k not in other:
            continue
        keep.append(k)
        y.append(y_all[i])
        Z.append(covar.values[j])
    Z = np.array(Z)
    return keep, np.array(y), np.column_stack([np.ones(len(Z)), (Z - Z.mean(0)) / Z.std(0)])


@pytest.mark.parametrize("layout", ["same order", "shuffled, extra rows"])
def test_samples_share_parts_and_equal_fresh_ones(rng, layout):
    n = 300
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    Y = rng.normal(size=(n, 7))
    Y[rng.random(n) < 0.1, 2] = np.nan          # 2 and 3 miss the same individuals
    Y[:, 3] = np.where(np.isnan(Y[:, 2]), np.nan, Y[:, 3])
    Y[rng.random(n) < 0.05, 5] = np.nan
    ids_t = ids
    if layout != "same order":    # 10 of the list not in the table, 20 others in it
        rows = 10 + rng.permutation(n + 10)
        extra = [(f"x{i}", f"x{i}") for i in range(20)]
        ids_t = [(ids + extra)[r] for r in rows]
        Y = np.vstack([Y, rng.normal(size=(20, 7))])[rows]
    pheno = _table("p.txt", ids_t, Y, [f"P{j}" for j in range(7)])
    C = rng.normal(size=(n, 2))
    C[rng.random(n) < 0.05, 1] = np.nan
    covar = _table("c.txt", ids, C, ["c1", "c2"])
    other = set(ids[5:])

    def frame():
        return SampleFrame(pheno, [covar, covar], ids, [("--random-gts", sorted(other))],
                           "NA", -9.0, False)

    shared = frame()
    assert shared._direct == (layout == "same order")
    out = [shared.sample(pheno.values[:, j], f"P{j}") for j in range(7)]
    # the IDs lists are built when read, not before (n does not need them)
    assert all(s._ids._list is None for s in out)
    assert [s.n for s in out] == [len(s.y) for s in out]
    for j, s in enumerate(out):
        fresh = frame().sample(pheno.values[:, j], f"P{j}")
        assert s.ids == fresh.ids and s.counts == fresh.counts
        for a in ("y", "X", "V", "X_sd", "V_sd", "order_pos"):
            np.testing.assert_array_equal(getattr(s, a), getattr(fresh, a), err_msg=a)
        keep, y, X = _naive_sample(pheno, covar, ids, other, pheno.values[:, j])
        assert s.ids == keep
        np.testing.assert_array_equal(s.y, y)
        np.testing.assert_allclose(s.X, X, rtol=1e-12, atol=1e-12)
        in_list = np.array([k in set(ids) for k in ids_t])
        c = s.counts
        assert c["not_in_phenotype"] == (0 if layout == "same order" else 10)
        assert c["missing_phenotype"] == int(np.isnan(pheno.values[in_list, j]).sum())
        assert (c["not_in_phenotype"] + c["missing_phenotype"] + c["missing_covariate"]
                + c["not_in_random_gts"] + s.n) == n
    # phenotypes with the same missing values share their IDs and designs
    assert out[0].ids is out[1].ids and out[0].X is out[4].X
    assert out[2].ids is out[3].ids and out[2].ids is not out[0].ids
    assert out[5].ids is not out[0].ids and len(shared._shared) <= 4


def test_sample_of_a_phenotype_with_no_one_left_names_it(rng):
    ids = [(f"f{i}", f"i{i}") for i in range(20)]
    Y = rng.normal(size=(20, 2))
    Y[:, 1] = np.nan
    pheno = _table("p.txt", ids, Y, ["A", "B"])
    fr = SampleFrame(pheno, [None, None], ids, (), "NA", -9.0, False)
    assert fr.sample(Y[:, 0], "A").n == 20
    from hlmm.errors import InputError
    with pytest.raises(InputError, match="'B'"):
        fr.sample(Y[:, 1], "B")


# --- the phenotype table's number parser: one-pass fast path ---------------------------
def _edge_tokens():
    digits19 = "1234567890123456789"
    return ["-0", "+.5", "5.e3", "1e+22", "1e22", "1e-22", "1.5e-23", "1e23", "-1E-05",
            "9007199254740992", "9007199254740993", "0000.00012345", "00.0e5", "0e999",
            digits19, digits19 + "0", "0." + digits19, "0." + digits19 + "1",
            "1" + digits19, "-" + digits19[:15] + "." + digits19[15:], "12345678.9012345e-7",
            "7.", ".7", "+7", "-.0", "3.14159265358979", "2.2250738585072014e-308"]


@pytest.mark.parametrize("sep,end", [(" ", "\n"), ("\t", "\r\n"), ("  ", "")])
def test_number_tokens_are_float_to_the_bit_at_the_fast_paths_edges(sep, end):
    from hlmm._core import _text

    toks = _edge_tokens()
    data = end.join(f"a{sep}b{sep}{t}{sep}{t}" for t in toks) + end
    if end == "":
        data = "\n".join(f"a{sep}b{sep}{t}{sep}{t}" for t in toks)
    out = _text.parse_fields(data.encode(), 0, 0, [1, 1, 2, 2])
    assert out[0] == _text.OK
    ref = np.array([float(t) for t in toks])
    for j in (0, 1):
        np.testing.assert_array_equal(out[2][:, j].view(np.int64), ref.view(np.int64))


def test_numeric_missing_string_and_bad_tails_take_the_exact_path():
    from hlmm._core import _text

    out = _text.parse_fields(b"a b -9 -90 -9.5\n", 0, 0, [1, 1, 2, 2, 2], b"-9")
    assert out[0] == _text.OK
    np.testing.assert_array_equal(out[2], [[np.nan, -90.0, -9.5]])
    for tok, status in (("1.5x", _text.BAD_NUMBER), ("1e5.", _text.BAD_NUMBER),
                        ("1-", _text.BAD_NUMBER), ("1e-", _text.BAD_NUMBER),
                        ("1\x0c", _text.UNSUPPORTED), ("1\r2", _text.UNSUPPORTED)):
        out = _text.parse_fields(f"a b {tok}\n".encode(), 0, 0, [1, 1, 2])
        assert out[0] == status, tok


# --- a many-phenotype scan's setup ------------------------------------------------------
def test_multi_scan_setup_shares_samples_and_fits_nulls_in_closed_form(tmp_path, rng):
    """Phenotypes without missing values share the IDs, positions and genotype indices
    of one sample; each null model is the closed form (= HLM's Newton fit) without
    covariates and the Newton fit with them; the scan's y is the standardised residual."""
    from clihelp import write_bed, write_table
    from hlmm.scan.many_phenotypes import MultiScan
    from hlmm.io.output import Log
    from hlmm.scan.genome_scan import ScanConfig

    n = 400
    bed = write_bed(tmp_path / "g", rng.binomial(2, 0.3, size=(n, 5)).astype(float))
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    Y = np.column_stack([rng.normal(size=n), 3 + rng.standard_t(5, n), rng.chisquare(4, n)])
    Y[:7, 2] = np.nan
    pheno = write_table(tmp_path / "p.txt", ids, Y, header=["A", "B", "C"])
    cov = write_table(tmp_path / "c.txt", ids, rng.normal(size=(n, 2)), header=["c1", "c2"])
    for covar in (None, cov):
        log = Log()
        cfg = ScanConfig(genofile=bed, start=0, end=5, phenofile=pheno,
                         outprefix=str(tmp_path / "o"), all_pheno=True, mean_covar=covar)
        m = MultiScan(cfg, log)
        a, b, c = m.scans
        assert a.sample.ids is b.sample.ids and a.sample_index is b.sample_index
        assert c.sample.n == n - 7 and c.sample_index is not a.sample_index
        text = "\n".join(log.lines)
        assert text.count("closed form (intercept-only") == (3 if covar is None else 0)
        assert text.count("Newton iterations") == (0 if covar is None else 3)
        for j, s in enumerate(m.scans):
            keep = ~np.isnan(Y[:, j])
            y = Y[keep, j]
            X = np.ones((keep.sum(), 1))
            if covar is not None:
                C = np.loadtxt(cov, skiprows=1, usecols=(2, 3))[keep]
                X = np.column_stack([X, (C - C.mean(0)) / C.std(0)])
            ref = HLM(y, X, np.ones((len(y), 1))).fit()
            np.testing.assert_allclose(s.null.alpha, ref.alpha, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(s.null.beta, ref.beta, rtol=1e-9, atol=1e-12)
            e = (y - X @ ref.alpha) / np.exp(0.5 * ref.beta[0])
            np.testing.assert_allclose(s.y, e, rtol=1e-9, atol=1e-12)
