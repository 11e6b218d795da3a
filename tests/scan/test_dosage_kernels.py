"""The dosage-path kernels against independent oracles: the sorted dosage-value classes
(``_dosage.dosage_classes``) against numpy's unique/bincount, the many-class Newton of
``_classfit.hlm_fit_classes`` against the three-class kernel on the same data, and the
float path of ``_dosage.pack_rows`` against numpy's round-half-even."""
import numpy as np
import pytest

from hlmm._core import _bed, _classfit, _dosage
from hlmm.scan.dosage_engine import DosageClassScan
from hlmm.scan.class_engines import _hlm_raw


def oracle_classes(row, index, y, scale, powers):
    g = row[index].astype(np.float64)
    ok = ~np.isnan(g)
    keys, inv = np.unique(np.rint(g[ok] * scale).astype(np.int64), return_inverse=True)
    sums = np.stack([np.bincount(inv, weights=y[ok] ** j) for j in range(powers + 1)], 1)
    return keys / scale, sums


@pytest.mark.parametrize("powers", [2, 4])
@pytest.mark.parametrize("dtype,scale,step", [(np.float32, 16384.0, 1),
                                              (np.float64, 16384.0, 1),
                                              (np.float64, 65535.0, 257)])
def test_dosage_classes_match_unique_and_bincount(rng, dtype, powers, scale, step):
    """.pgen's 1/16384 grid (float32 rows, as read, or float64); 8-bit BGEN values
    (multiples of 257/65535) on the 1/65535 grid in float64 rows (float32 does not hold
    k/65535), a few hundred of its 131071 keys in use (including 0 and the largest)."""
    n_fam = 2001
    keys = rng.integers(0, int(2 * scale) // step + 1, n_fam) * step
    keys[:2] = [0, int(2 * scale) // step * step]
    row = (keys / scale).astype(dtype)
    row[rng.random(n_fam) < 0.3] = rng.choice([0.0, 1.0, 2.0])     # shared values
    row[rng.random(n_fam) < 0.05] = np.nan
    index = rng.permutation(n_fam)[:1800].astype(np.intp)            # a subset, permuted
    y = rng.standard_normal(index.size) + 2.0
    nkeys = int(2 * scale + 1.5)
    acc = np.zeros((nkeys, powers + 1))
    g_out, s_out = np.empty(index.size), np.empty((powers + 1, index.size))
    K = _dosage.dosage_classes(row, index, y, scale, acc, g_out, s_out)
    g, sums = oracle_classes(row, index, y, scale, powers)
    assert K == len(g)
    np.testing.assert_array_equal(g_out[:K], g)
    np.testing.assert_array_equal(s_out[0, :K], sums[:, 0])
    np.testing.assert_allclose(s_out[:, :K].T, sums, rtol=1e-12, atol=1e-12)
    assert not acc.any()                                             # left zeroed


def test_dosage_classes_off_grid_resets_the_scratch(rng):
    y = rng.standard_normal(40)
    row = np.rint(rng.uniform(0, 2, 40) * 255) / 255
    row[30] = 0.123456789                                            # not k/255
    acc = np.zeros((511, 3))
    g_out, s_out = np.empty(40), np.empty((3, 40))
    idx = np.arange(40, dtype=np.intp)
    assert _dosage.dosage_classes(row, idx, y, 255.0, acc, g_out, s_out) == -1
    assert not acc.any()


def test_many_class_newton_equals_the_three_class_kernel(rng):
    """Class 0 split into many classes of the same value is the same model: the
    many-class Newton (K > 3) must land on the three-class kernel's fit."""
    n = 3000
    g = rng.binomial(2, 0.35, n)
    y = rng.standard_normal(n) * np.exp(0.2 * g) + 0.3 * g
    st = np.array([[(g == k).sum(), y[g == k].sum(), (y[g == k] ** 2).sum()]
                   for k in range(3)]).reshape(1, 9)
    ref, status = _hlm_raw(st)
    assert status[0] == 0
    parts = np.array_split(np.flatnonzero(g == 0), 7) + [np.flatnonzero(g == k) for k in (1, 2)]
    nk = np.array([len(p) for p in parts], float)
    S1 = np.array([y[p].sum() for p in parts])
    S2 = np.array([(y[p] ** 2).sum() for p in parts])
    gv = np.array([0.0] * 7 + [1.0, 2.0])
    out, st2 = np.empty((1, _classfit.N_OUT)), np.empty(1, dtype=np.int32)
    _classfit.hlm_fit_classes(np.array([0, 9]), nk, S1, S2, gv, out, st2)
    assert st2[0] == 0
    cols = list(_classfit.COLUMNS)
    for name in ("likelihood", "alpha0", "add", "add_se", "beta0", "var", "var_se",
                 "alpha0_se", "beta0_se"):
        j = cols.index(name)
        assert out[0, j] == pytest.approx(ref[0, j], rel=1e-9, abs=1e-12), name


def test_dosage_scan_reads_float32_rows_as_float64(rng):
    scale = 16384.0
    rows = (np.rint(rng.uniform(0, 2, (3, 500)) * scale) / scale).astype(np.float32)
    rows[0, :7] = np.nan
    y = rng.standard_normal(500)
    sc = DosageClassScan(y, np.arange(500, dtype=np.intp), scale)
    r32 = sc.fit_block(rows, which=np.array([2, 0]))
    r64 = sc.fit_block(rows.astype(np.float64)[[2, 0]])
    for k in ("n", "likelihood", "add", "add_se", "var", "var_se"):
        np.testing.assert_array_equal(r32[k], r64[k])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pack_rows_rounds_half_to_even(dtype):
    vals = np.array([0.0, 0.5, 1.5, 2.0, 0.49, 1.51, 2.4, -9.0, np.nan, 1.0, 0.75],
                    dtype=dtype)
    rows = np.ascontiguousarray(vals[None, :])
    packed = np.empty((1, 3), dtype=np.uint8)
    hard = np.empty(1, dtype=np.uint8)
    _dosage.pack_rows(rows, packed, hard)
    codes = np.empty((1, vals.size), dtype=np.int8)
    _bed.decode_codes(packed, np.arange(vals.size, dtype=np.intp), True, codes)
    v = vals.astype(np.float64)
    want = np.where(np.isnan(v) | (v < 0), -1, np.minimum(np.rint(v), 2))
    np.testing.assert_array_equal(codes[0], want)
    assert hard[0] == 0
    # the padding of the last byte is the missing code, as before
    assert packed[0, 2] >> 6 == 1


def test_negative_to_nan():
    rows = np.array([[0.5, -9.0, 2.0], [-0.0, -1e-3, np.nan]], dtype=np.float32)
    _dosage.negative_to_nan(rows)
    want = np.array([[0.5, np.nan, 2.0], [0.0, np.nan, np.nan]], dtype=np.float32)
    np.testing.assert_array_equal(rows, want)


@pytest.mark.parametrize("off_grid", [False, True])
def test_snap_to_grid_matches_numpy(rng, off_grid):
    """BGEN dosages: float32 values of 8-bit probabilities snap to k/65535 exactly (the
    numpy formula it replaced); one value off the grid leaves all of them widened."""
    d = (rng.integers(0, 511, 1000) * 257 / 65535).astype(np.float32)
    d[[3, 500]] = np.nan
    if off_grid:
        d[7] = 0.123456
    t = d.astype(np.float64) * 65535.0
    r = np.rint(t)
    snapped = np.fmax.reduce(np.abs(t - r)) <= 0.05
    want = r / 65535.0 if snapped else d.astype(np.float64)
    out = np.empty(d.size)
    assert _dosage.snap_to_grid(d, 65535.0, 0.05, out) == snapped == (not off_grid)
    np.testing.assert_array_equal(out, want)


def test_pack_rows_can_skip_dosage_rows(rng):
    """Without pack_dosages, hard-call rows are packed as before and a dosage row
    becomes all-missing bytes (its hard flag 0)."""
    n = 1001
    rows = rng.integers(0, 3, (3, n)).astype(np.float32)
    rows[1, 400] = 0.25
    full, part = (np.empty((3, (n + 3) // 4), np.uint8) for _ in range(2))
    h1, h2 = np.empty(3, np.uint8), np.empty(3, np.uint8)
    _dosage.pack_rows(rows, full, h1)
    _dosage.pack_rows(rows, part, h2, False)
    assert list(h1) == list(h2) == [1, 0, 1]
    np.testing.assert_array_equal(part[[0, 2]], full[[0, 2]])
    assert (part[1] == 0x55).all()


@pytest.mark.parametrize("n", [1, 7, 8, 13, 1006])
def test_pack_rows_int8_matches_the_code_table(rng, n):
    """int8 counts → .bed codes 0 → 11, 1 → 10, 2 → 00, −9/−1 → 01, packed four to a
    byte (the word-wide path for whole groups of 8, the table for the rest)."""
    rows = rng.choice(np.array([0, 1, 2, -9, -1], dtype=np.int8), size=(4, n))
    packed = np.empty((4, (n + 3) // 4), np.uint8)
    hard = np.empty(4, np.uint8)
    _dosage.pack_rows(rows, packed, hard)
    code = np.select([rows == 0, rows == 1, rows == 2], [3, 2, 0], 1)
    pad = np.ones((4, 4 * packed.shape[1]), int)        # padding: the missing code
    pad[:, :n] = code
    want = (pad[:, 0::4] | pad[:, 1::4] << 2 | pad[:, 2::4] << 4 | pad[:, 3::4] << 6)
    np.testing.assert_array_equal(packed, want.astype(np.uint8))
    assert hard.all()


@pytest.mark.parametrize("scale", [16384.0, 65535.0])
def test_grid_weights_equal_direct_exps(rng, scale):
    """Thousands of dosage classes on the file's grid: weights from the two exp tables
    (``scale`` given) give the fit of one exp per class (``scale`` 0) to rounding."""
    n = 20000
    keys = np.unique(rng.integers(0, int(2 * scale) + 1, 6000))
    g = keys / scale
    cls = rng.integers(0, len(g), n)
    y = rng.standard_normal(n) * np.exp(0.3 * g[cls]) + 0.2 * g[cls]
    nk = np.bincount(cls, minlength=len(g)).astype(float)
    keep = nk > 0
    S1 = np.bincount(cls, weights=y, minlength=len(g))[keep]
    S2 = np.bincount(cls, weights=y * y, minlength=len(g))[keep]
    g, nk = g[keep], nk[keep]
    assert len(g) > 1024
    outs = []
    for sc in (0.0, scale):
        out, st = np.empty((1, _classfit.N_OUT)), np.empty(1, dtype=np.int32)
        _classfit.hlm_fit_classes(np.array([0, len(g)]), nk, S1, S2, g, out, st, scale=sc)
        assert st[0] == 0
        outs.append(out[0])
    cols = list(_classfit.COLUMNS)
    for name in ("likelihood", "alpha0", "add", "add_se", "beta0", "var", "var_se"):
        j = cols.index(name)
        assert outs[1][j] == pytest.approx(outs[0][j], rel=1e-9), name
    assert outs[1][cols.index("likelihood")] == pytest.approx(outs[0][cols.index("likelihood")],
                                                              rel=1e-14)


def test_dosage_classes_checks_sample_index_without_leaving_sums():
    """An index past the row is an IndexError (checked inside the GIL-free loop), and
    the scratch accumulators are left zero for the next SNP."""
    scale = 2.0
    row = np.array([0.0, 0.5, 1.0, 2.0, 1.5])
    y = np.arange(4.0)
    acc = np.zeros((int(2 * scale + 1.5), 3))
    g, sums = np.empty(4), np.empty((3, 4))
    with pytest.raises(IndexError):
        _dosage.dosage_classes(row, np.array([0, 1, 2, 7], dtype=np.intp), y, scale, acc,
                               g, sums)
    assert not acc.any()
    K = _dosage.dosage_classes(row, np.array([0, 1, 2, 3], dtype=np.intp), y, scale, acc,
                               g, sums)
    assert K == 4 and g[:K].tolist() == [0.0, 0.5, 1.0, 2.0]
    assert sums[1, :K].tolist() == [0.0, 1.0, 2.0, 3.0]
