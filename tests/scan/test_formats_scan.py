"""`hlmm chr` on every genotype format: hard calls give the .bed's table byte for byte,
dosages agree with the general path, unusable variants are NaN rows, PLINK-style
selection, IID matching, and one-line errors."""
import gzip
import os

import numpy as np
import pytest

from clihelp import column, read_models, run, write_bed, write_pgen, write_table
from clihelp import assert_clean_failure

bgen = pytest.importorskip("bgen")

N, M = 600, 12


def _write_bgen(path, probs_list, alleles, n, samples=None, bits=8):
    with bgen.BgenWriter(str(path), n_samples=n, samples=samples, compression="zlib",
                         layout=2) as w:
        for j, (probs, al) in enumerate(zip(probs_list, alleles)):
            w.add_variant(varid=f"snp{j}", rsid=f"snp{j}", chrom="1", pos=1000 + j,
                          alleles=al, genotypes=probs, ploidy=2, phased=False,
                          bit_depth=bits)
    if os.path.exists(str(path) + ".bgi"):
        os.remove(str(path) + ".bgi")
    return str(path)


def _hardcall_probs(counts):
    """BGEN probabilities (hom first, het, hom second) of a count of the second allele."""
    P = np.zeros((len(counts), 3))
    ok = ~np.isnan(counts)
    P[ok, counts[ok].astype(int)] = 1.0
    P[~ok] = np.nan
    return P


@pytest.fixture
def data(tmp_path, rng):
    f = rng.uniform(0.1, 0.5, M)
    dos = rng.binomial(2, f, size=(N, M)).astype(float)
    dos[rng.random((N, M)) < 0.02] = np.nan
    bed = write_bed(tmp_path / "g", dos)
    ids = [(f"f{i}", f"i{i}") for i in range(N)]
    y = rng.standard_t(6, N) + 0.3 * np.nan_to_num(dos[:, 0])
    pheno = write_table(tmp_path / "p.txt", ids, y[:, None])
    # BGEN: alleles (A2, A1) so that the counted (second) allele is the .bed's A1
    bg = _write_bgen(tmp_path / "g.bgen", [_hardcall_probs(dos[:, j]) for j in range(M)],
                     [["G", "A"]] * M, N, samples=[i for _, i in ids])
    rbed = write_bed(tmp_path / "r", rng.binomial(2, 0.3, size=(N, 15)).astype(float))
    return {"dos": dos, "bed": bed, "bgen": bg, "pheno": pheno, "rbed": rbed, "tmp": tmp_path,
            "ids": ids, "y": y}


def _models_bytes(prefix):
    with gzip.open(str(prefix) + ".models.gz", "rb") as fh:
        return fh.read()


@pytest.mark.parametrize("extra", [[], ["--robust"], ["--brown-forsythe"],
                                   ["--engine", "general"]])
def test_bgen_hardcalls_give_the_bed_table(data, extra):
    d = data
    run(["chr", d["bed"], 0, M, d["pheno"], d["tmp"] / "b", *extra])
    run(["chr", d["bgen"], 0, M, d["pheno"], d["tmp"] / "g", *extra])
    assert _models_bytes(d["tmp"] / "b") == _models_bytes(d["tmp"] / "g")
    log = (d["tmp"] / "g.log").read_text()
    assert "(bgen)" in log and "matched by IID" in log


def test_bgen_hardcalls_hlmm(data):
    d = data
    run(["chr", d["bed"], 0, 4, d["pheno"], d["tmp"] / "hb", "--random-gts", d["rbed"]])
    run(["chr", d["bgen"], 0, 4, d["pheno"], d["tmp"] / "hg", "--random-gts", d["rbed"]])
    assert _models_bytes(d["tmp"] / "hb") == _models_bytes(d["tmp"] / "hg")


