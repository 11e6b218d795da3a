"""Figures of a scan's results table (matplotlib, Agg backend: no display needed).

* QQ plots: for each statistic (``add``, ``var`` and, when present, ``dispersion``), the
  observed −log10 p-values, sorted, against their expected values under the null,
  ``−log10((i − ½)/m)`` for i = 1…m, with the identity line and a pointwise 95% band
  (the i-th order statistic of m uniforms is Beta(i, m − i + 1)). The title gives the
  genomic-control ``λ = median(t²) / 0.4549`` (the χ²₁ median).
* Manhattan plot: −log10 p of each statistic against position (``chrom``/``pos`` columns
  when present, chromosomes side by side in alternating shades; otherwise the SNP's row
  index), with the Bonferroni line −log10(0.05/m).
* Scatter of the variance-effect t statistic against the mean-effect t statistic, with a
  Huber line through the origin: when variance effects are by-products of mean effects
  (in the tutorial, the Gamma mean–variance relation seen through the inverse-normal
  transform, which gives a negative slope) the points follow the line; a SNP with a
  dispersion effect stands off it.
"""
import os

import numpy as np
from scipy import stats

from .dispersion import genomic_control
from .output import AtomicOutputs

STATISTICS = (("add", "mean (add)"), ("var", "variance (var)"),
              ("dispersion", "dispersion"))


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


def _tstat(table, name):
    if f"{name}_t" in table:
        return table.float(f"{name}_t")
    # |t| from the p-value when only that is present
    p = table.float(f"{name}_pval")
    return np.sqrt(stats.chi2.isf(10.0 ** -p, 1))


def _save(fig, path):
    with AtomicOutputs() as out:
        fig.savefig(out.temp_path(path), dpi=100, format="png")
        out.commit()


def qq_plot(table, path, title=None):
    """QQ plots of the −log10 p-values of add, var (and dispersion), one panel each."""
    plt = _pyplot()
    panels = available_statistics(table)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4), squeeze=False)
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
            ax.fill_between(exp, lo, hi, color="0.88", lw=0, label="95% band")
            top = max(exp[0], obs[0]) * 1.05
            ax.plot([0, top], [0, top], color="0.4", lw=1, ls="--")
            ax.scatter(exp, obs, s=9, color="C0" if name == "add" else
                       ("C1" if name == "var" else "C2"), zorder=3)
        ax.set_xlabel("expected −log10 p")
        ax.set_ylabel("observed −log10 p")
        ax.set_title(f"{label}: λ = {lam:.3f}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _positions(table):
    """x coordinates, tick positions and labels, and a colour index per SNP."""
    n = len(table)
    if "chrom" in table and "pos" in table:
        chrom = np.array(table.text["chrom"])
        pos = table.float("pos")
        if np.all(np.isfinite(pos)):
            order = []  # chromosomes in order of first appearance, numeric ones sorted
            for c in chrom:
                if c not in order:
                    order.append(c)
            order.sort(key=lambda c: (0, int(c)) if c.isdigit() else (1, c))
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


def manhattan_plot(table, path, title=None):
    """Manhattan plots of add, var (and dispersion): −log10 p against position."""
    plt = _pyplot()
    panels = available_statistics(table)
    x, ticks, labels, colour, xlabel = _positions(table)
    m = len(table)
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.6 * len(panels)), sharex=True,
                             squeeze=False)
    shades = {"add": ("C0", "#08306b"), "var": ("C1", "#7f2704"),
              "dispersion": ("C2", "#00441b")}
    for ax, (name, label) in zip(axes[:, 0], panels):
        p = neglog10_p(table, name)
        ok = np.isfinite(p)
        cols = np.array(shades[name])[colour]
        ax.scatter(x[ok], p[ok], s=7, c=cols[ok])
        if m:
            ax.axhline(-np.log10(0.05 / m), color="0.4", lw=1, ls="--")
        ax.set_ylabel(f"{label}\n−log10 p")
        ax.set_ylim(bottom=0)
    axes[-1, 0].set_xlabel(xlabel)
    if ticks is not None and len(ticks) > 1:
        axes[-1, 0].set_xticks(ticks)
        axes[-1, 0].set_xticklabels(labels)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def tstat_scatter(table, path, title=None, highlight=None):
    """Scatter of var_t against add_t, with a Huber line through the origin.

    ``highlight``: row indices to mark (with the SNP name) — by default the SNP with the
    largest |dispersion_t| when the dispersion columns are present.
    """
    from .dispersion import huber_regression

    plt = _pyplot()
    add_t, var_t = _tstat(table, "add"), _tstat(table, "var")
    ok = np.isfinite(add_t) & np.isfinite(var_t)
    fig, ax = plt.subplots(figsize=(5.2, 5))
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
                        textcoords="offset points", fontsize=8, color="C3")
    ax.set_xlabel("mean effect t statistic (add_t)")
    ax.set_ylabel("variance effect t statistic (var_t)")
    ax.set_title(title or "variance vs mean effects")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_results(table, prefix, title=None):
    """Write ``prefix.qq.png``, ``prefix.manhattan.png`` and ``prefix.add_var.png``;
    return their paths."""
    table.require("add_t", "var_t")
    prefix = os.fspath(prefix)
    paths = [prefix + ".qq.png", prefix + ".manhattan.png", prefix + ".add_var.png"]
    qq_plot(table, paths[0], title=title)
    manhattan_plot(table, paths[1], title=title)
    tstat_scatter(table, paths[2], title=title)
    return paths
