"""The subset-table class statistics (the HLM scan's fast path) against direct decoding."""
import numpy as np
import pytest
from bed_reader import open_bed

from clihelp import write_bed
from hlmm._core import _bed
from hlmm.io.bed import BedFile


@pytest.fixture(scope="module")
def fileset(tmp_path_factory):
    rng = np.random.default_rng(3)
    n, m = 1003, 37                       # n not a multiple of 4
    dos = rng.binomial(2, rng.uniform(0.01, 0.6, m), size=(n, m)).astype(float)
    dos[rng.random((n, m)) < 0.03] = np.nan
    return write_bed(tmp_path_factory.mktemp("tab") / "g", dos), n, m


def direct_stats(bed_path, index, y, count_a1):
    g = open_bed(bed_path, count_A1=count_a1).read(index=np.s_[index, :], dtype="float64")
    out = np.zeros((g.shape[1], 9))
    for k in range(3):
        sel = g == k
        out[:, 3 * k] = sel.sum(axis=0)
        out[:, 3 * k + 1] = (sel * y[:, None]).sum(axis=0)
        out[:, 3 * k + 2] = (sel * (y * y)[:, None]).sum(axis=0)
    return out


@pytest.mark.parametrize("count_a1", [True, False])
@pytest.mark.parametrize("order", ["identity", "permuted subset"])
def test_tabled_class_stats_equal_direct_sums(fileset, count_a1, order):
    path, n, m = fileset
    rng = np.random.default_rng(5)
    index = np.arange(n) if order == "identity" else rng.permutation(n)[: n - 150]
    index = index.astype(np.intp)
    y = rng.standard_normal(index.size) + 0.3
    bed = BedFile(path, count_a1=count_a1)
    tables = _bed.subset_tables(index, y, n)
    out = np.empty((m, 9))
    _bed.class_stats_tabled(bed.read_packed(0, m), *tables, count_a1, out)
    np.testing.assert_allclose(out, direct_stats(path, index, y, count_a1), rtol=1e-12,
                               atol=1e-9)
    ref = np.empty((m, 9))
    _bed.class_stats(bed.read_packed(0, m), index, y, count_a1, ref)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-9)


def test_subset_tables_reject_bad_index():
    y = np.ones(3)
    with pytest.raises(IndexError):
        _bed.subset_tables(np.array([0, 1, 9], dtype=np.intp), y, 8)
    with pytest.raises(ValueError, match="repeats"):
        _bed.subset_tables(np.array([0, 1, 1], dtype=np.intp), y, 8)


def test_read_packed_mapped_equals_the_file_bytes(fileset, tmp_path, monkeypatch):
    """Blocks mapped from the file (at offsets that are not page-aligned) hold the
    file's bytes, as the read() fallback does; a truncated file is an input error."""
    import shutil

    from hlmm.errors import InputError

    bed_path, n, m = fileset
    bed = BedFile(bed_path)
    per = (n + 3) // 4
    raw = np.frombuffer(open(bed_path, "rb").read(), np.uint8)
    for a, b in ((0, m), (5, 6), (13, 37), (7, 7)):
        got = bed.read_packed(a, b)
        np.testing.assert_array_equal(got, raw[3 + a * per:3 + b * per].reshape(b - a, per))
        assert not got.flags.writeable or got.size == 0
    monkeypatch.setattr(BedFile, "_mapped", staticmethod(lambda fh, off, count: None))
    np.testing.assert_array_equal(bed.read_packed(13, 37),
                                  raw[3 + 13 * per:3 + 37 * per].reshape(24, per))
    monkeypatch.undo()
    short = tmp_path / "short"
    for ext in (".bim", ".fam"):
        shutil.copy(str(bed_path)[:-4] + ext, str(short) + ext)
    bed = BedFile(str(bed_path))
    bed.abspath = str(short) + ".bed"
    with open(bed.abspath, "wb") as fh:
        fh.write(raw[:3 + 20 * per].tobytes())
    with pytest.raises(InputError, match="truncated"):
        bed.read_packed(13, 37)
