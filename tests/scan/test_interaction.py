"""`hlmm chr --interaction`: the GxE scan against an independent dense fit of each SNP's
full HLM, its columns, --robust, and bad input."""
import numpy as np
import pytest
from scipy import stats

from clihelp import assert_clean_failure, column, read_models, run, write_bed, write_table
from dense_hlmm import dense_hlm_fit, dense_sandwich_hc0

INT_COLS = ["int", "int_se", "int_t", "int_pval", "gxe_pval"]


@pytest.fixture(scope="module")
def gxe(tmp_path_factory):
    rng = np.random.default_rng(23)
    d = tmp_path_factory.mktemp("gxe")
    n, m = 1200, 5
    dos = rng.binomial(2, rng.uniform(0.15, 0.5, m), size=(n, m)).astype(float)
    dos[rng.random(n) < 0.03, 1] = np.nan            # SNP 1: missing calls
    E = 3.0 + 2.0 * rng.normal(size=n)               # not centred, SD 2: own-scale check
    c1 = rng.normal(size=n)
    x0 = dos[:, 0] - dos[:, 0].mean()
    y = (0.3 * c1 + 0.2 * E + 0.4 * x0 * (E - 3.0)
         + np.exp(0.3 * (E - 3.0) / 2) * rng.normal(size=n))
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    bed = write_bed(d / "geno", dos)
    pheno = write_table(d / "pheno.txt", ids, y[:, None])
    covar = write_table(d / "covar.txt", ids, np.column_stack([c1, E]), header=["c1", "E"])
    return {"dir": d, "bed": bed, "pheno": pheno, "covar": covar, "dos": dos, "y": y,
            "E": E, "c1": c1, "n": n, "m": m, "ids": ids}


def _scan(s, out, *extra, expect_ok=True):
    return run(["chr", s["bed"], 0, s["m"], s["pheno"], out, "--min-maf", "0",
                "--max-missing", "10", "--mean-covar", s["covar"], *extra],
               expect_ok=expect_ok)


def _oracle(s, j, robust=False):
    """The SNP's full model on the covariates' own scale, E centred in g·E."""
    g = s["dos"][:, j]
    ok = ~np.isnan(g)
    y, E, c1 = s["y"][ok], s["E"][ok], s["c1"][ok]
    x = g[ok] - g[ok].mean()
    X = np.column_stack([np.ones(ok.sum()), c1, E, x, x * (E - s["E"].mean())])
    V = np.column_stack([np.ones(ok.sum()), E, x])
    t, ll, _, cov = dense_hlm_fit(y, X, V)
    if robust:
        cov = dense_sandwich_hc0(y, X, V, t)
    return t, ll, np.sqrt(np.diag(cov)), cov


@pytest.mark.parametrize("robust", [False, True])
def test_scan_matches_dense_fit(gxe, tmp_path, robust):
    out = tmp_path / "o"
    extra = ["--robust", "--robust-estimator", "hc0"] if robust else ["--engine", "general"]
    _scan(gxe, out, "--interaction", "E", *extra)
    h, rows = read_models(f"{out}.models.gz")
    assert h[:h.index("status") + 1] == h[:-len(INT_COLS)]        # appended last
    assert h[-len(INT_COLS):] == INT_COLS
    assert all(r[h.index("status")] == "ok" for r in rows)
    col = {c: column(h, rows, c) for c in h if c not in ("SNP", "chrom", "a1", "a2", "status")}
    for j in range(gxe["m"]):
        t, ll, se, cov = _oracle(gxe, j, robust)
        assert col["add"][j] == pytest.approx(t[3], rel=1e-5, abs=1e-7)
        assert col["int"][j] == pytest.approx(t[4], rel=1e-5, abs=1e-7)
        assert col["var"][j] == pytest.approx(t[7], rel=1e-5, abs=1e-7)
        assert col["add_se"][j] == pytest.approx(se[3], rel=1e-5)
        assert col["int_se"][j] == pytest.approx(se[4], rel=1e-5)
        assert col["var_se"][j] == pytest.approx(se[7], rel=1e-5)
        assert col["int_t"][j] == pytest.approx(t[4] / se[4], rel=1e-5)
        assert col["likelihood"][j] == pytest.approx(ll, rel=1e-9)
        p = 2 * stats.norm.sf(abs(t[4] / se[4]))
        assert col["int_pval"][j] == pytest.approx(-np.log10(p), rel=1e-4, abs=1e-6)
        S = cov[np.ix_([3, 4], [3, 4])]
        chi2 = t[[3, 4]] @ np.linalg.solve(S, t[[3, 4]])
        assert col["gxe_pval"][j] == pytest.approx(-np.log10(stats.chi2.sf(chi2, 2)),
                                                   rel=1e-4, abs=1e-6)
    assert col["int_pval"][0] > 20                    # the true interaction
    assert col["n"][1] < gxe["n"]                      # missing calls dropped per SNP


