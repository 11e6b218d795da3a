"""Figures: written, non-empty PNGs; the command's errors."""
import numpy as np
import pytest
from click.testing import CliRunner

from hlmm.cli.main import main
from hlmm import plots
from hlmm.dispersion import dispersion_table
from hlmm.results_table import ResultsTable, read_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _table(rng, m=80, with_pos=True, nan_rows=(3,)):
    add_t = rng.normal(0, 2, m)
    var_t = -0.3 * add_t + rng.normal(size=m)
    cols = {"SNP": [f"rs{j}" for j in range(m)],
            "add": add_t * 0.01, "add_se": np.full(m, 0.01), "add_t": add_t,
            "var": var_t * 0.02, "var_se": np.full(m, 0.02), "var_t": var_t}
    for name in ("add", "add_se", "add_t", "var", "var_se", "var_t"):
        cols[name] = cols[name].copy()
        cols[name][list(nan_rows)] = np.nan
    t = ResultsTable(["SNP"], {"SNP": cols["SNP"]})
    for name in ("add", "add_se", "add_t", "var", "var_se", "var_t"):
        t.add_column(name, cols[name])
    t.add_column("add_pval", plots.neglog10_p(t, "add"))
    t.add_column("var_pval", plots.neglog10_p(t, "var"))
    if with_pos:
        t.add_column("chrom", np.repeat([1, 2], [m // 2, m - m // 2]))
        t.text["chrom"] = [str(int(float(c))) for c in t.text["chrom"]]
        t.add_column("pos", np.r_[np.arange(m // 2) * 1000 + 5, np.arange(m - m // 2) * 500])
    return t


def _is_png(path):
    return path.is_file() and path.stat().st_size > 5000 and \
        path.read_bytes()[:8] == PNG_MAGIC


def test_positions_chrom_pos_and_index(rng):
    t = _table(rng)
    x, ticks, labels, colour, xlabel = plots._positions(t)
    assert labels == ["1", "2"] and xlabel == "chromosome"
    assert np.all(np.diff(x[:40]) > 0) and x[40] > x[39]  # chromosome 2 after 1
    assert set(colour[:40]) == {0} and set(colour[40:]) == {1}
    t2 = _table(rng, with_pos=False)
    x, ticks, labels, colour, xlabel = plots._positions(t2)
    assert xlabel == "SNP index" and np.array_equal(x, np.arange(80))


def test_statistics_panels(rng):
    t = _table(rng)
    assert [n for n, _ in plots.available_statistics(t)] == ["add", "var"]
    t.add_column("dispersion_t", rng.normal(size=80))
    assert [n for n, _ in plots.available_statistics(t)] == ["add", "var", "dispersion"]
    # p-values from t when the pval column is absent
    p = plots.neglog10_p(t, "dispersion")
    from scipy import stats
    np.testing.assert_allclose(p, -np.log10(stats.chi2.sf(t.float("dispersion_t") ** 2, 1)))


def test_cli_plot_reference_dispersion(tmp_path, reference_dir):
    # R's dispersion table of the original tutorial (no chrom/pos: SNP index)
    src = reference_dir / "tutorial" / "out_hlm.dispersion.tsv"
    res = CliRunner().invoke(main, ["plot", str(src), "-o", str(tmp_path / "ref")])
    assert res.exit_code == 0, res.output
    for kind in ("qq", "manhattan", "add_var"):
        assert _is_png(tmp_path / f"ref.{kind}.png")


def test_cli_plot_models_with_dispersion(tmp_path, rng):
    t = _table(rng)
    t.write(tmp_path / "scan.models.gz")
    table, _ = dispersion_table(tmp_path / "scan.models.gz")
    table.write(tmp_path / "scan.dispersion.tsv")
    res = CliRunner().invoke(main, ["plot", str(tmp_path / "scan.dispersion.tsv")])
    assert res.exit_code == 0, res.output
    for kind in ("qq", "manhattan", "add_var"):  # default prefix: scan
        assert _is_png(tmp_path / f"scan.{kind}.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(  # no temporary files
        ["scan.models.gz", "scan.dispersion.tsv", "scan.qq.png", "scan.manhattan.png",
         "scan.add_var.png"])
    assert read_table(tmp_path / "scan.models.gz").n_rows == 80


def test_cli_plot_errors(tmp_path):
    bad = tmp_path / "bad.models.gz"
    bad.write_text("SNP\tadd_t\nrs1\t1.0\n")
    res = CliRunner().invoke(main, ["plot", str(bad), "-o", str(tmp_path / "x")])
    assert res.exit_code != 0 and "var_t" in res.output and "bad.models.gz" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(main, ["plot", str(bad), "-o", str(tmp_path / "no" / "x")])
    assert res.exit_code != 0 and "--out" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.models.gz"]
