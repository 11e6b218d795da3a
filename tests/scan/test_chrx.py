"""Chromosome X: males coded 0/2 (--xchr-model 2) or 0/1 (1), heterozygous male calls
missing, sex a covariate of the mean and the variance (automatic = the same covariate
given explicitly), individuals of unknown sex left out, frequencies counting a male
once, a haploid BGEN equal to the .bed of the same calls, and the errors."""
import numpy as np
import pytest

from clihelp import assert_clean_failure, column, read_models, run, write_table

N, M_AUTO, M_X = 800, 4, 12
NUMERIC = ["n", "likelihood", "add", "add_se", "add_t", "add_pval", "var", "var_se",
           "var_t", "var_pval", "av_pval"]


def _write_bed(prefix, dos, chroms, ids, sex):
    import bed_reader

    m = dos.shape[1]
    bed_reader.to_bed(str(prefix) + ".bed", dos.astype(np.float32), properties={
        "fid": [f for f, _ in ids], "iid": [i for _, i in ids],
        "sid": [f"snp{j}" for j in range(m)], "chromosome": chroms,
        "bp_position": list(range(1000, 1000 + m)), "allele_1": ["A"] * m,
        "allele_2": ["G"] * m, "sex": sex})
    return str(prefix) + ".bed"


@pytest.fixture
def xdata(tmp_path, rng):
    d = tmp_path / "src"
    d.mkdir()
    ids = [(f"f{i}", f"i{i}") for i in range(N)]
    sex = np.where(np.arange(N) % 2 == 0, 1, 2)
    sex[rng.choice(N, 20, replace=False)] = 0
    male = sex == 1
    f = rng.uniform(0.15, 0.5, M_AUTO + M_X)
    dos = rng.binomial(2, f, size=(N, M_AUTO + M_X)).astype(float)
    # males on chrX: one copy, stored as PLINK stores haploid calls (0/2); a few
    # heterozygous male calls, errors of the data
    dos[male, M_AUTO:] = 2.0 * rng.binomial(1, f[M_AUTO:], size=(male.sum(), M_X))
    het = np.flatnonzero(male)[:6]
    dos[het, M_AUTO + 1] = 1.0
    chroms = ["1"] * M_AUTO + ["X"] * M_X
    bed = _write_bed(d / "g", dos, chroms, ids, sex)
    y = (0.5 * male + np.sqrt(1 + 0.8 * male) * rng.standard_normal(N)
         + 0.3 * dos[:, M_AUTO + 2])
    pheno = write_table(d / "p.txt", ids, y[:, None], header=["Y"])
    return {"dir": d, "ids": ids, "sex": sex, "dos": dos, "bed": bed, "pheno": pheno,
            "chroms": chroms}


def _explicit(tmp_path, x, model, extra=()):
    """The oracle: chrX's SNPs as an autosome, males recoded by hand (heterozygous →
    missing, model 1 halved), individuals of unknown sex removed with --keep, sex given
    as a mean and variance covariate."""
    dos = x["dos"][:, M_AUTO:].copy()
    male = x["sex"] == 1
    dm = dos[male]
    dm[dm == 1] = np.nan
    if model == 1:
        dm = dm / 2
    dos[male] = dm
    d = x["dir"]
    bed = _write_bed(d / f"asauto{model}", dos, ["1"] * M_X, x["ids"], x["sex"])
    known = [i for i, s in zip(x["ids"], x["sex"]) if s > 0]
    keep = d / "keep.txt"
    keep.write_text("".join(f"{a} {b}\n" for a, b in known))
    sexcov = write_table(d / "sexcov.txt", x["ids"],
                         np.where(x["sex"] > 0, x["sex"], np.nan)[:, None], header=["sex"])
    out = tmp_path / f"explicit{model}"
    run(["chr", bed, x["pheno"], out, "--whole-chr", "--keep", keep, "--mean-covar", sexcov,
         "--var-covar", sexcov, "--min-maf", "0", *extra])
    return read_models(str(out) + ".models.gz"), dos


def _x_rows(table):
    h, rows = table
    return h, [r for r in rows if r[h.index("chrom")] in ("X", "23")]


def _same(a, b, names=NUMERIC):
    (h1, r1), (h2, r2) = a, b
    assert len(r1) == len(r2)
    assert [r[-1] for r in r1] == [r[-1] for r in r2]
    for name in names:
        np.testing.assert_allclose(column(h1, r1, name), column(h2, r2, name), rtol=1e-8,
                                   atol=1e-12, err_msg=name)


