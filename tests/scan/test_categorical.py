"""--cat-covar / --cat-base (dummy-coded label columns) and a categorical
--interaction (k−1 df), against dense fits of the dummy coding; bad input."""
import numpy as np
import pytest
from scipy import stats

from clihelp import assert_clean_failure, column, read_models, run, write_bed, write_table
from dense_hlmm import dense_hlm_fit


def _write(path, ids, cols, header):
    with open(path, "w") as fh:
        fh.write(" ".join(["FID", "IID"] + header) + "\n")
        for k, (f, i) in enumerate(ids):
            fh.write(" ".join([f, i] + [str(c[k]) for c in cols]) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    rng = np.random.default_rng(31)
    d = tmp_path_factory.mktemp("cat")
    n, m = 1500, 4
    dos = rng.binomial(2, rng.uniform(0.2, 0.5, m), size=(n, m)).astype(float)
    batch = rng.choice(np.array(["siteA", "siteB", "siteC"]), n, p=[0.5, 0.3, 0.2])
    D = np.column_stack([batch == "siteB", batch == "siteC"]).astype(float)
    c1 = rng.normal(size=n)
    x0 = dos[:, 0] - dos[:, 0].mean()
    y = (0.3 * c1 + D @ [0.5, -0.4] + 0.5 * x0 * D[:, 1]
         + np.exp(D @ [0.4, -0.3] / 2) * rng.normal(size=n))
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    return {"bed": write_bed(d / "g", dos), "pheno": write_table(d / "y.txt", ids, y[:, None]),
            "covar": _write(d / "c.txt", ids, [c1, batch], ["c1", "batch"]),
            "dummies": write_table(d / "dm.txt", ids, np.column_stack([c1, D]),
                                   header=["c1", "batch_siteB", "batch_siteC"]),
            "dos": dos, "y": y, "D": D, "c1": c1, "n": n, "m": m, "ids": ids,
            "batch": batch, "dir": d}


def _scan(s, out, *extra, expect_ok=True, covar=None):
    return run(["chr", s["bed"], 0, s["m"], s["pheno"], out, "--min-maf", "0",
                "--mean-covar", covar or s["covar"], *extra], expect_ok=expect_ok)


def test_dummy_coding_equals_numeric_dummies(cat, tmp_path):
    _scan(cat, tmp_path / "a", "--cat-covar", "batch", "--fit-covariates")
    _scan(cat, tmp_path / "b", "--fit-covariates", covar=cat["dummies"])
    ha, ra = read_models(f"{tmp_path / 'a'}.models.gz")
    hb, rb = read_models(f"{tmp_path / 'b'}.models.gz")
    for c in ("likelihood", "add", "add_se", "var", "var_se"):
        np.testing.assert_allclose(column(ha, ra, c), column(hb, rb, c), rtol=1e-10)
    log = open(f"{tmp_path / 'a'}.log").read()
    assert "levels siteA (" in log and "baseline siteA" in log
    # another baseline: the same model (another parametrisation of the same span)
    _scan(cat, tmp_path / "c", "--cat-covar", "batch", "--cat-base", "batch=siteC",
          "--fit-covariates")
    hc, rc = read_models(f"{tmp_path / 'c'}.models.gz")
    np.testing.assert_allclose(column(hc, rc, "add"), column(ha, ra, "add"), rtol=1e-6)
    assert "baseline siteC" in open(f"{tmp_path / 'c'}.log").read()


def test_categorical_interaction_against_dense(cat, tmp_path):
    out = tmp_path / "o"
    _scan(cat, out, "--cat-covar", "batch", "--interaction", "batch", "--engine", "general")
    h, rows = read_models(f"{out}.models.gz")
    assert h[-6:] == ["int_siteB", "int_siteB_se", "int_siteC", "int_siteC_se", "int_pval",
                      "gxe_pval"]
    n, D = cat["n"], cat["D"]
    for j in range(cat["m"]):
        g = cat["dos"][:, j]
        x = g - g.mean()
        Dc = D - D.mean(axis=0)
        X = np.column_stack([np.ones(n), cat["c1"], D, x, x[:, None] * Dc])
        V = np.column_stack([np.ones(n), D, x])
        t, ll, _, cov = dense_hlm_fit(cat["y"], X, V)
        se = np.sqrt(np.diag(cov))
        assert column(h, rows, "int_siteB")[j] == pytest.approx(t[5], rel=1e-5, abs=1e-7)
        assert column(h, rows, "int_siteC_se")[j] == pytest.approx(se[6], rel=1e-5)
        assert column(h, rows, "add")[j] == pytest.approx(t[4], rel=1e-5, abs=1e-7)
        chi2 = t[5:7] @ np.linalg.solve(cov[5:7, 5:7], t[5:7])
        assert column(h, rows, "int_pval")[j] == pytest.approx(
            -np.log10(stats.chi2.sf(chi2, 2)), rel=1e-4, abs=1e-6)
        chi3 = t[4:7] @ np.linalg.solve(cov[4:7, 4:7], t[4:7])
        assert column(h, rows, "gxe_pval")[j] == pytest.approx(
            -np.log10(stats.chi2.sf(chi3, 3)), rel=1e-4, abs=1e-6)
    assert column(h, rows, "int_pval")[0] > 5
    # the default engine (the exact class moments): the same table
    _scan(cat, tmp_path / "k", "--cat-covar", "batch", "--interaction", "batch")
    hk, rk = read_models(f"{tmp_path / 'k'}.models.gz")
    assert hk == h
    for c in ("int_siteB", "int_siteC", "int_siteB_se", "int_pval", "gxe_pval"):
        np.testing.assert_allclose(column(hk, rk, c), column(h, rows, c), rtol=1e-6,
                                   atol=1e-9, err_msg=c)


def _bad(cat, tmp_path, *args, covar=None):
    out = tmp_path / "out"
    out.mkdir()
    return out, _scan(cat, out / "o", *args, expect_ok=False, covar=covar)


def test_non_numeric_without_cat_covar(cat, tmp_path):
    out, res = _bad(cat, tmp_path)
    assert_clean_failure(res, out, "non-numeric value", "(batch)", "--cat-covar")


def test_numeric_column_with_many_levels(cat, tmp_path):
    cov = _write(tmp_path / "c.txt", cat["ids"], [cat["c1"], cat["batch"]], ["c1", "batch"])
    out, res = _bad(cat, tmp_path, "--cat-covar", "c1", "--cat-covar", "c1", covar=cov)
    assert_clean_failure(res, out, "--cat-covar c1", "1500 levels", "at most 100")


def test_rare_level_and_bad_base(cat, tmp_path):
    b = cat["batch"].copy()
    b[:5] = "siteZ"
    cov = _write(tmp_path / "c.txt", cat["ids"], [cat["c1"], b], ["c1", "batch"])
    out, res = _bad(cat, tmp_path, "--cat-covar", "batch", covar=cov)
    assert_clean_failure(res, out, "level 'siteZ'", "5 individual(s)", "fewer than 10")
    out2 = tmp_path / "o2"
    out2.mkdir()
    res = _scan(cat, out2 / "o", "--cat-covar", "batch", "--cat-base", "batch=siteQ",
                expect_ok=False)
    assert_clean_failure(res, out2, "--cat-base batch=siteQ", "no level 'siteQ'")


def test_cat_covar_missing_column(cat, tmp_path):
    out, res = _bad(cat, tmp_path, "--cat-covar", "centre", covar=cat["dummies"])
    assert_clean_failure(res, out, "--cat-covar centre: no such column")


@pytest.mark.parametrize("args,needle", [
    (["--cat-base", "batch=siteA"], "--cat-base needs --cat-covar"),
    (["--cat-covar", "batch", "--cat-base", "siteA"], "expected NAME=LEVEL"),
])
def test_bad_cat_options(cat, tmp_path, args, needle):
    out, res = _bad(cat, tmp_path, *args)
    assert_clean_failure(res, out, needle)


def test_hlmm_fit_cat_covar(cat, tmp_path):
    """hlmm fit: the same dummy coding (the label column's effects per level)."""
    run(["fit", cat["pheno"], tmp_path / "a", "--mean-covar", cat["covar"],
         "--var-covar", cat["covar"], "--cat-covar", "batch"])
    run(["fit", cat["pheno"], tmp_path / "b", "--mean-covar", cat["dummies"],
         "--var-covar", cat["dummies"]])
    for kind in ("mean_effects", "variance_effects"):
        a = open(f"{tmp_path / 'a'}.{kind}.txt").read()
        b = open(f"{tmp_path / 'b'}.{kind}.txt").read()
        assert a == b and "batch_siteC" in a
    out = tmp_path / "out"
    out.mkdir()
    res = run(["fit", cat["pheno"], out / "o", "--mean-covar", cat["covar"]],
              expect_ok=False)
    assert_clean_failure(res, out, "non-numeric value", "--cat-covar")
