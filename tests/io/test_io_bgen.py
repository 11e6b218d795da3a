"""BgenSource (hlmm.io.bgen): BGEN files written here with the ``bgen`` package's
BgenWriter (no plink2 needed), read back against the probabilities written."""
import os
import pickle
import shutil
import subprocess
import threading

import bgen  # a dependency of hlmm; its BgenWriter makes the test files
import numpy as np
import pytest

from hlmm.errors import InputError
from hlmm.io import open_genotypes
from hlmm.io.bgen import BgenSource

N = 40


def write_bgen(path, variants, n=N, samples=None, compression="zlib", bits=8, layout=2,
               keep_bgi=False):
    """A BGEN from ``variants``: dicts with probs (n × k, NaN row = missing), alleles and
    optional varid, rsid, chrom, pos, ploidy, phased. BgenWriter also writes a .bgi
    index beside the file; it is removed unless ``keep_bgi``."""
    path = str(path)
    with bgen.BgenWriter(path, n_samples=n, samples=samples, compression=compression,
                         layout=layout) as w:
        for j, v in enumerate(variants):
            w.add_variant(varid=v.get("varid", f"v{j}"), rsid=v.get("rsid", f"rs{j}"),
                          chrom=v.get("chrom", "1"), pos=v.get("pos", 1000 + j),
                          alleles=v["alleles"], genotypes=np.asarray(v["probs"], float),
                          ploidy=v.get("ploidy", 2), phased=v.get("phased", False),
                          bit_depth=v.get("bits", bits))
    if not keep_bgi and os.path.exists(path + ".bgi"):
        os.remove(path + ".bgi")
    return path


def write_sample(path, id1, id2):
    with open(path, "w") as fh:
        fh.write("ID_1 ID_2 missing sex\n0 0 0 D\n")
        for a, b in zip(id1, id2):
            fh.write(f"{a} {b} 0 2\n")
    return str(path)


def expected_dosage(probs, phased=False):
    p = np.asarray(probs, float)
    if phased:  # two haplotypes, each (P(first), P(second))
        return p[:, 1] + p[:, 3]
    return p[:, 1] + 2 * p[:, 2]


def make_variants(rng, n=N):
    """12 variants: soft and hard calls, missing samples, one multi-allelic (5), one
    with a triploid sample (8), one phased (9), IDs missing on 10 and 11."""
    out = []
    for j in range(12):
        p = rng.dirichlet([0.6, 0.6, 0.6], n)
        if j == 0:  # hard calls: exact 0, 1, 2
            p = np.eye(3)[rng.integers(0, 3, n)]
        if j in (1, 4, 7):
            p[rng.choice(n, 5, replace=False)] = np.nan
        v = {"probs": p, "alleles": ["A", "G"]}
        if j == 5:
            v = {"probs": rng.dirichlet([1] * 6, n), "alleles": ["A", "C", "T"]}
        if j == 8:      # a triploid sample: unusable (haploid ones are read as 0/2)
            ploidy = np.full(n, 2)
            ploidy[3] = 3
            v["ploidy"] = ploidy
            v["probs"] = np.column_stack([p, np.full(n, np.nan)])
            v["probs"][3] = 0.25
        if j == 9:
            v = {"probs": rng.dirichlet([1, 1], (n, 2)).reshape(n, 4), "alleles": ["C", "T"],
                 "phased": True}
        if j == 10:
            v["rsid"] = ""
            v["varid"] = "var10"
        if j == 11:
            v.update(rsid=".", varid="", chrom="2", pos=777, alleles=["AC", "A"])
        out.append(v)
    return out


@pytest.fixture(params=["no_bgi", "bgi"])
def dataset(tmp_path, request):
    rng = np.random.default_rng(11)
    variants = make_variants(rng)
    samples = [f"s{i}" for i in range(N)]
    path = write_bgen(tmp_path / "d.bgen", variants, samples=samples,
                      keep_bgi=request.param == "bgi")
    return path, variants, samples


def usable_columns(variants):
    return [j for j, v in enumerate(variants) if j not in (5, 8)]