def _expected_freq(x, dos, model):
    """Counted-allele frequency with a male counted once: hand formula."""
    male, female = x["sex"] == 1, x["sex"] == 2
    out = []
    for j in range(dos.shape[1]):
        g = dos[:, j]
        fm, mm = female & ~np.isnan(g), male & ~np.isnan(g)
        alleles = g[fm].sum() + (g[mm].sum() / 2 if model == 2 else g[mm].sum())
        out.append(alleles / (2 * fm.sum() + mm.sum()))
    return np.array(out)


@pytest.mark.parametrize("model", [2, 1])
def test_chrx_equals_hand_coded_autosome_with_sex_covariate(tmp_path, xdata, model):
    x = xdata
    run(["chr", x["bed"], x["pheno"], tmp_path / "x", "--whole-chr", "--min-maf", "0",
         "--xchr-model", model])
    mine = _x_rows(read_models(tmp_path / "x.models.gz"))
    ref, dos = _explicit(tmp_path, x, model)
    _same((mine[0], [r for r in mine[1]]), ref)
    # the frequencies count a male once
    np.testing.assert_allclose(column(*mine, "a1_freq"), _expected_freq(x, dos, model),
                               atol=5e-7)
    log = open(tmp_path / "x.log").read()
    assert "20 individual(s) of unknown sex left out" in log
    assert f"coded 0/{model}" in log
    # the autosomes keep everyone
    h, rows = read_models(tmp_path / "x.models.gz")
    auto = [r for r in rows if r[h.index("chrom")] == "1"]
    assert all(int(r[h.index("n")]) == N for r in auto)


def test_no_x_sex_leaves_sex_out(tmp_path, xdata):
    x = xdata
    run(["chr", x["bed"], x["pheno"], tmp_path / "x", "--whole-chr", "--min-maf", "0",
         "--no-x-sex", "--chr", "X"])
    mine = read_models(tmp_path / "x.models.gz")
    dos = x["dos"][:, M_AUTO:].copy()
    male = x["sex"] == 1
    dm = dos[male]
    dm[dm == 1] = np.nan
    dos[male] = dm
    bed = _write_bed(x["dir"] / "nosex", dos, ["1"] * M_X, x["ids"], x["sex"])
    known = [i for i, s in zip(x["ids"], x["sex"]) if s > 0]
    keep = x["dir"] / "keep.txt"
    keep.write_text("".join(f"{a} {b}\n" for a, b in known))
    run(["chr", bed, x["pheno"], tmp_path / "ref", "--whole-chr", "--keep", keep,
         "--min-maf", "0"])
    _same(mine, read_models(tmp_path / "ref.models.gz"))


def test_sex_file_overrides_the_fam(tmp_path, xdata):
    x = xdata
    # the same sexes from a --sex file, the .fam's erased
    plain = _write_bed(x["dir"] / "nosexfam", x["dos"], x["chroms"], x["ids"],
                       np.zeros(N, int))
    sexfile = x["dir"] / "sex.txt"
    sexfile.write_text("".join(f"{a} {b} {s}\n" for (a, b), s in zip(x["ids"], x["sex"])))
    run(["chr", x["bed"], x["pheno"], tmp_path / "fam", "--whole-chr"])
    run(["chr", plain, x["pheno"], tmp_path / "file", "--whole-chr", "--sex", sexfile])
    assert read_models(tmp_path / "fam.models.gz") == read_models(tmp_path / "file.models.gz")


def test_xchr_model_0_skips_chrx(tmp_path, xdata):
    x = xdata
    run(["chr", x["bed"], x["pheno"], tmp_path / "x", "--whole-chr", "--xchr-model", "0"])
    h, rows = read_models(tmp_path / "x.models.gz")
    assert [r[0] for r in rows] == [f"snp{j}" for j in range(M_AUTO)]
    assert f"--xchr-model 0: {M_X} chromosome X SNP(s) skipped" in open(
        tmp_path / "x.log").read()


def test_chrx_without_sex_is_an_error_naming_sex(tmp_path, xdata):
    x = xdata
    plain = _write_bed(x["dir"] / "nosexfam", x["dos"], x["chroms"], x["ids"],
                       np.zeros(N, int))
    out = tmp_path / "out"
    out.mkdir()
    res = run(["chr", plain, x["pheno"], out / "o", "--whole-chr"], expect_ok=False)
    assert_clean_failure(res, out, "chromosome X", "--sex FILE")


