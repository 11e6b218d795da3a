"""Figures of a scan's results table (matplotlib, Agg backend: no display needed).

* QQ plots: for each statistic (``add``, ``var`` and, when present, ``dispersion``), the
  observed −log10 p-values, sorted, against their expected values under the null,
  ``−log10((i − ½)/m)`` for i = 1…m, with the identity line and a pointwise 95% band
  (the i-th order statistic of m uniforms is Beta(i, m − i + 1)), both in the legend.
  The panel title gives the genomic-control ``λ = median(t²) / 0.4549`` (the χ²₁ median).
* Manhattan plot: −log10 p of each statistic against position (``chrom``/``pos`` columns
  when present, chromosomes side by side in natural order — 1…22, X, Y, XY, MT, then any
  other contig — in alternating shades; otherwise the SNP's row index), with the
  Bonferroni line −log10(0.05/m), m the number of SNPs with a p-value for that statistic.
* Scatter of the variance-effect t statistic against the mean-effect t statistic, with a
  Huber line through the origin: when variance effects are by-products of mean effects
  (in the tutorial, the Gamma mean–variance relation seen through the inverse-normal
  transform, which gives a negative slope) the points follow the line; a SNP with a
  dispersion effect stands off it.

Every figure's suptitle names the table it was drawn from, so figures of several scans
cannot be confused. A statistic with no finite p-value (every SNP filtered) is left out
of the figures; a table with none at all is an :class:`~hlmm.errors.InputError`.
"""
import os
import re
import sys

import numpy as np
from scipy import stats

from .sim.dispersion import genomic_control
from .errors import InputError
from .io.output import AtomicOutputs

STATISTICS = (("add", "mean (add)"), ("var", "variance (var)"),
              ("dispersion", "dispersion"))

# PLINK's numeric codes of the human non-autosomes, and the order they are drawn in.
PLINK_CHROMOSOME_CODES = {23: "X", 24: "Y", 25: "XY", 26: "MT"}
_SEX_AND_MT = ("X", "Y", "XY", "MT")
_is_number = re.compile(r"[0-9]+").fullmatch  # not str.isdigit: "²" is a digit to it


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def neglog10_p(table, name):
    """−log10 p of statistic ``name``: the ``name_pval`` column, else from ``name_t``."""
    if f"{name}_pval" in table:
        return table.float(f"{name}_pval")
    t = table.float(f"{name}_t")
    return -stats.chi2.logsf(t ** 2, 1) / np.log(10)


def available_statistics(table):
    return [(name, label) for name, label in STATISTICS
            if f"{name}_t" in table or f"{name}_pval" in table]


def plotted_statistics(table):
    """The statistics with at least one finite p-value, and the names of those without.

    A statistic whose every SNP was filtered (all NaN) has nothing to draw: it is left
    out of the figures rather than drawn as an empty panel.
    """
    panels, empty = [], []
    for name, label in available_statistics(table):
        if np.isfinite(neglog10_p(table, name)).any():
            panels.append((name, label))
        else:
            empty.append(name)
    return panels, empty


def _tstat(table, name):
    if f"{name}_t" in table:
        return table.float(f"{name}_t")
    # |t| from the p-value when only that is present
    p = table.float(f"{name}_pval")
    return np.sqrt(stats.chi2.isf(10.0 ** -p, 1))


def chromosome_name(chrom):
    """The canonical name of a chromosome: ``chr``/``CHR`` prefix dropped, leading zeros
    dropped (``01`` → ``1``), PLINK's codes 23, 24, 25, 26 → X, Y, XY, MT, and ``x``,
    ``y``, ``xy``, ``mt``, ``M`` (UCSC's chrM) → X, Y, XY, MT. Other names are kept."""
    c = str(chrom).strip()
    if c[:3].lower() == "chr" and len(c) > 3:
        c = c[3:]
    if _is_number(c):
        k = int(c)
        return PLINK_CHROMOSOME_CODES.get(k, str(k))
    upper = c.upper()
    if upper in _SEX_AND_MT:
        return upper
    if upper == "M":
        return "MT"
    return c


def _natural_key(name):
    # "scaffold_2" before "scaffold_10": digit runs compare as numbers
    return [(0, int(part), "") if _is_number(part) else (1, 0, part)
            for part in re.split(r"([0-9]+)", name) if part]


def chromosome_key(name):
    """Sort key of a canonical chromosome name: autosomes 1–22 by number, then X, Y, XY,
    MT, then any other contig (e.g. 0 = unplaced, 27+, scaffolds) in natural name order."""
    if _is_number(name) and 1 <= int(name) <= 22:
        return (0, int(name), [])
    if name in _SEX_AND_MT:
        return (1, _SEX_AND_MT.index(name), [])
    return (2, 0, _natural_key(name))


def chromosome_order(chroms):
    """The distinct chromosomes of ``chroms`` by canonical name, in natural order:
    ``["10", "2", "X", "chr1", "MT", "23"]`` → ``["1", "2", "10", "X", "MT"]``."""
    return sorted({chromosome_name(c) for c in chroms}, key=chromosome_key)


