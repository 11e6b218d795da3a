"""Dosage SNPs: one class per stored dosage value gives the exact fit (HLM and HLMM,
model-based and robust SEs), against the general path on the same dosages; hard calls
of any source packed to .bed bytes decode back exactly."""
import numpy as np
import pytest

from hlmm import HLM, HLMM
from hlmm._core import _bed, _classfit
from hlmm.scan.dosage_engine import DosageClassScan
from hlmm.scan.class_engines import HLMMClassScan, _hlm_raw


def _grid_dosages(rng, n, scale, maf=0.3, frac=0.4):
    """Hard calls with a fraction of individuals moved to nearby grid values."""
    g = rng.binomial(2, maf, n).astype(float)
    soft = rng.random(n) < frac
    g[soft] = np.clip(g[soft] + rng.normal(0, 0.2, soft.sum()), 0, 2)
    return np.rint(g * scale) / scale


@pytest.mark.parametrize("scale", [255.0, 16384.0, 65535.0])
@pytest.mark.parametrize("robust", [False, "pooled", "hc0"])
def test_dosage_classes_equal_the_general_hlm(rng, scale, robust):
    n_fam, m = 1203, 4
    idx = rng.permutation(n_fam)[:1100].astype(np.intp)
    y = rng.chisquare(3, 1100)
    rows = np.array([_grid_dosages(rng, n_fam, scale) for _ in range(m)])
    rows[:, :9] = np.nan
    res = DosageClassScan(y, idx, scale, robust).fit_block(rows)
    for j in range(m):
        g = rows[j][idx]
        ok = ~np.isnan(g)
        x = g[ok] - g[ok].mean()
        X = np.column_stack([np.ones(ok.sum()), x])
        h = HLM(y[ok], X, X).fit(robust=robust)
        assert res["ok"][j]
        assert res["add"][j] == pytest.approx(h.alpha[1], rel=1e-8, abs=1e-12)
        assert res["var"][j] == pytest.approx(h.beta[1], rel=1e-8, abs=1e-12)
        assert res["add_se"][j] == pytest.approx(h.alpha_se[1], rel=1e-8)
        assert res["var_se"][j] == pytest.approx(h.beta_se[1], rel=1e-8)
        assert res["likelihood"][j] == pytest.approx(h.loglik, rel=1e-12)
        assert res["freq"][j] == pytest.approx(g[ok].mean() / 2, rel=1e-12)


def test_off_grid_dosage_is_flagged(rng):
    y = rng.standard_normal(50)
    row = np.full(50, 1.0)
    row[3] = 0.123456789        # not a multiple of 1/255
    res = DosageClassScan(y, np.arange(50, dtype=np.intp), 255.0).fit_block(row[None, :])
    assert res["off_grid"][0] and not res["ok"][0]
    # the accumulators were reset: the next SNP is right
    row2 = np.rint(rng.uniform(0, 2, 50) * 255) / 255
    r2 = DosageClassScan(y, np.arange(50, dtype=np.intp), 255.0).fit_block(row2[None, :])
    sc = DosageClassScan(y, np.arange(50, dtype=np.intp), 255.0)
    sc.fit_block(row[None, :])
    r3 = sc.fit_block(row2[None, :])
    assert r3["add"][0] == r2["add"][0]


def test_hlm_fit_classes_equals_the_three_class_kernel(rng):
    y = rng.standard_normal(900)
    g = rng.integers(0, 3, 900)
    st = np.array([[(g == k).sum(), y[g == k].sum(), (y[g == k] ** 2).sum()]
                   for k in range(3)]).reshape(1, 9)
    out, status = _hlm_raw(st)
    o2, s2 = np.empty((1, _classfit.N_OUT)), np.empty(1, dtype=np.int32)
    _classfit.hlm_fit_classes(np.array([0, 3]), st[0, 0::3].copy(), st[0, 1::3].copy(),
                              st[0, 2::3].copy(), np.array([0.0, 1.0, 2.0]), o2, s2)
    np.testing.assert_array_equal(out, o2)
    assert status[0] == s2[0] == 0


@pytest.mark.parametrize("dtype", [np.int8, np.float32, np.float64])
def test_pack_rows_round_trip(rng, dtype):
    """Variant-major rows of any source → .bed bytes: hard calls decode back exactly,
    dosages to their nearest count, and the hard-call flag is per variant."""
    from hlmm._core import _dosage

    n, m = 1003, 7
    H = rng.integers(0, 3, (m, n)).astype(float)
    H[rng.random((m, n)) < 0.05] = np.nan
    if dtype != np.int8:
        H[2, 5] = 1.25                           # a dosage: not a hard call
    rows = (np.where(np.isnan(H), -9, H) if dtype == np.int8 else H).astype(dtype)
    packed = np.empty((m, (n + 3) // 4), dtype=np.uint8)
    hard = np.empty(m, dtype=np.uint8)
    _dosage.pack_rows(np.ascontiguousarray(rows), packed, hard)
    codes = np.empty((m, n), dtype=np.int8)
    _bed.decode_codes(packed, np.arange(n, dtype=np.intp), True, codes)
    expect = np.where(np.isnan(H), -1, np.rint(H))
    np.testing.assert_array_equal(codes, expect)
    assert list(hard) == [1, 1, int(dtype == np.int8)] + [1] * 4


@pytest.mark.parametrize("robust", [False, True])
def test_hlmm_dosage_snp_equals_the_general_hlmm(rng, robust):
    n, l = 400, 15
    G = rng.standard_normal((n, l)) / np.sqrt(l)
    y = rng.standard_t(6, n) + G @ rng.standard_normal(l) * 0.5
    g = _grid_dosages(rng, n, 16384.0)
    g[:5] = np.nan
    r = HLMMClassScan(y, G, 0.1, robust=robust).fit_snp_dosage(g)
    ok = ~np.isnan(g)
    x = g[ok] - g[ok].mean()
    X = np.column_stack([np.ones(ok.sum()), x])
    h = HLMM(y[ok], X, X, G[ok]).fit(h2_init=0.1, h2_min=1e-5, robust=robust)
    assert r["ok"], r["reason"]
    for key, ref in (("add", h.alpha[1]), ("var", h.beta[1]), ("h2", h.h2),
                     ("add_se", h.alpha_se[1]), ("var_se", h.beta_se[1])):
        assert r[key] == pytest.approx(ref, rel=1e-6, abs=1e-9), key
    assert r["likelihood"] == pytest.approx(h.loglik, rel=1e-12)
