"""Output files of the scan and of single fits: the original's formats, written atomically.

Every file is written to a temporary name beside its target and renamed into place only
when the whole run has succeeded, so a failed run leaves no half-written output.
"""
import gzip
import io
import math
import os
import shutil
import tempfile

import numpy as np
from scipy.special import chdtrc, log_ndtr

_LN10 = math.log(10.0)
_LOG2 = math.log(2.0)

MODELS_COLUMNS = ["SNP", "n", "frequency", "likelihood", "add", "add_se", "add_t", "add_pval",
                  "var", "var_se", "var_t", "var_pval", "av_pval", "chrom", "pos", "a1", "a2"]


def neglog10_pval(stat, df):
    """``−log10 P(χ²_df > stat)`` (scalar or array), accurate far into the tail.

    Closed forms (scipy.stats' generic logsf costs ~1 ms a call, too slow per SNP):
    χ²₁: ``P = 2Φ(−√stat)``, so ``log P = log 2 + log Φ(−√stat)``;
    χ²₂: ``P = exp(−stat/2)``; other df through ``chdtrc``.  NaN stays NaN.
    """
    stat = np.maximum(np.asarray(stat, dtype=float), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if df == 1:
            out = -(_LOG2 + log_ndtr(-np.sqrt(stat))) / _LN10
        elif df == 2:
            out = stat / 2.0 / _LN10
        else:
            out = -np.log(chdtrc(df, stat)) / _LN10
    return out if out.ndim else float(out)


BF_COLUMNS = ["bf_f", "bf_pval"]


def models_block_arrays(snps, ns, freqs, est, chrom, pos, a1, a2, bf=None):
    """Lines of ``OUTPREFIX.models.gz`` for a block of SNPs: ``est`` holds per SNP the
    likelihood, add, add_se, var, var_se and the covariance of add and var (NaN: no
    fit); ``bf`` the Brown–Forsythe F and −log10 p, or None for no such columns.

    Estimates, SEs, t statistics and p-values (−log10) are printed with 6 significant
    digits; the likelihood and frequency at full precision.
    """
    k = est.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        add_t = est[:, 1] / est[:, 2]
        var_t = est[:, 3] / est[:, 4]
        add_p = neglog10_pval(add_t * add_t, 1)
        var_p = neglog10_pval(var_t * var_t, 1)
        # Joint Wald test (t_a² − 2ρ·t_a·t_v + t_v²)/(1 − ρ²), ρ the correlation of the
        # two estimates: 0 for the model-based SEs, not for robust ones (skewness).
        rho = est[:, 5] / (est[:, 2] * est[:, 4])
        av_p = neglog10_pval((add_t * add_t - 2.0 * rho * add_t * var_t + var_t * var_t)
                             / (1.0 - rho * rho), 2)
    from ._core._format import sig6_cells

    # one C formatting pass over a (SNPs × 9) block, then a row is a join
    block = np.ascontiguousarray(np.column_stack(
        [est[:, 1], est[:, 2], add_t, add_p, est[:, 3], est[:, 4], var_t, var_p, av_p]))
    cells = sig6_cells(block)
    like = ["nan" if v != v else repr(v) for v in est[:, 0].tolist()]
    fq = ["nan" if v != v else repr(v) for v in np.asarray(freqs, float).tolist()]
    nn = [str(int(v)) for v in np.asarray(ns).tolist()]
    extra = [""] * k
    if bf is not None:       # Brown–Forsythe F and −log10 p (NaN: filtered or undefined)
        extra = ["\t" + c for c in sig6_cells(np.ascontiguousarray(bf, dtype=float))]
    lines = []
    for j in range(k):
        c = cells[j]
        if c.endswith("\tNaN"):      # the joint test's NaN has always been written 'nan'
            c = c[:-3] + "nan"
        lines.append("\t".join((snps[j], nn[j], fq[j], like[j], c, str(chrom[j]),
                                str(pos[j]), str(a1[j]), str(a2[j]))) + extra[j])
    return "\n".join(lines) + "\n" if lines else ""


def effects_table(names, estimates, ses):
    """The original's ``name<TAB>estimate<TAB>SE`` covariate-effect table."""
    return "".join(f"{name}\t{repr(float(e))}\t{repr(float(s))}\n"
                   for name, e, s in zip(names, estimates, ses))


class _ClosingText(io.TextIOWrapper):
    """Text over a GzipFile that also closes the underlying raw file."""

    def __init__(self, gz, raw):
        super().__init__(gz, encoding="utf-8", newline="")
        self._raw = raw

    def close(self):
        try:
            super().close()
        finally:
            self._raw.close()


class AtomicOutputs:
    """Collects temporary files and renames them into place on :meth:`commit`.

    Use as a context manager: leaving the block with an exception deletes every
    temporary file, so no partial output survives.
    """

    def __init__(self):
        self._pending = []  # (tmp, final)

    def _tmp_for(self, final):
        d = os.path.dirname(os.path.abspath(final))
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(final) + ".", suffix=".tmp", dir=d)
        os.close(fd)
        self._pending.append((tmp, final))
        return tmp

    def temp_path(self, final):
        """A temporary path beside ``final`` for a writer of its own (e.g. savefig)."""
        return self._tmp_for(final)

    def text(self, final, content):
        tmp = self._tmp_for(final)
        with open(tmp, "w") as fh:
            fh.write(content)

    def open_text(self, final):
        tmp = self._tmp_for(final)
        return open(tmp, "w")

    def open_gzip(self, final, append=False):
        """A text handle writing gzip; with ``append`` the existing file's members are kept
        and a new gzip member is added (a valid concatenated gzip stream).  The member
        header carries no name or time stamp, so equal tables give equal bytes."""
        tmp = self._tmp_for(final)
        if append and os.path.exists(final):
            shutil.copyfile(final, tmp)
        raw = open(tmp, "ab" if append else "wb")
        # Level 1: the table is numbers and compresses well anyway; higher levels cost
        # more time than the whole scan's arithmetic.
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0)
        return _ClosingText(gz, raw)

    def commit(self):
        # mkstemp creates files readable by the owner only; give them the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        for tmp, final in self._pending:
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, final)
        self._pending = []

    def discard(self):
        for tmp, _ in self._pending:
            try:
                os.remove(tmp)
            except FileNotFoundError:
                pass
        self._pending = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.discard()
        return False