def test_engine_fast_is_the_exact_engine(gxe, tmp_path):
    """--engine fast (the former approximate class engine, slower than the exact moments
    engine that replaced it) gives the exact default's table, and that equals
    --engine general (HLM.fit per SNP)."""
    out = tmp_path / "o"
    _scan(gxe, out, "--interaction", "E", "--engine", "fast")
    _scan(gxe, tmp_path / "d", "--interaction", "E")
    _scan(gxe, tmp_path / "x", "--interaction", "E", "--engine", "general")
    h, rows = read_models(f"{out}.models.gz")
    hd, rd = read_models(f"{tmp_path / 'd'}.models.gz")
    hx, rx = read_models(f"{tmp_path / 'x'}.models.gz")
    assert h == hd == hx and rows == rd
    for c in ("add", "add_se", "int", "int_se", "var", "var_se", "likelihood", "gxe_pval"):
        np.testing.assert_allclose(column(h, rows, c), column(hx, rx, c), rtol=1e-6,
                                   atol=1e-9, err_msg=c)


def test_log_says_E_in_variance(gxe, tmp_path):
    out = tmp_path / "o"
    _scan(gxe, out, "--interaction", "E")
    log = open(f"{out}.log").read()
    assert "E enters the variance model (added to the variance model" in log
    assert "null log-variance effect E:" in log
    _scan(gxe, tmp_path / "v", "--interaction", "E", "--var-covar", gxe["covar"])
    assert "already a --var-covar column" in open(f"{tmp_path / 'v'}.log").read()


def test_interaction_var_columns(gxe, tmp_path):
    out = tmp_path / "o"
    _scan(gxe, out, "--interaction", "E", "--interaction-var")
    h, rows = read_models(f"{out}.models.gz")
    assert h[-9:] == INT_COLS + ["vint", "vint_se", "vint_t", "vint_pval"]
    g = gxe["dos"][:, 2]
    x = g - g.mean()
    E = gxe["E"]
    X = np.column_stack([np.ones(gxe["n"]), gxe["c1"], E, x, x * (E - E.mean())])
    V = np.column_stack([np.ones(gxe["n"]), E, x, x * (E - E.mean())])
    t, _, _, cov = dense_hlm_fit(gxe["y"], X, V)
    assert column(h, rows, "vint")[2] == pytest.approx(t[8], rel=1e-5, abs=1e-7)
    assert column(h, rows, "vint_se")[2] == pytest.approx(np.sqrt(cov[8, 8]), rel=1e-5)


def test_missing_E_dropped_and_counted(gxe, tmp_path):
    E = gxe["E"].copy()
    E[:7] = np.nan
    cov = write_table(tmp_path / "c.txt", gxe["ids"], np.column_stack([gxe["c1"], E]),
                      header=["c1", "E"])
    out = tmp_path / "o"
    run(["chr", gxe["bed"], 0, 2, gxe["pheno"], out, "--min-maf", "0", "--max-missing", "10",
         "--mean-covar", cov, "--interaction", "E"])
    log = open(f"{out}.log").read()
    assert "7 row(s) of" in log and "'E' missing" in log
    assert "7 with a missing covariate" in log
    h, rows = read_models(f"{out}.models.gz")
    assert column(h, rows, "n")[0] == gxe["n"] - 7


