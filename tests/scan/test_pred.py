"""--pred (REGENIE's LOCO predictions): a scan with --pred equals, chromosome by
chromosome, the scan of y − s·LOCO_c written out as a phenotype (s computed here
independently: REGENIE's residual SD); one phenotype and many, HLM and HLMM, --robust;
the .loco files in the --resume fingerprint; bad input."""
import errno
import os
import time

import numpy as np
import pytest

from clihelp import assert_clean_failure, column, read_models, run, write_table
from pred_data import CHROMS, make, write_loco

NUMERIC = ["n", "a1_freq", "frequency", "likelihood", "add", "add_se", "add_t", "add_pval",
           "var", "var_se", "var_t", "var_pval", "av_pval"]


def _expected_trait(d, p, chrom, covar=True):
    """y − s·LOCO_chrom of phenotype p over the individuals with a prediction, with
    s = ‖r‖/√(n − k), r: OLS residuals on [1, c1, c2] (k = 3; without ``covar`` on 1)."""
    path, preds, na, present = d["locos"][d["names"][p]]
    y = d["y"][:, p].copy()
    pred = np.array([preds[k][int(chrom) - 1] if k in present and k not in na else np.nan
                     for k in d["keys"]])
    ok = ~np.isnan(y) & ~np.isnan(pred)
    X = np.column_stack([np.ones(ok.sum())] + ([d["covar_values"][ok]] if covar else []))
    beta = np.linalg.lstsq(X, y[ok], rcond=None)[0]
    r = y[ok] - X @ beta
    s = np.sqrt(r @ r / (ok.sum() - X.shape[1]))
    out = np.full(y.shape, np.nan)
    out[ok] = y[ok] - s * pred[ok]
    return out


def _assert_same_rows(h1, rows1, h2, rows2):
    assert h1 == h2
    assert [r[0] for r in rows1] == [r[0] for r in rows2]
    assert [r[-1] for r in rows1] == [r[-1] for r in rows2]      # status
    for name in NUMERIC:
        if name in h1:
            a, b = column(h1, rows1, name), column(h2, rows2, name)
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10, err_msg=name)


def _compare_by_chromosome(tmp_path, d, table, extra, p=0, label=None):
    h, rows = read_models(table)
    for chrom in sorted(set(CHROMS)):
        y_c = _expected_trait(d, p, chrom, "--mean-covar" in extra)
        ph = write_table(tmp_path / f"yc{chrom}.txt", d["ids"], y_c[:, None], header=["Y"])
        ref = tmp_path / f"ref{label}{chrom}"
        run(["chr", d["bed"], ph, ref, "--whole-chr", "--chr", chrom, *extra])
        hr, rr = read_models(str(ref) + ".models.gz")
        mine = [r for r, c in zip(rows, CHROMS) if c == chrom]
        _assert_same_rows(h, mine, hr, rr)


@pytest.mark.parametrize("extra", [
    [],
    ["--robust"],
    ["--fit-covariates", "--engine", "general"],
])
def test_pred_equals_the_scan_of_y_minus_loco(tmp_path, rng, extra):
    d = make(tmp_path, rng)
    extra = ["--mean-covar", d["covar"], "--min-maf", "0", *extra]
    run(["chr", d["bed"], d["pheno"], tmp_path / "o", "--whole-chr", "--pred", d["pred"],
         *extra])
    _compare_by_chromosome(tmp_path, d, tmp_path / "o.models.gz", extra)
    log = open(tmp_path / "o.log").read()
    has_y = ~np.isnan(d["y"][:, 0])
    absent, na = int(has_y[-7:].sum()), int(has_y[20:25].sum())
    assert (f"{absent + na} individual(s) without a prediction dropped ({absent} not in"
            in log)
    assert f", {na} NA)" in log
    # the null model of each chromosome: one row per chromosome and covariate
    if "--fit-covariates" not in extra:
        names = [ln.split("\t")[0] for ln in
                 open(tmp_path / "o.null_mean_effects.txt").read().splitlines()[1:]]
        assert names == [f"chr{c}:{v}" for c in (1, 2, 3) for v in ("Intercept", "c1", "c2")]


def test_pred_with_random_effects(tmp_path, rng):
    from clihelp import write_bed

    d = make(tmp_path, rng)
    ids = d["ids"]
    rbed = write_bed(d["dir"] / "r", rng.binomial(2, 0.3, size=(len(ids), 40)).astype(float),
                     fid=[f for f, _ in ids], iid=[i for _, i in ids])
    extra = ["--random-gts", rbed, "--min-maf", "0", "--block-size", "4"]
    run(["chr", d["bed"], d["pheno"], tmp_path / "o", "--whole-chr", "--pred", d["pred"],
         *extra])
    _compare_by_chromosome(tmp_path, d, tmp_path / "o.models.gz", extra)


