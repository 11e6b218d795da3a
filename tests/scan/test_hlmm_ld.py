"""The HLMM class engine's class Grams updated along linkage disequilibrium (LDGrams):
every SNP's statistics and fit against the same SNP formed alone (one syrk per class)."""
import numpy as np
import pytest

from hlmm._core import _gram
from hlmm.scan.class_engines import HLMMClassScan
from hlmm.scan.ld_grams import LDGrams, direct_parts
from ld_mosaic import mosaic_codes


def _data(rng, n=2500, l=30, snps=50):
    codes = mosaic_codes(n, snps, rng)
    codes[1::7] = np.where(codes[1::7] >= 0, 2 - codes[1::7], -1)   # swapped alleles
    for j in range(3, snps, 5):                                     # missing calls
        codes[j, rng.choice(n, 40, replace=False)] = -1
    p = rng.uniform(0.1, 0.5, l)
    R = rng.binomial(2, p, size=(n, l)).astype(float)
    G = np.ascontiguousarray((R - 2 * p) / np.sqrt(2 * p * (1 - p)) / np.sqrt(l))
    y = G @ rng.standard_normal(l) * np.sqrt(0.4) + rng.standard_normal(n) * np.sqrt(0.6)
    y += 0.3 * (codes[-1] - codes[-1].mean()) * rng.standard_normal(n) ** 2  # a variance effect
    return codes, G, (y - y.mean()) / y.std()