# ---------------------------------------------------------------- dosages
def test_dosages_match_probabilities_8bit(dataset):
    path, variants, samples = dataset
    src = BgenSource(path)
    assert (src.format, src.n_samples, src.n_snps, src.has_dosages) == ("bgen", N, 12, True)
    D = src.read_dosages(0, 12, np.arange(N))
    assert D.dtype == np.float64 and D.flags.c_contiguous and D.shape == (N, 12)
    for j in usable_columns(variants):
        v = variants[j]
        exp = expected_dosage(v["probs"], v.get("phased", False))
        miss = np.isnan(exp)
        np.testing.assert_array_equal(np.isnan(D[:, j]), miss)
        # each stored probability is within one 8-bit step (1/255) of the one written
        assert np.max(np.abs(D[~miss, j] - exp[~miss])) <= 3 / 255 + 1e-6
        # and exactly on the 8-bit grid: dosage × 255 is an integer (snapped from the
        # library's float32), so also a multiple of 1/dosage_scale
        k = D[~miss, j] * 255
        assert np.max(np.abs(k - np.round(k))) < 1e-9
        np.testing.assert_array_equal(D[~miss, j], np.round(k) / 255)
        k = D[~miss, j] * src.dosage_scale
        assert np.max(np.abs(k - np.round(k))) < 1e-9
        assert np.all((D[~miss, j] >= 0) & (D[~miss, j] <= 2))
    # hard calls: exactly 0/1/2 counting the second allele
    g = np.argmax(variants[0]["probs"], axis=1)
    np.testing.assert_array_equal(D[:, 0], g.astype(float))


@pytest.mark.parametrize("compression", ["zlib", "zstd", None])
@pytest.mark.parametrize("bits", [8, 12, 16])
def test_bits_and_compression(tmp_path, compression, bits):
    rng = np.random.default_rng(bits)
    probs = [rng.dirichlet([1, 1, 1], N) for _ in range(4)]
    probs[2][[1, 5]] = np.nan
    path = write_bgen(tmp_path / "b.bgen", [{"probs": p, "alleles": ["A", "G"]} for p in probs],
                      compression=compression, bits=bits)
    src = BgenSource(path, sample_file=write_sample(tmp_path / "b.sample", ["0"] * N,
                                                    [f"i{i}" for i in range(N)]))
    assert src.compression == compression
    D = src.read_dosages(0, 4, np.arange(N))
    step = 1 / (2 ** bits - 1)
    for j, p in enumerate(probs):
        exp = expected_dosage(p)
        np.testing.assert_array_equal(np.isnan(D[:, j]), np.isnan(exp))
        ok = ~np.isnan(exp)
        assert np.max(np.abs(D[ok, j] - exp[ok])) <= 3 * step + 1e-6
        k = D[ok, j] * (2 ** bits - 1)
        dev = np.max(np.abs(k - np.round(k)))
        if bits in (8, 16):  # exact: snapped to the 1/65535 grid
            assert dev < 1e-9
        else:  # 12 bits: not on that grid, float32 precision
            assert dev < 1e-3
            k = D[ok, j] * src.dosage_scale
            assert np.max(np.abs(k - np.round(k))) > 0.05


def test_layout1(tmp_path):
    rng = np.random.default_rng(3)
    p = rng.dirichlet([1, 1, 1], N)
    path = write_bgen(tmp_path / "l1.bgen", [{"probs": p, "alleles": ["A", "G"]}],
                      samples=[f"s{i}" for i in range(N)], layout=1, bits=16)
    src = BgenSource(path)
    assert src.layout == 1
    D = src.read_dosages(0, 1, np.arange(N))
    assert np.max(np.abs(D[:, 0] - expected_dosage(p))) < 1e-4


def test_sample_index_permutation_and_subset(dataset):
    path, variants, _ = dataset
    src = BgenSource(path)
    full = src.read_dosages(0, 12, np.arange(N))
    perm = np.random.default_rng(5).permutation(N)
    np.testing.assert_array_equal(src.read_dosages(0, 12, perm), full[perm])
    sub = np.array([7, 3, 30, 3])
    D = src.read_dosages(2, 9, sub)
    assert D.shape == (4, 7) and D.flags.c_contiguous
    np.testing.assert_array_equal(D, full[sub, 2:9])
    np.testing.assert_array_equal(src.read_dosages(4, 4, perm), np.empty((N, 0)))


def test_counted_allele_and_variant_ids(dataset):
    path, variants, _ = dataset
    src = BgenSource(path)
    counted, other = src.counted_alleles()
    assert counted[0] == "G" and other[0] == "A"
    assert counted[11] == "A" and other[11] == "AC"
    assert counted[5] == "C" and other[5] == "A"  # multi-allelic: first two alleles
    assert src.sid[0] == "rs0" and src.sid[10] == "var10" and src.sid[11] == "2:777:AC:A"
    assert src.chromosome[11] == "2" and src.bp_position[11] == 777
    np.testing.assert_array_equal(src.bp_position[:3], [1000, 1001, 1002])
    assert src.bp_position.dtype.kind == "i"