def _positions(table):
    """x coordinates, tick positions and labels, and a colour index per SNP."""
    n = len(table)
    if "chrom" in table and "pos" in table:
        pos = table.float("pos")
        if n and np.all(np.isfinite(pos)):
            chrom = np.array([chromosome_name(c) for c in table.text["chrom"]])
            order = chromosome_order(chrom)
            x = np.empty(n)
            ticks, labels, colour = [], [], np.empty(n, dtype=int)
            offset = 0.0
            for k, c in enumerate(order):
                sel = chrom == c
                p = pos[sel]
                lo, hi = p.min(), p.max()
                span = max(hi - lo, 1.0)
                x[sel] = offset + (p - lo)
                ticks.append(offset + (hi - lo) / 2)
                labels.append(c)
                colour[sel] = k % 2
                offset += span * 1.02 + 1
            return x, ticks, labels, colour, "chromosome" if len(order) > 1 else \
                f"position on chromosome {order[0]}"
    return np.arange(n, dtype=float), None, None, np.zeros(n, dtype=int), "SNP index"


def _suptitle(fig, title, source):
    """The figure's title: ``title`` (if any) and the file name of the table drawn."""
    name = os.path.basename(os.fspath(source)) if source else None
    text = " — ".join(s for s in (title, name) if s)
    if text:
        fig.suptitle(text, fontsize=11)


def qq_figure(table, title=None, source=None, panels=None):
    """The QQ plots of the −log10 p-values of add, var (and dispersion), one panel each,
    as a matplotlib Figure. ``panels``: (name, label) pairs [default: those with a
    finite p-value]; ``source``: the table's path, named in the suptitle [default:
    ``table.path``]."""
    plt = _pyplot()
    if panels is None:
        panels, _ = plotted_statistics(table)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.6),
                             squeeze=False, layout="constrained")
    for ax, (name, label) in zip(axes[0], panels):
        obs = neglog10_p(table, name)
        obs = np.sort(obs[np.isfinite(obs)])[::-1]
        m = obs.size
        lam = genomic_control(_tstat(table, name))
        if m:
            i = np.arange(1, m + 1)
            exp = -np.log10((i - 0.5) / m)
            lo = -np.log10(stats.beta.ppf(0.975, i, m - i + 1))
            hi = -np.log10(stats.beta.ppf(0.025, i, m - i + 1))
            ax.fill_between(exp, lo, hi, color="0.88", lw=0, label="95 % band")
            # the diagonal spans the expected range only: strong signals (observed far
            # above the largest expected value) must not squash the x axis
            top = exp[0] * 1.05
            ax.plot([0, top], [0, top], color="0.4", lw=1, ls="--",
                    label="expected under the null")
            ax.set_xlim(0, top)
            ax.scatter(exp, obs, s=9, color="C0" if name == "add" else
                       ("C1" if name == "var" else "C2"), zorder=3)
            # lower right: below the diagonal, where only deflated p-values would fall
            ax.legend(loc="lower right", fontsize=8)
        ax.set_xlabel("expected −log10 p")
        ax.set_ylabel("observed −log10 p")
        ax.set_title(f"{label}: λ = {lam:.3f}", fontsize=10)
    _suptitle(fig, title, source if source is not None else table.path)
    return fig


def manhattan_figure(table, title=None, source=None, panels=None):
    """The Manhattan plots of add, var (and dispersion) — −log10 p against position —
    as a matplotlib Figure; arguments as :func:`qq_figure`."""
    plt = _pyplot()
    if panels is None:
        panels, _ = plotted_statistics(table)
    x, ticks, labels, colour, xlabel = _positions(table)
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 0.5 + 2.6 * len(panels)),
                             sharex=True, squeeze=False, layout="constrained")
    shades = {"add": ("C0", "#08306b"), "var": ("C1", "#7f2704"),
              "dispersion": ("C2", "#00441b")}
    for ax, (name, label) in zip(axes[:, 0], panels):
        p = neglog10_p(table, name)
        ok = np.isfinite(p)
        m = int(ok.sum())  # SNPs tested for this statistic: the filtered ones were not
        cols = np.array(shades[name])[colour]
        ax.scatter(x[ok], p[ok], s=7, c=cols[ok])
        top = p[ok].max() if m else 1.0
        if m:
            bonferroni = -np.log10(0.05 / m)
            ax.axhline(bonferroni, color="0.4", lw=1, ls="--",
                       label=f"Bonferroni p = 0.05/m, m = {m}")
            top = max(top, bonferroni)
            ax.legend(loc="upper right", fontsize=8)
        # headroom above the highest point, so the legend does not sit on the peaks
        ax.set_ylim(0, top * 1.3)
        ax.set_ylabel(f"{label}\n−log10 p")
    axes[-1, 0].set_xlabel(xlabel)
    if ticks is not None and len(ticks) > 1:
        axes[-1, 0].set_xticks(ticks)
        axes[-1, 0].set_xticklabels(labels, fontsize=8 if len(labels) <= 26 else 6)
    _suptitle(fig, title, source if source is not None else table.path)
    return fig