def test_bgen_dosages_class_engine_equals_general(data, rng):
    d = data
    probs = []
    for j in range(M):
        P = rng.dirichlet([8.0, 3.0, 1.0], N)
        P[rng.random(N) < 0.01] = np.nan
        probs.append(P)
    probs.append(np.column_stack([np.ones(N), np.zeros(N), np.zeros(N)]))  # monomorphic
    bg = _write_bgen(d["tmp"] / "d.bgen", probs, [["G", "A"]] * (M + 1), N,
                     samples=[i for _, i in d["ids"]])
    for extra in ([], ["--robust"]):
        run(["chr", bg, 0, 0, d["pheno"], d["tmp"] / "dc", "--whole-chr", *extra])
        run(["chr", bg, 0, 0, d["pheno"], d["tmp"] / "dg", "--whole-chr", "--engine",
             "general", *extra])
        h1, r1 = read_models(d["tmp"] / "dc.models.gz")
        h2, r2 = read_models(d["tmp"] / "dg.models.gz")
        for c in ("n", "frequency", "likelihood", "add", "add_se", "var", "var_se", "av_pval"):
            np.testing.assert_allclose(column(h1, r1, c), column(h2, r2, c), rtol=2e-5,
                                       atol=1e-6, equal_nan=True, err_msg=c)
        assert np.isnan(column(h1, r1, "add")[M])        # monomorphic: NaN row
        assert np.isfinite(column(h1, r1, "add")[:M]).all()


def test_unusable_variant_is_a_nan_row(data, rng):
    d = data
    probs = [_hardcall_probs(d["dos"][:, 0]),
             rng.dirichlet([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], N),       # 3 alleles
             _hardcall_probs(d["dos"][:, 1])]
    bg = _write_bgen(d["tmp"] / "u.bgen", probs, [["G", "A"], ["G", "A", "T"], ["G", "A"]], N,
                     samples=[i for _, i in d["ids"]])
    res = run(["chr", bg, 0, 3, d["pheno"], d["tmp"] / "u"])
    h, r = read_models(d["tmp"] / "u.models.gz")
    add = column(h, r, "add")
    assert np.isfinite(add[0]) and np.isnan(add[1]) and np.isfinite(add[2])
    assert "1 variant(s) not usable (multi-allelic)" in (d["tmp"] / "u.log").read_text()
    assert "1 not usable" in res.output


def test_selection_options(data, tmp_path):
    d = data
    (tmp_path / "keep.txt").write_text("".join(f"f{i} i{i}\n" for i in range(0, N, 2)))
    (tmp_path / "remove.txt").write_text("i0\ni2\n")
    (tmp_path / "extract.txt").write_text("snp1\nsnp3\nsnp5 extra columns ignored\nnot_there\n")
    (tmp_path / "exclude.txt").write_text("snp3\n")
    run(["chr", d["bed"], 0, 0, d["pheno"], tmp_path / "s", "--whole-chr",
         "--keep", tmp_path / "keep.txt", "--remove", tmp_path / "remove.txt",
         "--extract", tmp_path / "extract.txt", "--exclude", tmp_path / "exclude.txt"])
    h, r = read_models(tmp_path / "s.models.gz")
    assert [row[0] for row in r] == ["snp1", "snp5"]
    ok = ~np.isnan(d["dos"][:, 1])
    kept = np.zeros(N, bool)
    kept[0::2] = True
    kept[[0, 2]] = False
    assert column(h, r, "n")[0] == (ok & kept).sum()
    log = (tmp_path / "s.log").read_text()
    assert "--keep" in log and "--extract" in log and "--exclude" in log
    run(["chr", d["bed"], 0, 0, d["pheno"], tmp_path / "c", "--whole-chr", "--chr", "1",
         "--from-bp", "1003", "--to-bp", "1005"])
    h, r = read_models(tmp_path / "c.models.gz")
    assert [row[0] for row in r] == ["snp3", "snp4", "snp5"]


@pytest.mark.parametrize("case", ["chr_absent", "keep_nobody", "extract_nothing",
                                  "bgen_no_ids", "from_bp_without_chr"])