def test_unusable_multiallelic_and_ploidy(dataset):
    path, variants, _ = dataset
    src = BgenSource(path)
    # before any read: the ploidy is found by decoding
    assert src.unusable(0, 12) == [(5, "multi-allelic"), (8, "ploidy not 1 or 2")]
    assert src.unusable(6, 8) == []
    src2 = BgenSource(path)
    D = src2.read_dosages(0, 12, np.arange(N))
    assert np.all(np.isnan(D[:, 5])) and np.all(np.isnan(D[:, 8]))
    assert src2.unusable(0, 12) == [(5, "multi-allelic"), (8, "ploidy not 1 or 2")]
    assert src2.unusable(8, 9) == [(8, "ploidy not 1 or 2")]


# ---------------------------------------------------------------- samples
def test_embedded_sample_ids(dataset):
    path, _, samples = dataset
    src = BgenSource(path)
    assert src.match_by_iid
    np.testing.assert_array_equal(src.iid, samples)
    np.testing.assert_array_equal(src.fid, samples)
    assert src.ids[0] == ("s0", "s0")


@pytest.mark.parametrize("id1, by_iid", [("zero", True), ("same", True), ("fam", False),
                                         ("mixed", False)])
def test_sample_file_beside(tmp_path, id1, by_iid):
    rng = np.random.default_rng(1)
    path = write_bgen(tmp_path / "x.bgen", make_variants(rng)[:3], samples=None)
    iid = [f"i{i}" for i in range(N)]
    fid = {"zero": ["0"] * N, "same": iid, "fam": [f"f{i // 2}" for i in range(N)],
           "mixed": ["0"] + [f"f{i}" for i in range(1, N)]}[id1]
    write_sample(tmp_path / "x.sample", fid, iid)
    src = BgenSource(path)
    assert src.match_by_iid is by_iid
    np.testing.assert_array_equal(src.iid, iid)
    np.testing.assert_array_equal(src.fid, iid if by_iid else fid)


def test_explicit_sample_file_wins_over_embedded(dataset, tmp_path):
    path, _, samples = dataset
    fid = [f"f{i}" for i in range(N)]
    iid = [f"i{i}" for i in range(N)]
    sf = write_sample(tmp_path / "other.sample", fid, iid)
    src = BgenSource(path, sample_file=sf)
    assert not src.match_by_iid
    np.testing.assert_array_equal(src.fid, fid)
    np.testing.assert_array_equal(src.iid, iid)


def one_line_error(excinfo, *parts):
    msg = str(excinfo.value)
    assert "\n" not in msg
    for p in parts:
        assert p in msg, msg
    return msg


def test_no_sample_ids_anywhere(tmp_path):
    rng = np.random.default_rng(1)
    path = write_bgen(tmp_path / "x.bgen", make_variants(rng)[:2], samples=None)
    with pytest.raises(InputError) as e:
        BgenSource(path, "GENOFILE")
    one_line_error(e, path, "--sample", "x.sample")


def test_duplicate_sample_ids(tmp_path):
    rng = np.random.default_rng(1)
    samples = [f"s{i}" for i in range(N)]
    samples[9] = "s2"
    path = write_bgen(tmp_path / "x.bgen", make_variants(rng)[:2], samples=samples)
    with pytest.raises(InputError) as e:
        BgenSource(path)
    one_line_error(e, path, "duplicate", "s2", "3 and 10")
    iid = [f"i{i}" for i in range(N)]
    iid[7] = "i1"
    sf = write_sample(tmp_path / "dup.sample", ["0"] * N, iid)
    with pytest.raises(InputError) as e:
        BgenSource(path, sample_file=sf)
    one_line_error(e, "--sample", "line 10", "i1", "line 4")
    # the same IID in two families is fine when matching by (FID, IID)
    fid = [f"f{i}" for i in range(N)]
    src = BgenSource(path, sample_file=write_sample(tmp_path / "fam.sample", fid, iid))
    assert not src.match_by_iid


