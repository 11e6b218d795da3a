"""Figures: written, non-empty PNGs; the command's errors."""
import numpy as np
import pytest
from click.testing import CliRunner

from hlmm.cli.main import main
from hlmm import plots
from hlmm.sim.dispersion import dispersion_table
from hlmm.io.results_table import ResultsTable, read_table

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


def _legend_texts(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend is not None else []


def test_chromosome_names_and_natural_order():
    assert plots.chromosome_order(["10", "2", "X", "chr1", "MT", "23"]) == \
        ["1", "2", "10", "X", "MT"]  # 23 is PLINK's X: one chromosome with X
    assert [plots.chromosome_name(c) for c in
            ("chr1", "CHR22", "Chr7", "chrX", "x", "23", "24", "25", "26", "chrM", "chrMT",
             "01", "chr23")] == \
        ["1", "22", "7", "X", "X", "X", "Y", "XY", "MT", "MT", "MT", "1", "X"]
    # sex chromosomes and MT in PLINK's order, whatever order they come in
    assert plots.chromosome_order(["MT", "XY", "Y", "X", "22"]) == ["22", "X", "Y", "XY", "MT"]
    # unknown contigs after MT, by name (digit runs as numbers)
    assert plots.chromosome_order(["scaffold_10", "MT", "scaffold_2", "0", "GL000192.1",
                                   "3", "chrUn"]) == \
        ["3", "MT", "0", "GL000192.1", "Un", "scaffold_2", "scaffold_10"]


def test_positions_natural_chromosome_order(rng):
    t = _table(rng, m=60)
    t.text["chrom"] = ["chr10"] * 10 + ["23"] * 10 + ["2"] * 10 + ["X"] * 10 + \
        ["chrMT"] * 10 + ["1"] * 10
    pos = np.tile(np.arange(10) * 1000.0, 6)
    pos[30:40] += 10_000  # the X rows continue the "23" rows
    t.text["pos"] = [f"{p:.0f}" for p in pos]
    x, ticks, labels, colour, xlabel = plots._positions(t)
    assert labels == ["1", "2", "10", "X", "MT"] and xlabel == "chromosome"
    assert np.all(np.diff(ticks) > 0)
    first = {c: x[i] for i, c in ((0, "10"), (20, "2"), (30, "X"), (40, "MT"), (50, "1"))}
    assert first["1"] < first["2"] < first["10"] < first["X"] < first["MT"]
    # 23 and X drawn as one chromosome: the same coordinates and shade
    np.testing.assert_allclose(x[30:40] - x[10:20], 10_000)
    assert set(colour[10:20]) == set(colour[30:40])


def test_qq_legend_band_and_identity(rng):
    t = _table(rng)
    fig = plots.qq_figure(t)
    try:
        assert len(fig.axes) == 2
        for ax in fig.axes:
            assert _legend_texts(ax) == ["95 % band", "expected under the null"]
    finally:
        plots._pyplot().close(fig)


def test_manhattan_bonferroni_legend_and_chromosome_ticks(rng):
    t = _table(rng, m=60)
    t.text["chrom"] = ["X"] * 20 + ["chr2"] * 20 + ["10"] * 20
    fig = plots.manhattan_figure(t)
    try:
        m = 59  # one SNP filtered (NaN): 59 tests
        for ax in fig.axes:
            assert _legend_texts(ax) == [f"Bonferroni p = 0.05/m, m = {m}"]
            line, = [ln for ln in ax.get_lines() if ln.get_label().startswith("Bonferroni")]
            np.testing.assert_allclose(line.get_ydata(), -np.log10(0.05 / m))
        assert [lb.get_text() for lb in fig.axes[-1].get_xticklabels()] == ["2", "10", "X"]
    finally:
        plots._pyplot().close(fig)


def test_suptitles_name_the_table(tmp_path, rng, monkeypatch):
    t = _table(rng)
    t.add_column("dispersion_t", rng.normal(size=80))
    t.write(tmp_path / "scanA.dispersion.tsv", compress=False)
    titles = []
    write = plots._write_figures

    def spy(figures):
        titles.extend(fig._suptitle.get_text() if fig._suptitle else "" for fig, _ in figures)
        write(figures)

    monkeypatch.setattr(plots, "_write_figures", spy)
    res = CliRunner().invoke(main, ["plot", str(tmp_path / "scanA.dispersion.tsv"),
                                    "-o", str(tmp_path / "a"), "--title", "HLM scan"])
    assert res.exit_code == 0, res.output
    assert len(titles) == 3
    assert all("scanA.dispersion.tsv" in s and "HLM scan" in s for s in titles), titles
    # without --title: the file name alone; the directory is not spelled out
    titles.clear()
    res = CliRunner().invoke(main, ["plot", str(tmp_path / "scanA.dispersion.tsv"),
                                    "-o", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert titles == ["scanA.dispersion.tsv"] * 3
    # a table built in memory (no path) and the library's own figures
    fig = plots.add_var_figure(_table(rng), source="other/scanB.models.gz")
    assert fig._suptitle.get_text() == "scanB.models.gz"
    plots._pyplot().close(fig)


def test_cli_plot_all_nan_is_one_line_error(tmp_path, rng):
    t = _table(rng, nan_rows=range(80))
    path = tmp_path / "filtered.models.gz"
    t.write(path)
    res = CliRunner().invoke(main, ["plot", str(path), "-o", str(tmp_path / "f")])
    assert res.exit_code != 0
    assert res.output.strip().splitlines() == [f"Error: {path}: no finite p-values to plot"]
    assert "Traceback" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["filtered.models.gz"]
    # the header alone (no SNP at all): the same error
    empty = tmp_path / "empty.tsv"
    empty.write_text("SNP\tadd_t\tvar_t\n")
    res = CliRunner().invoke(main, ["plot", str(empty), "-o", str(tmp_path / "e")])
    assert res.exit_code != 0 and res.output.strip() == \
        f"Error: {empty}: no finite p-values to plot"
    assert not list(tmp_path.glob("*.png"))


def test_cli_plot_skips_all_nan_statistic(tmp_path, rng):
    t = _table(rng)
    t.add_column("dispersion_t", rng.normal(size=80))
    t.text["var_t"] = ["NaN"] * 80
    t.text["var_pval"] = ["NaN"] * 80
    assert [n for n, _ in plots.plotted_statistics(t)[0]] == ["add", "dispersion"]
    assert plots.plotted_statistics(t)[1] == ["var"]
    src = tmp_path / "novar.tsv"
    t.write(src, compress=False)
    res = CliRunner().invoke(main, ["plot", str(src), "-o", str(tmp_path / "nv")])
    assert res.exit_code == 0, res.output
    warnings = [ln for ln in res.output.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and str(src) in warnings[0] and "var" in warnings[0]
    assert _is_png(tmp_path / "nv.qq.png") and _is_png(tmp_path / "nv.manhattan.png")
    assert not (tmp_path / "nv.add_var.png").exists()  # nothing to scatter against add_t
    # the QQ figure has the add and dispersion panels only
    fig = plots.qq_figure(read_table(src))
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["mean (add)", "dispersion"]
    plots._pyplot().close(fig)


def test_plot_results_all_or_nothing(tmp_path, rng, monkeypatch):
    # the third figure fails to save: the first two are not left behind either
    from matplotlib.figure import Figure

    calls = []
    savefig = Figure.savefig

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", failing)
    with pytest.raises(OSError):
        plots.plot_results(_table(rng), tmp_path / "x")
    assert len(calls) == 3 and list(tmp_path.iterdir()) == []
