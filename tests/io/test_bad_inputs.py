"""Hostile inputs (issue 22): one table of damaged files of every kind, each run through
`hlmm chr`.  Every case must end with exit ≠ 0, exactly one line of output (``Error:
…``, printable, of bounded length, naming the culprit), no traceback, and no output file
left behind."""
import gzip
import os
import shutil

import pytest

from clihelp import run
from hostile_files import M, N, make_inputs, write_bgen, write_sample, dosages


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("valid")
    return d, make_inputs(d)


@pytest.fixture
def inputs(base, tmp_path):
    src, paths = base
    d = tmp_path / "in"
    shutil.copytree(src, d)
    out = tmp_path / "out"
    out.mkdir()
    return {k: str(d / os.path.relpath(v, src)) for k, v in paths.items()}, d, out


# ------------------------------------------------------------------ damage helpers
def patch_bytes(path, offset, data):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def truncate(path, keep):
    with open(path, "r+b") as fh:
        fh.truncate(keep if keep >= 0 else os.path.getsize(path) + keep)


def edit_line(path, k, old, new):
    """Replace ``old`` by ``new`` in line ``k`` (0-based) of a text file."""
    with open(path, encoding="utf-8", newline="") as fh:
        lines = fh.read().split("\n")
    assert old in lines[k], (old, lines[k])
    lines[k] = lines[k].replace(old, new, 1)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("\n".join(lines))


def drop_line(path, k):
    with open(path) as fh:
        lines = fh.read().splitlines(keepends=True)
    del lines[k]
    with open(path, "w") as fh:
        fh.writelines(lines)


def write(path, text, mode="w"):
    with open(path, mode) as fh:
        fh.write(text)


def bim(p):
    return p["bed"][:-4] + ".bim"


def fam(p):
    return p["bed"][:-4] + ".fam"


def pvar(p):
    return p["pgen"][:-5] + ".pvar"


def psam(p):
    return p["pgen"][:-5] + ".psam"


def new_bgen(p, **kw):
    write_bgen(p["bgen"], dosages(), **kw)


LONG = "1" * 10_000 + "x"     # a 10,001-character token