def test_bad_sample_files(tmp_path):
    rng = np.random.default_rng(1)
    path = write_bgen(tmp_path / "x.bgen", make_variants(rng)[:2], samples=None)
    with pytest.raises(InputError) as e:
        BgenSource(path, sample_file=str(tmp_path / "missing.sample"))
    one_line_error(e, "--sample", "not found")
    short = write_sample(tmp_path / "short.sample", ["0"] * (N - 1),
                         [f"i{i}" for i in range(N - 1)])
    with pytest.raises(InputError) as e:
        BgenSource(path, sample_file=short)
    one_line_error(e, "--sample", f"{N - 1} samples", f"has {N}")
    bad = tmp_path / "bad.sample"
    bad.write_text("FID IID\n" + "".join(f"0 i{i}\n" for i in range(N)))
    with pytest.raises(InputError) as e:
        BgenSource(path, sample_file=str(bad))
    one_line_error(e, "line 1", "ID_1 ID_2")
    notypes = tmp_path / "notypes.sample"
    notypes.write_text("ID_1 ID_2 missing\n" + "".join(f"0 i{i} 0\n" for i in range(N)))
    with pytest.raises(InputError) as e:
        BgenSource(path, sample_file=str(notypes))
    one_line_error(e, "line 2", "0 0 0")


# ---------------------------------------------------------------- bad files
def test_not_found_and_not_bgen(tmp_path):
    with pytest.raises(InputError) as e:
        BgenSource(str(tmp_path / "nope.bgen"), "GENOFILE")
    one_line_error(e, "nope.bgen", "not found")
    junk = tmp_path / "junk.bgen"
    junk.write_bytes(os.urandom(300))
    with pytest.raises(InputError) as e:
        BgenSource(str(junk))
    one_line_error(e, "junk.bgen", "BGEN")
    empty = tmp_path / "empty.bgen"
    empty.write_bytes(b"")
    with pytest.raises(InputError):
        BgenSource(str(empty))


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, -3])
def test_truncated_file(tmp_path, keep):
    rng = np.random.default_rng(2)
    path = write_bgen(tmp_path / "t.bgen", make_variants(rng), samples=[f"s{i}" for i in range(N)])
    data = open(path, "rb").read()
    cut = int(len(data) * keep) if keep > 0 else len(data) + keep
    with open(path, "wb") as fh:
        fh.write(data[:cut])
    with pytest.raises(InputError) as e:
        src = BgenSource(path)
        src.read_dosages(0, src.n_snps, np.arange(N))
        src.unusable(0, src.n_snps)
    one_line_error(e, "t.bgen")


@pytest.mark.parametrize("what", ["zlib header", "stored length"])
def test_corrupt_genotype_block(tmp_path, what):
    """Damage the library detects (a broken zlib header, a wrong uncompressed length) is
    an InputError on reading. (Scrambled bytes inside a deflate stream that still
    inflate to the right length are not detected: the library skips zlib's checksum.)"""
    import struct

    rng = np.random.default_rng(2)
    variants = [{"probs": rng.dirichlet([1, 1, 1], 2000), "alleles": ["A", "G"]}
                for _ in range(3)]
    path = write_bgen(tmp_path / "c.bgen", variants, n=2000,
                      samples=[f"s{i}" for i in range(2000)])
    src = BgenSource(path)
    o = int(src._offsets[1])
    data = bytearray(open(path, "rb").read())
    # variant 1: varid "v1", rsid "rs1", chrom "1", pos, 2 alleles "A" "G" = 28 bytes;
    # then the block length C, the uncompressed length D and the zlib stream
    assert data[o + 36: o + 38] == b"\x78\x9c"
    if what == "zlib header":
        data[o + 36: o + 38] = b"\x00\x00"
    else:
        (d,) = struct.unpack("<I", data[o + 32: o + 36])
        data[o + 32: o + 36] = struct.pack("<I", d + 100)
    with open(path, "wb") as fh:
        fh.write(bytes(data))
    src = BgenSource(path)  # the variant headers are intact
    np.testing.assert_array_equal(src.read_dosages(0, 1, np.arange(5)).shape, (5, 1))
    with pytest.raises(InputError) as e:
        src.read_dosages(0, 3, np.arange(2000))
    one_line_error(e, "c.bgen", "variant 1", "rs1")
    with pytest.raises(InputError):
        BgenSource(path).unusable(0, 3)


