"""Many phenotypes in one pass (`--pheno-name A,B`, `--phen-index 1-3`, `--all-pheno`):
every phenotype's outputs equal those of a separate single-phenotype run, for each engine
and option; the shared kernels against numpy; selection errors; skipped phenotypes;
resuming."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from clihelp import column, read_models, run, write_bed, write_table
from clihelp import assert_clean_failure

N, M = 700, 14
NUMERIC = ("n", "frequency", "likelihood", "add", "add_se", "add_t", "add_pval", "var",
           "var_se", "var_t", "var_pval", "av_pval", "bf_f", "bf_pval")


@pytest.fixture
def data(tmp_path, rng):
    f = rng.uniform(0.08, 0.5, M)
    dos = rng.binomial(2, f, size=(N, M)).astype(float)
    dos[rng.random((N, M)) < 0.02] = np.nan
    bed = write_bed(tmp_path / "g", dos)
    ids = [(f"f{i}", f"i{i}") for i in range(N)]
    g0 = np.nan_to_num(dos[:, 0])
    Y = np.column_stack([
        rng.normal(size=N) + 0.3 * g0,                       # A: normal, a mean effect
        rng.standard_t(5, N) * np.exp(0.2 * g0),            # B: heavy tails, a variance effect
        rng.chisquare(4, N),                                 # C: skewed
        rng.normal(size=N),                                  # D: missing values
    ])
    Y[rng.random(N) < 0.1, 3] = np.nan
    Y[:5, 3] = -9.0                                          # PLINK's missing value too
    pheno = write_table(tmp_path / "p.txt", ids, Y, header=["A", "B", "C", "D"])
    cov = write_table(tmp_path / "c.txt", ids, rng.normal(size=(N, 2)), header=["c1", "c2"])
    rbed = write_bed(tmp_path / "r", rng.binomial(2, 0.3, size=(N, 20)).astype(float))
    return {"tmp": tmp_path, "bed": bed, "pheno": pheno, "cov": cov, "rbed": rbed,
            "ids": ids, "Y": Y, "dos": dos}


def _same_tables(single, multi, rtol=1e-9):
    h1, r1 = read_models(single)
    h2, r2 = read_models(multi)
    assert h1 == h2
    assert [r[0] for r in r1] == [r[0] for r in r2]
    for c in NUMERIC:
        if c in h1:
            np.testing.assert_allclose(column(h2, r2, c), column(h1, r1, c), rtol=rtol,
                                       atol=1e-12, equal_nan=True, err_msg=c)
    for c in ("chrom", "pos", "a1", "a2"):
        j = h1.index(c)
        assert [r[j] for r in r1] == [r[j] for r in r2]


def _single_and_multi(d, names, extra, multi_args):
    t = d["tmp"]
    for p in names:
        run(["chr", d["bed"], 0, M, d["pheno"], t / f"s_{p}", "--pheno-name", p, *extra])
    res = run(["chr", d["bed"], 0, M, d["pheno"], t / "m", *multi_args, *extra])
    for p in names:
        _same_tables(t / f"s_{p}.models.gz", t / f"m.{p}.models.gz")
        for suffix in (".null_mean_effects.txt", ".null_variance_effects.txt",
                       ".null_h2.txt"):
            single = t / f"s_{p}{suffix}"
            assert single.exists() == (t / f"m.{p}{suffix}").exists()
            if single.exists():
                cols = (0, 1) if suffix == ".null_h2.txt" else (1, 2)
                a = np.loadtxt(single, skiprows=1, usecols=cols, ndmin=2)
                b = np.loadtxt(t / f"m.{p}{suffix}", skiprows=1, usecols=cols, ndmin=2)
                np.testing.assert_allclose(b, a, rtol=1e-12)
    assert not (t / "m.models.gz").exists()
    assert (t / "m.log").exists() and not (t / "m.A.log").exists()
    return res


@pytest.mark.parametrize("extra", [[], ["--robust"], ["--brown-forsythe"],
                                   ["--robust", "--brown-forsythe", "--threads", "2",
                                    "--block-size", "3"],
                                   ["--brown-forsythe", "--threads", "2", "--block-size",
                                    "4"]])
def test_hlm_all_phenotypes_equal_single_runs(data, extra):
    res = _single_and_multi(data, ["A", "B", "C", "D"], extra, ["--all-pheno"])
    log = (data["tmp"] / "m.log").read_text()
    assert "Phenotypes: 4 analysed" in log
    assert "2 distinct sample(s)" in log         # D has its own missing values
    assert log.count("Phenotype 'D': SNPs:") == 1
    assert f"{M} SNPs written to {data['tmp'] / 'm.D.models.gz'}" in res.output
    if "--robust" not in extra:     # B (t5) and C (χ²₄): one summary line, named
        warn = [ln for ln in res.output.splitlines() if "kurtosis" in ln]
        assert len(warn) == 1 and "2 of 4 phenotypes" in warn[0], warn
        assert "B (kurtosis" in warn[0] and "C (kurtosis" in warn[0]
        assert log.count("warning: the kurtosis of the phenotype") == 2


@pytest.mark.parametrize("extra", [[], ["--robust"], ["--mac", "60", "--hwe", "0.2"]],
                         ids=["model", "robust", "mac-hwe"])
def test_many_distinct_samples_share_count_columns(data, tmp_path, rng, extra):
    """Nine phenotypes, each with its own missing values (from 5 to 630 of 700), and
    three individuals missing from all of them: each class count is the union's less
    the individuals the phenotype lacks, a bit field as wide as that number of a shared
    kernel column (3 to 10 bits: seven fields in the first column, two in the second);
    a wrong field, shift or width, or a wrong commonest class of these integer columns
    (the kernel's ``exact`` tiles), would change some phenotype's n and fit."""
    Y = np.column_stack([rng.normal(size=N) for _ in range(9)])
    for k, lack in enumerate([5, 7, 35, 70, 140, 280, 420, 560, 630]):
        Y[3 + rng.choice(N - 3, lack - 3, replace=False), k] = np.nan
    Y[:3] = np.nan
    names = [f"Q{k}" for k in range(9)]
    pheno = write_table(tmp_path / "q.txt", data["ids"], Y, header=names)
    d = dict(data, pheno=pheno, tmp=tmp_path)
    _single_and_multi(d, names, extra, ["--all-pheno"])
    log = (tmp_path / "m.log").read_text()
    assert "over 697 individuals" in log
    assert "9 distinct sample(s), 9 of them counted in 2 column(s)" in log
    if extra and extra[0] == "--mac":       # (the filters did act)
        import re

        assert re.search(r"[1-9]\d* filtered on minor allele count", log)
        assert re.search(r"[1-9]\d* filtered on Hardy-Weinberg", log)


def test_union_fits_equal_the_per_phenotype_path(rng):
    """All phenotypes' fits of a block at once (``UnionFits``) against the path they
    replace, phenotype by phenotype: the gathered sums and count fields against the
    counts and sums the block was made of, the class fit and the filters of ``GenomeScan._fits_from_classes`` (fitted, filtered on
    missingness, MAF, MAC and HWE, and failed rows with their reasons)."""
    from types import SimpleNamespace

    from hlmm.scan.block_fits import BlockFits
    from hlmm.scan.class_engines import HLMClassScan
    from hlmm.scan.genome_scan import GenomeScan
    from hlmm.scan.union_fits import UnionFits

    m, P, C = 40, 5, 8 + 2 * 5
    sizes = [500, 480, 470, 500, 300]
    fields = [None, (0, 31), (5, 31), None, (10, 255)]
    # kernel output: union counts and sums (n_k as the union's, S2 ≥ S1²/n_k)
    counts = np.zeros((m, 4), np.int64)
    counts[:, :3] = rng.multinomial(500, [0.5, 0.4, 0.1], size=m)
    counts[:7] = [[500, 0, 0, 0], [498, 2, 0, 0], [250, 250, 0, 0], [200, 200, 100, 0],
                  [480, 20, 0, 0], [300, 150, 20, 30], [400, 100, 0, 0]]
    out = rng.normal(size=(m, 4, C))
    lack = np.zeros((m, 4, P))
    for p, size in enumerate(sizes):
        if fields[p] is not None:   # the individuals P lacks, per class, ≤ its count
            lack[:, :3, p] = np.minimum(counts[:, :3], rng.multinomial(
                500 - size, [0.5, 0.4, 0.1], size=m))
    out[:, :, :8] = 0.0
    for p, f in enumerate(fields):
        if f is not None:
            out[:, :, p % 8] += lack[:, :, p] * 2.0 ** f[0]
    cols = [np.r_[p % 8, 8 + 2 * p, 9 + 2 * p] for p in range(P)]
    nk = counts[:, None, :3] - lack[:, :3, :].transpose(0, 2, 1)          # (m, P, 3)
    for p in range(P):
        out[:, :3, cols[p][1]] = rng.normal(size=(m, 3)) * np.sqrt(nk[:, p])
        out[:, :3, cols[p][2]] = (nk[:, p] + out[:, :3, cols[p][1]] ** 2
                                  / np.maximum(nk[:, p], 1) + rng.random((m, 3)))
    # SNP 6: two classes, one without variance (degenerate: a failed fit, its reason)
    out[6, 1, cols[0][1:]] = out[6, 1, cols[3][1:]] = 0.0
    cfg = SimpleNamespace(max_missing=5.0, min_maf=0.01, mac=30, hwe=1e-4)
    union = UnionFits(cols, [(0, 0) if f is None else f for f in fields], sizes)
    stats = union.stats((out, counts))
    got = union.fit(cfg, stats)
    codes = set()
    for p in range(P):
        want_stats = np.stack([nk[:, p], out[:, :3, cols[p][1]], out[:, :3, cols[p][2]]],
                              axis=2).reshape(m, 9)
        np.testing.assert_array_equal(stats[p].reshape(m, 9), want_stats)
        scan = SimpleNamespace(cfg=cfg, sample=SimpleNamespace(n=sizes[p]))
        want = BlockFits(m)
        GenomeScan._fits_from_classes(scan, HLMClassScan(np.zeros(3)).fit_block(want_stats),
                                      want, range(m),
                                      lambda j: want_stats.reshape(-1, 3, 3)[j, :, 0])
        for a in ("n", "freq", "code", "est", "bf"):
            np.testing.assert_array_equal(getattr(got[p], a), getattr(want, a), err_msg=a)
        assert got[p].reason == want.reason
        codes |= set(want.code.tolist())
    assert codes >= {0, 1, 2, 3, 5, 6}, codes


def test_hlm_covariates_and_general_engine(data):
    d = data
    _single_and_multi(d, ["B", "D"], ["--mean-covar", d["cov"], "--var-covar", d["cov"]],
                      ["--pheno-name", "B,D"])
    _single_and_multi(d, ["A", "D"], ["--mean-covar", d["cov"], "--fit-covariates"],
                      ["--phen-index", "1,4"])


@pytest.mark.parametrize("extra", [[], ["--robust"]])
def test_hlmm_phenotypes_share_grams_and_equal_single_runs(data, extra):
    d = data
    _single_and_multi(d, ["A", "C", "D"], ["--random-gts", d["rbed"], *extra],
                      ["--phen-index", "1,3-4"])
    log = (d["tmp"] / "m.log").read_text()
    assert "shared within 2 group(s)" in log
    assert "Random-effects design: shared with an earlier phenotype" in log


def test_other_formats(data, rng):
    pytest.importorskip("pgenlib")
    from clihelp import write_pgen

    d = data
    dos = np.rint(np.clip(d["dos"] + rng.normal(0, 0.15, d["dos"].shape)
                          * (rng.random(d["dos"].shape) < 0.4), 0, 2) * 16384) / 16384
    pg = write_pgen(d["tmp"] / "ds", dos, d["ids"], dosages=True)
    for p in ("A", "D"):
        run(["chr", pg, 0, M, d["pheno"], d["tmp"] / f"s_{p}", "--pheno-name", p])
    run(["chr", pg, 0, M, d["pheno"], d["tmp"] / "m", "--pheno-name", "A,D"])
    for p in ("A", "D"):
        _same_tables(d["tmp"] / f"s_{p}.models.gz", d["tmp"] / f"m.{p}.models.gz")


def test_single_selection_keeps_the_plain_names(data):
    d = data
    run(["chr", d["bed"], 0, M, d["pheno"], d["tmp"] / "a", "--phen-index", "2"])
    run(["chr", d["bed"], 0, M, d["pheno"], d["tmp"] / "b", "--pheno-name", "B"])
    assert (d["tmp"] / "a.models.gz").exists() and not (d["tmp"] / "a.B.models.gz").exists()
    _same_tables(d["tmp"] / "a.models.gz", d["tmp"] / "b.models.gz", rtol=0)


def test_no_header_names_pheno_columns(data, tmp_path):
    d = data
    p = write_table(tmp_path / "nh.txt", d["ids"], d["Y"][:, :2])
    run(["chr", d["bed"], 0, M, p, tmp_path / "m", "--all-pheno"])
    assert (tmp_path / "m.PHENO1.models.gz").exists()
    assert (tmp_path / "m.PHENO2.models.gz").exists()
    run(["chr", d["bed"], 0, M, p, tmp_path / "n", "--pheno-name", "PHENO2,PHENO1"])
    _same_tables(tmp_path / "m.PHENO2.models.gz", tmp_path / "n.PHENO2.models.gz", rtol=0)
    # a header that happens to read v1 v2 is a header
    h = write_table(tmp_path / "vh.txt", d["ids"], d["Y"][:, :2], header=["v1", "v2"])
    run(["chr", d["bed"], 0, M, h, tmp_path / "v", "--all-pheno"])
    assert (tmp_path / "v.v1.models.gz").exists() and (tmp_path / "v.v2.models.gz").exists()


@pytest.mark.parametrize("args, message", [
    (["--pheno-name", "A,B,A"], "'A' is named twice"),
    (["--pheno-name", "A,Z"], "no column named 'Z'"),
    (["--pheno-name", "A,"], "an empty name"),
    (["--phen-index", "1-3,2"], "column 2 is selected twice"),
    (["--phen-index", "3-1"], "reversed"),
    (["--phen-index", "1,9"], "--phen-index 9 is out of range"),
    (["--phen-index", "1-99999999999"], "--phen-index 99999999999 is out of range"),
    (["--phen-index", "١"], "not a column number"),
    (["--phen-index", "x"], "not a column number"),
    (["--all-pheno", "--pheno-name", "A"], "exclude each other"),
])
def test_selection_errors(data, tmp_path, args, message):
    d = data
    out = tmp_path / "out"
    out.mkdir()
    res = run(["chr", d["bed"], 0, M, d["pheno"], out / "e", *args], expect_ok=False)
    assert_clean_failure(res, out, message)


def test_phenotype_with_too_few_individuals_is_skipped(data, tmp_path):
    d = data
    run(["chr", d["bed"], 0, M, d["pheno"], tmp_path / "m", "--all-pheno"])
    assert (tmp_path / "m.C.models.gz").exists()       # an earlier run's C, removed below
    Y = d["Y"].copy()
    Y[3:, 2] = np.nan                        # C: 3 individuals left
    p = write_table(tmp_path / "few.txt", d["ids"], Y, header=["A", "B", "C", "D"])
    res = run(["chr", d["bed"], 0, M, p, tmp_path / "m", "--all-pheno"])
    assert "phenotype 'C' skipped" in res.output and "too few" in res.output
    assert not (tmp_path / "m.C.models.gz").exists()
    log = (tmp_path / "m.log").read_text()
    assert "phenotype 'C' skipped" in log and "3 analysed, 1 skipped (C)" in log
    assert not (tmp_path / "m.C.models.gz").exists()
    run(["chr", d["bed"], 0, M, d["pheno"], tmp_path / "s", "--pheno-name", "B"])
    _same_tables(tmp_path / "s.models.gz", tmp_path / "m.B.models.gz")
    Y[3:, :] = np.nan
    p = write_table(tmp_path / "none.txt", d["ids"], Y, header=["A", "B", "C", "D"])
    out = tmp_path / "out"
    out.mkdir()
    res = run(["chr", d["bed"], 0, M, p, out / "n", "--all-pheno"], expect_ok=False)
    assert_clean_failure(res, out, "every phenotype was skipped")


def test_union_kernel_against_numpy(rng):
    from hlmm._core import _multi

    n_bed = 203                              # not a multiple of 4 (nor of 8)
    # rows with mostly 0b00, mostly 0b11, uniform codes and no missing call
    codes4 = np.stack([rng.choice(4, (3, 4 * ((n_bed + 3) // 4)), p=p)
                       for p in ([.7, .05, .2, .05], [.05, .05, .2, .7], [.25] * 4,
                                 [.45, 0, .1, .45])])
    codes4 = codes4.reshape(12, -1, 4)
    packed = (codes4 << np.array([0, 2, 4, 6])).sum(axis=2).astype(np.uint8)
    # a subset (repacked in union order); all of the .bed sample and a prefix of it
    # (the .bed bytes read as they are, the last group of eight part-filled and, for
    # 203, its second byte past the row)
    subsets = [np.sort(rng.choice(n_bed, 150, replace=False)), np.arange(n_bed),
               np.arange(150), np.arange(1)]
    short, reused = np.empty(7, np.uint16), np.full(1 << 16, 0xFFFF, np.uint16)
    for index in subsets:
        index = index.astype(np.intp)
        for C in (1, 7, 8, 9, 20):
            B = rng.normal(size=(index.size, C))
            Bt = _multi.tile_columns(B)
            for count_a1, lut in ((True, [2, -1, 1, 0]), (False, [0, -1, 1, 2])):
                codes = np.array(lut)[(packed[:, index >> 2] >> (2 * (index & 3))) & 3]
                # an unaligned copy of the tiles too (as unpickled on a Dask worker)
                raw = np.empty(Bt.size + 1)[1:]
                raw[:] = Bt.ravel()
                # the SNPs in parts (lists for 5 at a time: 3 parts of 4), or all at once
                five = 5 * (8 * ((index.size + 7) // 8) + 1)
                for tile, tiles, lb in ((1, Bt, 1 << 26), (2, Bt, five),
                                        (256, Bt, 1 << 26), (3, raw.reshape(Bt.shape), 1)):
                    out = np.full((12, 4, C), np.nan)
                    counts = np.full((12, 4), -1, np.int64)
                    # a scratch buffer for the lists: none, too short (the kernel's
                    # own then), or one reused from call to call
                    scratch = None if tile == 1 else short if tile == 2 else reused
                    _multi.class_column_sums(packed, index, count_a1, tiles, out, counts,
                                             tile, lb, scratch)
                    for j in range(12):
                        for k, cls in enumerate((0, 1, 2, -1)):
                            np.testing.assert_allclose(out[j, k],
                                                       B[codes[j] == cls].sum(axis=0),
                                                       atol=1e-12)
                            assert counts[j, k] == (codes[j] == cls).sum()
    # counts alone (no columns)
    counts = np.empty((12, 4), np.int64)
    _multi.class_column_sums(packed, np.arange(n_bed, dtype=np.intp), True,
                             _multi.tiled_zeros(n_bed, 0), np.empty((12, 4, 0)), counts)
    codes = np.array([2, -1, 1, 0])[(packed[:, np.arange(n_bed) >> 2]
                                     >> (2 * (np.arange(n_bed) & 3))) & 3]
    for k, cls in enumerate((0, 1, 2, -1)):
        np.testing.assert_array_equal(counts[:, k], (codes == cls).sum(axis=1))
    B = rng.normal(size=(n_bed, 1))
    with pytest.raises(IndexError):
        _multi.class_column_sums(packed, np.array([4 * packed.shape[1]], np.intp), True,
                                 _multi.tile_columns(B[:1]), np.empty((12, 4, 1)))
    with pytest.raises(ValueError, match="tile_columns"):
        _multi.class_column_sums(packed, np.arange(3, dtype=np.intp), True,
                                 _multi.tile_columns(B[:11]), np.empty((12, 4, 1)))


def test_union_kernel_derived_columns(rng):
    """Columns declared ``derive`` (their commonest class per SNP from their totals):
    integer columns sum to exactly the integers numpy counts, float columns to the
    direct sums within rounding, whichever code is the commonest (0b00, 0b11, the
    missing code 0b01, or a tie), also when every tile is derived (the commonest
    code's lists then not made) and for the .bed rows as they are (lanes past n in
    the row's last byte, which must not count)."""
    from hlmm._core import _multi

    n = 301
    codes4 = np.stack([rng.choice(4, (2, 4 * ((n + 3) // 4) + 8), p=p)
                       for p in ([.7, .05, .2, .05], [.05, .05, .2, .7], [.05, .8, .1, .05],
                                 [.25] * 4)]).reshape(8, -1, 4)
    codes4[7, :, :] = np.array([0, 2, 0, 2])          # a tie of codes 0b00 and 0b10
    packed = (codes4 << np.array([0, 2, 4, 6])).sum(axis=2).astype(np.uint8)
    for index in (np.sort(rng.choice(4 * packed.shape[1], n, replace=False)),
                  np.arange(n)):
        index = index.astype(np.intp)
        B = np.column_stack([rng.integers(0, 1 << 20, (n, 16)).astype(float) * 2.0 ** 30,
                             rng.normal(size=(n, 5))])
        Bt = _multi.tile_columns(B)
        codes = np.array([2, -1, 1, 0])[(packed[:, index >> 2] >> (2 * (index & 3))) & 3]
        for derive in (8, 16, 24):
            out = np.full((8, 4, B.shape[1]), np.nan)
            counts = np.empty((8, 4), np.int64)
            _multi.class_column_sums(packed, index, True, Bt, out, counts, 4,
                                     derive=derive)
            for j in range(8):
                for k, cls in enumerate((0, 1, 2, -1)):
                    want = B[codes[j] == cls].sum(axis=0)
                    np.testing.assert_array_equal(out[j, k, :16], want[:16])
                    np.testing.assert_allclose(out[j, k, 16:], want[16:], atol=1e-12)
                    assert counts[j, k] == (codes[j] == cls).sum()
    with pytest.raises(ValueError, match="derive must be a multiple of 8"):
        _multi.class_column_sums(packed, index, True, Bt, out, derive=4)


def test_list_entries_sizes_a_part():
    """The scratch a part of a block needs: 128 MB of lists hold 1342 SNPs at n =
    100,000, so 1024 SNPs are one part and 2048 two of 1024."""
    from hlmm._core import _multi

    assert _multi.list_entries(1024, 100_000) == 1024 * 4 * 12_500
    assert _multi.list_entries(2048, 100_000) == 1024 * 4 * 12_500
    assert _multi.list_entries(12, 203, 5 * (8 * 26 + 1)) == 4 * 4 * 26    # 3 parts of 4
    assert _multi.list_entries(0, 203) == 0


def test_gram_products_rows_against_numpy(rng):
    from hlmm._core import _gram

    G = rng.normal(size=(2500, 13))
    Y = np.column_stack([np.ones(2500), rng.normal(size=(2500, 4))])
    for rows in (np.array([], np.intp), np.sort(rng.choice(2500, 1700, replace=False))):
        rows = rows.astype(np.intp)
        M, S = np.empty((13, 13)), np.empty((5, 13))
        _gram.gram_products_rows(G, rows, Y, M, S)
        np.testing.assert_allclose(M, G[rows].T @ G[rows], atol=1e-10)
        np.testing.assert_allclose(S, Y[rows].T @ G[rows], atol=1e-10)


def test_parse_index_list():
    from hlmm.errors import InputError
    from hlmm.io.phenotypes import parse_index_list

    assert parse_index_list("1-3,7, 9-10") == [1, 2, 3, 7, 9, 10]
    assert parse_index_list(4) == [4]
    with pytest.raises(InputError):
        parse_index_list("2-")


def test_resume_after_kill_and_uneven_partials(data, tmp_path):
    """kill -9 mid-run, one phenotype's partial a block ahead of another's (a stop
    between two appends): --resume gives the tables of an uninterrupted run."""
    d = data
    args = [sys.executable, "-m", "hlmm.cli.main", "chr", d["bed"], "0", str(M), d["pheno"],
            str(tmp_path / "k"), "--pheno-name", "A,D", "--random-gts", d["rbed"],
            "--block-size", "1", "--threads", "1", "--engine", "general"]
    run(["chr", d["bed"], 0, M, d["pheno"], tmp_path / "full", "--pheno-name", "A,D",
         "--random-gts", d["rbed"], "--engine", "general"])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([str(a) for a in args], cwd=tmp_path, env=env,
                            stderr=subprocess.DEVNULL)
    part = tmp_path / "k.D.models.partial"
    t0 = time.time()
    while time.time() - t0 < 60:
        if part.exists() and part.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lines = part.read_text().splitlines(keepends=True)
    assert 3 <= len(lines) < M
    part.write_text("".join(lines[:-1]))     # D one SNP behind A
    res = subprocess.run([str(a) for a in args] + ["--resume"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for p in ("A", "D"):
        _same_tables(tmp_path / f"full.{p}.models.gz", tmp_path / f"k.{p}.models.gz")
    assert not list(tmp_path.glob("k*.partial")) and not list(tmp_path.glob("k*.resume"))


def test_block_fits_round_trip():
    from hlmm.scan.block_fits import BlockFits, SnpFit

    fits = [SnpFit(10, 0.2, {"likelihood": -5.0, "add": 0.1, "add_se": 0.2, "var": -0.3,
                             "var_se": 0.4}, "ok", (1.5, 0.7)),
            SnpFit(9, np.nan, None, "filtered_missing"),
            SnpFit(10, 0.01, None, "filtered_maf"),
            SnpFit(10, 0.3, None, "failed: line search failed", (2.0, 0.1)),
            SnpFit(0, np.nan, None, "unusable: multi-allelic"),
            SnpFit(10, 0.2, {"likelihood": -5.0, "add": 0.1, "add_se": 0.2, "var": -0.3,
                             "var_se": 0.4, "av_cov": 0.01}, "ok")]
    b = BlockFits.from_fits(fits)
    assert repr(list(b)) == repr(fits)          # (repr: NaN equals NaN)
    assert b.statuses() == ["ok", "filtered_missing", "filtered_maf",
                            "failed:line search failed", "unusable:multi-allelic", "ok"]
    assert b.failures() == [(3, "line search failed")]
    assert b.tested.tolist() == [True, False, False, True, False, True]
    b[3] = fits[0]
    assert b[3] == fits[0] and b.failures() == []


def test_c_formatting_equals_python(rng):
    from hlmm._core._format import sig6_cells

    def _sig6(values):       # what the table's Python formatting wrote
        return ["NA" if v != v else "%.6g" % v for v in values]

    with np.errstate(over="ignore"):
        v = rng.standard_normal(45000) * 10.0 ** rng.integers(-320, 309, 45000)
    v[:16] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e16, 1e-5, 123456.5, 0.1, 5e-324,
              1.7976931348623157e308, 999999.5, 9999995.0, -1.234565e-300, 1e5, 1e6]
    X = v.reshape(-1, 9)
    assert sig6_cells(X) == ["\t".join(_sig6(r)) for r in X.tolist()]


def test_append_per_phenotype(data, tmp_path):
    d = data
    base = ["chr", d["bed"]]
    run(base + [0, M, d["pheno"], tmp_path / "full", "--pheno-name", "A,D"])
    run(base + [0, 7, d["pheno"], tmp_path / "app", "--pheno-name", "A,D"])
    run(base + [7, M, d["pheno"], tmp_path / "app", "--pheno-name", "A,D", "--append"])
    for p in ("A", "D"):
        _same_tables(tmp_path / f"full.{p}.models.gz", tmp_path / f"app.{p}.models.gz")
    res = run(base + [3, 9, d["pheno"], tmp_path / "app", "--pheno-name", "A,D",
                      "--append"], expect_ok=False)
    assert res.exit_code != 0 and "already holds" in res.output


def test_huge_zeros_are_zeros_of_the_shape():
    """Small and large (huge-page mapped) buffers: zeros of the shape and dtype asked,
    writeable, and pickled as ordinary arrays (Dask ships B's tiles)."""
    import pickle

    from hlmm._core import _multi

    for shape, dtype in (((3, 5), np.float64), (((24 << 20) // 2,), np.uint16),
                         ((3, 1 << 20, 8), np.float64)):
        a = _multi.huge_zeros(shape, dtype)
        assert a.shape == (shape if isinstance(shape, tuple) else (shape,))
        assert a.dtype == dtype and a.flags.writeable and a.flags.c_contiguous
        assert not a.any()
        a.flat[-1] = 7
        b = pickle.loads(pickle.dumps(a))
        assert b.dtype == dtype and b.shape == a.shape and b.flat[-1] == 7 and b.sum() == 7


@pytest.mark.parametrize("m, size, threads, want", [
    (20000, 1024, 2, [1000] * 20),          # 19½ blocks of 1024 on two threads
    (20000, 1000, 2, [1000] * 20),
    (33, 16, 2, [9, 9, 9, 6]),
    (33, 16, 1, [11, 11, 11]),
    (7, 1, 2, [1] * 7),
    (5, 16, 4, [5]),
    (0, 16, 2, []),
])
def test_blocks_are_even_and_a_multiple_of_the_threads(m, size, threads, want):
    """Blocks of at most --block-size SNPs, in order, covering every SNP once, of
    equal sizes and, where the block size allows, as many as a multiple of the threads,
    so that no thread ends alone with a last full block while the other waits."""
    from hlmm.scan.blocks import BlockLoop

    loop = BlockLoop()
    loop.block_size, loop.snps = size, np.arange(100, 100 + m)
    blocks = loop.blocks(threads)
    assert [len(b) for b in blocks] == want
    assert np.array_equal(np.concatenate(blocks) if blocks else [], loop.snps)


def test_tiles_carved_from_prefaulted_zeros():
    """The kernel's tiles of B come from zeros faulted in by a thread of their own
    (sized for the worst case of count columns) when they fit, else fresh ones; either
    way zeros of the same layout."""
    from hlmm._core import _multi
    from hlmm.scan.many_phenotypes import _Prefaulted

    pre = _Prefaulted(1000, 9, 2)
    raw = pre.result()
    # the most count columns 9 samples can take (≥ 3 fields of ≤ 10 bits per column)
    assert raw.size >= _multi.tiled_size(1000, 8 + 2 * 9)
    Bt = _multi.tiled_zeros(997, 8 + 2 * 9, raw)
    assert np.shares_memory(Bt, raw) and Bt.shape == (4, 1000, 8) and not Bt.any()
    assert Bt.ctypes.data % 64 == 0
    small = np.zeros(10)
    Bt = _multi.tiled_zeros(997, 27, small)
    assert not np.shares_memory(Bt, small) and Bt.shape == (4, 1000, 8) and not Bt.any()


def test_phenotypes_set_up_in_threads_log_in_order(data, tmp_path):
    """The phenotypes' scans are set up in threads, each logging into a buffer of its
    own: the log (a skipped phenotype's line included) and stderr are those of a run
    on one thread, line for line, and so are the tables."""
    d = data
    Y = d["Y"].copy()
    Y[3:, 1] = np.nan                        # B: skipped, between A and C
    p = write_table(tmp_path / "few.txt", d["ids"], Y, header=["A", "B", "C", "D"])
    out = {}
    for t in ("1", "2"):
        res = run(["chr", d["bed"], 0, M, p, tmp_path / f"t{t}", "--all-pheno",
                   "--threads", t])
        lines = (tmp_path / f"t{t}.log").read_text().replace(f"t{t}", "T").splitlines()
        out[t] = ([ln for ln in lines if not ln.startswith(
                      ("Command", "Started", "Finished", "Timing"))],
                  res.output.replace(f"t{t}", "T"))
    assert out["1"] == out["2"]
    log = out["2"][0]

    def at(text):
        return next(i for i, ln in enumerate(log) if text in ln)

    assert at("Phenotype 'A' (column 1") < at("phenotype 'B' skipped: only 3") \
        < at("Phenotype 'C' (column 3") < at("Phenotype 'D' (column 4")
    for q in "ACD":
        _same_tables(tmp_path / f"t1.{q}.models.gz", tmp_path / f"t2.{q}.models.gz", rtol=0)
