"""`hlmm chr` behaviour on synthetic data: engines agree, options do what they say."""
import gzip

import numpy as np
import pytest

import hlmm
from clihelp import column, read_models, run, write_bed, write_table

FIT_COLS = ["likelihood", "add", "add_se", "var", "var_se"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    rng = np.random.default_rng(7)
    d = tmp_path_factory.mktemp("synth")
    n, m = 600, 40
    p = rng.uniform(0.02, 0.5, m)
    dos = rng.binomial(2, p, size=(n, m)).astype(float)
    dos[:, 0] = 0.0                                  # monomorphic
    dos[:, 1] = 0.0
    dos[:3, 1] = 1.0                                 # three carriers only
    dos[rng.random((n, m)) < 0.02] = np.nan          # missing calls
    dos[rng.random(n) < 0.5, 2] = np.nan             # mostly missing SNP
    bed = write_bed(d / "geno", dos)
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    g = np.nan_to_num(dos[:, 5])
    y = 0.3 * g + rng.standard_normal(n) * np.exp(0.3 * g / 2) + 2.0
    cov = rng.standard_normal((n, 2))
    y = y + 0.5 * cov[:, 0]
    order = rng.permutation(n)                       # files in another order than the .fam
    pheno = write_table(d / "pheno.txt", [ids[i] for i in order], y[order, None])
    covar = write_table(d / "covar.txt", [ids[i] for i in order], cov[order], header=["a", "b"])
    return {"dir": d, "bed": bed, "pheno": pheno, "covar": covar, "dos": dos, "y": y,
            "cov": cov, "n": n, "m": m, "ids": ids}


def scan(s, out, *extra):
    run(["chr", s["bed"], 0, s["m"], s["pheno"], out, "--min-maf", "0", "--max-missing", "10",
         *extra])
    return read_models(f"{out}.models.gz")


def test_output_is_gzip_with_columns(synth, tmp_path):
    h, rows = scan(synth, tmp_path / "a")
    with open(tmp_path / "a.models.gz", "rb") as fh:
        assert fh.read(2) == b"\x1f\x8b"
    assert h == ["SNP", "n", "frequency", "likelihood", "add", "add_se", "add_t", "add_pval",
                 "var", "var_se", "var_t", "var_pval", "av_pval", "chrom", "pos", "a1", "a2",
                 "a1_freq", "status"]
    assert len(rows) == synth["m"]
    assert [r[h.index("a1")] for r in rows] == ["A"] * synth["m"]   # A1 counted by default


@pytest.mark.parametrize("covars", [False, True])
def test_class_engine_equals_general_engine(synth, tmp_path, covars):
    extra = ["--mean-covar", synth["covar"], "--var-covar", synth["covar"]] if covars else []
    h, fast = scan(synth, tmp_path / "fast", *extra)
    _, gen = scan(synth, tmp_path / "gen", "--engine", "general", *extra)
    assert [r[:3] for r in fast] == [r[:3] for r in gen] or np.allclose(
        column(h, fast, "frequency"), column(h, gen, "frequency"), rtol=1e-14, equal_nan=True)
    assert column(h, fast, "n").tolist() == column(h, gen, "n").tolist()
    for c in FIT_COLS:
        a, b = column(h, fast, c), column(h, gen, c)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=c)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1.5e-6, equal_nan=True, err_msg=c)
    like = column(h, fast, "likelihood")
    assert np.isnan(like[0]) and np.isnan(like[2])    # monomorphic; >10% missing
    assert np.isnan(column(h, fast, "frequency")[2])
    assert np.isfinite(like[5])


def test_snp_rows_equal_direct_hlm_fits(synth, tmp_path):
    """Each row is the HLM fit of y (projected on the null model) on [1, x] — computed here
    independently from the dosages."""
    h, rows = scan(synth, tmp_path / "a", "--count-a2")
    y = synth["y"]
    sd = y.std()
    y = (y - y.mean()) / sd
    for j in (3, 5, 17):
        g = 2.0 - synth["dos"][:, j]                 # A2 counts
        ok = ~np.isnan(g)
        x = g[ok] - g[ok].mean()
        X = np.column_stack([np.ones(ok.sum()), x])
        res = hlmm.HLM(y[ok], X, X).fit()
        assert abs(column(h, rows, "add")[j] - round(res.alpha[1], 6)) < 2e-6
        assert abs(column(h, rows, "var")[j] - round(res.beta[1], 6)) < 2e-6
        # on the trait's scale: the density of the standardised y over SD^n_called
        assert abs(column(h, rows, "likelihood")[j] - (res.loglik - ok.sum() * np.log(sd))) < 1e-7


def test_count_a2_flips_signs_and_alleles(synth, tmp_path):
    h, a1 = scan(synth, tmp_path / "a1")
    _, a2 = scan(synth, tmp_path / "a2", "--count-a2")
    ok = np.isfinite(column(h, a1, "add"))
    np.testing.assert_allclose(column(h, a1, "add")[ok], -column(h, a2, "add")[ok], atol=2e-6)
    np.testing.assert_allclose(column(h, a1, "var")[ok], -column(h, a2, "var")[ok], atol=2e-6)
    assert [r[h.index("a1")] for r in a2] == ["G"] * synth["m"]


def test_underscore_aliases_and_threads_give_same_output(synth, tmp_path):
    _, a = scan(synth, tmp_path / "a", "--mean-covar", synth["covar"], "--threads", "1",
                "--block-size", "7")
    _, b = scan(synth, tmp_path / "b", "--mean_covar", synth["covar"], "--threads", "2",
                "--block_size", "5")
    assert a == b