def test_stale_bgi_index(tmp_path):
    rng = np.random.default_rng(2)
    variants = make_variants(rng)
    path = write_bgen(tmp_path / "s.bgen", variants, samples=[f"s{i}" for i in range(N)],
                      keep_bgi=True)
    shutil.copy(path + ".bgi", tmp_path / "old.bgi")
    write_bgen(tmp_path / "s.bgen", variants[:7], samples=[f"s{i}" for i in range(N)])
    shutil.copy(tmp_path / "old.bgi", path + ".bgi")
    with pytest.raises(InputError) as e:
        BgenSource(path)
    one_line_error(e, ".bgi", "bgenix")


def test_empty_variant_list(tmp_path):
    path = write_bgen(tmp_path / "e.bgen", [], samples=[f"s{i}" for i in range(N)])
    src = BgenSource(path)
    assert src.n_snps == 0 and src.unusable(0, 0) == []
    assert src.read_dosages(0, 0, np.arange(N)).shape == (N, 0)


# ---------------------------------------------------------------- interface
def test_open_genotypes_dispatch(dataset, tmp_path):
    path, _, _ = dataset
    src = open_genotypes(path, "GENOFILE")
    assert isinstance(src, BgenSource) and src.option == "GENOFILE"
    fid = [f"f{i}" for i in range(N)]
    sf = write_sample(tmp_path / "o.sample", fid, [f"i{i}" for i in range(N)])
    src = open_genotypes(path, "GENOFILE", sample_file=sf)
    np.testing.assert_array_equal(src.fid, fid)


def test_pickle_roundtrip(dataset):
    path, _, _ = dataset
    src = BgenSource(path)
    full = src.read_dosages(0, 12, np.arange(N))
    clone = pickle.loads(pickle.dumps(src))
    np.testing.assert_array_equal(clone.read_dosages(0, 12, np.arange(N)), full)
    np.testing.assert_array_equal(clone.iid, src.iid)
    assert clone.unusable(0, 12) == src.unusable(0, 12)
    fresh = pickle.loads(pickle.dumps(BgenSource(path)))  # pickled before any read
    assert fresh.unusable(0, 12) == [(5, "multi-allelic"), (8, "ploidy not 1 or 2")]


def test_threads_equal_serial(tmp_path):
    rng = np.random.default_rng(7)
    n, m = 300, 64
    variants = []
    for j in range(m):
        p = rng.dirichlet([0.5, 0.5, 0.5], n)
        p[rng.random(n) < 0.02] = np.nan
        variants.append({"probs": p, "alleles": ["A", "G"]})
    variants[10] = {"probs": rng.dirichlet([1] * 6, n), "alleles": ["A", "C", "G"]}
    samples = [f"s{i}" for i in range(n)]
    for keep_bgi in (False, True):
        path = write_bgen(tmp_path / f"t{keep_bgi}.bgen", variants, n=n, samples=samples,
                          keep_bgi=keep_bgi)
        perm = np.random.default_rng(1).permutation(n)
        serial = BgenSource(path).read_dosages(0, m, perm)
        src = BgenSource(path)  # opened here, read only from other threads
        blocks = [(a, min(m, a + 5)) for a in range(0, m, 5)] * 4
        results, errors = {}, []

        def work(t):
            try:
                for k in range(t, len(blocks), 4):
                    a, b = blocks[k]
                    results[k] = (a, b, src.read_dosages(a, b, perm), src.unusable(a, b))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors
        assert len(results) == len(blocks)
        for a, b, D, bad in results.values():
            np.testing.assert_array_equal(D, serial[:, a:b])
            assert bad == ([(10, "multi-allelic")] if a <= 10 < b else [])


