"""What a new user hits first: PLINK's −9 missing value, filter ranges, duplicate IDs in
genotype files, small-unit traits in the table, the original's option prefixes, and
importing hlmm from an unbuilt source tree."""
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from clihelp import column, read_models, run, write_bed, write_table
from clihelp import assert_clean_failure


@pytest.fixture
def data(tmp_path, rng):
    n, m = 400, 20
    p = rng.uniform(0.2, 0.8, m)
    dos = rng.binomial(2, p, size=(n, m)).astype(float)
    src = tmp_path / "src"
    src.mkdir()
    bed = write_bed(src / "geno", dos)
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    y = rng.standard_normal(n)
    c = rng.standard_normal(n)
    out = tmp_path / "out"
    out.mkdir()
    return {"bed": bed, "src": src, "out": out, "ids": ids, "n": n, "y": y, "c": c, "m": m,
            "dos": dos}


def _scan(d, pheno, name, *extra, expect_ok=True):
    res = run(["chr", d["bed"], 0, d["m"], pheno, d["out"] / name, *extra], expect_ok=expect_ok)
    return res


def test_minus9_phenotype_is_missing(data):
    d = data
    y9, yna = d["y"].copy(), d["y"].copy()
    y9[:25] = -9.0
    yna[:25] = np.nan
    p9 = write_table(d["src"] / "p9.txt", d["ids"], y9[:, None])
    pna = write_table(d["src"] / "pna.txt", d["ids"], yna[:, None])
    _scan(d, p9, "m9")
    _scan(d, pna, "na")
    h9, r9 = read_models(d["out"] / "m9.models.gz")
    hna, rna = read_models(d["out"] / "na.models.gz")
    assert r9 == rna                       # −9 is exactly NA
    assert column(h9, r9, "n")[0] == d["n"] - 25
    log = (d["out"] / "m9.log").read_text()
    assert "Missing values ('NA' or -9): phenotype" in log and ": 25" in log
    # PLINK's --input-missing-phenotype: 'none' analyses −9 as a number
    _scan(d, p9, "asnum", "--input-missing-phenotype", "none")
    ha, ra = read_models(d["out"] / "asnum.models.gz")
    assert column(ha, ra, "n")[0] == d["n"]
    assert not np.allclose(column(ha, ra, "var"), column(hna, rna, "var"))


def test_minus9_covariate_is_missing(data):
    d = data
    pheno = write_table(d["src"] / "p.txt", d["ids"], d["y"][:, None])
    c9, cna = d["c"].copy(), d["c"].copy()
    c9[5:15] = -9
    cna[5:15] = np.nan
    f9 = write_table(d["src"] / "c9.txt", d["ids"], c9[:, None])
    fna = write_table(d["src"] / "cna.txt", d["ids"], cna[:, None])
    _scan(d, pheno, "c9", "--mean-covar", f9, "--var-covar", f9)
    _scan(d, pheno, "cna", "--mean-covar", fna, "--var-covar", fna)
    assert read_models(d["out"] / "c9.models.gz") == read_models(d["out"] / "cna.models.gz")
    assert "--mean-covar" in (d["out"] / "c9.log").read_text().split("Missing values")[1]


def test_minus9_in_hlmm_fit(data):
    d = data
    y9 = d["y"].copy()
    y9[:7] = -9
    p9 = write_table(d["src"] / "p9.txt", d["ids"], y9[:, None])
    run(["fit", p9, d["out"] / "fit"])
    assert "phenotype" in (d["out"] / "fit.log").read_text()
    assert "analysed 393" in (d["out"] / "fit.log").read_text()


@pytest.mark.parametrize("opt,value,needle", [
    ("--min-maf", "0.5", "--min-maf 0.5"),
    ("--min-maf", "-0.1", "--min-maf -0.1"),
    ("--max-missing", "101", "--max-missing 101"),
    ("--max-missing", "-1", "--max-missing -1"),
])
def test_filters_out_of_range(data, opt, value, needle):
    d = data
    pheno = write_table(d["src"] / "p.txt", d["ids"], d["y"][:, None])
    res = _scan(d, pheno, "bad", opt, value, expect_ok=False)
    assert_clean_failure(res, d["out"], needle)


def test_every_snp_filtered_says_so(data, tmp_path):
    d = data
    dos = d["dos"].copy()
    dos[0, :] = np.nan                     # one missing call per SNP = 0.25 %
    bed = write_bed(d["src"] / "miss", dos)
    pheno = write_table(d["src"] / "p.txt", d["ids"], d["y"][:, None])
    res = run(["chr", bed, 0, d["m"], pheno, d["out"] / "all", "--max-missing", "0.05"])
    assert "every SNP was filtered out" in res.output
    assert "every SNP was filtered out" in (d["out"] / "all.log").read_text()
    h, r = read_models(d["out"] / "all.models.gz")
    assert np.isnan(column(h, r, "add")).all()