def test_append_adds_rows_without_second_header(synth, tmp_path):
    out = tmp_path / "a"
    run(["chr", synth["bed"], 0, 10, synth["pheno"], out])
    run(["chr", synth["bed"], 10, synth["m"], synth["pheno"], out, "--append"])
    h, rows = read_models(f"{out}.models.gz")
    _, whole = scan(synth, tmp_path / "w", "--min-maf", "0.05", "--max-missing", "5")
    assert rows == whole
    with gzip.open(f"{out}.models.gz", "rt") as fh:
        assert sum(line.startswith("SNP\t") for line in fh) == 1


def test_whole_chr_and_pheno_name(synth, tmp_path):
    d = synth["dir"]
    two = write_table(d / "two.txt", synth["ids"],
                      np.column_stack([np.zeros(synth["n"]) + 1.0, synth["y"]]), header=["z", "yy"])
    # A constant first column would fail; --pheno-name picks the second.
    run(["chr", synth["bed"], 0, 0, two, tmp_path / "a", "--whole-chr", "--pheno-name", "yy"])
    _, rows = read_models(tmp_path / "a.models.gz")
    run(["chr", synth["bed"], 0, synth["m"], two, tmp_path / "b", "--phen-index", "2"])
    assert rows == read_models(tmp_path / "b.models.gz")[1]
    assert len(rows) == synth["m"]


def test_log_records_counts(synth, tmp_path):
    scan(synth, tmp_path / "a")
    log = open(tmp_path / "a.log").read()
    assert "analysed: 600" in log and "Null HLM" in log and "SNPs: 40 written" in log


@pytest.mark.parametrize("df", [1, 2])
def test_neglog10_pval_matches_scipy_including_far_tail(df):
    from scipy.stats import chi2

    from hlmm.io.output import neglog10_pval

    for stat in [0.0, 1e-8, 0.5, 3.84, 25.0, 400.0, 5000.0]:
        expect = -chi2.logsf(stat, df) / np.log(10)
        assert abs(neglog10_pval(stat, df) - expect) <= 1e-10 * max(1.0, expect)
    assert np.isnan(neglog10_pval(float("nan"), df))


def test_random_gts_joined_files_and_text_table_give_the_same_scan(synth, tmp_path):
    """Several --random-gts .bed files are one design; --random-gts-txt reads the same
    design from FID IID x1 … text."""
    rng = np.random.default_rng(21)
    n = synth["n"]
    R = rng.binomial(2, rng.uniform(0.1, 0.5, 12), size=(n, 12)).astype(float)
    R[rng.random(R.shape) < 0.01] = np.nan
    d = tmp_path
    whole = write_bed(d / "r_all", R, fid=[f for f, _ in synth["ids"]], iid=[i for _, i in synth["ids"]])
    part1 = write_bed(d / "r_1", R[:, :5], fid=[f for f, _ in synth["ids"]],
                      iid=[i for _, i in synth["ids"]])
    part2 = write_bed(d / "r_2", R[:, 5:], fid=[f for f, _ in synth["ids"]],
                      iid=[i for _, i in synth["ids"]])
    txt = write_table(d / "r.txt", synth["ids"], R)
    base = ["chr", synth["bed"], 0, 8, synth["pheno"]]
    run(base + [d / "a", "--random-gts", whole])
    run(base + [d / "b", "--random-gts", part1, "--random_gts", part2])
    run(base + [d / "c", "--random-gts", txt, "--random-gts-txt"])
    a, b, c = (read_models(d / f"{k}.models.gz")[1] for k in "abc")
    assert a == b == c
    h2 = [open(d / f"{k}.null_h2.txt").read() for k in "abc"]
    assert h2[0] == h2[1] == h2[2]
    assert "l = 12" in open(d / "b.log").read()


def test_status_a1_freq_and_na_columns(synth, tmp_path):
    """#20 item 10, end to end: a1_freq is the counted allele's frequency (A2 counted:
    above 0.5), frequency its fold with 6 significant digits, status says why a row is
    NA, and no missing value is spelled nan/NaN."""
    run(["chr", synth["bed"], 0, synth["m"], synth["pheno"], tmp_path / "s",
         "--count-a2", "--min-maf", "0.1", "--max-missing", "10"])
    h, rows = read_models(tmp_path / "s.models.gz")
    assert h[-2:] == ["a1_freq", "status"] and all(len(r) == len(h) for r in rows)
    col = {c: [r[i] for r in rows] for i, c in enumerate(h)}
    dos = synth["dos"]
    f = 1.0 - np.nanmean(dos, axis=0) / 2.0             # A2 counted
    np.testing.assert_allclose(column(h, rows, "a1_freq"), f, rtol=5e-6)
    assert (column(h, rows, "a1_freq") > 0.5).all()
    missing = np.mean(np.isnan(dos), axis=0) * 100 >= 10
    maf = np.minimum(f, 1 - f)
    assert [v for v in col["frequency"] if v != "NA"] == ["%.6g" % v for v in maf[~missing]]
    want = np.where(missing, "filtered_missing", np.where(maf <= 0.1, "filtered_maf", "ok"))
    assert col["status"] == want.tolist()
    assert {"filtered_missing", "filtered_maf", "ok"} <= set(col["status"])
    for s, fr, add in zip(col["status"], col["frequency"], col["add"]):
        assert (add == "NA") == (s != "ok") and (fr == "NA") == (s == "filtered_missing")
    assert not any(v.lower() in ("nan", "-nan") for r in rows for v in r)
