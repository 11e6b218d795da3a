"""The .bed class-sum kernel (``bedsums.h`` behind ``_bed.class_stats_tabled`` and
``_bed.class_moments_tabled``) against a plain numpy bincount oracle.

The kernel looks up two genotype codes per byte and derives the chunk's largest class
from the chunk total when the chunk has no missing call among the analysis samples, and
looks up three otherwise; these tests cover both paths, chunks without analysis samples,
rows whose length is not a multiple of the 8-byte word or the 64-byte chunk, individuals
of the .bed outside the analysis sample, and both allele codings.
"""
import numpy as np
import pytest

from hlmm._core import _bed

CODE_CLASS = {True: np.array([2, -1, 1, 0]), False: np.array([0, -1, 1, 2])}


def pack(codes):
    """SNP-major .bed rows from 2-bit codes (n_snps × n_fam, values 0..3)."""
    m, n = codes.shape
    bps = (n + 3) // 4
    padded = np.zeros((m, 4 * bps), dtype=np.uint8)     # padding: code 00, as PLINK
    padded[:, :n] = codes
    lanes = padded.reshape(m, bps, 4)
    return np.ascontiguousarray(lanes[:, :, 0] | lanes[:, :, 1] << 2 | lanes[:, :, 2] << 4
                                | lanes[:, :, 3] << 6)


def oracle(codes, index, y, count_a1, powers):
    """``out[s, (powers+1)k + j] = Σ_{i∈k} y_i^j`` by np.bincount over decoded classes."""
    cls = CODE_CLASS[count_a1][codes[:, index]]            # n_snps × m, −1 missing
    out = np.zeros((codes.shape[0], 3 * (powers + 1)))
    for s in range(codes.shape[0]):
        ok = cls[s] >= 0
        for j in range(powers + 1):
            out[s, j::powers + 1] = np.bincount(cls[s][ok], weights=y[ok] ** j, minlength=3)
    return out


def random_codes(rng, m, n, missing):
    """Rows of codes: per SNP a frequency, hard calls, then a missing rate (0 for some
    rows, so that their chunks take the two-lookup path)."""
    f = rng.uniform(0.02, 0.7, m)[:, None]
    g = rng.binomial(2, f, size=(m, n))
    codes = np.choose(g, [0, 2, 3]).astype(np.uint8)        # A1 hom, het, A2 hom
    rates = np.where(rng.random(m) < 0.5, 0.0, rng.uniform(0.0, missing, m))
    codes[rng.random((m, n)) < rates[:, None]] = 1
    return codes


def run(packed, index, y, n_fam, count_a1, powers):
    tables = _bed.subset_tables(index, y, n_fam, powers)
    out = np.full((packed.shape[0], 3 * (powers + 1)), np.nan)
    fn = _bed.class_stats_tabled if powers == 2 else _bed.class_moments_tabled
    fn(packed, *tables, count_a1, out)
    return out


@pytest.mark.parametrize("powers", [2, 4])
@pytest.mark.parametrize("count_a1", [True, False])
@pytest.mark.parametrize("n", [2049, 1001, 263, 7])
@pytest.mark.parametrize("m", [5, 300])
def test_kernel_matches_bincount(n, count_a1, powers, m):
    """m = 5: the tables read in place; m = 300 (≥ 16 SNPs): through the permuted
    per-chunk copy (bedsums.h)."""
    rng = np.random.default_rng(n + 10 * powers + count_a1 + m)
    codes = random_codes(rng, m, n, missing=0.05)
    packed = pack(codes)
    index = np.arange(n, dtype=np.intp)
    y = rng.standard_normal(n) * 1.3 + 0.4
    want = oracle(codes, index, y, count_a1, powers)
    got = run(packed, index, y, n, count_a1, powers)
    scale = np.abs(oracle(codes, index, np.abs(y), count_a1, powers)) + 1.0
    np.testing.assert_array_equal(got[:, 0::powers + 1], want[:, 0::powers + 1])  # counts
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13 * scale.max())