def test_duplicate_ids_in_random_gts_fam(data):
    d = data
    fids = [f"f{i}" for i in range(d["n"])]
    ids = [f"i{i}" for i in range(d["n"])]
    fids[9], ids[9] = fids[3], ids[3]
    rbed = write_bed(d["src"] / "rand", d["dos"][:, :5], fid=fids, iid=ids)
    pheno = write_table(d["src"] / "p.txt", d["ids"], d["y"][:, None])
    res = _scan(d, pheno, "dup", "--random-gts", rbed, expect_ok=False)
    assert_clean_failure(res, d["out"], "rand.fam line 10", "duplicate individual f3 i3",
                         "line 4")


def test_small_units_keep_significant_digits(data):
    """With --fit-covariates the table is on the trait's scale: a trait in units of 1e-8
    must not print as 0.000000."""
    d = data
    g = np.nan_to_num(d["dos"][:, 0])
    y = 1e-8 * (d["y"] + 0.5 * g)
    pheno = write_table(d["src"] / "p.txt", d["ids"], y[:, None])
    covar = write_table(d["src"] / "c.txt", d["ids"], d["c"][:, None])
    _scan(d, pheno, "tiny", "--mean-covar", covar, "--fit-covariates")
    h, r = read_models(d["out"] / "tiny.models.gz")
    add, add_se = column(h, r, "add"), column(h, r, "add_se")
    assert np.all(add_se > 0)
    assert 3e-9 < add[0] < 7e-9
    j = h.index("add")
    assert len(r[0][j].replace("e", " ").split()[0].strip("-").replace(".", "")) == 6


def test_original_option_prefixes(data):
    """argparse accepted unambiguous prefixes: --whole for --whole_chr, --mean for
    --mean_covar; old scripts keep working."""
    d = data
    pheno = write_table(d["src"] / "p.txt", d["ids"], d["y"][:, None])
    covar = write_table(d["src"] / "c.txt", d["ids"], d["c"][:, None])
    run(["chr", d["bed"], 0, 0, pheno, d["out"] / "pre", "--whole", "--mean", covar])
    run(["chr", d["bed"], 0, 0, pheno, d["out"] / "full", "--whole_chr", "--mean_covar", covar])
    assert read_models(d["out"] / "pre.models.gz") == read_models(d["out"] / "full.models.gz")
    res = run(["chr", d["bed"], 0, 0, pheno, d["out"] / "amb", "--whole", "--m", covar],
              expect_ok=False)
    assert res.exit_code != 0 and "ambiguous" in res.output and "--mean-covar" in res.output
    run(["fit", pheno, d["out"] / "fitpre", "--var", covar])
    assert (d["out"] / "fitpre.variance_effects.txt").read_text().count("\n") == 3


def test_unbuilt_source_tree_import_message(tmp_path):
    """Importing hlmm from a source tree whose extensions are not built says how to
    build them (as numpy does), instead of `cannot import name '_hlm'`."""
    import hlmm

    src = pathlib.Path(hlmm.__file__).parent
    dst = tmp_path / "hlmm"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c",
                                                            "__pycache__"))
    proc = subprocess.run([sys.executable, "-c", "import hlmm"], cwd=tmp_path,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "compiled extensions are not built" in last and "pip install -e ." in last


def test_duplicate_check_does_not_merge_ids(data):
    """FID a / IID bc and FID ab / IID c are different individuals."""
    d = data
    fids = [f"f{i}" for i in range(d["n"])]
    iids = [f"i{i}" for i in range(d["n"])]
    fids[0], iids[0], fids[1], iids[1] = "a", "bc", "ab", "c"
    bed = write_bed(d["src"] / "ab", d["dos"][:, :3], fid=fids, iid=iids)
    from hlmm.io.bed import BedFile

    assert BedFile(bed).n_samples == d["n"]


@pytest.mark.parametrize("args,needle", [
    (["--input-missing-phenotype", "abc"], "--input-missing-phenotype"),
    (["--robust", "--robust-estimator", "hc3"], "--robust-estimator"),
    (["--chr", "1", "--from-bp", "1010", "--to-bp", "1005"], "--from-bp"),
])
def test_new_options_bad_values(data, args, needle):
    d = data
    pheno = write_table(d["src"] / "p.txt", d["ids"], d["y"][:, None])
    res = _scan(d, pheno, "bad", *args, expect_ok=False)
    assert_clean_failure(res, d["out"], needle)