def test_pred_many_phenotypes_each_its_own_loco(tmp_path, rng):
    d = make(tmp_path, rng, n_pheno=2)
    extra = ["--mean-covar", d["covar"], "--min-maf", "0"]
    run(["chr", d["bed"], d["pheno"], tmp_path / "m", "--whole-chr", "--pred", d["pred"],
         "--all-pheno", *extra])
    for p, name in enumerate(d["names"]):
        _compare_by_chromosome(tmp_path, d, tmp_path / f"m.{name}.models.gz", extra, p, name)
    # the same phenotype alone gives the same table (up to the shared kernel's order of
    # summation)
    run(["chr", d["bed"], d["pheno"], tmp_path / "one", "--whole-chr", "--pred", d["pred"],
         "--pheno-name", "Y2", *extra])
    _assert_same_rows(*read_models(tmp_path / "one.models.gz"),
                      *read_models(tmp_path / "m.Y2.models.gz"))


def test_pred_differs_from_no_pred(tmp_path, rng):
    # (guards the comparison above against a --pred that does nothing)
    d = make(tmp_path, rng)
    run(["chr", d["bed"], d["pheno"], tmp_path / "a", "--whole-chr", "--pred", d["pred"]])
    run(["chr", d["bed"], d["pheno"], tmp_path / "b", "--whole-chr"])
    ha, ra = read_models(tmp_path / "a.models.gz")
    hb, rb = read_models(tmp_path / "b.models.gz")
    assert not np.allclose(column(ha, ra, "add_se"), column(hb, rb, "add_se"))


def test_resume_fingerprint_holds_the_loco_files(tmp_path, rng):
    from hlmm.scan.checkpoint import fingerprint
    from hlmm.scan.genome_scan import ScanConfig

    d = make(tmp_path, rng)
    cfg = ScanConfig(genofile=d["bed"], start=None, end=None, phenofile=d["pheno"],
                     outprefix=str(tmp_path / "o"), whole_chr=True, pred=d["pred"])
    before = fingerprint(cfg)
    path = d["locos"]["Y1"][0]
    text = open(path).read()
    time.sleep(0.01)
    open(path, "w").write(text.replace(" 1 ", " 1.5 ", 1) + "\n")
    assert fingerprint(cfg) != before
    assert any(f and f[0].endswith("step1_1.loco") for f in fingerprint(cfg)["files"])


def test_pred_resume_after_interruption(tmp_path, rng, monkeypatch):
    d = make(tmp_path, rng)
    args = ["chr", d["bed"], d["pheno"], tmp_path / "r", "--whole-chr", "--pred", d["pred"],
            "--block-size", "3", "--threads", "1"]
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.EIO, "io")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setenv("HLMM_SYNC_INTERVAL", "0")
    res = run(args, expect_ok=False)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert res.exit_code != 0
    run(args + ["--resume"])
    run(["chr", d["bed"], d["pheno"], tmp_path / "full", "--whole-chr", "--pred", d["pred"]])
    assert read_models(tmp_path / "r.models.gz") == read_models(tmp_path / "full.models.gz")


# --- bad input ----------------------------------------------------------------------
def _fail(tmp_path, d, pred, *needles, extra=()):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    res = run(["chr", d["bed"], d["pheno"], out / "o", "--whole-chr", "--pred", pred,
               *extra], expect_ok=False)
    assert_clean_failure(res, out, *needles)


def test_pred_list_naming_an_unknown_phenotype(tmp_path, rng):
    d = make(tmp_path, rng)
    bad = d["dir"] / "bad.list"
    bad.write_text(open(d["pred"]).read() + f"BMI {d['locos']['Y1'][0]}\n")
    _fail(tmp_path, d, bad, "--pred", "'BMI'", "not a column")


def test_pred_list_without_the_analysed_phenotype(tmp_path, rng):
    d = make(tmp_path, rng, n_pheno=2)
    bad = d["dir"] / "bad.list"
    bad.write_text(open(d["pred"]).read().splitlines()[0] + "\n")
    _fail(tmp_path, d, bad, "no line for phenotype 'Y2'", extra=["--all-pheno"])


def test_loco_file_missing_a_chromosome(tmp_path, rng):
    d = make(tmp_path, rng)
    keys = d["keys"]
    preds = {k: np.zeros(23) for k in keys}
    path = write_loco(d["dir"] / "short.loco", keys, preds, rows=[1, 3])
    (d["dir"] / "short.list").write_text(f"Y1 {path}\n")
    _fail(tmp_path, d, d["dir"] / "short.list", "no row for chromosome 2", "short.loco")