@pytest.mark.parametrize("powers", [2, 4])
@pytest.mark.parametrize("count_a1", [True, False])
def test_kernel_with_samples_outside_the_analysis(count_a1, powers):
    """A permuted subset; a run of 700 .fam samples (whole 64-byte chunks) left out."""
    rng = np.random.default_rng(7 + powers)
    n = 3003
    codes = random_codes(rng, 17, n, missing=0.08)
    keep = np.setdiff1d(np.arange(n), np.r_[300:1000, rng.choice(n, 200, replace=False)])
    index = rng.permutation(keep).astype(np.intp)
    y = rng.standard_normal(index.size) - 0.7
    got = run(pack(codes), index, y, n, count_a1, powers)
    want = oracle(codes, index, y, count_a1, powers)
    np.testing.assert_array_equal(got[:, 0::powers + 1], want[:, 0::powers + 1])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_small_classes_are_exact_sums():
    """A class with fewer than 8 members is never derived by subtraction: a single
    carrier's S2 − S1² is exactly 0 (the fit calls it degenerate)."""
    rng = np.random.default_rng(11)
    n = 1000
    codes = np.zeros((3, n), dtype=np.uint8)
    codes[0, 517] = 3                       # one A2 homozygote
    codes[1, [3, 600]] = 2                  # two heterozygotes
    codes[2, :] = rng.choice([0, 2], n)
    codes[2, 999] = 3
    y = rng.standard_normal(n)
    got = run(pack(codes), np.arange(n, dtype=np.intp), y, n, False, 2)
    assert got[0, 6] == 1 and got[0, 7] == y[517] and got[0, 8] == y[517] ** 2
    assert got[1, 3] == 2 and got[1, 4] == y[3] + y[600]
    assert got[2, 6] == 1 and got[2, 7] == y[999] and got[2, 8] == y[999] ** 2
    np.testing.assert_allclose(got, oracle(codes, np.arange(n), y, False, 2), rtol=1e-13,
                               atol=1e-10)


def test_kernel_agrees_with_the_direct_class_stats():
    rng = np.random.default_rng(12)
    n = 1555
    codes = random_codes(rng, 9, n, missing=0.1)
    packed = pack(codes)
    index = rng.permutation(n)[:1400].astype(np.intp)
    y = rng.standard_normal(index.size)
    ref = np.empty((9, 9))
    _bed.class_stats(packed, index, y, True, ref)
    np.testing.assert_allclose(run(packed, index, y, n, True, 2), ref, rtol=1e-13, atol=1e-11)


def test_kernel_shapes():
    y = np.ones(8)
    index = np.arange(8, dtype=np.intp)
    tables = _bed.subset_tables(index, y, 8)
    with pytest.raises(ValueError, match="tables"):
        _bed.class_moments_tabled(np.zeros((2, 2), np.uint8), *tables, True, np.empty((2, 15)))
    with pytest.raises(ValueError, match="shape"):
        _bed.class_stats_tabled(np.zeros((2, 2), np.uint8), *tables, True, np.empty((3, 9)))
    out = np.full((0, 9), np.nan)
    _bed.class_stats_tabled(np.zeros((0, 2), np.uint8), *tables, True, out)


@pytest.mark.parametrize("m", [3, 260])
def test_rows_of_missing_calls(m):
    """Chunks whose analysis samples are all missing add nothing (a row of 0x55 bytes,
    e.g. a dosage variant left unpacked, has all-zero class sums)."""
    rng = np.random.default_rng(21)
    n = 777
    codes = random_codes(rng, m, n, missing=0.05)
    codes[1] = 1
    codes[2, :300] = 1
    y = rng.standard_normal(n)
    idx = np.arange(n, dtype=np.intp)
    for powers in (2, 4):
        got = run(pack(codes), idx, y, n, True, powers)
        assert not got[1].any()
        want = oracle(codes, idx, y, True, powers)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())
