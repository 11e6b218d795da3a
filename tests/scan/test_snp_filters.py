"""PLINK's filters (issue #20, item 9): --maf, --geno, --mac, --hwe, --mind counted as
plink2 counts them, alike in every engine; START END optional under --whole-chr, an END
past the last SNP clamped; the --random-gts overlap warning; every removal in the log."""
import itertools
import os
import shutil
import subprocess
from fractions import Fraction
from math import comb, factorial

import numpy as np
import pytest

from clihelp import read_models, run, write_bed, write_table
from snp_filter_data import M, N, genotypes

# Variants (and, for --mind, individuals) plink2 v2.00a3.5 keeps on snp_filter_data's
# genotypes written by clihelp.write_bed, from
#   plink2 --bfile sim FILTERS --write-snplist --out pl
# (wc -l pl.snplist; the log's "samples remaining").  Thresholds avoid ties (PLINK keeps
# a MAF or missing rate equal to its threshold, hlmm does not).
PLINK2 = {
    "--hwe 1e-4": (260, N),
    "--hwe 0.01": (249, N),
    "--mac 12": (297, N),
    "--mac 40": (274, N),
    "--geno 0.033": (177, N),
    "--geno 0.061": (255, N),
    "--mind 0.041": (M, 300),
    "--mind 0.083": (M, 371),
    "--maf 0.0313": (286, N),
    "--mind 0.041 --geno 0.033 --hwe 0.01 --mac 12 --maf 0.0313": (170, 300),
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("filters")
    g, y = genotypes()
    ids = [(f"f{i}", f"i{i}") for i in range(N)]
    y2 = y[::-1].copy()
    return {"dir": d, "bed": write_bed(d / "sim", g), "g": g, "ids": ids,
            "pheno": write_table(d / "y.txt", ids, y[:, None]),
            "pheno2": write_table(d / "y2.txt", ids, np.column_stack([y, y2]),
                                  header=["A", "B"]),
            "rbed": write_bed(d / "r", np.nan_to_num(g[:, ::15], nan=1.0))}


def _brute_hwe(het, h1, h2):
    """Every genotype count with the observed allele counts, exact probabilities."""
    n, n_a = het + h1 + h2, 2 * h1 + het
    probs = {}
    for aa, ab in itertools.product(range(n + 1), repeat=2):
        bb = n - aa - ab
        if bb < 0 or 2 * aa + ab != n_a:
            continue
        probs[ab] = Fraction(factorial(n) * 2 ** ab,
                             factorial(aa) * factorial(ab) * factorial(bb)) / comb(2 * n, n_a)
    assert sum(probs.values()) == 1
    return float(sum(p for p in probs.values() if p <= probs[het]))


def test_hwe_exact_test_equals_brute_force_enumeration():
    from hlmm.scan.snp_filters import hwe_exact_p

    for n in range(1, 16):
        for h1 in range(n + 1):
            for het in range(n - h1 + 1):
                want = _brute_hwe(het, h1, n - h1 - het)
                assert hwe_exact_p(het, h1, n - h1 - het) == pytest.approx(want, rel=1e-12)
    # a large sample (the windowed sum) against the same formula in exact arithmetic
    assert hwe_exact_p(10, 400, 90) == pytest.approx(_brute_hwe(10, 400, 90), rel=1e-9)


def _scan(s, out, flags, *extra, pheno="pheno"):
    """The scan with PLINK-style ``flags``; hlmm's own defaults (MAF > 0.05, < 5 %
    missing) switched off unless the flags set them."""
    flags = flags.split()
    base = ([] if "--maf" in flags else ["--min-maf", "0"]) + \
        ([] if "--geno" in flags else ["--max-missing", "100"])
    res = run(["chr", s["bed"], s[pheno], out, "--whole-chr", *base, *flags, *extra])
    return res, (out.parent / (out.name + ".log")).read_text()


def _fitted(prefix):
    h, rows = read_models(f"{prefix}.models.gz")
    add = h.index("add")
    return np.array([r[add] not in ("nan", "NA", "NaN") for r in rows])


def _analysed(log):
    line = next(ln for ln in log.splitlines() if ln.startswith("Individuals in"))
    return int(line.split("analysed: ")[1].split()[0])


@pytest.mark.parametrize("flags", sorted(PLINK2))
def test_counts_equal_plink2(sim, tmp_path, flags):
    _, log = _scan(sim, tmp_path / "o", flags)
    assert (_fitted(tmp_path / "o").sum(), _analysed(log)) == PLINK2[flags]


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")
def test_plink2_constants_are_current(sim, tmp_path):
    for flags, (snps, samples) in PLINK2.items():
        subprocess.run(["plink2", "--bfile", sim["bed"][:-4], *flags.split(),
                        "--write-snplist", "--out", str(tmp_path / "pl"), "--silent"],
                       check=True, capture_output=True)
        assert len((tmp_path / "pl.snplist").read_text().splitlines()) == snps, flags
        text = (tmp_path / "pl.log").read_text()
        assert f"{samples} samples (" in text, flags


FLAGS = "--hwe 0.01 --mac 30 --geno 0.061 --maf 0.0313 --mind 0.083"


def test_log_counts_each_filter(sim, tmp_path):
    res, log = _scan(sim, tmp_path / "o", FLAGS)
    line = next(ln for ln in log.splitlines() if ln.startswith("SNPs: "))
    counts = {w: int(line.split(f" filtered on {w}")[0].rsplit(" ", 1)[1])
              for w in ("missingness", "MAF", "minor allele count", "Hardy-Weinberg")}
    fitted = int(line.split(" fitted")[0].rsplit(" ", 1)[1])
    assert fitted + sum(counts.values()) == M and all(counts.values())
    assert "--mind 0.083: 29 individual(s)" in log
    assert f"{M - fitted} filtered" in res.output


@pytest.mark.parametrize("engine", [["--engine", "general"], ["--random-gts", "rbed"],
                                    ["--fit-covariates"], ["--robust"], ["multi"]])
def test_every_engine_filters_alike(sim, tmp_path, engine):
    _scan(sim, tmp_path / "c", FLAGS)
    want = _fitted(tmp_path / "c")
    if engine == ["multi"]:
        _scan(sim, tmp_path / "m", FLAGS, "--all-pheno", pheno="pheno2")
        for label in ("A", "B"):
            np.testing.assert_array_equal(_fitted(tmp_path / f"m.{label}"), want)
        return
    extra = [sim["rbed"] if e == "rbed" else e for e in engine]
    _scan(sim, tmp_path / "g", FLAGS, *extra)
    got = _fitted(tmp_path / "g")
    np.testing.assert_array_equal(got, want)


def test_dosage_engines_filter_alike(sim, tmp_path):
    pytest.importorskip("pgenlib")
    from clihelp import write_pgen as _write_pgen

    rng = np.random.default_rng(5)
    g = sim["g"]
    soft = np.clip(g + rng.normal(0, 0.05, g.shape) * (rng.random(g.shape) < 0.3), 0, 2)
    dos = np.rint(soft * 16384) / 16384
    pg = _write_pgen(sim["dir"] / "ds", dos, sim["ids"], dosages=True)
    outs = []
    for k, extra in enumerate(([], ["--engine", "general"])):
        run(["chr", pg, sim["pheno"], tmp_path / f"d{k}", "--whole-chr", *FLAGS.split(),
             *extra])
        outs.append(_fitted(tmp_path / f"d{k}"))
    np.testing.assert_array_equal(outs[0], outs[1])
    assert 0 < outs[0].sum() < M


def test_filters_are_in_the_resume_fingerprint():
    from hlmm.scan.checkpoint import _differences, fingerprint
    from hlmm.scan.genome_scan import ScanConfig

    base = ScanConfig("g.bed", 0, 5, "p.txt", "o")
    for key, value in (("mac", 5), ("hwe", 1e-6), ("mind", 0.1)):
        other = ScanConfig("g.bed", 0, 5, "p.txt", "o", **{key: value})
        assert _differences(fingerprint(base), fingerprint(other)) == [key]


def test_plink_aliases_equal_hlmm_options(sim, tmp_path):
    run(["chr", sim["bed"], 0, M, sim["pheno"], tmp_path / "a", "--min-maf", "0.1",
         "--max-missing", "4"])
    run(["chr", sim["bed"], sim["pheno"], tmp_path / "b", "--whole-chr", "--maf", "0.1",
         "--geno", "0.04"])
    with open(tmp_path / "a.models.gz", "rb") as a, open(tmp_path / "b.models.gz", "rb") as b:
        assert a.read() == b.read()
    res = run(["chr", sim["bed"], sim["pheno"], tmp_path / "c", "--whole-chr", "--geno",
               "0.04", "--max-missing", "3"], expect_ok=False)
    assert res.exit_code == 2 and "--geno and --max-missing" in res.output


@pytest.mark.parametrize("args, message", [
    (["--geno", "5"], "--geno"), (["--hwe", "2"], "--hwe"), (["--mind", "-1"], "--mind"),
    (["--mac", "-1"], "--mac")])
def test_out_of_range_thresholds_are_refused(sim, tmp_path, args, message):
    res = run(["chr", sim["bed"], sim["pheno"], tmp_path / "e", "--whole-chr", *args],
              expect_ok=False)
    assert res.exit_code != 0 and message in res.output and "Traceback" not in res.output
    assert os.listdir(tmp_path) == []


def test_start_end_optional_with_whole_chr_and_end_clamped(sim, tmp_path):
    run(["chr", sim["bed"], sim["pheno"], tmp_path / "w", "--whole-chr"])
    run(["chr", sim["bed"], 0, M, sim["pheno"], tmp_path / "r"])
    with open(tmp_path / "w.models.gz", "rb") as a, open(tmp_path / "r.models.gz", "rb") as b:
        assert a.read() == b.read()
    run(["chr", sim["bed"], 250, 1000, sim["pheno"], tmp_path / "t"])
    assert len(read_models(tmp_path / "t.models.gz")[1]) == M - 250
    assert f"END 1000 clamped to the {M} SNPs" in (tmp_path / "t.log").read_text()
    res = run(["chr", sim["bed"], sim["pheno"], tmp_path / "x"], expect_ok=False)
    assert res.exit_code == 2 and "--whole-chr" in res.output
    res = run(["chr", sim["bed"], "a", M, sim["pheno"], tmp_path / "x"], expect_ok=False)
    assert res.exit_code == 2 and "START" in res.output
    assert not list(tmp_path.glob("x*"))


def test_test_snps_among_the_random_effects_are_warned_of(sim, tmp_path):
    res = run(["chr", sim["bed"], 0, 40, sim["pheno"], tmp_path / "o", "--random-gts",
               sim["bed"], "--min-maf", "0"])
    assert "40 test SNP(s)" in res.output and "--random-gts" in res.output
    assert "40 test SNP(s)" in (tmp_path / "o.log").read_text()
    res = run(["chr", sim["bed"], 0, 40, sim["pheno"], tmp_path / "p", "--random-gts",
               sim["rbed"], "--min-maf", "0"])       # rbed's IDs are snp0, snp1, …
    assert "test SNP(s)" in res.output
    other = write_bed(sim["dir"] / "r_other", np.nan_to_num(sim["g"][:, :5], nan=1.0))
    bim = other[:-4] + ".bim"
    lines = [ln.split("\t") for ln in open(bim).read().splitlines()]
    with open(bim, "w") as fh:
        for k, f in enumerate(lines):
            fh.write("\t".join(["2", f"r{k}", *f[2:]]) + "\n")
    res = run(["chr", sim["bed"], 0, 40, sim["pheno"], tmp_path / "q", "--random-gts",
               other, "--min-maf", "0"])
    assert "test SNP(s)" not in res.output


def test_log_accounts_for_every_individual(sim, tmp_path):
    rm = tmp_path.parent / (tmp_path.name + "_rm.txt")
    rm.write_text("".join(f"f{i} i{i}\n" for i in range(6)))
    _, log = _scan(sim, tmp_path / "o", "--mind 0.083", "--remove", rm)
    line = next(ln for ln in log.splitlines() if ln.startswith("Individuals in"))
    dropped = line.split("(dropped: ")[1]
    assert dropped.startswith("6 by --keep/--remove, ")
    numbers = [int(w) for w in dropped.replace(",", " ").replace(")", " ").split()
               if w.isdigit()]
    assert _analysed(log) + sum(numbers) == N
    assert "Phenotype rows matching no genotyped individual left: " in log


def test_help_texts_say_what_the_code_does():
    res = run(["chr", "--help"])
    text = " ".join(res.output.split())
    assert ".bed, .pgen or .bgen) of the SNPs modelled as random effects" in text
    assert "128 for other formats" in text and "16 with random effects" in text
    for opt in ("--maf", "--geno", "--mac", "--hwe", "--mind"):
        assert opt in text
