"""--rint: the rank-inverse-normal transformation, against scipy, and in the scan."""
import numpy as np
import pytest
from scipy import stats

from clihelp import column, read_models, run, write_bed, write_table
from hlmm.io.sample import rank_inverse_normal


def test_against_scipy_with_ties():
    rng = np.random.default_rng(5)
    y = np.round(rng.lognormal(size=501), 1)            # skewed, with many ties
    n = y.size
    ref = stats.norm.ppf((stats.rankdata(y) - 3 / 8) / (n + 1 / 4))
    got = rank_inverse_normal(y)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    assert len(np.unique(y)) < n                          # ties present
    tied = y == y[0]
    assert np.ptp(got[tied]) == 0.0                       # ties share one value
    assert abs(got.mean()) < 0.01 and abs(got.std() - 1) < 0.05


def test_scan_rint_on_analysed_sample(tmp_path):
    rng = np.random.default_rng(6)
    n, m = 400, 6
    dos = rng.binomial(2, 0.3, size=(n, m)).astype(float)
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    bed = write_bed(tmp_path / "g", dos)
    y = rng.lognormal(size=n) + 0.2 * dos[:, 0]
    y[:25] = np.nan                                      # dropped before ranking
    ph = write_table(tmp_path / "y.txt", ids, y[:, None])
    run(["chr", bed, 0, m, ph, tmp_path / "a", "--rint"])
    z = np.full(n, np.nan)
    ok = ~np.isnan(y)
    z[ok] = stats.norm.ppf((stats.rankdata(y[ok]) - 3 / 8) / (ok.sum() + 1 / 4))
    ph2 = write_table(tmp_path / "z.txt", ids, z[:, None])
    run(["chr", bed, 0, m, ph2, tmp_path / "b"])
    ha, ra = read_models(f"{tmp_path / 'a'}.models.gz")
    hb, rb = read_models(f"{tmp_path / 'b'}.models.gz")
    for c in ("add", "add_se", "var", "var_se"):
        np.testing.assert_allclose(column(ha, ra, c), column(hb, rb, c), rtol=1e-5)
    assert "--rint: phenotype rank-inverse-normal transformed over the 375" in \
        open(f"{tmp_path / 'a'}.log").read()
    # without --rint the skewed phenotype's results differ
    run(["chr", bed, 0, m, ph, tmp_path / "c"])
    hc, rc = read_models(f"{tmp_path / 'c'}.models.gz")
    assert not np.allclose(column(hc, rc, "var"), column(ha, ra, "var"), rtol=1e-3)
