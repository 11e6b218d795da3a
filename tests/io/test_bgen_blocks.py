"""BGEN blocks decoded outside the library (hlmm.io.bgen_blocks, hlmm._core._bgen): the
same dosages, bit for bit, as the library's path (``_fast`` off), on REGENIE's example
files, BgenWriter files of every case the reader knows and plink2 conversions; and the
kernel against dosages computed here from the stored integers."""
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

from hlmm._core import _bgen
from hlmm.io.bgen import BgenSource

from test_io_bgen import make_variants, write_bgen

HERE = os.path.dirname(os.path.abspath(__file__))
REGENIE = os.path.join(HERE, "..", "data", "regenie")


def open_both(path, **kw):
    """(fast, library-only) sources of ``path``, and the set of variants the fast one
    handed to the library."""
    fast, slow = BgenSource(path, **kw), BgenSource(path, **kw)
    slow._fast = False
    library = set()
    decode = fast._variant

    def spy(j):
        library.add(j)
        return decode(j)

    fast._variant = spy
    return fast, slow, library


def assert_same(fast, slow):
    m, n = fast.n_snps, fast.n_samples
    for a in range(0, m, 37):           # several blocks, as the scan reads them
        b = min(m, a + 37)
        np.testing.assert_array_equal(fast.read_rows(a, b), slow.read_rows(a, b))
    idx = np.random.default_rng(0).permutation(n)[: max(1, n // 2)]
    np.testing.assert_array_equal(fast.read_dosages(0, m, idx), slow.read_dosages(0, m, idx))
    assert fast.unusable(0, m) == slow.unusable(0, m)


@pytest.mark.parametrize("name, sample", [("example.bgen", None),
                                          ("example_3chr.bgen", "example_3chr.sample")])
@pytest.mark.parametrize("count_first", [False, True])
def test_regenie_examples(name, sample, count_first):
    kw = {"count_first": count_first}
    if sample:
        kw["sample_file"] = os.path.join(REGENIE, sample)
    fast, slow, library = open_both(os.path.join(REGENIE, name), **kw)
    assert fast._fast
    assert_same(fast, slow)
    assert not library      # 8-bit zlib, two alleles, diploid: all decoded here


@pytest.mark.parametrize("compression", ["zlib", None])
@pytest.mark.parametrize("bits", [8, 16])
def test_every_case_of_the_reader(tmp_path, compression, bits):
    # missing samples (1, 4, 7), multi-allelic (5), a triploid sample (8), phased (9)
    variants = make_variants(np.random.default_rng(3), n=90)
    path = write_bgen(tmp_path / "d.bgen", variants, n=90, bits=bits,
                      compression=compression, samples=[f"s{i}" for i in range(90)])
    fast, slow, library = open_both(path)
    assert_same(fast, slow)
    assert library == {8}   # the triploid sample's variant is the library's


@pytest.mark.parametrize("compression, bits", [("zstd", 8), ("zlib", 12)])
def test_other_blocks_go_to_the_library(tmp_path, compression, bits):
    variants = make_variants(np.random.default_rng(4))
    path = write_bgen(tmp_path / "d.bgen", variants, bits=bits, compression=compression,
                      samples=[f"s{i}" for i in range(40)])
    fast, slow, library = open_both(path)
    assert_same(fast, slow)
    assert library == set(range(12)) - {5}


def test_haploid_samples_go_to_the_library(tmp_path):
    n = 6
    probs = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, np.nan], [0, 1, np.nan],
                      [0.25, 0.75, np.nan]], float)
    path = write_bgen(tmp_path / "h.bgen", [{"probs": probs, "alleles": ["A", "G"],
                                             "ploidy": np.array([2, 2, 2, 1, 1, 1])}],
                      n=n, bits=16, samples=[f"s{i}" for i in range(n)])
    fast, slow, library = open_both(path)
    assert_same(fast, slow)
    assert library == {0}


