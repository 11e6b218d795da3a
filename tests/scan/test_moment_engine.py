"""--fit-covariates through the exact class-moments engine (hlmm.scan.moment_engine):
the same table as --engine general (HLM.fit per SNP from the null model), with
covariates in the mean only, in both designs, none, and too many for the moments."""
import re

import numpy as np
import pytest

from clihelp import read_models, run, write_bed, write_table

NUM = ("n", "frequency", "likelihood", "add", "add_se", "add_t", "add_pval", "var",
       "var_se", "var_t", "var_pval", "av_pval")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(8)
    d = tmp_path_factory.mktemp("moments")
    n, m = 2000, 10
    dos = rng.binomial(2, rng.uniform(0.1, 0.5, m), size=(n, m)).astype(float)
    dos[rng.random(n) < 0.04, 3] = np.nan            # missing calls
    C = rng.normal(size=(n, 6))
    y = (C[:, :2] @ [0.4, -0.3] + 0.3 * dos[:, 0]
         + np.exp((0.3 * C[:, 0] + 0.4 * dos[:, 1]) / 2) * rng.normal(size=n))
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    return {"bed": write_bed(d / "geno", dos),
            "pheno": write_table(d / "pheno.txt", ids, y[:, None]),
            "c2": write_table(d / "c2.txt", ids, C[:, :2], header=["c1", "c2"]),
            "c1": write_table(d / "c1.txt", ids, C[:, :1], header=["c1"]),
            "c6": write_table(d / "c6.txt", ids, C, header=[f"c{k}" for k in range(6)]),
            "m": m}


def _scan(s, out, *extra):
    run(["chr", s["bed"], 0, s["m"], s["pheno"], out, "--fit-covariates", "--min-maf", "0",
         "--max-missing", "10", *extra])
    return read_models(f"{out}.models.gz"), open(f"{out}.log").read()


@pytest.mark.parametrize("covars,engine", [
    ([], "moments"),
    (["--mean-covar", "{c2}"], "moments"),
    (["--mean-covar", "{c2}", "--var-covar", "{c1}"], "moments"),
    (["--mean-covar", "{c6}", "--var-covar", "{c6}"], "general"),   # too many moments
])
def test_fit_covariates_moments_equal_general(data, tmp_path, covars, engine):
    covars = [a.format(**data) for a in covars]
    (h, rows), log = _scan(data, tmp_path / "d", *covars)
    (hg, rg), _ = _scan(data, tmp_path / "g", *covars, "--engine", "general")
    assert f"Engine: {engine}" in log
    if engine == "moments":
        k = int(re.search(r"(\d+) SNP\(s\) beyond the class moments", log).group(1))
        assert k < data["m"]
    assert h == hg
    si = h.index("status")
    assert [r[si] for r in rows] == [r[si] for r in rg] == ["ok"] * data["m"]
    cols = [h.index(c) for c in NUM]
    A = np.array([[float(r[j]) for j in cols] for r in rows])
    B = np.array([[float(r[j]) for j in cols] for r in rg])
    np.testing.assert_allclose(A, B, rtol=1e-6, atol=1e-9)
    # the planted mean and variance effects are found
    assert float(rows[0][h.index("add_pval")]) > 10
    assert float(rows[1][h.index("var_pval")]) > 10