def test_haploid_bgen_equals_the_bed(tmp_path, xdata):
    import bgen

    x = xdata
    dos = x["dos"][:, M_AUTO:]
    male = x["sex"] == 1
    path = str(x["dir"] / "x.bgen")
    ploidy = np.where(male, 1, 2)
    with bgen.BgenWriter(path, n_samples=N, samples=[i for _, i in x["ids"]]) as w:
        for j in range(M_X):
            g = dos[:, j]
            probs = np.zeros((N, 3))
            dip = ~male
            probs[dip, g[dip].astype(int)] = 1.0
            # haploid males: P(counted allele) in the second slot, the third unused
            hap = male
            alt = g[hap] == 2
            probs[hap, 0] = np.where(alt, 0.0, 1.0)
            probs[hap, 1] = np.where(alt, 1.0, 0.0)
            probs[hap, 2] = np.nan
            het = male & (g == 1)       # (the .bed's heterozygous male errors: missing)
            probs[het] = np.nan
            w.add_variant(varid=f"snp{M_AUTO + j}", rsid=f"snp{M_AUTO + j}", chrom="X",
                          pos=1000 + M_AUTO + j, alleles=["G", "A"], genotypes=probs,
                          ploidy=ploidy, phased=False, bit_depth=8)
    with open(x["dir"] / "x.sample", "w") as fh:
        fh.write("ID_1 ID_2 missing sex\n0 0 0 D\n")
        for (a, b), s in zip(x["ids"], x["sex"]):
            fh.write(f"{a} {b} 0 {s if s else 'NA'}\n")
    run(["chr", path, x["pheno"], tmp_path / "b", "--whole-chr", "--min-maf", "0"])
    run(["chr", x["bed"], x["pheno"], tmp_path / "d", "--whole-chr", "--min-maf", "0",
         "--chr", "X"])
    hb, rb = read_models(tmp_path / "b.models.gz")
    hd, rd = read_models(tmp_path / "d.models.gz")
    _same((hb, rb), (hd, rd), NUMERIC + ["a1_freq"])


@pytest.mark.parametrize("engine", ["auto", "general"])
def test_hwe_on_chrx_tests_the_females(tmp_path, xdata, engine):
    from hlmm.scan.snp_filters import hwe_exact_p

    x = xdata
    female = x["sex"] == 2
    p = []
    for j in range(M_X):
        g = x["dos"][female, M_AUTO + j]
        c = [int((g == k).sum()) for k in (0, 1, 2)]
        p.append(hwe_exact_p(c[1], c[0], c[2]))
    # males are all "homozygous": with them every SNP would fail any threshold
    thr = float(np.median(p))
    run(["chr", x["bed"], x["pheno"], tmp_path / "h", "--whole-chr", "--chr", "X",
         "--min-maf", "0", "--hwe", thr, "--engine", engine])
    h, rows = read_models(tmp_path / "h.models.gz")
    assert [r[-1] for r in rows] == ["filtered_hwe" if q < thr else "ok" for q in p]


def test_chrx_many_phenotypes_equal_single_runs(tmp_path, xdata, rng):
    x = xdata
    y2 = rng.standard_normal(N) * np.where(x["sex"] == 1, 1.5, 1.0)
    y = np.column_stack([np.loadtxt(x["pheno"], skiprows=1, usecols=2), y2])
    pheno = write_table(x["dir"] / "p2.txt", x["ids"], y, header=["A", "B"])
    run(["chr", x["bed"], pheno, tmp_path / "m", "--whole-chr", "--all-pheno"])
    for name in ("A", "B"):
        run(["chr", x["bed"], pheno, tmp_path / name, "--whole-chr", "--pheno-name", name])
        _same(read_models(tmp_path / f"{name}.models.gz"),
              read_models(tmp_path / f"m.{name}.models.gz"), NUMERIC + ["a1_freq"])