def test_selection_and_format_errors(data, tmp_path, case):
    d = data
    out = tmp_path / "out"
    out.mkdir()
    args = ["chr", d["bed"], 0, 0, d["pheno"], out / "x", "--whole-chr"]
    if case == "chr_absent":
        args += ["--chr", "7"]
        needle = "--chr"
    elif case == "keep_nobody":
        (tmp_path / "k.txt").write_text("nobody here\n")
        args += ["--keep", tmp_path / "k.txt"]
        needle = "--keep"
    elif case == "extract_nothing":
        (tmp_path / "e.txt").write_text("rs_absent\n")
        args += ["--extract", tmp_path / "e.txt"]
        needle = "--extract"
    elif case == "bgen_no_ids":
        bg = _write_bgen(tmp_path / "noid.bgen", [_hardcall_probs(d["dos"][:, 0])],
                         [["G", "A"]], N)
        args = ["chr", bg, 0, 1, d["pheno"], out / "x"]
        needle = "--sample"
    else:
        args += ["--from-bp", "1000"]
        needle = "--from-bp"
    res = run(args, expect_ok=False)
    assert_clean_failure(res, out, needle)


def test_iid_only_phenotype_and_gzip(data, tmp_path):
    d = data
    with gzip.open(tmp_path / "p_iid.txt.gz", "wt") as fh:
        fh.write("#IID y\n")
        for (f, i), v in zip(d["ids"], d["y"]):
            fh.write(f"{i} {float(v)!r}\n")
    run(["chr", d["bed"], 0, M, tmp_path / "p_iid.txt.gz", tmp_path / "iid"])
    run(["chr", d["bed"], 0, M, d["pheno"], tmp_path / "fid"])
    h1, r1 = read_models(tmp_path / "iid.models.gz")
    h2, r2 = read_models(tmp_path / "fid.models.gz")
    assert r1 == r2
    assert "matched by IID" in (tmp_path / "iid.log").read_text()


@pytest.mark.parametrize("extra", [[], ["--robust", "--brown-forsythe"]])
def test_pgen_hardcalls_give_the_bed_table(data, extra):
    pytest.importorskip("pgenlib")
    d = data
    pg = write_pgen(d["tmp"] / "h", d["dos"], d["ids"])
    run(["chr", d["bed"], 0, M, d["pheno"], d["tmp"] / "b", *extra])
    run(["chr", pg, 0, M, d["pheno"], d["tmp"] / "p", *extra])
    assert _models_bytes(d["tmp"] / "b") == _models_bytes(d["tmp"] / "p")


def test_pgen_dosages_class_engine_equals_general(data, rng):
    pytest.importorskip("pgenlib")
    d = data
    dos = np.rint(np.clip(d["dos"] + rng.normal(0, 0.15, d["dos"].shape)
                          * (rng.random(d["dos"].shape) < 0.4), 0, 2) * 16384) / 16384
    pg = write_pgen(d["tmp"] / "ds", dos, d["ids"], dosages=True)
    run(["chr", pg, 0, M, d["pheno"], d["tmp"] / "pc"])
    run(["chr", pg, 0, M, d["pheno"], d["tmp"] / "pg", "--engine", "general"])
    h1, r1 = read_models(d["tmp"] / "pc.models.gz")
    h2, r2 = read_models(d["tmp"] / "pg.models.gz")
    for c in ("n", "frequency", "likelihood", "add", "add_se", "var", "var_se"):
        np.testing.assert_allclose(column(h1, r1, c), column(h2, r2, c), rtol=2e-5,
                                   atol=1e-6, equal_nan=True, err_msg=c)
    assert "dosages where stored" in (d["tmp"] / "pc.log").read_text()


def test_pgen_dosages_hlmm_equals_general(data, rng):
    """HLMM on dosage SNPs (few carriers: the carriers' engine; many: the general path)
    gives the general engine's numbers."""
    pytest.importorskip("pgenlib")
    d = data
    m = 4
    soft = rng.random((N, m)) < np.array([0.05, 0.1, 0.5, 0.6])
    dos = np.rint(np.clip(d["dos"][:, :m] + rng.normal(0, 0.15, (N, m)) * soft, 0, 2)
                  * 16384) / 16384
    pg = write_pgen(d["tmp"] / "hd", dos, d["ids"], dosages=True)
    run(["chr", pg, 0, m, d["pheno"], d["tmp"] / "hc", "--random-gts", d["rbed"]])
    run(["chr", pg, 0, m, d["pheno"], d["tmp"] / "hgen", "--random-gts", d["rbed"],
         "--engine", "general"])
    h1, r1 = read_models(d["tmp"] / "hc.models.gz")
    h2, r2 = read_models(d["tmp"] / "hgen.models.gz")
    for c in ("n", "frequency", "add", "add_se", "var", "var_se"):
        np.testing.assert_allclose(column(h1, r1, c), column(h2, r2, c), rtol=1e-4,
                                   atol=1e-5, equal_nan=True, err_msg=c)
    assert np.isfinite(column(h1, r1, "var")).all()


