"""--resume refuses an unfinished run made another way (issue #27): every option that
changes results, changed one at a time, and every file read — each genotype format's
companions, the phenotype and covariate tables, the selections — changed at the same
size; the refusal names what changed and keeps the unfinished rows."""
import dataclasses
import errno
import gzip
import os

import numpy as np
import pytest

from clihelp import run, write_bed, write_table
from hlmm.scan.checkpoint import _differences, fingerprint
from hlmm.scan.genome_scan import ScanConfig

# The options that change no number of the output.  Anything else in ScanConfig (a new
# option too) must be in the fingerprint.
NOT_RESULTS = {"command", "threads", "block_size", "dask_scheduler", "dask_workers",
               "resume"}


def _other_value(field, value):
    """A value of the option other than ``value`` (its default)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value + 1 if field.name != "min_maf" else 0.1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, tuple):
        return value + ("r.bed",)
    kind = field.type if isinstance(field.type, type) else object
    if kind is bool:
        return True
    if kind in (int, float):
        return kind(7)
    if kind is tuple:
        return ("r.bed",)
    return "other.txt"


def _base():
    return ScanConfig("g.bed", 0, 5, "p.txt", "o")


def test_not_results_options_are_exactly_these():
    from hlmm.scan import checkpoint

    assert set(checkpoint._NOT_RESULTS) == NOT_RESULTS


@pytest.mark.parametrize("field", [f for f in dataclasses.fields(ScanConfig)
                                   if f.name not in NOT_RESULTS], ids=lambda f: f.name)
def test_each_option_changed_alone_is_a_difference(field, tmp_path, monkeypatch):
    base = _base()
    value = getattr(base, field.name)
    other = dataclasses.replace(base, **{field.name: _other_value(field, value)})
    files = []
    if field.name == "pred":
        # --pred names a list whose .loco files the fingerprint reads: real ones, whose
        # records (name, size, time) differ too
        monkeypatch.chdir(tmp_path)
        (tmp_path / "y.loco").write_text("FID_IID 1_1\n1 0.5\n")
        (tmp_path / "other.txt").write_text("y y.loco\n")
        files = ["other.txt", "y.loco"]
    assert _differences(fingerprint(base), fingerprint(other)) == [field.name] + files


@pytest.mark.parametrize("field", sorted(NOT_RESULTS))
def test_options_that_change_no_result_are_not_differences(field):
    base = _base()
    f = next(f for f in dataclasses.fields(ScanConfig) if f.name == field)
    other = dataclasses.replace(base, **{field: _other_value(f, getattr(base, field))})
    assert _differences(fingerprint(base), fingerprint(other)) == []


def _touch_same_size(path):
    """Change one byte of ``path`` (same size), its time one second later."""
    st = os.stat(path)
    raw = bytearray(open(path, "rb").read())
    raw[-2] = ord("7") if raw[-2] != ord("7") else ord("8")
    with open(path, "wb") as fh:
        fh.write(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    assert os.path.getsize(path) == st.st_size


# GENOFILE (or the option naming it) and the files it stands for
GENOTYPE_SETS = {
    ".bed": ("g.bed", "g.bim", "g.fam"),
    ".pgen": ("g.pgen", "g.pvar", "g.psam"),
    ".pgen zst": ("g.pgen", "g.pvar.zst", "g.psam"),
    ".bgen": ("g.bgen", "g.sample", "g.bgen.bgi"),
}


@pytest.mark.parametrize("kind", list(GENOTYPE_SETS))
@pytest.mark.parametrize("option", ["genofile", "random_gts"])
def test_each_genotype_companion_changed_is_a_difference(tmp_path, kind, option):
    names = GENOTYPE_SETS[kind]
    for name in names:
        (tmp_path / name).write_text("0 1 2 3 4 5\n")
    main = str(tmp_path / names[0])
    if option == "genofile":
        cfg = ScanConfig(main, 0, 5, "p.txt", "o")
    else:
        cfg = ScanConfig("x.bed", 0, 5, "p.txt", "o", random_gts=(main,))
    before = fingerprint(cfg)
    assert len(before["files"]) == len(names)
    for name in names:
        _touch_same_size(tmp_path / name)
        after = fingerprint(cfg)
        assert _differences(before, after) == [os.path.basename(name)], name
        before = after


@pytest.mark.parametrize("option", ["phenofile", "mean_covar", "var_covar", "sample",
                                    "keep", "remove", "extract", "exclude"])
def test_each_input_table_changed_is_a_difference(tmp_path, option):
    path = tmp_path / f"{option}.txt"
    path.write_text("f0 i0 1.5\nf1 i1 2.5\n")
    cfg = dataclasses.replace(_base(), **{option: str(path)})
    before = fingerprint(cfg)
    _touch_same_size(path)
    assert _differences(before, fingerprint(cfg)) == [path.name]


def test_bare_plink_prefix_stands_for_its_three_files(tmp_path):
    for ext in (".bed", ".bim", ".fam"):
        (tmp_path / f"g{ext}").write_text("0 1 2\n")
    cfg = ScanConfig(str(tmp_path / "g"), 0, 5, "p.txt", "o")
    before = fingerprint(cfg)
    _touch_same_size(tmp_path / "g.fam")
    assert _differences(before, fingerprint(cfg)) == ["g.fam"]


# --- end to end: an unfinished run, then --resume changed one way at a time -----------
N, M = 300, 30


@pytest.fixture(scope="module")
def unfinished(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    rng = np.random.default_rng(2728)
    ids = [(f"f{i}", f"i{i}") for i in range(N)]
    g = rng.binomial(2, rng.uniform(0.1, 0.5, M), (N, M)).astype(float)
    g[rng.random((N, M)) < 0.02] = np.nan
    files = {"bed": write_bed(d / "g", g),
             "pheno": write_table(d / "p.txt", ids, rng.standard_normal((N, 1))),
             "covar": write_table(d / "c.txt", ids, rng.standard_normal((N, 1)))}
    args = ["chr", files["bed"], files["pheno"], d / "o", "--whole-chr", "--block-size",
            "5", "--mean-covar", files["covar"], "--threads", "1"]
    mp = pytest.MonkeyPatch()
    real = os.fsync
    calls = {"n": 0}

    def fsync(fd):      # the third block's flush fails: two blocks are kept
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(fd)

    mp.setattr(os, "fsync", fsync)
    mp.setenv("HLMM_SYNC_INTERVAL", "0")
    try:
        res = run(args, expect_ok=False)
    finally:
        mp.undo()
    assert res.exit_code != 0 and "--resume" in res.output
    partial = d / "o.models.partial"
    assert 0 < partial.read_text().count("\n") < M
    return {"dir": d, "args": args, "partial": partial, **files}


CHANGED = [
    ("min_maf", ["--min-maf", "0.1"]), ("max_missing", ["--max-missing", "3"]),
    ("mac", ["--mac", "5"]), ("hwe", ["--hwe", "1e-6"]), ("mind", ["--mind", "0.5"]),
    ("robust", ["--robust"]), ("brown_forsythe", ["--brown-forsythe"]),
    ("engine", ["--engine", "general"]), ("fit_covariates", ["--fit-covariates"]),
    ("input_missing_phenotype", ["--input-missing-phenotype", "none"]),
    ("missing_char", ["--missing-char", "NaN"]), ("count_a2", ["--count-a2"]),
    ("no_covariate_estimates", ["--no-covariate-estimates"]),
]


@pytest.mark.parametrize("name, extra", CHANGED, ids=[c[0] for c in CHANGED])
def test_resume_refuses_each_option_changed(unfinished, name, extra):
    before = unfinished["partial"].read_bytes()
    res = run(unfinished["args"] + extra + ["--resume"], expect_ok=False)
    last = res.output.strip().splitlines()[-1]
    assert res.exit_code != 0 and "Traceback" not in res.output
    if name == "brown_forsythe":     # refused first for its other columns
        assert "has rows of 19 columns and this run writes 21" in last, last
    else:
        assert f"differs from this command in {name};" in last, last
    assert unfinished["partial"].read_bytes() == before


@pytest.mark.parametrize("which", ["g.bim", "g.fam", "p.txt", "c.txt"])
def test_resume_refuses_each_input_changed_at_the_same_size(unfinished, which):
    path = unfinished["dir"] / which
    raw, st = path.read_bytes(), os.stat(path)
    try:
        _touch_same_size(path)
        res = run(unfinished["args"] + ["--resume"], expect_ok=False)
        last = res.output.strip().splitlines()[-1]
        assert res.exit_code != 0 and f"differs from this command in {which};" in last, last
    finally:
        path.write_bytes(raw)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_resume_unchanged_completes_the_run(unfinished):
    """Last (after the refusals above): the unchanged command resumes to the table of an
    uninterrupted run, also when the unfinished run's last row was half written (a
    kill -9 mid-write): that row is dropped and computed again."""
    d = unfinished["dir"]
    raw = unfinished["partial"].read_bytes()
    assert raw.endswith(b"\n")
    unfinished["partial"].write_bytes(raw[:-6])
    run(unfinished["args"] + ["--resume"])
    ref = [a if a != d / "o" else d / "ref" for a in unfinished["args"]]
    run(ref)
    with gzip.open(d / "o.models.gz", "rb") as a, gzip.open(d / "ref.models.gz", "rb") as b:
        assert a.read() == b.read()