def test_malformed_sums_go_to_the_library(tmp_path):
    # an uncompressed 8-bit file whose sample 3 of variant 1 stores 200 + 200 > 255
    rng = np.random.default_rng(5)
    variants = [{"probs": rng.dirichlet([1, 1, 1], 40), "alleles": ["A", "G"]}
                for _ in range(3)]
    path = write_bgen(tmp_path / "m.bgen", variants, compression=None,
                      samples=[f"s{i}" for i in range(40)])
    off = int(BgenSource(path)._offsets[1])
    with open(path, "r+b") as fh:
        fh.seek(off)
        head = fh.read(200)
        pos = 0
        for _ in range(3):
            pos += 2 + struct.unpack_from("<H", head, pos)[0]
        pos += 4 + 2
        for _ in range(2):
            pos += 4 + struct.unpack_from("<I", head, pos)[0]
        pos += 4 + 10 + 40 + 2 * 3          # length, preamble, ploidy, samples 0-2
        fh.seek(off + pos)
        fh.write(bytes([200, 200]))
    fast, slow, library = open_both(path)
    assert_same(fast, slow)
    assert library == {1}
    assert fast.unusable(0, 3) == [(1, "malformed probabilities")]


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not on PATH")
@pytest.mark.parametrize("bits", [8, 16])
def test_plink2_exports(tmp_path, bits):
    # dosages with missing calls, converted by plink2 as bench/bench_formats.py does
    out = str(tmp_path / "d")
    subprocess.run([shutil.which("plink2"), "--dummy", "300", "80", "0.05", "dosage-freq=0.4",
                    "--export", "bgen-1.2", f"bits={bits}", "ref-first", "--out", out],
                   check=True, capture_output=True)
    fast, slow, library = open_both(out + ".bgen", sample_file=out + ".sample")
    assert_same(fast, slow)
    assert not library
    assert np.isnan(fast.read_rows(0, 80)).any()


def block(a, b, missing, bits, phased=False):
    """A decompressed layout-2 block of diploid samples storing ``a, b``."""
    n = len(a)
    head = struct.pack("<IHBB", n, 2, 2, 2) + bytes(np.where(missing, 0x82, 2).astype(np.uint8))
    vals = np.column_stack([a, b]).reshape(-1)
    body = vals.astype(np.uint8 if bits == 8 else "<u2").tobytes()
    return np.frombuffer(head + bytes([int(phased), bits]) + body, dtype=np.uint8)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("phased", [False, True])
def test_kernel_against_the_stored_integers(bits, phased):
    rng = np.random.default_rng(bits + phased)
    M, n = 2 ** bits - 1, 1001
    a = rng.integers(0, M + 1, n)
    b = rng.integers(0, M + 1, n) if phased else rng.integers(0, M + 1 - a)
    missing = rng.random(n) < 0.1
    out = np.empty(n)
    assert _bgen.alt_dosage_layout2(block(a, b, missing, bits, phased), out) == 0
    key = (2 * M - a - b) if phased else (2 * M - 2 * a - b)
    want = np.where(missing, np.nan, key * (65535 // M) / 65535.0)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_allclose(out[~missing], key[~missing] / M, rtol=1e-15)


def test_kernel_declines_what_it_does_not_decode():
    a, b, miss = np.array([10, 200]), np.array([5, 100]), np.zeros(2, bool)
    out = np.empty(2)
    assert _bgen.alt_dosage_layout2(block(a, b, miss, 8), out) == 2        # 300 > 255
    good = block(a, [5, 50], miss, 8)
    assert _bgen.alt_dosage_layout2(good, out) == 0
    for pos, value in ((4, 3), (6, 1), (7, 3), (8 + 2 + 1, 12)):   # K, ploidy, bits
        bad = good.copy()
        bad[pos] = value
        assert _bgen.alt_dosage_layout2(bad, out) == 1
    assert _bgen.alt_dosage_layout2(good[:-1], out) == 3
    assert _bgen.alt_dosage_layout2(good, np.empty(3)) == 1           # sample count
