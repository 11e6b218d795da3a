"""The counted allele on REGENIE's example data (tests/data/regenie, issue #20 item 6):
--ref-first / --ref-last / --count-a2 work for .bed, .pgen and .bgen, the same data
in two formats gives the same `add` with the right options, `a1` names the counted
allele and the log says which one is counted."""
import os
import shutil
import subprocess

import numpy as np
import pytest

from clihelp import REGENIE, column, read_models, run
from clihelp import assert_clean_failure

pytest.importorskip("bgen")

D = REGENIE
BED, BGEN = os.path.join(D, "example.bed"), os.path.join(D, "example.bgen")
PHENO = os.path.join(D, "phenotype.txt")


def scan(geno, out, *opts):
    run(["chr", geno, 0, 1000, PHENO, out, *opts])
    header, rows = read_models(str(out) + ".models.gz")
    log = open(str(out) + ".log").read()
    return header, rows, log


def text_column(header, rows, name):
    j = header.index(name)
    return [r[j] for r in rows]


def fitted(header, rows):
    add = column(header, rows, "add")
    assert np.isfinite(add).sum() > 900
    return add


@pytest.fixture(scope="module")
def bed_default(tmp_path_factory):
    return scan(BED, tmp_path_factory.mktemp("bed") / "out")


@pytest.mark.parametrize("bgen_opts, bed_opts", [(["--ref-last"], []),
                                                 ([], ["--ref-first"]),
                                                 ([], ["--count-a2"]),
                                                 (["--count-a2"], ["--ref-first"])])
def test_bed_and_bgen_give_the_same_add(tmp_path, bgen_opts, bed_opts):
    """example.bgen holds the .bed's hard calls with the .bim's A1 first: counting the
    same allele gives the same table (equal up to dosage rounding: here exactly)."""
    hb, rb, _ = scan(BED, tmp_path / "bed", *bed_opts)
    hg, rg, _ = scan(BGEN, tmp_path / "bgen", *bgen_opts)
    add_bed, add_bgen = fitted(hb, rb), fitted(hg, rg)
    ok = np.isfinite(add_bed)
    np.testing.assert_array_equal(np.isfinite(add_bgen), ok)
    np.testing.assert_array_equal(np.sign(add_bgen[ok]), np.sign(add_bed[ok]))
    np.testing.assert_allclose(add_bgen[ok], add_bed[ok], rtol=1e-6, atol=1e-9)
    assert text_column(hg, rg, "a1") == text_column(hb, rb, "a1")
    assert text_column(hg, rg, "a2") == text_column(hb, rb, "a2")


def test_a1_names_the_counted_allele(tmp_path, bed_default):
    bim = np.loadtxt(os.path.join(D, "example.bim"), dtype=str)
    hb, rb, log = bed_default
    assert text_column(hb, rb, "a1") == list(bim[:, 4])
    assert "counting the first (A1) allele (the .bed default" in log
    for opts, counted, other, words in (
            ([], 5, 4, "counting the second allele (the .bgen default"),
            (["--ref-first"], 5, 4, "counting the second allele,"),
            (["--ref-last"], 4, 5, "counting the first allele,")):
        h, r, log = scan(BGEN, tmp_path / f"g{len(opts)}{counted}", *opts)
        assert text_column(h, r, "a1") == list(bim[:, counted])
        assert text_column(h, r, "a2") == list(bim[:, other])
        assert words in log, log
    # the default counts of the two formats differ: every sign flips
    add_bed = fitted(hb, rb)
    add_bgen = column(h, r, "add")      # --ref-last, the .bed's allele
    hd, rd, _ = scan(BGEN, tmp_path / "default")
    ok = np.isfinite(add_bed)
    np.testing.assert_allclose(column(hd, rd, "add")[ok], -add_bed[ok], rtol=1e-6)
    np.testing.assert_allclose(add_bgen[ok], add_bed[ok], rtol=1e-6)


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not on PATH")
def test_pgen_ref_last_counts_ref(tmp_path, bed_default):
    """plink2 --make-pgen keeps the .bed's A1 as ALT: the default .pgen scan equals the
    .bed's, and --ref-last (REF) its --count-a2 scan."""
    prefix = str(tmp_path / "ex")
    subprocess.run(["plink2", "--bfile", os.path.join(D, "example"), "--make-pgen",
                    "--out", prefix], check=True, capture_output=True)
    hb, rb, _ = bed_default
    hp, rp, _ = scan(prefix + ".pgen", tmp_path / "p")
    np.testing.assert_allclose(column(hp, rp, "add"), column(hb, rb, "add"), rtol=1e-9)
    hb2, rb2, _ = scan(BED, tmp_path / "b2", "--count-a2")
    hp2, rp2, log = scan(prefix + ".pgen", tmp_path / "p2", "--ref-last")
    assert "counting the first (REF) allele" in log and "default" not in log
    np.testing.assert_allclose(column(hp2, rp2, "add"), column(hb2, rb2, "add"), rtol=1e-9)
    assert text_column(hp2, rp2, "a1") == text_column(hb2, rb2, "a1")


