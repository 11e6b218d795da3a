"""BGEN sample IDs as other tools write them (issue #20 item 5): REGENIE's example.bgen
embeds plink2's FID_IID, example_3chr.bgen has a .sample beside it; both match a
FID/IID phenotype file without any flag.  --sample works for hlmm fit and for a .bgen
given to --random-gts; no match is a one-line error showing both sides' IDs."""
import os
import shutil

import numpy as np
import pytest

from clihelp import REGENIE, run, write_table
from clihelp import assert_clean_failure

bgen = pytest.importorskip("bgen")

from hlmm.errors import InputError  # noqa: E402
from hlmm.io import open_genotypes  # noqa: E402
from hlmm.io.sample_ids import resolve_sample_ids  # noqa: E402
from hlmm.io.tables import read_table  # noqa: E402

D = REGENIE
PHENO = os.path.join(D, "phenotype.txt")


def regenie(name):
    return os.path.join(D, name)


def log_of(prefix):
    return open(str(prefix) + ".log").read()


@pytest.mark.parametrize("name, source", [
    ("example.bgen", "split on '_' into FID and IID"),
    ("example_3chr.bgen", "example_3chr.sample beside it")])
def test_regenie_bgen_matches_fid_iid_phenotypes(tmp_path, name, source):
    out = tmp_path / "out"
    run(["chr", regenie(name), 0, 20, PHENO, out])
    log = log_of(out)
    assert source in log and "(500 of 500 in" in log, log
    assert "analysed 500" in log or " 500 individuals" in log


def test_no_match_shows_ids_and_sources(tmp_path):
    ids = [(f"x{i}", f"y{i}") for i in range(30)]
    other = write_table(tmp_path / "other.txt", ids, np.arange(30.0)[:, None])
    os.makedirs(tmp_path / "o")
    res = run(["chr", regenie("example.bgen"), 0, 20, other, tmp_path / "o" / "out"],
              expect_ok=False)
    assert_clean_failure(res, str(tmp_path / "o"), "no individuals in common",
                         "'x0 y0', 'x1 y1', 'x2 y2', …", "'1_1', '2_2', '3_3', …",
                         "'1 1', '2 2'", "example.sample beside it (no such file)",
                         "split on '_'")


def _bgen(path, samples, m=3, seed=0):
    rng = np.random.default_rng(seed)
    n = len(samples)
    with bgen.BgenWriter(str(path), n_samples=n, samples=samples, compression="zlib",
                         layout=2) as w:
        for j in range(m):
            P = np.zeros((n, 3))
            P[np.arange(n), rng.integers(0, 3, n)] = 1.0
            w.add_variant(varid=f"v{j}", rsid=f"v{j}", chrom="1", pos=j + 1,
                          alleles=["A", "G"], genotypes=P, ploidy=2, phased=False,
                          bit_depth=8)
    if os.path.exists(str(path) + ".bgi"):
        os.remove(str(path) + ".bgi")
    return str(path)


def _sample(path, id1, id2):
    with open(path, "w") as fh:
        fh.write("ID_1 ID_2 missing\n0 0 0\n")
        fh.writelines(f"{a} {b} 0\n" for a, b in zip(id1, id2))
    return str(path)


def _pheno(tmp_path, ids, header=True):
    path = tmp_path / "p.txt"
    with open(path, "w") as fh:
        if header:
            fh.write("FID IID y\n")
        fh.writelines(f"{f} {i} {k * 0.5}\n" for k, (f, i) in enumerate(ids))
    return read_table(str(path))


def test_ids_with_the_delimiter_split_where_the_phenotype_file_knows_the_pair(tmp_path):
    fid = ["fam_1", "fam_1", "f2", "f3"]
    iid = ["p_1", "p_2", "q", "r_x_y"]
    src = open_genotypes(_bgen(tmp_path / "x.bgen", [f"{f}_{i}" for f, i in zip(fid, iid)]))
    note = resolve_sample_ids(src, _pheno(tmp_path, list(zip(fid, iid))[:3] + [("f9", "z")]))
    assert "split on '_'" in note and "(3 of 4" in note
    assert src.ids[:3] == list(zip(fid, iid))[:3] and not src.match_by_iid
    # the unknown one splits at its first delimiter (it is not analysed anyway)
    assert src.ids[3] == ("f3", "r_x_y")


def test_other_delimiter_and_iid_only_phenotypes(tmp_path):
    src = open_genotypes(_bgen(tmp_path / "x.bgen", ["a-1", "b-2", "c-3"]))
    path = tmp_path / "iid.txt"
    path.write_text("#IID y\n1 0.5\n2 0.1\n3 0.2\n")
    pheno = read_table(str(path))
    with pytest.raises(InputError, match="split on '_'"):
        resolve_sample_ids(src, pheno)
    assert "split on '-'" in resolve_sample_ids(src, pheno, "-")
    assert [i for _, i in src.ids] == ["1", "2", "3"]