# ---------------------------------------------------------------- against plink2
@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not on PATH")
@pytest.mark.parametrize("ref_first", [True, False])
def test_plink2_bed_to_bgen_hard_calls(tmp_path, ref_first):
    """plink2 --export bgen-1.2 of a .bed: with 'ref-first' the .bed's A1 (plink2's ALT)
    is written second, so the second-allele dosages equal the .bed's A1 counts; by
    default plink2 writes ALT first (PLINK 1.9 order), and they are 2 − A1 counts."""
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
    from clihelp import write_bed
    from hlmm.io.bed import BedFile

    rng = np.random.default_rng(4)
    n, m = 50, 20
    G = rng.integers(0, 3, (n, m)).astype(float)
    G[rng.random((n, m)) < 0.05] = np.nan
    fid, iid = [f"f{i}" for i in range(n)], [f"i{i}" for i in range(n)]
    bed = write_bed(tmp_path / "p", G, fid=fid, iid=iid)
    out = tmp_path / "q"
    cmd = ["plink2", "--bfile", str(tmp_path / "p"), "--export", "bgen-1.2", "bits=8"]
    cmd += (["ref-first"] if ref_first else []) + ["--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    bed_src = BedFile(bed)
    A1 = bed_src.read_dosages(0, m, np.arange(n))
    src = BgenSource(str(out) + ".bgen", sample_file=str(out) + ".sample")
    np.testing.assert_array_equal(src.fid, fid)
    np.testing.assert_array_equal(src.iid, iid)
    assert not src.match_by_iid
    np.testing.assert_array_equal(src.sid, bed_src.sid)
    D = src.read_dosages(0, m, np.arange(n))
    np.testing.assert_array_equal(np.isnan(D), np.isnan(A1))
    if ref_first:
        np.testing.assert_array_equal(D, A1)
        np.testing.assert_array_equal(src.counted_alleles()[0], bed_src.allele_1)
    else:
        np.testing.assert_array_equal(D, 2 - A1)
        np.testing.assert_array_equal(src.counted_alleles()[0], bed_src.allele_2)
    # embedded IDs (plink2 pastes FID_IID) when no .sample is given
    emb = BgenSource(str(out) + ".bgen")
    assert emb.match_by_iid and emb.iid[0] == "f0_i0"


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not on PATH")
def test_plink2_ref_first_counts_the_second_allele(tmp_path):
    """plink2 --bgen FILE ref-first makes the second allele ALT: its ALT frequencies
    are the means of our dosages / 2 (soft dosages, missing samples)."""
    rng = np.random.default_rng(9)
    variants = []
    for j in range(6):
        p = rng.dirichlet([1, 1, 1], N)
        p[[3, 17]] = np.nan
        variants.append({"probs": p, "alleles": ["C", "T"] if j % 2 else ["GA", "G"]})
    path = write_bgen(tmp_path / "w.bgen", variants, samples=[f"s{i}" for i in range(N)])
    subprocess.run(["plink2", "--bgen", path, "ref-first", "--freq", "--out",
                    str(tmp_path / "f")], check=True, capture_output=True)
    with open(tmp_path / "f.afreq") as fh:
        rows = [line.split("\t") for line in fh.read().splitlines()[1:]]
    src = BgenSource(path)
    D = src.read_dosages(0, 6, np.arange(N))
    np.testing.assert_array_equal([r[3] for r in rows], src.counted_alleles()[0])
    np.testing.assert_array_equal([r[2] for r in rows], src.counted_alleles()[1])
    # plink2 keeps dosages in steps of 1/16384 and prints 6 significant digits
    np.testing.assert_allclose([float(r[4]) for r in rows], np.nanmean(D, axis=0) / 2,
                               atol=1e-4)


def test_sample_ids_that_concatenate_alike_are_distinct(tmp_path):
    """FID a / IID bc and FID ab / IID c are two individuals (a NUL-joined key once
    made them one)."""
    rng = np.random.default_rng(2)
    path = write_bgen(tmp_path / "c.bgen", make_variants(rng)[:2], samples=None)
    fid = ["a", "ab"] + [f"f{i}" for i in range(2, N)]
    iid = ["bc", "c"] + [f"i{i}" for i in range(2, N)]
    write_sample(tmp_path / "c.sample", fid, iid)
    assert BgenSource(path).n_samples == N


def test_haploid_samples_read_as_0_2(tmp_path):
    # chrX males, chrY, MT: a haploid call's dosage P(alt) is coded 0/2, as PLINK codes
    # haploid calls; the diploid samples of the same variant as they are
    n = 6
    probs = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, np.nan], [0, 1, np.nan],
                      [0.25, 0.75, np.nan]], float)
    ploidy = np.array([2, 2, 2, 1, 1, 1])
    path = write_bgen(tmp_path / "h.bgen", [{"probs": probs, "alleles": ["A", "G"],
                                             "ploidy": ploidy, "chrom": "X"}], n=n, bits=16,
                      samples=[f"s{i}" for i in range(n)])
    src = BgenSource(path)
    assert src.unusable(0, 1) == []
    d = src.read_dosages(0, 1, np.arange(n))[:, 0]
    np.testing.assert_allclose(d, [0, 1, 2, 0, 2, 1.5], atol=1e-4)