def test_kernels_against_dense(rng):
    n, l = 700, 13
    G = rng.standard_normal((n, l))
    Y = np.column_stack([np.ones(n), rng.standard_normal((n, 2))])
    add = rng.choice(n, 300, replace=False).astype(np.intp)
    rem = rng.choice(n, 2100 // 7, replace=False).astype(np.intp)
    M0, S0 = rng.standard_normal((l, l)), rng.standard_normal((3, l))
    M, S = M0.copy(), S0.copy()
    _gram.gram_update_rows(G, add, rem, Y, M, S)
    np.testing.assert_allclose(M, M0 + G[add].T @ G[add] - G[rem].T @ G[rem], atol=1e-11)
    np.testing.assert_allclose(S, S0 + Y[add].T @ G[add] - Y[rem].T @ G[rem], atol=1e-11)
    c = rng.integers(-1, 3, n).astype(np.int8)
    R = rng.integers(-1, 3, (4, n)).astype(np.int8)
    out = np.empty((4, 2), dtype=np.intp)
    _gram.ld_costs(c, R, 1, out)
    for r in range(4):
        for o, ref in enumerate((R[r], np.where(R[r] >= 0, 2 - R[r], -1))):
            moved = c != ref
            assert out[r, o] == (c[moved] != 1).sum() + (ref[moved] != 1).sum()


def test_class_grams_and_fits_equal_each_snp_alone(rng):
    codes, G, y = _data(rng)
    ld = HLMMClassScan(y, G, 0.4)
    alone = HLMMClassScan(y, G, 0.4, ld=False, M_all=ld.M_all)
    for j, c in enumerate(codes):
        got = ld.fit_snp(c)
        want = HLMMClassScan(y, G, 0.4, ld=False, M_all=ld.M_all).fit_snp(c)
        assert got["ok"] == want["ok"], j
        if want["ok"]:
            assert abs(got["likelihood"] / want["likelihood"] - 1) < 1e-7, j
            for k in ("add", "var", "h2"):
                assert abs(got[k] - want[k]) < 1e-6, (j, k)
            for k in ("add_se", "var_se", "h2_se"):
                # the SEs' Hessian is at the last iterate, within 1e-5 SEs of the optimum
                assert abs(got[k] / want[k] - 1) < 1e-4, (j, k)
        # the statistics themselves: the last parts() of the cache against one syrk each
        cache = ld._ld_cache(ld._Y1, ld._S1)
        if want["ok"]:
            slot = cache.last[0]
            parts, largest, _ = cache.entries[slot]
            direct = direct_parts(G, c, largest, ld._Y1)
            assert parts.keys() == direct.keys()
            for k in direct:
                np.testing.assert_allclose(parts[k][0], direct[k][0], rtol=0, atol=1e-10)
                np.testing.assert_allclose(parts[k][1], direct[k][1], rtol=0, atol=1e-10)
        del alone
        alone = None
    counts = ld.ld_counts()
    assert counts["updated"] > len(codes) // 2, counts   # the updates are exercised
    assert counts["drift"] == 0


def test_swapped_alleles_start_from_the_swapped_neighbour(rng):
    codes, G, y = _data(rng, snps=2)
    c = codes[0]
    flipped = np.where(c >= 0, 2 - c, -1).astype(np.int8)
    cache = LDGrams(G, G.T @ G, np.column_stack([np.ones(len(y)), y]),
                    np.vstack([G.sum(0), G.T @ y]), capacity=1)
    counts = np.bincount(c + 1, minlength=4)
    cache.parts(c, int(np.argmax(counts[1:])), 0 + len(c))
    largest = int(np.argmax(np.bincount(flipped + 1, minlength=4)[1:]))
    out = cache.parts(flipped, largest, len(c))
    assert cache.last[1:3] == (0, True)               # nothing moved, swapped
    for k, (M, S) in direct_parts(G, flipped, largest, cache.Y).items():
        np.testing.assert_allclose(out[k][0], M, atol=1e-10)
        np.testing.assert_allclose(out[k][1], S, atol=1e-10)
    cache.keep(0, np.array([0.1, 0.3, 0.2]), 0.25, (0.05, 0.3))
    # log d = β0 + β1(k − 2f): under the swap, class k ↔ 2 − k and β1 ↔ −β1; the start
    # moves by the change in the HLM estimates (here of 0.1 in log d)
    cache.parts(c, int(np.argmax(counts[1:])), len(c))
    b0, b1, h2 = cache.start(0, 0.75, (0.15, -0.3))
    for k in range(3):
        assert b0 + b1 * (k - 1.5) == pytest.approx(0.1 + 0.3 * (2 - k - 0.5) + 0.1)
    assert h2 == 0.2


def test_drift_check_and_chain_length_force_direct_grams(rng):
    codes, G, y = _data(rng, snps=20)
    ld = HLMMClassScan(y, G, 0.4)
    want = [HLMMClassScan(y, G, 0.4, ld=False, M_all=ld.M_all).fit_snp(c) for c in codes]
    ld.fit_snp(codes[0])
    cache = ld._ld_cache(ld._Y1, ld._S1)
    # corrupt the stored Grams of SNP 0 as rounding drift would: every later SNP that
    # starts from it must fail the diagonal check and be formed directly
    for M, S in cache.entries[0][0].values():
        M.flat[:: M.shape[0] + 1] *= 1.0 + 1e-6
    cache.max_depth = 3
    for j in range(1, len(codes)):
        got = ld.fit_snp(codes[j])
        if want[j]["ok"]:
            assert abs(got["likelihood"] / want[j]["likelihood"] - 1) < 1e-7, j
            for k in ("add", "var", "h2"):
                assert abs(got[k] - want[j][k]) < 1e-6, (j, k)
        assert all(e is None or e[2] <= 3 for e in cache.entries)
    assert cache.counts["drift"] >= 1
    assert cache.counts["direct"] >= len(codes) // 4 - 1     # chains cut every 3 updates


def test_many_phenotype_grams_from_the_cache(rng):
    codes, G, y = _data(rng, snps=15)
    Y = np.column_stack([np.ones(len(y)), y, rng.standard_normal(len(y)), y ** 2])
    S_all = np.vstack([G.sum(0)] + [G.T @ Y[:, q] for q in range(1, 4)])
    ld = HLMMClassScan(y, G, 0.4)
    alone = HLMMClassScan(y, G, 0.4, ld=False, M_all=ld.M_all)
    for c in codes:
        got = ld.class_parts_many(c, Y, S_all)
        want = alone.class_parts_many(c, Y, S_all)
        for g, w in zip(got, want):
            assert g.keys() == w.keys()
            for k in w:
                for a, b in zip(g[k], w[k]):
                    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    assert ld._ld_cache(Y, S_all).counts["updated"] > 5


def test_engine_pickles_without_its_caches(rng):
    import pickle

    codes, G, y = _data(rng, snps=3)
    ld = HLMMClassScan(y, G, 0.4)
    first = ld.fit_snp(codes[0])
    again = pickle.loads(pickle.dumps(ld))          # a Dask scan ships the engine
    assert again.ld_counts() == {"direct": 0, "updated": 0, "drift": 0}
    assert again.fit_snp(codes[0])["likelihood"] == first["likelihood"]


def test_cache_holds_two_snps_without_ld(rng):
    n, l = 1500, 20
    G = np.ascontiguousarray(rng.standard_normal((n, l)))
    y = rng.standard_normal(n)
    Y = np.column_stack([np.ones(n), y])
    cache = LDGrams(G, G.T @ G, Y, Y.T @ G, capacity=6)
    for _ in range(20):                         # independent SNPs: never worth updating
        c = rng.binomial(2, 0.3, n).astype(np.int8)
        cache.parts(c, 0, int((c != 0).sum()))
        assert sum(e is not None for e in cache.entries) <= 2 or cache.misses < 6
    assert cache.counts["updated"] == 0
    assert sum(e is not None for e in cache.entries) <= 2
    codes = mosaic_codes(n, 30, rng)
    for c in codes:                             # in LD: the cache fills up
        largest = int(np.argmax(np.bincount(c, minlength=3)))
        cache.parts(c, largest, int((c != largest).sum()))
    assert cache.active == 6 and sum(e is not None for e in cache.entries) == 6
    assert cache.counts["updated"] > 15


def test_a_failed_ld_start_falls_back_to_the_usual_one(rng, monkeypatch):
    codes, G, y = _data(rng, snps=4)
    want = HLMMClassScan(y, G, 0.4, ld=False).fit_snp(codes[3])
    ld = HLMMClassScan(y, G, 0.4)
    for c in codes[:3]:
        ld.fit_snp(c)
    # weights exp(−η) overflow there: Newton cannot start
    monkeypatch.setattr(LDGrams, "start", lambda self, q, f, hlm: np.array([-800.0, 0, 0.3]))
    got = ld.fit_snp(codes[3])
    assert got["ok"] and abs(got["likelihood"] / want["likelihood"] - 1) < 1e-7
    assert abs(got["var"] - want["var"]) < 1e-6


def test_diagonal_check_sees_one_entry_and_cancelling_pairs(rng):
    """The check compares projections of the diagonal (its trace and signed sums) with
    sums over the class's rows: drift in a single entry, or in two entries that cancel
    in the trace, fails it; the updated Grams themselves pass."""
    codes, G, y = _data(rng, snps=6)
    ld = HLMMClassScan(y, G, 0.4)
    for c in codes[:2]:
        ld.fit_snp(c)
    cache = ld._ld_cache(ld._Y1, ld._S1)
    r, flip = cache.last[0], False                    # SNP 1's slot
    old, largest, _ = cache.entries[r]
    c = codes[1].copy()
    k = max((k for k in old if k >= 0), key=lambda k: (c == k).sum())
    c[np.flatnonzero(c == k)[:5]] = largest           # 5 individuals move
    assert cache._update(r, flip, c, largest) is not None
    M = old[k][0]
    l = M.shape[0]
    signs = cache._proj[:, 1]
    j, j2 = 0, int(np.flatnonzero(signs != signs[0])[0])
    for bump in ({j: 1e-8}, {j: 1e-8, j2: None}):
        saved = M.copy()
        for jj, rel in bump.items():
            delta = 1e-8 * M[j, j]
            M[jj, jj] += delta if rel is not None else -delta
        assert cache._update(r, flip, c, largest) is None, bump
        M[...] = saved
    # as sensitive as the entry-wise test it replaced: drift in one entry of twice its
    # bound (rtol·max_j M_jj) fails, whichever entry
    for jj in (0, l // 2, l - 1):
        saved = M.copy()
        M[jj, jj] += 2 * cache.rtol * np.diagonal(M).max()
        assert cache._update(r, flip, c, largest) is None, jj
        M[...] = saved
    assert cache._update(r, flip, c, largest) is not None
    assert l > 1


def test_dosage_snps_start_from_a_recent_dosage_snp_and_fit_as_alone(rng, monkeypatch):
    """Dosage SNPs in LD: Newton starts from the nearest recent dosage SNP's fit
    (LDStarts, by best-guess classes, either orientation), and each fit equals the
    SNP's fitted from the HLM start (ld=False)."""
    from hlmm.scan import ld_grams

    codes, G, y = _data(rng, n=1500, snps=14)
    g = np.where(codes >= 0, codes, np.nan).astype(float)
    noisy = rng.random(g.shape) < 0.05
    g = np.where(noisy, np.clip(g + rng.normal(0, 0.3, g.shape), 0, 2), g)
    g = np.round(g * 255 / 2) * 2 / 255
    used = []
    start = ld_grams.LDStarts.start

    def counted(self, *args):
        out = start(self, *args)
        used.append(out is not None)
        return out

    monkeypatch.setattr(ld_grams.LDStarts, "start", counted)
    warm = HLMMClassScan(y, G, 0.4)
    cold = HLMMClassScan(y, G, 0.4, ld=False, M_all=warm.M_all)
    for j, gj in enumerate(g):
        got, want = warm.fit_snp_dosage(gj), cold.fit_snp_dosage(gj)
        assert got["ok"] == want["ok"], j
        if want["ok"]:
            assert abs(got["likelihood"] / want["likelihood"] - 1) < 1e-10, j
            for k in ("add", "var", "h2"):
                assert abs(got[k] - want[k]) < 1e-7, (j, k)
            for k in ("add_se", "var_se", "h2_se"):
                assert abs(got[k] / want[k] - 1) < 1e-5, (j, k)
    assert sum(used) >= len(g) // 2, used          # the warm starts are exercised