def add_var_figure(table, title=None, source=None, highlight=None):
    """Scatter of var_t against add_t, with a Huber line through the origin, as a
    matplotlib Figure (``title``, ``source`` as :func:`qq_figure`).

    ``highlight``: row indices to mark (with the SNP name) — by default the SNP with the
    largest |dispersion_t| when the dispersion columns are present.
    """
    from .sim.dispersion import huber_regression

    plt = _pyplot()
    add_t, var_t = _tstat(table, "add"), _tstat(table, "var")
    ok = np.isfinite(add_t) & np.isfinite(var_t)
    fig, ax = plt.subplots(figsize=(5.2, 5.2), layout="constrained")
    ax.axhline(0, color="0.7", lw=0.8)
    ax.axvline(0, color="0.7", lw=0.8)
    ax.scatter(add_t[ok], var_t[ok], s=9, color="C0", alpha=0.8)
    if ok.sum() >= 3:
        slope = huber_regression(add_t[ok], var_t[ok]).coef[0]
        xs = np.array([add_t[ok].min(), add_t[ok].max()])
        ax.plot(xs, slope * xs, color="C3", lw=1.2, label=f"Huber fit, slope {slope:.3f}")
        ax.legend(loc="best", fontsize=8)
    if highlight is None and "dispersion_t" in table:
        d = np.abs(table.float("dispersion_t"))
        if np.isfinite(d).any():
            highlight = [int(np.nanargmax(d))]
    for i in highlight or ():
        if ok[i]:
            name = table.text["SNP"][i] if "SNP" in table else str(i)
            ax.scatter([add_t[i]], [var_t[i]], s=40, facecolors="none", edgecolors="C3",
                       zorder=4)
            ax.annotate(name, (add_t[i], var_t[i]), xytext=(5, 5),
                        textcoords="offset points", fontsize=8, color="C3", zorder=5,
                        # a white box: legible over a dense cloud of points
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none",
                                  alpha=0.8))
    ax.set_xlabel("mean effect t statistic (add_t)")
    ax.set_ylabel("variance effect t statistic (var_t)")
    ax.set_title("variance vs mean effects", fontsize=10)
    _suptitle(fig, title, source if source is not None else table.path)
    return fig


def qq_plot(table, path, title=None, source=None):
    """Write :func:`qq_figure` to the PNG ``path``."""
    _write_figures([(qq_figure(table, title, source), path)])


def manhattan_plot(table, path, title=None, source=None):
    """Write :func:`manhattan_figure` to the PNG ``path``."""
    _write_figures([(manhattan_figure(table, title, source), path)])


def tstat_scatter(table, path, title=None, highlight=None, source=None):
    """Write :func:`add_var_figure` to the PNG ``path``."""
    _write_figures([(add_var_figure(table, title, source, highlight), path)])


def _write_figures(figures):
    """Save (Figure, path) pairs as PNGs, all or none: an error while saving one leaves
    no file of any (they are renamed into place together)."""
    plt = _pyplot()
    try:
        with AtomicOutputs() as out:
            for fig, path in figures:
                fig.savefig(out.temp_path(path), dpi=100, format="png")
            out.commit()
    finally:
        for fig, _ in figures:
            plt.close(fig)


def _stderr(msg):
    print(msg, file=sys.stderr)


def plot_results(table, prefix, title=None, source=None, warn=_stderr):
    """Write ``prefix.qq.png``, ``prefix.manhattan.png`` and ``prefix.add_var.png``;
    return their paths.

    ``source``: the table's path, named in every figure's suptitle [default:
    ``table.path``]; ``warn``: called with a one-line message for each statistic left
    out because it has no finite p-value. A table with no finite p-value at all raises
    :class:`~hlmm.errors.InputError` before any file is written.
    """
    table.require("add_t", "var_t")
    source = source if source is not None else table.path
    where = source if source is not None else "results table"
    panels, empty = plotted_statistics(table)
    if not panels:
        raise InputError(f"{where}: no finite p-values to plot")
    prefix = os.fspath(prefix)
    figures = [(qq_figure(table, title, source, panels), prefix + ".qq.png"),
               (manhattan_figure(table, title, source, panels), prefix + ".manhattan.png")]
    scatter = np.isfinite(_tstat(table, "add")) & np.isfinite(_tstat(table, "var"))
    if scatter.any():
        figures.append((add_var_figure(table, title, source), prefix + ".add_var.png"))
    for name in empty:
        left_out = "its QQ and Manhattan panels"
        if name in ("add", "var"):
            left_out += f" and {os.path.basename(prefix)}.add_var.png"
        warn(f"warning: {where}: no finite {name} p-values (every SNP filtered); "
             f"left out: {left_out}")
    if not scatter.any() and not {"add", "var"} & set(empty):
        warn(f"warning: {where}: no SNP has both add_t and var_t finite; "
             f"{os.path.basename(prefix)}.add_var.png not drawn")
    _write_figures(figures)
    return [path for _, path in figures]
