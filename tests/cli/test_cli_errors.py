"""Bad input to `hlmm chr` / `hlmm fit`: one-line error naming the culprit, exit ≠ 0,
no traceback, no output files left behind."""
import os
import shutil

import numpy as np
import pytest

from clihelp import assert_clean_failure, run, write_bed, write_table


@pytest.fixture
def data(tmp_path, rng):
    n, m = 120, 12
    p = rng.uniform(0.2, 0.8, m)
    dos = rng.binomial(2, p, size=(n, m)).astype(float)
    dos[rng.random((n, m)) < 0.01] = np.nan
    src = tmp_path / "src"
    src.mkdir()
    bed = write_bed(src / "geno", dos)
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    pheno = write_table(src / "pheno.txt", ids, rng.standard_normal((n, 2)), header=["y1", "y2"])
    covar = write_table(src / "covar.txt", ids, rng.standard_normal((n, 1)), header=["c1"])
    out = tmp_path / "out"
    out.mkdir()
    return {"bed": bed, "pheno": pheno, "covar": covar, "src": src, "out": out, "ids": ids, "n": n}


def chr_args(d, *extra, bed=None, pheno=None, start=0, end=12):
    return ["chr", bed or d["bed"], start, end, pheno or d["pheno"], d["out"] / "res", *extra]


def test_good_run_writes_outputs(data):
    run(chr_args(data, "--mean-covar", data["covar"]))
    assert sorted(os.listdir(data["out"])) == ["res.log", "res.models.gz",
                                                "res.null_mean_effects.txt"]


@pytest.mark.parametrize("ext", [".bim", ".fam"])
def test_missing_bim_or_fam(data, ext):
    os.remove(data["bed"][:-4] + ext)
    assert_clean_failure(run(chr_args(data), expect_ok=False), data["out"], ext, "not found")


def test_wrong_magic_number(data):
    with open(data["bed"], "r+b") as fh:
        fh.write(b"\x00\x00")
    assert_clean_failure(run(chr_args(data), expect_ok=False), data["out"], "geno.bed",
                         "magic")


def test_truncated_bed(data):
    size = os.path.getsize(data["bed"])
    with open(data["bed"], "r+b") as fh:
        fh.truncate(size - 5)
    assert_clean_failure(run(chr_args(data), expect_ok=False), data["out"], "geno.bed",
                         "truncated")


def test_start_after_end(data):
    assert_clean_failure(run(chr_args(data, start=5, end=3), expect_ok=False), data["out"],
                         "START 5", "END 3")


def test_start_beyond_snp_count(data):
    # (an END past the last SNP is clamped: tests/test_snp_filters.py)
    assert_clean_failure(run(chr_args(data, start=12, end=13), expect_ok=False), data["out"],
                         "START 12", "12 SNPs")


def test_non_numeric_phenotype(data):
    lines = open(data["pheno"]).read().splitlines()
    parts = lines[7].split()
    parts[3] = "abc"
    lines[7] = " ".join(parts)
    open(data["pheno"], "w").write("\n".join(lines) + "\n")
    assert_clean_failure(run(chr_args(data), expect_ok=False), data["out"], "pheno.txt",
                         "line 8", "'abc'")


def test_no_individuals_in_common(data, rng):
    other = write_table(data["src"] / "other.txt", [(f"x{i}", f"x{i}") for i in range(50)],
                        rng.standard_normal((50, 1)))
    assert_clean_failure(run(chr_args(data, pheno=other), expect_ok=False), data["out"],
                         "no individuals in common")


def test_phen_index_out_of_range(data):
    assert_clean_failure(run(chr_args(data, "--phen-index", 3), expect_ok=False), data["out"],
                         "--phen-index 3")


def test_constant_covariate(data):
    write_table(data["covar"], data["ids"], np.full((data["n"], 1), 2.5), header=["age"])
    assert_clean_failure(run(chr_args(data, "--mean-covar", data["covar"]), expect_ok=False),
                         data["out"], "--mean-covar", "'age'", "constant")


def test_unknown_option(data):
    res = run(chr_args(data, "--frobnicate"), expect_ok=False)
    assert res.exit_code != 0
    assert "No such option" in res.output and "--frobnicate" in res.output
    assert os.listdir(data["out"]) == []


def test_fit_missing_covariate_file(data):
    res = run(["fit", data["pheno"], data["out"] / "f", "--mean-covar", data["src"] / "nope.txt"],
              expect_ok=False)
    assert_clean_failure(res, data["out"], "nope.txt", "not found")


def test_failed_run_keeps_previous_outputs_intact(data):
    run(chr_args(data))
    before = open(data["out"] / "res.models.gz", "rb").read()
    res = run(chr_args(data, "--phen-index", 9), expect_ok=False)
    assert res.exit_code != 0
    assert open(data["out"] / "res.models.gz", "rb").read() == before
    assert sorted(os.listdir(data["out"])) == ["res.log", "res.models.gz"]