def test_embedded_iids_with_underscores_stay_iids(tmp_path):
    """IIDs such as sample_0 are matched as they are, not split."""
    names = [f"sample_{i}" for i in range(5)]
    src = open_genotypes(_bgen(tmp_path / "x.bgen", names))
    note = resolve_sample_ids(src, _pheno(tmp_path, [(n, n) for n in names]))
    assert "as IIDs" in note and src.match_by_iid and list(src.iid) == names


def test_sample_beside_with_family_ids_is_preferred(tmp_path):
    fid, iid = ["fA", "fA", "fB"], ["1", "2", "1"]
    path = _bgen(tmp_path / "x.bgen", [f"{f}_{i}" for f, i in zip(fid, iid)])
    _sample(tmp_path / "x.sample", fid, iid)
    src = open_genotypes(path)
    note = resolve_sample_ids(src, _pheno(tmp_path, list(zip(fid, iid))))
    assert "x.sample beside it" in note and not src.match_by_iid
    assert src.ids == list(zip(fid, iid))
    # a .sample that does not fit the embedded IDs is not used
    _sample(tmp_path / "x.sample", ["0"] * 3, ["u", "v", "w"])
    src = open_genotypes(path)
    assert "split on" in resolve_sample_ids(src, _pheno(tmp_path, list(zip(fid, iid))))


def test_ambiguous_split_is_not_used(tmp_path):
    src = open_genotypes(_bgen(tmp_path / "x.bgen", ["a_b_c", "d_e"]))
    with pytest.raises(InputError) as e:
        resolve_sample_ids(src, _pheno(tmp_path, [("a", "b_c"), ("a_b", "c")]))
    assert "'a_b_c' splits into 2 individuals of the phenotype file" in str(e.value)


def test_bad_id_delim(tmp_path):
    out = tmp_path / "out"
    assert_clean_failure(run(["chr", regenie("example.bgen"), 0, 5, PHENO, out,
                              "--id-delim", "ab"], expect_ok=False), str(tmp_path),
                         "--id-delim 'ab'")


def test_fit_and_random_gts_read_bgen_ids(tmp_path):
    """hlmm fit and hlmm chr --random-gts match REGENIE's .bgen IDs, and take --sample."""
    out = tmp_path / "fit"
    run(["fit", PHENO, out, "--random-gts", regenie("example.bgen")])
    assert "split on '_'" in log_of(out)
    h2 = open(str(out) + ".h2.txt").read().split()
    assert h2[0] == "h2" and 0 <= float(h2[2]) <= 1
    # --sample: the .sample of the REGENIE 3-chromosome file fits example.bgen's samples
    run(["fit", PHENO, tmp_path / "fit2", "--random-gts", regenie("example.bgen"),
         "--sample", regenie("example_3chr.sample")])
    assert "example_3chr.sample" in log_of(tmp_path / "fit2")
    run(["chr", regenie("example.bed"), 0, 5, PHENO, tmp_path / "chr",
         "--random-gts", regenie("example_3chr.bgen")])
    assert "example_3chr.sample beside it" in log_of(tmp_path / "chr")


def test_sample_without_any_bgen_is_an_error(tmp_path):
    for args in (["chr", regenie("example.bed"), 0, 5, PHENO, tmp_path / "out"],
                 ["fit", PHENO, tmp_path / "out", "--random-gts", regenie("example.bed")]):
        assert_clean_failure(run(args + ["--sample", regenie("example_3chr.sample")],
                                 expect_ok=False), str(tmp_path),
                             "--sample", "only for .bgen files")


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not on PATH")
def test_plink2_export_bgen_matches_the_fam(tmp_path):
    """plink2 --export bgen-1.2 of example.bed (IDs FID_IID, a .sample beside): the
    scan analyses all 500 and equals the .bed's with --ref-last."""
    import subprocess

    from clihelp import column, read_models

    prefix = str(tmp_path / "ex")
    subprocess.run(["plink2", "--bfile", regenie("example"), "--export", "bgen-1.2",
                    "bits=8", "--out", prefix], check=True, capture_output=True)
    run(["chr", prefix + ".bgen", 0, 50, PHENO, tmp_path / "g", "--ref-last"])
    run(["chr", regenie("example.bed"), 0, 50, PHENO, tmp_path / "b"])
    assert "(500 of 500 in" in log_of(tmp_path / "g")
    hg, rg = read_models(str(tmp_path / "g") + ".models.gz")
    hb, rb = read_models(str(tmp_path / "b") + ".models.gz")
    np.testing.assert_allclose(column(hg, rg, "add"), column(hb, rb, "add"), rtol=1e-6)
