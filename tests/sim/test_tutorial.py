"""``hlmm tutorial`` end to end at a small size."""
import gzip
import re

import numpy as np
import pytest
from click.testing import CliRunner

from hlmm.cli.main import main
from hlmm.sim.dispersion import dispersion_table, headline_statistics
from hlmm.io.results_table import read_table

pytest.importorskip("hlmm.cli.chr", reason="the tutorial runs `hlmm chr`")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _headline_number(text, label):
    m = re.search(re.escape(label) + r"[^0-9-]*(-?[0-9.]+(?:e-?[0-9]+)?)", text)
    assert m, f"{label!r} not in output:\n{text}"
    return float(m.group(1))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("tutorial")
    res = CliRunner().invoke(main, ["tutorial", str(d), "--n", "2000", "--snps", "30",
                                    "--random-snps", "30", "--seed", "3"])
    return d, res


def test_tutorial_runs(run):
    d, res = run
    assert res.exit_code == 0, res.output
    for name in ("test.bed", "test.bim", "test.fam", "random.bed", "random.bim",
                 "random.fam", "test_phenotype.fam", "out_hlm.models.gz",
                 "out_hlm.dispersion.tsv"):
        assert (d / name).is_file() and (d / name).stat().st_size > 0, name
    for kind in ("qq", "manhattan", "add_var"):
        png = d / f"out_hlm.{kind}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000
    assert not list(d.glob(".tmp*")) and not list(d.glob("*.part"))
    assert "[hlmm tutorial] step 5/5" in res.stderr  # progress on stderr


def test_tutorial_outputs(run):
    d, res = run
    assert res.exit_code == 0, res.output
    with gzip.open(d / "out_hlm.models.gz", "rt") as fh:
        header = fh.readline().split()
    assert header[:13] == ("SNP n frequency likelihood add add_se add_t add_pval var var_se "
                           "var_t var_pval av_pval").split()
    scan = read_table(d / "out_hlm.models.gz")
    assert scan.n_rows == 30 and scan.text["SNP"][0] == "null_0"
    assert set(scan.text["n"]) == {"2000"}
    disp = read_table(d / "out_hlm.dispersion.tsv")
    assert disp.columns[-4:] == ["dispersion", "dispersion_se", "dispersion_t",
                                 "dispersion_pval"]
    table, fit = dispersion_table(d / "out_hlm.models.gz")
    np.testing.assert_allclose(disp.float("dispersion"), fit.dispersion, rtol=1e-12)
    # the headline statistics printed on stdout are those of the files
    h = headline_statistics(table, fit)
    out = res.stdout
    assert _headline_number(out, "median add_t^2:") == pytest.approx(h["median_add_t2"],
                                                                     rel=1e-3)
    assert _headline_number(out, "median var_t^2:") == pytest.approx(h["median_var_t2"],
                                                                     rel=1e-3)
    assert _headline_number(out, "KS test of var_t^2 against chi2_1: p =") == \
        pytest.approx(h["ks_var_p"], rel=1e-2)
    assert _headline_number(out, "(first SNP excluded) against chi2_1: p =") == \
        pytest.approx(h["ks_dispersion_p"], rel=1e-2)
    assert _headline_number(out, "null_0 (simulated dispersion effect): dispersion =") == \
        pytest.approx(h["first_dispersion"], rel=1e-3)
    # the phenotype file is the tutorial's format and inverse-normal
    y = np.array([float(ln.split()[2]) for ln in
                  (d / "test_phenotype.fam").read_text().splitlines()])
    assert y.shape == (2000,) and abs(np.median(y)) < 0.01


def test_tutorial_mixed(tmp_path):
    res = CliRunner().invoke(main, ["tutorial", str(tmp_path), "--n", "600", "--snps", "6",
                                    "--random-snps", "20", "--mixed", "--seed", "5"])
    assert res.exit_code == 0, res.output
    assert "HLMM scan: 6 SNPs" in res.stdout and "HLM scan: 6 SNPs" in res.stdout
    assert read_table(tmp_path / "out_hlmm.dispersion.tsv").n_rows == 6
    assert (tmp_path / "out_hlmm.qq.png").stat().st_size > 5000


def test_tutorial_bad_dir(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    res = CliRunner().invoke(main, ["tutorial", str(f), "--n", "100"])
    assert res.exit_code != 0 and "afile" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["tutorial", str(tmp_path / "d"), "--n", "5"])
    assert res.exit_code != 0 and "--n" in res.output
