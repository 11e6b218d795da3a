"""``--input-missing-phenotype`` applies to the covariate tables too, as in PLINK
(issue #27): a covariate value equal to the missing number drops the individual, another
number (``none``: no number) is a value."""
import numpy as np
import pytest

from clihelp import run, write_bed, write_table

N = 200


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("covmiss")
    rng = np.random.default_rng(2727)
    ids = [(f"f{i}", f"i{i}") for i in range(N)]
    c = rng.standard_normal(N)
    c[:20] = -9.0                    # 20 individuals at PLINK's default missing value
    c[20:30] = -99.0                 # 10 at another
    y = rng.standard_normal(N) + 0.01 * c
    return {"bed": write_bed(d / "g", rng.binomial(2, 0.3, (N, 4)).astype(float)),
            "pheno": write_table(d / "y.txt", ids, y[:, None]),
            "covar": write_table(d / "c.txt", ids, c[:, None], header=["c"]),
            "c": c}


CASES = [([], 20), (["--input-missing-phenotype", "none"], 0),
         (["--input-missing-phenotype", "-99"], 10)]


@pytest.mark.parametrize("opt", ["--mean-covar", "--var-covar"])
@pytest.mark.parametrize("extra, dropped", CASES)
def test_scan_reads_covariates_with_the_missing_number(files, tmp_path, opt, extra, dropped):
    run(["chr", files["bed"], files["pheno"], tmp_path / "o", "--whole-chr", opt,
         files["covar"], *extra])
    log = (tmp_path / "o.log").read_text()
    assert f"analysed: {N - dropped} " in log
    assert f"{dropped} with a missing covariate" in log
    assert "0 with a missing phenotype" in log


@pytest.mark.parametrize("extra, dropped", CASES)
def test_fit_reads_covariates_with_the_missing_number(files, tmp_path, extra, dropped):
    from hlmm import HLM

    run(["fit", files["pheno"], tmp_path / "f", "--mean-covar", files["covar"], *extra])
    log = (tmp_path / "f.log").read_text()
    assert f"analysed {N - dropped} (0 missing phenotype, {dropped} missing a covariate" in log
    # the covariate's effect is that of the fit on the individuals kept, -9 or -99 kept
    # as values where they are not the missing number
    c = files["c"]
    keep = {0: np.ones(N, bool), 20: c != -9, 10: c != -99}[dropped]
    y = np.loadtxt(files["pheno"], usecols=2)
    X = np.column_stack([np.ones(keep.sum()), c[keep]])
    want = HLM(y[keep], X, np.ones((keep.sum(), 1))).fit().alpha[1]
    rows = (tmp_path / "f.mean_effects.txt").read_text().splitlines()
    got = float(next(r for r in rows if r.split("\t")[0] == "c").split("\t")[1])
    assert got == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("number, dropped", [(-9.0, 20), (None, 0), (-99.0, 10)])
def test_sample_frame_passes_the_missing_number_to_covariates(files, number, dropped):
    from hlmm.io.sample import build_sample

    s = build_sample(files["pheno"], mean_covar=files["covar"], var_covar=files["covar"],
                     missing_number=number)
    assert s.n == N - dropped and s.counts["missing_covariate"] == dropped