def test_chrx_with_pred_uses_row_23(tmp_path, xdata, rng):
    from pred_data import write_loco

    x = xdata
    keys = [f"{a}_{b}" for a, b in x["ids"]]
    preds = {k: np.array([float(f"{v:g}") for v in rng.standard_normal(23)]) for k in keys}
    loco = write_loco(x["dir"] / "s_1.loco", keys, preds)
    (x["dir"] / "s_pred.list").write_text(f"Y {loco}\n")
    run(["chr", x["bed"], x["pheno"], tmp_path / "p", "--whole-chr", "--min-maf", "0",
         "--pred", x["dir"] / "s_pred.list", "--chr", "X"])
    # the oracle: y − s·LOCO_23 (s over everyone with a phenotype, no covariates) as an
    # autosome's trait, with the sex covariate and --keep of the explicit scan
    y = np.loadtxt(x["pheno"], skiprows=1, usecols=2)
    s = np.sqrt(((y - y.mean()) ** 2).sum() / (N - 1))
    yc = y - s * np.array([preds[k][22] for k in keys])
    x2 = dict(x, pheno=write_table(x["dir"] / "yc.txt", x["ids"], yc[:, None],
                                   header=["Y"]))
    ref, _ = _explicit(tmp_path, x2, 2)
    _same(read_models(tmp_path / "p.models.gz"), ref)


def test_chrx_and_pred_on_dask_equal_threads(tmp_path, xdata, rng):
    pytest.importorskip("distributed")
    from pred_data import write_loco

    x = xdata
    keys = [f"{a}_{b}" for a, b in x["ids"]]
    preds = {k: rng.standard_normal(23).round(4) for k in keys}
    loco = write_loco(x["dir"] / "d_1.loco", keys, preds)
    (x["dir"] / "d_pred.list").write_text(f"Y {loco}\n")
    args = ["chr", x["bed"], x["pheno"], None, "--whole-chr", "--pred",
            x["dir"] / "d_pred.list", "--block-size", "3"]
    args[3] = tmp_path / "t"
    run(args)
    args[3] = tmp_path / "d"
    run(args + ["--dask-workers", "1", "--threads", "1"])
    assert read_models(tmp_path / "t.models.gz") == read_models(tmp_path / "d.models.gz")


def test_pgen_written_by_plink2_equals_the_bed(tmp_path, xdata):
    # plink2's own .pgen/.psam (SEX column) of the same fileset: the same chrX scan
    import shutil
    import subprocess

    if shutil.which("plink2") is None:
        pytest.skip("plink2 not installed")
    x = xdata
    prefix = str(x["dir"] / "g")
    subprocess.run(["plink2", "--bfile", prefix, "--make-pgen", "--out", prefix + "2"],
                   check=True, capture_output=True)
    assert "SEX" in open(prefix + "2.psam").readline()
    run(["chr", x["bed"], x["pheno"], tmp_path / "b", "--whole-chr", "--min-maf", "0"])
    run(["chr", prefix + "2.pgen", x["pheno"], tmp_path / "p", "--whole-chr", "--min-maf",
         "0"])
    _same(read_models(tmp_path / "b.models.gz"), read_models(tmp_path / "p.models.gz"),
          NUMERIC + ["a1_freq"])


@pytest.mark.parametrize("engine", ["auto", "general"])
def test_maf_and_mac_filters_count_a_male_once(tmp_path, xdata, engine):
    # thresholds between the SNPs' hand-computed male-once MAFs / minor allele counts:
    # a SNP is filtered exactly when the male-once value is below them
    x = xdata
    dos = x["dos"][:, M_AUTO:].copy()
    male = x["sex"] == 1
    dm = dos[male]
    dm[dm == 1] = np.nan
    dos[male] = dm
    known = x["sex"] > 0
    dos[~known] = np.nan                      # (left out on chrX)
    f = _expected_freq(x, dos, 2)
    maf = np.minimum(f, 1 - f)
    fem, mal = (x["sex"] == 2)[:, None] & ~np.isnan(dos), male[:, None] & ~np.isnan(dos)
    mac = maf * (2 * fem.sum(0) + mal.sum(0))
    thr_maf = float(np.median(maf))
    run(["chr", x["bed"], x["pheno"], tmp_path / "a", "--whole-chr", "--chr", "X",
         "--min-maf", thr_maf, "--engine", engine])
    h, rows = read_models(tmp_path / "a.models.gz")
    status = [r[-1] for r in rows]
    assert status == ["ok" if m > thr_maf else "filtered_maf" for m in maf]
    thr_mac = float(np.median(mac)) + 0.5
    run(["chr", x["bed"], x["pheno"], tmp_path / "c", "--whole-chr", "--chr", "X",
         "--min-maf", "0", "--mac", thr_mac, "--engine", engine])
    h, rows = read_models(tmp_path / "c.models.gz")
    assert [r[-1] for r in rows] == ["ok" if m >= thr_mac else "filtered_mac" for m in mac]