def test_pgen_reads_flip(tmp_path):
    """Every read of a .pgen (hard calls and dosages, all samples or a subset) counts
    REF with count_first."""
    pytest.importorskip("pgenlib")
    from pgen_files import random_hardcalls, write_dosage_pgen, write_hardcall_pgen

    from hlmm.io.pgen import PgenSource

    m, n = 6, 40
    G = random_hardcalls(m, n, seed=3)
    D = np.where(G < 0, -9.0, G + np.round(np.random.default_rng(3).uniform(
        -0.4, 0.4, G.shape) * 16384) / 16384).clip(-9, 2)
    D[D < 0] = -9.0
    for path in (write_hardcall_pgen(str(tmp_path / "h"), G),
                 write_dosage_pgen(str(tmp_path / "d"), D, hard_rows=(1,))):
        alt, ref = PgenSource(path), PgenSource(path, count_first=True)
        assert list(ref.counted_alleles()[0]) == ["A"] * m
        assert list(alt.counted_alleles()[0]) == ["G"] * m
        idx = np.array([5, 1, 3, 0])
        a, r = alt.read_dosages(0, m, idx), ref.read_dosages(0, m, idx)
        np.testing.assert_array_equal(np.isnan(r), np.isnan(a))
        assert np.isnan(a).any()
        np.testing.assert_array_equal(r, 2 - a)
        a, r = alt.read_rows(0, m), ref.read_rows(0, m)
        miss = a < 0 if a.dtype == np.int8 else np.isnan(a)
        np.testing.assert_array_equal(miss, r < 0 if r.dtype == np.int8 else np.isnan(r))
        np.testing.assert_array_equal(r[~miss], 2 - a[~miss])
        ha, hr = alt.read_hardcalls(0, m, idx), ref.read_hardcalls(0, m, idx)
        np.testing.assert_array_equal(hr, np.where(ha < 0, ha, 2 - ha))


def test_bgen_reads_flip():
    from hlmm.io.bgen import BgenSource

    alt, ref = BgenSource(BGEN), BgenSource(BGEN, count_first=True)
    idx = np.array([7, 2, 499])
    np.testing.assert_array_equal(ref.read_dosages(0, 50, idx),
                                  2 - alt.read_dosages(0, 50, idx))
    np.testing.assert_array_equal(ref.read_rows(0, 50), 2 - alt.read_rows(0, 50))
    assert list(ref.counted_alleles()[0]) == list(alt.counted_alleles()[1])


@pytest.mark.parametrize("opts, words", [
    (["--ref-first", "--ref-last"], "--ref-first and --ref-last"),
    (["--count-a2", "--ref-last"], "--count-a2 counts the second allele")])
def test_conflicting_allele_options(tmp_path, opts, words):
    out = tmp_path / "out"
    assert_clean_failure(run(["chr", BGEN, 0, 10, PHENO, out, *opts], expect_ok=False),
                         str(tmp_path), words)