@pytest.mark.parametrize("args,needles", [
    (["--interaction", "Z"], ["--interaction Z", "no column 'Z'", "c1, E"]),
    (["--interaction-var"], ["--interaction-var needs --interaction"]),
])
def test_bad_interaction(gxe, tmp_path, args, needles):
    out = tmp_path / "out"
    out.mkdir()
    res = _scan(gxe, out / "o", *args, expect_ok=False)
    assert_clean_failure(res, out, *needles)


def test_interaction_without_covariates_or_constant(gxe, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    res = run(["chr", gxe["bed"], 0, 2, gxe["pheno"], out / "o", "--interaction", "E"],
              expect_ok=False)
    assert_clean_failure(res, out, "--interaction E", "needs --mean-covar")
    cov = write_table(tmp_path / "c.txt", gxe["ids"],
                      np.column_stack([gxe["c1"], np.ones(gxe["n"])]), header=["c1", "E"])
    res = run(["chr", gxe["bed"], 0, 2, gxe["pheno"], out / "o", "--mean-covar", cov,
               "--interaction", "E"], expect_ok=False)
    assert_clean_failure(res, out, "'E' is constant")


def test_random_gts_hlmm_against_dense(tmp_path):
    """--interaction with --random-gts: the HLMM of the full GxE designs, against a
    dense maximisation of its likelihood (Σ formed explicitly) with the scan's G."""
    from hlmm._threads import blas_single_threaded
    from hlmm.scan.genome_scan import GenomeScan, ScanConfig

    rng = np.random.default_rng(8)
    n, m, l = 200, 2, 30
    dos = rng.binomial(2, 0.35, size=(n, m)).astype(float)
    R = rng.binomial(2, 0.4, size=(n, l)).astype(float)
    E, c1 = rng.normal(size=n), rng.normal(size=n)
    y = (0.3 * c1 + 0.4 * E + 0.5 * (dos[:, 0] - dos[:, 0].mean()) * E
         + (R - R.mean(0)) @ rng.normal(0, 0.15, l) + np.exp(0.3 * E / 2) * rng.normal(size=n))
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    bed = write_bed(tmp_path / "g", dos)
    rbed = write_bed(tmp_path / "r", R)
    ph = write_table(tmp_path / "y.txt", ids, y[:, None])
    cov = write_table(tmp_path / "c.txt", ids, np.column_stack([c1, E]), header=["c1", "E"])
    cfg = ScanConfig(genofile=bed, start=0, end=m, phenofile=ph, outprefix=str(tmp_path / "o"),
                     mean_covar=cov, interaction="E", random_gts=(rbed,), min_maf=0.0)
    scan = GenomeScan(cfg, lambda msg: None)
    assert scan.engine == "general"
    fits = scan.fit_block(0, m)
    G = scan.G
    with blas_single_threaded(True):    # (small dense algebra: threads only contend)
        _dense_check(fits, y, dos, E, c1, G, n, m)
    assert fits[0].fit["extra"][3] > 5                  # the true interaction


def _dense_check(fits, y, dos, E, c1, G, n, m):
    from scipy import optimize

    from dense_hlmm import dense_grad, dense_hess, dense_loglik

    for j in range(m):
        x = dos[:, j] - dos[:, j].mean()
        Ez = (E - E.mean()) / E.std()
        X = np.column_stack([np.ones(n), (c1 - c1.mean()) / c1.std(), Ez, x, x * Ez])
        V = np.column_stack([np.ones(n), Ez, x])
        p, q = X.shape[1], V.shape[1]

        def f(t):
            return -dense_loglik(y, X, V, G, t[:p], t[p:p + q], t[-1])

        def g(t):
            return -dense_grad(y, X, V, G, t[:p], t[p:p + q], t[-1])

        t0 = np.r_[np.linalg.lstsq(X, y, rcond=None)[0], np.zeros(q), 0.1]
        t = optimize.minimize(f, t0, jac=g, method="L-BFGS-B",
                              bounds=[(None, None)] * (p + q) + [(0.0, None)],
                              options={"maxiter": 2000}).x
        if t[-1] > 1e-3:        # interior: polish by Newton on the dense Hessian
            for _ in range(3):
                t = t - np.linalg.solve(-dense_hess(y, X, V, G, t, p, q), g(t))
        got = fits[j].fit
        assert got["likelihood"] == pytest.approx(-f(t), abs=1e-5)
        assert got["add"] == pytest.approx(t[3], abs=2e-4)
        extra = got["extra"]
        assert extra[0] == pytest.approx(t[4] / E.std(), abs=2e-4)     # int, own scale
        if t[-1] > 1e-3:
            se = np.sqrt(np.diag(np.linalg.inv(-dense_hess(y, X, V, G, t, p, q))))
            assert extra[1] == pytest.approx(se[4] / E.std(), rel=0.05)


def test_interaction_with_pred_equals_scan_of_y_minus_loco(tmp_path, rng):
    """--interaction with --pred (per-chromosome null models): the GxE columns equal, by
    chromosome, those of the scan of y − s·LOCO_c written out as a phenotype."""
    from pred_data import CHROMS, make

    d = make(tmp_path, rng)
    extra = ["--mean-covar", d["covar"], "--min-maf", "0", "--interaction", "c2"]
    run(["chr", d["bed"], d["pheno"], tmp_path / "o", "--whole-chr", "--pred", d["pred"],
         *extra])
    h, rows = read_models(tmp_path / "o.models.gz")
    assert h[-5:] == INT_COLS
    _, preds, na, present = d["locos"][d["names"][0]]
    for chrom in sorted(set(CHROMS)):
        y = d["y"][:, 0].copy()
        pred = np.array([preds[k][int(chrom) - 1] if k in present and k not in na
                         else np.nan for k in d["keys"]])
        ok = ~np.isnan(y) & ~np.isnan(pred)
        X = np.column_stack([np.ones(ok.sum()), d["covar_values"][ok]])
        r = y[ok] - X @ np.linalg.lstsq(X, y[ok], rcond=None)[0]
        y_c = np.full(y.shape, np.nan)
        y_c[ok] = y[ok] - np.sqrt(r @ r / (ok.sum() - X.shape[1])) * pred[ok]
        ph = write_table(tmp_path / f"yc{chrom}.txt", d["ids"], y_c[:, None], header=["Y"])
        run(["chr", d["bed"], ph, tmp_path / f"r{chrom}", "--whole-chr", "--chr", chrom,
             *extra])
        hr, rr = read_models(tmp_path / f"r{chrom}.models.gz")
        mine = [r_ for r_, c in zip(rows, CHROMS) if c == chrom]
        for name in INT_COLS + ["add", "var"]:
            np.testing.assert_allclose(column(h, mine, name), column(hr, rr, name),
                                       rtol=1e-7, atol=1e-10, err_msg=name)


def test_default_engine_is_the_exact_full_model(gxe, tmp_path):
    """--interaction without --engine fits every SNP's full model (its MLE), as
    --engine general does; the approximate class engine only with --engine fast."""
    _scan(gxe, tmp_path / "d", "--interaction", "E")
    _scan(gxe, tmp_path / "g", "--interaction", "E", "--engine", "general")
    h, rows = read_models(f"{tmp_path / 'd'}.models.gz")
    hg, rg = read_models(f"{tmp_path / 'g'}.models.gz")
    # the default's compiled fit (hlmm._core._gxe) reaches the same MLE by another
    # Newton path: equal to rounding, not digit for digit
    assert h == hg and len(rows) == len(rg)
    text = [j for j, c in enumerate(h) if c in ("SNP", "chrom", "a1", "a2", "status")]
    assert [[r[j] for j in text] for r in rows] == [[r[j] for j in text] for r in rg]
    num = lambda rs: np.array([[float(v) for j, v in enumerate(r) if j not in text]
                               for r in rs])
    np.testing.assert_allclose(num(rows), num(rg), rtol=1e-6, atol=1e-9)
    assert "exact MLE" in open(f"{tmp_path / 'd'}.log").read()