# Each case: (id, the genotype file used, damage(paths, dir) → extra arguments or None,
# text the error line must contain).
CASES = [
    # ---- .bed / .bim / .fam
    ("bed-magic", "bed", lambda p, d: patch_bytes(p["bed"], 0, b"\x00\x00"), "magic"),
    ("bed-mode-07", "bed", lambda p, d: patch_bytes(p["bed"], 2, b"\x07"),
     "unknown mode byte 0x07"),
    ("bed-individual-major", "bed", lambda p, d: patch_bytes(p["bed"], 2, b"\x00"),
     "individual-major"),
    ("bed-truncated", "bed", lambda p, d: truncate(p["bed"], -3), "truncated"),
    ("bed-longer", "bed", lambda p, d: write(p["bed"], b"\x00" * 5, "ab"),
     "longer than expected"),
    ("fam-one-short", "bed", lambda p, d: drop_line(fam(p), N - 1),
     "fewer individuals than the .bed"),
    ("fam-duplicate", "bed", lambda p, d: edit_line(fam(p), 3, "f3 i3", "f2 i2"),
     "duplicate individual f2 i2"),
    ("fam-columns", "bed", lambda p, d: edit_line(fam(p), 2, "f2 ", "f2 extra "),
     "expected 6 columns"),
    ("fam-empty", "bed", lambda p, d: write(fam(p), "\n"), "no individuals"),
    ("fam-nul-in-id", "bed", lambda p, d: edit_line(fam(p), 4, "i4", "i\x004"),
     "control character"),
    ("bim-columns", "bed", lambda p, d: edit_line(bim(p), 1, "\tA", "\tA\tT"),
     "expected 6 columns"),
    ("bim-pos-1e30", "bed", lambda p, d: edit_line(bim(p), 2, "1002", "1e30"),
     "line 3: position '1e30' is not a whole number"),
    ("bim-pos-negative", "bed", lambda p, d: edit_line(bim(p), 2, "1002", "-5"),
     "position '-5'"),
    ("bim-pos-2^53+1", "bed", lambda p, d: edit_line(bim(p), 2, "1002", "9007199254740993"),
     "position '9007199254740993'"),
    ("bim-pos-2^31", "bed", lambda p, d: edit_line(bim(p), 2, "1002", "2147483648"),
     "0..2147483647"),
    ("bim-pos-arabic-digits", "bed", lambda p, d: edit_line(bim(p), 2, "1002", "١٥"),
     "position '١٥'"),
    ("bim-pos-underscore", "bed", lambda p, d: edit_line(bim(p), 2, "1002", "1_002"),
     "position '1_002'"),
    ("bim-pos-long-token", "bed", lambda p, d: edit_line(bim(p), 2, "1002", LONG),
     "(10,001 characters)"),
    ("bim-allele-control", "bed", lambda p, d: edit_line(bim(p), 0, "\tA\t", "\tA\x01\t"),
     "control character"),
    ("bim-missing", "bed", lambda p, d: os.remove(bim(p)), "not found"),
    ("bim-one-line-more", "bed",
     lambda p, d: write(bim(p), "1\tsnpX\t0\t2000\tA\tG\n", "a"), "truncated"),
    # ---- .pgen / .pvar / .psam
    ("pgen-magic", "pgen", lambda p, d: patch_bytes(p["pgen"], 0, b"\x00\x00"), "magic"),
    ("pgen-truncated", "pgen", lambda p, d: truncate(p["pgen"], -4), "pg.pgen"),
    ("pvar-pos-1e30", "pgen", lambda p, d: edit_line(pvar(p), 2, "1001", "1e30"),
     "line 3: POS '1e30'"),
    ("pvar-pos-negative", "pgen", lambda p, d: edit_line(pvar(p), 2, "1001", "-5"),
     "POS '-5'"),
    ("pvar-pos-junk", "pgen", lambda p, d: edit_line(pvar(p), 2, "1001", "12x"),
     "POS '12x'"),
    ("pvar-id-space", "pgen", lambda p, d: edit_line(pvar(p), 1, "snp0", "snp 0"),
     "line 2: expected 5 fields"),
    ("pvar-missing", "pgen", lambda p, d: os.remove(pvar(p)), "not found"),
    ("psam-duplicate", "pgen", lambda p, d: edit_line(psam(p), 4, "f3\ti3", "f2\ti2"),
     "duplicate individual"),
    ("psam-one-short", "pgen", lambda p, d: drop_line(psam(p), N), "individuals, but"),
    ("psam-bad-header", "pgen", lambda p, d: edit_line(psam(p), 0, "#FID", "#XYZ"),
     "header must start"),
    # ---- .bgen / .sample
    ("bgen-rsid-forges-rows", "bgen",
     lambda p, d: new_bgen(p, samples=[f"i{i}" for i in range(N)],
                           rsids=["rs0", "rs1\tFAKE\nok\trsEVIL"] + [f"rs{k}" for k in
                                                                    range(2, M)]),
     "ID of variant 2"),
    ("bgen-allele-newline", "bgen",
     lambda p, d: new_bgen(p, samples=[f"i{i}" for i in range(N)],
                           alleles=[["G", "A"], ["G", "A\nB"]] + [["G", "A"]] * (M - 2)),
     "second allele of variant 2"),
    ("bgen-sample-id-tab", "bgen",
     lambda p, d: new_bgen(p, samples=[f"i{i}" for i in range(N - 1)] + ["i\t61"]),
     f"sample ID {N}"),
    ("bgen-position-2^31", "bgen",
     lambda p, d: new_bgen(p, samples=[f"i{i}" for i in range(N)],
                           positions=[2**31] + [1001 + k for k in range(M - 1)]),
     "position of variant 1"),
    ("bgen-truncated", "bgen", lambda p, d: truncate(p["bgen"], -20), "bg.bgen"),
    ("bgen-not-bgen", "bgen", lambda p, d: write(p["bgen"], os.urandom(300), "wb"),
     "bg.bgen"),
    ("sample-count", "bgen",
     lambda p, d: ["--sample", write_sample(p["sample"], [f"i{i}" for i in range(N - 1)])],
     "samples, but the BGEN file has"),
    ("sample-header", "bgen",
     lambda p, d: (edit_line(p["sample"], 0, "ID_1 ID_2", "A B"), ["--sample", p["sample"]])[1],
     "Oxford .sample header"),
    ("sample-duplicate", "bgen",
     lambda p, d: (edit_line(p["sample"], 5, "i3 i3", "i2 i2"), ["--sample", p["sample"]])[1],
     "duplicate individual"),
    ("sample-nul", "bgen",
     lambda p, d: (edit_line(p["sample"], 5, "i3 i3", "i3 i\x003"), ["--sample", p["sample"]])[1],
     "control character"),
    # ---- phenotypes
    ("pheno-word", "bed", lambda p, d: _value(p["pheno"], 2, "oops"), "non-numeric value 'oops'"),
    ("pheno-underscore", "bed", lambda p, d: _value(p["pheno"], 2, "1_5"),
     "non-numeric value '1_5'"),
    ("pheno-arabic-digits", "bed", lambda p, d: _value(p["pheno"], 2, "١٥"),
     "non-numeric value '١٥'"),
    ("pheno-fullwidth-digits", "bed", lambda p, d: _value(p["pheno"], 2, "１５"),
     "non-numeric value"),
    ("pheno-long-token", "bed", lambda p, d: _value(p["pheno"], 2, LONG),
     "(10,001 characters)"),
    ("pheno-nul", "bed", lambda p, d: _value(p["pheno"], 2, "1\x005"), "\\x00"),
    ("pheno-inf", "bed", lambda p, d: _value(p["pheno"], 2, "inf"), "non-finite value 'inf'"),
    ("pheno-duplicate-column", "bed", lambda p, d: edit_line(p["pheno"], 0, "y2", "y1"),
     "'y1' appears twice"),
    ("pheno-duplicate-individual", "bed",
     lambda p, d: edit_line(p["pheno"], 3, "f2 i2", "f1 i1"), "duplicate individual f1 i1"),
    ("pheno-columns", "bed", lambda p, d: _value(p["pheno"], 2, "1 2"), "expected 4 columns"),
    ("pheno-empty", "bed", lambda p, d: write(p["pheno"], ""), "empty"),
    ("pheno-header-only", "bed", lambda p, d: write(p["pheno"], "FID IID y1\n"),
     "no data lines"),
    ("pheno-bad-gzip", "bed",
     lambda p, d: write(p["pheno"], gzip.compress(b"FID IID y\n" * 50)[:30], "wb"),
     "gzip"),
    ("pheno-missing", "bed", lambda p, d: os.remove(p["pheno"]), "not found"),
    # ---- covariates
    ("covar-word", "bed",
     lambda p, d: (_value(p["covar"], 2, "oops"), ["--mean-covar", p["covar"]])[1],
     "covar.txt line 3"),
    ("covar-underscore", "bed",
     lambda p, d: (_value(p["covar"], 2, "2_0"), ["--var-covar", p["covar"]])[1],
     "'2_0'"),
    ("covar-missing", "bed", lambda p, d: ["--mean-covar", p["covar"] + ".nope"], "covar"),
    # ---- selections
    ("keep-empty", "bed", lambda p, d: (write(p["keep"], "\n"), ["--keep", p["keep"]])[1],
     "lists no individuals"),
    ("keep-none-known", "bed",
     lambda p, d: (write(p["keep"], "x y\n"), ["--keep", p["keep"]])[1], "none of the"),
    ("keep-bad-header", "bed",
     lambda p, d: (write(p["keep"], "#FID XYZ\nf1 i1\n"), ["--keep", p["keep"]])[1],
     "must continue with 'IID'"),
    ("extract-none-known", "bed",
     lambda p, d: (write(p["extract"], "nope\n"), ["--extract", p["extract"]])[1],
     "none of its 1 variant IDs"),
    ("extract-empty", "bed",
     lambda p, d: (write(p["extract"], ""), ["--extract", p["extract"]])[1],
     "lists no variants"),
    ("chr-no-match", "bed", lambda p, d: ["--chr", "7"], "no variant on chromosome 7"),
]


