"""PgenSource (hlmm/io/pgen.py): .pgen/.pvar/.psam written here with pgenlib.PgenWriter
and plain text, read back exactly; errors are one-line InputErrors. plink2 is needed
only by the last test (skipped without it)."""
import os
import pickle
import shutil
import subprocess
import threading

import numpy as np
import pytest

pgenlib = pytest.importorskip("pgenlib")

from hlmm.errors import InputError  # noqa: E402
from hlmm.io import open_genotypes  # noqa: E402
from hlmm.io.pgen import PgenSource, read_pgen_header  # noqa: E402
from pgen_files import (RES, as_dosage, default_rows, random_hardcalls,  # noqa: E402,F401
                        write_dosage_pgen, write_hardcall_pgen, write_psam, write_pvar)

def zstd_raw(data):
    """A valid zstd frame of raw (stored) blocks: tests need no zstd library."""
    out = bytearray(b"\x28\xb5\x2f\xfd" + bytes([0xA0]) + len(data).to_bytes(4, "little"))
    step = 128 * 1024
    chunks = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
    for k, c in enumerate(chunks):
        out += ((len(c) << 3) | (k == len(chunks) - 1)).to_bytes(3, "little") + c
    return bytes(out)


def one_line(exc_info):
    msg = str(exc_info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# ---------------------------------------------------------------------------- reading
def test_hardcalls_read_back_with_permuted_subset(tmp_path):
    m, n = 9, 23
    G = random_hardcalls(m, n)
    src = PgenSource(write_hardcall_pgen(tmp_path / "h", G))
    assert src.format == "pgen" and src.n_samples == n and src.n_snps == m
    assert src.has_dosages is False
    assert src.dosage_scale == RES
    full = as_dosage(G)
    got = src.read_dosages(0, m, np.arange(n))
    assert got.dtype == np.float64 and got.flags.c_contiguous and got.shape == (n, m)
    np.testing.assert_array_equal(got, full)
    rng = np.random.default_rng(5)
    idx = rng.permutation(n)[:15]                 # subset, out of order
    got = src.read_dosages(2, 7, idx)
    assert got.shape == (15, 5) and got.flags.c_contiguous
    np.testing.assert_array_equal(got, full[idx, 2:7])
    np.testing.assert_array_equal(src.read_dosages(0, m, np.array([4, 4, 1])),
                                  full[[4, 4, 1]])              # repeats
    np.testing.assert_array_equal(src.read_dosages(3, 4, slice(None)), full[:, 3:4])
    hc = src.read_hardcalls(1, 8, idx)
    assert hc.dtype == np.int8 and hc.shape == (15, 7) and hc.flags.c_contiguous
    want = G.T[idx, 1:8].copy()
    want[want < 0] = -1
    np.testing.assert_array_equal(hc, want)
    assert np.isnan(got).any()                   # missing genotypes present
    assert src.read_dosages(4, 4, idx).shape == (15, 0)
    with pytest.raises(IndexError):
        src.read_dosages(0, m + 1, idx)
    with pytest.raises(IndexError):
        src.read_dosages(0, 1, [n])


def test_dosages_read_back_exactly(tmp_path):
    m, n = 8, 31
    rng = np.random.default_rng(1)
    D = rng.integers(0, 2 * 16384 + 1, size=(m, n)) / RES     # on the .pgen grid
    D[rng.random((m, n)) < 0.08] = -9
    G = random_hardcalls(m, n, seed=2).astype(np.float64)
    D[3] = G[3]                                            # a hard-call-only variant
    src = PgenSource(write_dosage_pgen(tmp_path / "d", D, hard_rows={3}))
    assert src.has_dosages is True
    want = D.T.copy()
    want[want < 0] = np.nan
    np.testing.assert_array_equal(src.read_dosages(0, m, np.arange(n)), want)
    idx = rng.permutation(n)[:20]
    np.testing.assert_array_equal(src.read_dosages(1, 6, idx), want[idx, 1:6])
    assert np.array_equal(np.rint(want * RES), want * RES, equal_nan=True)
    hc = src.read_hardcalls(3, 4, np.arange(n))[:, 0]
    np.testing.assert_array_equal(hc, np.where(G[3] < 0, -1, G[3]).astype(np.int8))


def test_header_has_dosages(tmp_path):
    G = random_hardcalls(3, 5)
    info = read_pgen_header(write_hardcall_pgen(tmp_path / "h", G))
    assert info["dosage"] is False and info["variant_ct"] == 3 and info["sample_ct"] == 5
    assert info["size"] == os.path.getsize(tmp_path / "h.pgen")
    # written with dosage_present=True but holding only hard calls: no dosage records
    D = G.astype(np.float64)
    path = write_dosage_pgen(tmp_path / "d0", D, hard_rows={0, 1, 2})
    assert read_pgen_header(path)["dosage"] is False
    assert PgenSource(path).has_dosages is False
    D[1, 0] = 0.5
    assert read_pgen_header(write_dosage_pgen(tmp_path / "d1", D, hard_rows={0, 2}))["dosage"]


def test_psam_styles_and_counted_alleles(tmp_path):
    G = random_hardcalls(4, 6)
    iid = [f"S{i}" for i in range(6)]
    src = PgenSource(write_hardcall_pgen(tmp_path / "a", G, psam="iid", iid=iid))
    assert src.match_by_iid is True
    assert list(src.iid) == iid and list(src.fid) == iid
    fid = [f"fam{i}" for i in range(6)]
    src = PgenSource(write_hardcall_pgen(tmp_path / "b", G, psam="fid", fid=fid, iid=iid))
    assert src.match_by_iid is False and list(src.fid) == fid and list(src.iid) == iid
    assert src.ids[0] == ("fam0", "S0")
    src = PgenSource(write_hardcall_pgen(tmp_path / "c", G, psam="fam", fid=fid, iid=iid))
    assert src.match_by_iid is False and list(src.fid) == fid and list(src.iid) == iid
    rows = [("1", 10, "x", "A", "G"), ("2", 20, "y", "C", "T"), ("X", 30, "z", "TTA", "T"),
            ("chr3", 40, "w", "G", "C")]
    src = PgenSource(write_hardcall_pgen(tmp_path / "d", G, rows=rows))
    counted, other = src.counted_alleles()
    assert list(counted) == ["G", "T", "T", "C"]          # ALT, as plink2 --glm
    assert list(other) == ["A", "C", "TTA", "G"]          # REF
    assert list(src.chromosome) == ["1", "2", "X", "chr3"]
    assert list(src.bp_position) == [10, 20, 30, 40]
    assert list(src.sid) == ["x", "y", "z", "w"]


def test_missing_ids_replaced(tmp_path):
    G = random_hardcalls(3, 4)
    rows = [("1", 10, ".", "A", "G"), ("2", 20, "rs2", "C", "T"), ("X", 30, ".", "TTA", "T")]
    src = PgenSource(write_hardcall_pgen(tmp_path / "a", G, rows=rows))
    assert list(src.sid) == ["1:10:A:G", "rs2", "X:30:TTA:T"]


def test_multiallelic_unusable_nan(tmp_path):
    n = 10
    rng = np.random.default_rng(3)
    G = random_hardcalls(4, n, seed=4)
    prefix = tmp_path / "ma"
    with pgenlib.PgenWriter(f"{prefix}.pgen".encode(), n, variant_ct=4, nonref_flags=False,
                            allele_ct_limit=3) as w:
        for j in range(4):
            if j == 2:
                codes = rng.integers(0, 3, size=2 * n).astype(np.int32)
                w.append_alleles(codes, allele_ct=3)
            else:
                w.append_biallelic(G[j])
    write_pvar(f"{prefix}.pvar", default_rows(4, ids=["a", "b", ".", "d"],
                                              alts=["G", "G", "T,C", "G"]))
    write_psam(f"{prefix}.psam", [f"F{i}" for i in range(n)], [f"I{i}" for i in range(n)])
    src = PgenSource(f"{prefix}.pgen")
    assert src.unusable(0, 4) == [(2, "multi-allelic")]
    assert src.unusable(0, 2) == [] and src.unusable(3, 4) == []
    assert src.sid[2] == "1:1020:A:T"                    # plink2: first ALT
    assert src.counted_alleles()[0][2] == "T,C"
    assert list(src.n_alleles) == [2, 2, 3, 2]
    idx = np.array([7, 0, 3, 9, 1])
    got = src.read_dosages(0, 4, idx)
    assert np.isnan(got[:, 2]).all()
    keep = [0, 1, 3]
    np.testing.assert_array_equal(got[:, keep], as_dosage(G)[idx][:, keep])
    hc = src.read_hardcalls(0, 4, idx)
    assert (hc[:, 2] == -1).all()


def test_pvar_zst(tmp_path):
    G = random_hardcalls(5, 7)
    path = write_hardcall_pgen(tmp_path / "z", G)
    pvar = tmp_path / "z.pvar"
    (tmp_path / "z.pvar.zst").write_bytes(zstd_raw(pvar.read_bytes()))
    pvar.unlink()
    src = PgenSource(path)
    assert src.pvar_path.endswith(".pvar.zst") and list(src.sid) == [f"rs{j}" for j in range(5)]
    np.testing.assert_array_equal(src.read_dosages(0, 5, np.arange(7)), as_dosage(G))


def test_open_genotypes_dispatch(tmp_path):
    path = write_hardcall_pgen(tmp_path / "o", random_hardcalls(2, 3))
    src = open_genotypes(path, "--geno")
    assert isinstance(src, PgenSource) and src.option == "--geno"


# ---------------------------------------------------------------------------- errors
def test_missing_pvar_psam(tmp_path):
    path = write_hardcall_pgen(tmp_path / "m", random_hardcalls(2, 3))
    os.remove(tmp_path / "m.pvar")
    with pytest.raises(InputError) as ei:
        PgenSource(path, "--geno")
    msg = one_line(ei)
    assert "m.pvar: file not found" in msg and "--geno" in msg
    path = write_hardcall_pgen(tmp_path / "p", random_hardcalls(2, 3))
    os.remove(tmp_path / "p.psam")
    with pytest.raises(InputError) as ei:
        PgenSource(path)
    assert "p.psam: file not found" in one_line(ei)
    with pytest.raises(InputError) as ei:
        PgenSource(tmp_path / "none.pgen")
    assert "none.pgen: file not found" in one_line(ei)


def test_truncated_pgen_at_open(tmp_path):
    G = random_hardcalls(40, 50)
    path = write_hardcall_pgen(tmp_path / "t", G)
    data = open(path, "rb").read()
    for cut in (len(data) - 7, 30, 8, 2):
        with open(path, "wb") as fh:
            fh.write(data[:cut])
        with pytest.raises(InputError) as ei:
            PgenSource(path)
        msg = one_line(ei)
        assert msg.startswith(f"{path}: ")
        assert "cannot read" in msg or "not a PLINK 2" in msg


def test_corrupt_pgen_at_read(tmp_path):
    m, n = 60, 2000          # larger than stdio's buffer, so reads do reach the disk
    G = random_hardcalls(m, n)
    hard = write_hardcall_pgen(tmp_path / "r", G)
    dose = write_dosage_pgen(tmp_path / "s", G + np.where(G == 0, 0.25, 0.0))
    for path in (hard, dose):
        src = PgenSource(path)
        with open(path, "r+b") as fh:                 # truncated after opening
            fh.truncate(os.path.getsize(path) // 2)
        for read in (src.read_dosages, src.read_hardcalls):
            with pytest.raises(InputError) as ei:
                read(0, m, np.arange(n))
            msg = one_line(ei)
            assert msg.startswith(f"{path}: cannot read variants")
            assert "read failure" in msg
    path = hard
    with open(path, "wb") as fh:                      # not a .pgen at all
        fh.write(b"hello world, not a pgen")
    with pytest.raises(InputError) as ei:
        PgenSource(path)
    assert "not a PLINK 2 .pgen" in one_line(ei)


def test_count_mismatch(tmp_path):
    path = write_hardcall_pgen(tmp_path / "c", random_hardcalls(3, 5))
    write_psam(tmp_path / "c.psam", ["a"] * 4, ["1", "2", "3", "4"])
    with pytest.raises(InputError) as ei:
        PgenSource(path)
    assert "c.psam: 4 individuals" in one_line(ei)
    write_psam(tmp_path / "c.psam", ["a"] * 5, ["1", "2", "3", "4", "5"])
    write_pvar(tmp_path / "c.pvar", default_rows(2))
    with pytest.raises(InputError) as ei:
        PgenSource(path)
    assert "c.pvar: 2 variants" in one_line(ei)
    (tmp_path / "c.pvar").write_text("#CHROM\tPOS\tID\tREF\tALT\n1\tx\ta\tA\tC\n")
    with pytest.raises(InputError) as ei:
        PgenSource(path)
    assert "c.pvar: cannot read" in one_line(ei)


def test_duplicate_ids(tmp_path):
    G = random_hardcalls(2, 5)
    path = write_hardcall_pgen(tmp_path / "d", G, fid=["f"] * 5,
                               iid=["a", "b", "c", "b", "e"])
    with pytest.raises(InputError) as ei:
        PgenSource(path, "--geno")
    msg = one_line(ei)
    # header on line 1: samples 2 and 4 are on lines 3 and 5
    assert "d.psam line 5: duplicate individual f b (first on line 3" in msg
    write_psam(tmp_path / "d.psam", None, ["a", "b", "a", "d", "e"], style="iid")
    with pytest.raises(InputError) as ei:
        PgenSource(path)
    assert "d.psam line 4: duplicate individual a (first on line 2" in one_line(ei)
    # same IID in two families is fine when FIDs are given; so are keys whose
    # concatenations coincide
    write_psam(tmp_path / "d.psam", ["f1", "f2", "f1", "f2", "f"], ["a", "a", "b", "b", "1a"])
    assert PgenSource(path).n_samples == 5


def test_bad_psam(tmp_path):
    path = write_hardcall_pgen(tmp_path / "b", random_hardcalls(2, 3))
    (tmp_path / "b.psam").write_text("#SAMPLE\tSEX\nA\t1\nB\t1\nC\t1\n")
    with pytest.raises(InputError) as ei:
        PgenSource(path)
    assert "b.psam line 1: the header must start with #FID or #IID" in one_line(ei)
    (tmp_path / "b.psam").write_text("#FID\tIID\tSEX\nA\t1\t1\nB\t2\nC\t3\t1\n")
    with pytest.raises(InputError) as ei:
        PgenSource(path)
    assert "b.psam line 3: expected 3 columns" in one_line(ei)


# ---------------------------------------------------------------------------- pickling, threads
def test_pickle_round_trip(tmp_path):
    m, n = 12, 40
    rng = np.random.default_rng(7)
    D = rng.integers(0, 2 * 16384 + 1, size=(m, n)) / RES
    src = PgenSource(write_dosage_pgen(tmp_path / "p", D))
    idx = rng.permutation(n)[:30]
    before = src.read_dosages(0, m, idx)
    clone = pickle.loads(pickle.dumps(src))
    np.testing.assert_array_equal(clone.read_dosages(0, m, idx), before)
    np.testing.assert_array_equal(clone.read_hardcalls(0, m, idx),
                                  src.read_hardcalls(0, m, idx))
    assert list(clone.sid) == list(src.sid) and clone.has_dosages


@pytest.mark.parametrize("kind", ["hard", "dosage"])
def test_threads_match_serial(tmp_path, kind):
    m, n = 400, 300
    rng = np.random.default_rng(11)
    if kind == "hard":
        src = PgenSource(write_hardcall_pgen(tmp_path / "h", random_hardcalls(m, n)))
    else:
        D = rng.integers(0, 2 * 16384 + 1, size=(m, n)) / RES
        D[rng.random((m, n)) < 0.05] = -9
        src = PgenSource(write_dosage_pgen(tmp_path / "d", D))
    subsets = [np.arange(n), np.sort(rng.choice(n, 200, replace=False)),
               rng.permutation(n)[:150], np.arange(n)[::-1]]
    blocks = [(a, min(m, a + 37)) for a in range(0, m, 37)]
    serial = {(k, a): src.read_dosages(a, b, s) for k, s in enumerate(subsets)
              for a, b in blocks}
    results, errors = {}, []

    def work(t):
        try:
            for rep in range(3):
                for i, (a, b) in enumerate(blocks):
                    k = (i + t + rep) % len(subsets)       # threads switch subsets
                    results[(t, rep, k, a)] = src.read_dosages(a, b, subsets[k])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(results) == 4 * 3 * len(blocks)
    for (t, rep, k, a), got in results.items():
        np.testing.assert_array_equal(got, serial[(k, a)])


# ---------------------------------------------------------------------------- plink2
@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not on PATH")
def test_plink2_make_pgen_matches_bed(tmp_path):
    from clihelp import write_bed
    from hlmm.io.bed import BedFile

    n, m = 37, 25
    rng = np.random.default_rng(13)
    X = rng.integers(0, 3, size=(n, m)).astype(np.float64)
    X[rng.random((n, m)) < 0.1] = np.nan
    bed = write_bed(tmp_path / "b", X)
    res = subprocess.run(["plink2", "--bfile", str(tmp_path / "b"), "--make-pgen",
                          "--out", str(tmp_path / "p")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    b = BedFile(bed, count_a1=True)
    p = PgenSource(tmp_path / "p.pgen")
    assert p.has_dosages is False
    assert list(p.fid) == list(b.fid) and list(p.iid) == list(b.iid)
    assert list(p.sid) == list(b.sid)
    # plink2 keeps the .bim's A1 (column 5) as ALT and A2 as REF: ALT counts = A1 counts
    assert list(p.alt) == list(b.allele_1) and list(p.ref) == list(b.allele_2)
    assert [list(a) for a in p.counted_alleles()] == [list(a) for a in b.counted_alleles()]
    idx = rng.permutation(n)[:30]
    np.testing.assert_array_equal(p.read_dosages(0, m, idx), b.read_dosages(0, m, idx))
    np.testing.assert_array_equal(p.read_dosages(0, m, np.arange(n)), X)