def test_loco_file_with_a_wrong_header(tmp_path, rng):
    d = make(tmp_path, rng)
    path = d["locos"]["Y1"][0]
    text = open(path).read()
    open(path, "w").write(text.replace("FID_IID", "IID", 1))
    _fail(tmp_path, d, d["pred"], "line 1", "FID_IID")


def test_loco_file_with_a_short_row(tmp_path, rng):
    d = make(tmp_path, rng)
    path = d["locos"]["Y1"][0]
    lines = open(path).read().splitlines()
    lines[2] = lines[2].rsplit(" ", 2)[0]
    open(path, "w").write("\n".join(lines) + "\n")
    _fail(tmp_path, d, d["pred"], "line 3", "fields, the header has")


def test_chromosome_without_a_loco_row(tmp_path, rng):
    d = make(tmp_path, rng)
    bim = d["dir"] / "g.bim"
    lines = bim.read_text().splitlines()
    lines[-1] = "MT\t" + lines[-1].split("\t", 1)[1]
    bim.write_text("\n".join(lines) + "\n")
    _fail(tmp_path, d, d["pred"], "chromosome MT", "no LOCO row")


def test_pred_many_phenotypes_hlmm_equal_single_runs(tmp_path, rng):
    from clihelp import write_bed

    d = make(tmp_path, rng, n_pheno=2)
    ids = d["ids"]
    rbed = write_bed(d["dir"] / "r", rng.binomial(2, 0.3, size=(len(ids), 30)).astype(float),
                     fid=[f for f, _ in ids], iid=[i for _, i in ids])
    extra = ["--random-gts", rbed, "--min-maf", "0", "--pred", d["pred"], "--block-size", "5"]
    run(["chr", d["bed"], d["pheno"], tmp_path / "m", "--whole-chr", "--all-pheno", *extra])
    for name in d["names"]:
        run(["chr", d["bed"], d["pheno"], tmp_path / name, "--whole-chr", "--pheno-name", name,
             *extra])
        _assert_same_rows(*read_models(tmp_path / f"{name}.models.gz"),
                          *read_models(tmp_path / f"m.{name}.models.gz"))
        h2 = open(tmp_path / f"m.{name}.null_h2.txt").read().splitlines()
        assert h2[0] == "chr\th2\tse" and [r.split("\t")[0] for r in h2[1:]] == ["1", "2", "3"]


@pytest.mark.parametrize("n_pheno", [1, 2])
def test_group_tables_live_only_while_needed(tmp_path, rng, n_pheno):
    # three chromosome groups, two kept alive: the first's tables are released when the
    # third starts, and rebuilt (the same fits) when it is needed again
    from hlmm.io.run_log import Log
    from hlmm.scan.chrom_groups import ChromosomeScan
    from hlmm.scan.genome_scan import ScanConfig, ScanInputs

    d = make(tmp_path, rng, n_pheno=n_pheno)
    cfg = ScanConfig(genofile=d["bed"], start=None, end=None, phenofile=d["pheno"],
                     outprefix=str(tmp_path / "o"), whole_chr=True, pred=d["pred"],
                     min_maf=0.0, all_pheno=n_pheno > 1)
    log = Log()
    scan = ChromosomeScan(cfg, log, ScanInputs(cfg, log))
    blocks = scan.blocks()
    assert len(blocks) == 3

    def alive(key):
        s = scan._by_key[key]
        return (s._Bt if n_pheno > 1 else s._tables) is not None

    keys = list(scan._by_key)
    assert not any(alive(k) for k in keys)         # built, then shelved
    first = scan.fit_block(blocks[0])
    scan.fit_block(blocks[1])
    assert alive(keys[0]) and alive(keys[1])
    scan.fit_block(blocks[2])
    assert not alive(keys[0]) and alive(keys[2])
    again = scan.fit_block(blocks[0])
    for a, b in zip(first if n_pheno > 1 else [first], again if n_pheno > 1 else [again]):
        np.testing.assert_array_equal(a.est, b.est)


def test_loco_file_matching_nobody(tmp_path, rng):
    # IIDs alone (no FID_ prefix) match no analysed individual's FID_IID
    d = make(tmp_path, rng)
    iids = [i for _, i in d["ids"]]
    path = write_loco(d["dir"] / "iid.loco", iids, {k: np.zeros(23) for k in iids})
    (d["dir"] / "iid.list").write_text(f"Y1 {path}\n")
    _fail(tmp_path, d, d["dir"] / "iid.list", "none of the", "FID_IID", "iid.loco")