def _value(path, line, token):
    """Put ``token`` as the first value of line ``line`` (0-based) of a table."""
    with open(path) as fh:
        lines = fh.read().split("\n")
    parts = lines[line].split(" ")
    parts[2] = token
    lines[line] = " ".join(parts)
    with open(path, "w") as fh:
        fh.write("\n".join(lines))


def test_the_table_is_large_and_covers_every_kind():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)
    kinds = {c[0].split("-")[0] for c in CASES}
    assert {"bed", "fam", "bim", "pgen", "pvar", "psam", "bgen", "sample", "pheno", "covar",
            "keep", "extract"} <= kinds


@pytest.mark.parametrize("name, geno, damage, needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_cleanly(inputs, name, geno, damage, needle):
    p, d, out = inputs
    extra = damage(p, d) or []
    result = run(["chr", p[geno], 0, M, p["pheno"], out / "res", *extra], expect_ok=False)
    assert result.exit_code not in (0, None), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert all("Traceback" not in line for line in lines), result.output
    errors = [line for line in lines if line.startswith("Error")]
    assert len(errors) == 1 and len(lines) == 1, lines
    line = errors[0]
    assert line.isprintable() and len(line) <= 1100, line[:200]
    assert needle in line, (needle, line)
    assert os.listdir(out) == [], os.listdir(out)


def test_the_valid_inputs_run(inputs):
    """The damaged files start from inputs `hlmm chr` accepts: each case's error is the
    damage's."""
    p, d, out = inputs
    for geno, extra in (("bed", ["--mean-covar", p["covar"], "--keep", p["keep"]]),
                        ("pgen", []), ("bgen", []), ("bgen", ["--sample", p["sample"]])):
        for f in os.listdir(out):
            os.remove(out / f)
        result = run(["chr", p[geno], 0, M, p["pheno"], out / "res", "--min-maf", "0",
                      *extra], expect_ok=False)
        assert result.exit_code == 0, (geno, result.output)