def test_random_effects_from_bgen_and_pgen(data, rng):
    """--random-gts may be a .pgen or a .bgen: the same genotypes give the same table."""
    pytest.importorskip("pgenlib")
    d = data
    R = rng.binomial(2, 0.3, size=(N, 15)).astype(float)
    rbed = write_bed(d["tmp"] / "r2", R)
    rbg = _write_bgen(d["tmp"] / "r2.bgen", [_hardcall_probs(R[:, j]) for j in range(15)],
                      [["G", "A"]] * 15, N, samples=[i for _, i in d["ids"]])
    rpg = write_pgen(d["tmp"] / "r2p", R, d["ids"])
    tables = []
    for name, rg in (("rb", rbed), ("rg", rbg), ("rp", rpg)):
        run(["chr", d["bed"], 0, 3, d["pheno"], d["tmp"] / name, "--random-gts", rg])
        tables.append(_models_bytes(d["tmp"] / name))
    assert tables[0] == tables[1] == tables[2]


def test_review_findings_on_inputs(data, tmp_path, rng):
    """--sample is only for BGEN; a duplicated column name and a typo on the first line
    of a file without header are errors (not a silent choice or a dropped individual);
    a directory given as a list file is a one-line error."""
    pytest.importorskip("pgenlib")
    d = data
    out = tmp_path / "o"
    out.mkdir()
    pg = write_pgen(d["tmp"] / "s", d["dos"], d["ids"])
    res = run(["chr", pg, 0, 2, d["pheno"], out / "x", "--sample", d["pheno"]],
              expect_ok=False)
    assert_clean_failure(res, out, "--sample", "only for .bgen")
    dup = tmp_path / "dup.txt"
    dup.write_text("FID IID y y\n" + "".join(f"f{i} i{i} 1.0 2.0\n" for i in range(N)))
    res = run(["chr", d["bed"], 0, 2, dup, out / "x", "--pheno-name", "y"], expect_ok=False)
    assert_clean_failure(res, out, "dup.txt line 1", "'y' appears twice")
    typo = tmp_path / "typo.txt"
    typo.write_text("f0 i0 1.5x 2.0\n" + "".join(f"f{i} i{i} 1.0 2.0\n" for i in range(1, N)))
    res = run(["chr", d["bed"], 0, 2, typo, out / "x"], expect_ok=False)
    assert_clean_failure(res, out, "typo.txt line 1", "1.5x")
    res = run(["chr", d["bed"], 0, 2, d["pheno"], out / "x", "--extract", tmp_path],
              expect_ok=False)
    assert_clean_failure(res, out, "--extract")


def test_malformed_bgen_variant_is_a_nan_row(data, tmp_path):
    d = data
    path = tmp_path / "mal.bgen"
    with bgen.BgenWriter(str(path), n_samples=N, samples=[i for _, i in d["ids"]],
                         compression=None, layout=2) as w:
        for j in range(3):
            w.add_variant(varid=f"snp{j}", rsid=f"snp{j}", chrom="1", pos=1000 + j,
                          alleles=["G", "A"], genotypes=_hardcall_probs(d["dos"][:, j]),
                          ploidy=2, phased=False, bit_depth=8)
    if os.path.exists(str(path) + ".bgi"):
        os.remove(str(path) + ".bgi")
    raw = bytearray(path.read_bytes())
    raw[-2 * 50:] = b"\xff" * 100          # the last variant's stored probabilities
    path.write_bytes(bytes(raw))
    res = run(["chr", path, 0, 3, d["pheno"], tmp_path / "mal"])
    h, r = read_models(tmp_path / "mal.models.gz")
    add = column(h, r, "add")
    assert np.isfinite(add[:2]).all() and np.isnan(add[2])
    assert "malformed probabilities" in (tmp_path / "mal.log").read_text()
    assert "WARNING" not in res.output
