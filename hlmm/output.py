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
_NAN4 = "NaN\tNaN\tNaN\tNaN"


def neglog10_pval(stat, df):
    """``−log10 P(χ²_df > stat)``, accurate far into the tail.

    Closed forms (scipy.stats' generic logsf costs ~1 ms a call, too slow per SNP):
    χ²₁: ``P = 2Φ(−√stat)``, so ``log P = log 2 + log Φ(−√stat)``;
    χ²₂: ``P = exp(−stat/2)``; other df through ``chdtrc``.
    """
    stat = float(stat)
    if not stat == stat:
        return float("nan")
    if df == 1:
        return -(_LOG2 + float(log_ndtr(-math.sqrt(max(stat, 0.0))))) / _LN10
    if df == 2:
        return max(stat, 0.0) / 2.0 / _LN10
    return float(-np.log(chdtrc(df, stat)) / _LN10)


def _r6(x):
    # The original wrote round(x, 6) through str(); keep that exact text.
    return str(round(float(x), 6))


def effect_columns(est, se):
    """``est, se, t, −log10 p`` as the original's tab-separated text."""
    t = est / se
    return "\t".join([_r6(est), _r6(se), _r6(t), _r6(neglog10_pval(t * t, 1))])


def models_row(snp, n, freq, fit, chrom, pos, a1, a2):
    """One line of ``OUTPREFIX.models.gz``.

    ``freq`` is the folded allele frequency (NaN when the SNP failed the missingness
    filter); ``fit`` is None for a SNP that was filtered or whose fit failed, else a
    mapping with ``likelihood, add, add_se, var, var_se``.
    """
    if fit is None:
        like, add, var, av = "nan", _NAN4, _NAN4, "nan"
    else:
        like = repr(float(fit["likelihood"]))
        add = effect_columns(fit["add"], fit["add_se"])
        var = effect_columns(fit["var"], fit["var_se"])
        stat = (fit["add"] / fit["add_se"]) ** 2 + (fit["var"] / fit["var_se"]) ** 2
        av = _r6(neglog10_pval(stat, 2))
    freq_s = "nan" if freq is None or not np.isfinite(freq) else repr(float(freq))
    return "\t".join([snp, str(int(n)), freq_s, like, add, var, av, str(chrom), str(pos),
                      str(a1), str(a2)]) + "\n"


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
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0)
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
