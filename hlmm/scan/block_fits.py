"""The outcomes of a block of SNPs, one row each, held as arrays.

A scan of many phenotypes produces millions of (SNP, phenotype) outcomes: holding each as
an object (and formatting it through one) cost more than the fits themselves.  The class
engines write whole blocks into these arrays; single fits (general path, HLMM) are set
row by row as :class:`SnpFit` and read back the same way.
"""
from dataclasses import dataclass

import numpy as np

_CODES = ("ok", "filtered_missing", "filtered_maf", "failed", "unusable",
          "filtered_mac", "filtered_hwe")     # (hlmm.scan.snp_filters numbers them too)
STATUS_NAMES = [c.encode() for c in _CODES]     # a row's partial-file status, by code
FIT_KEYS = ("likelihood", "add", "add_se", "var", "var_se")


@dataclass
class SnpFit:
    n: int
    freq: float               # of the counted allele (unfolded); NaN without calls
    fit: dict = None          # likelihood, add, add_se, var, var_se (av_cov, extra); None = no fit
    status: str = "ok"        # ok | filtered_missing | filtered_maf | failed: <reason>
    bf: tuple = None          # (F, −log10 p) of the Brown–Forsythe test, when asked for


class BlockFits:
    """Per SNP of a block: call count ``n``, the counted allele's frequency ``freq``
    (unfolded: the table's ``a1_freq``, folded into ``frequency``), outcome ``code``
    (an index into ok, filtered_missing, filtered_maf, failed, unusable; ``reason`` holds
    the text of failed and unusable rows), the estimates ``est`` (likelihood, add,
    add_se, var, var_se, av_cov; NaN without a fit, av_cov 0 for model-based SEs) and the
    Brown–Forsythe ``bf`` (F, −log10 p), NaN where not computed."""

    def __init__(self, m):
        self.n = np.zeros(m, dtype=np.int64)
        self.freq = np.full(m, np.nan)
        self.code = np.zeros(m, dtype=np.int8)
        self.est = np.full((m, 6), np.nan)
        self.est[:, 5] = 0.0
        self.bf = np.full((m, 2), np.nan)
        self.reason = {}
        self.extra = None         # (m, k) further columns (GxE), NaN where not fitted
        # its rows as the checkpoint keeps them (hlmm.io.output.pack_block), when
        # formatted where computed
        self.packed = None

    @classmethod
    def from_fits(cls, fits):
        if isinstance(fits, cls):
            return fits
        out = cls(len(fits))
        for j, f in enumerate(fits):
            out[j] = f
        return out

    @classmethod
    def of_arrays(cls, n, freq, code, est, reason):
        """A block over the given arrays (kept, not copied), no Brown–Forsythe values."""
        out = cls.__new__(cls)
        out.n, out.freq, out.code, out.est = n, freq, code, est
        out.bf = np.full((n.shape[0], 2), np.nan)
        out.reason, out.extra, out.packed = reason, None, None
        return out

    def __len__(self):
        return self.n.shape[0]

    def __setitem__(self, j, f):
        self.n[j] = f.n
        self.freq[j] = f.freq
        head, _, reason = f.status.partition(": ")
        self.code[j] = _CODES.index(head)
        if reason or head in ("failed", "unusable"):
            self.reason[j] = reason
        else:
            self.reason.pop(j, None)
        self.est[j] = np.nan
        self.est[j, 5] = 0.0
        if f.fit is not None:
            self.est[j, :5] = [f.fit[k] for k in FIT_KEYS]
            self.est[j, 5] = f.fit.get("av_cov", 0.0)
        self._set_extra(j, None if f.fit is None else f.fit.get("extra"))
        self.bf[j] = f.bf if f.bf is not None else (np.nan, np.nan)

    def __getitem__(self, j):
        code = _CODES[self.code[j]]
        status = f"{code}: {self.reason.get(j, '')}" if code in ("failed", "unusable") else code
        fit = None
        if code == "ok":
            fit = dict(zip(FIT_KEYS, self.est[j, :5].tolist()))
            if self.est[j, 5] != 0.0:
                fit["av_cov"] = float(self.est[j, 5])
            if self.extra is not None:
                fit["extra"] = self.extra[j].copy()
        bf = tuple(self.bf[j].tolist()) if not np.isnan(self.bf[j]).all() else None
        return SnpFit(int(self.n[j]), float(self.freq[j]), fit, status, bf)

    def __iter__(self):
        return (self[j] for j in range(len(self)))

    def _set_extra(self, j, values):
        if values is None:
            if self.extra is not None:
                self.extra[j] = np.nan
            return
        if self.extra is None:
            self.extra = np.full((len(self), len(values)), np.nan)
        self.extra[j] = values

    def set_classes(self, cols, n, freq, code, est, reasons=None):
        """Rows ``cols`` at once (the class engines)."""
        self.n[cols] = n
        self.freq[cols] = freq
        self.code[cols] = code
        self.est[cols] = est
        if self.reason:
            for j in cols:
                self.reason.pop(int(j), None)
        if reasons:
            self.reason.update(reasons)

    @property
    def tested(self):
        """Rows that passed the filters (fitted or failed)."""
        return (self.code == 0) | (self.code == 3)

    def statuses(self):
        """Each row's outcome as stored in a partial file (``failed:reason``; no tabs)."""
        out = [_CODES[c] for c in self.code.tolist()]
        for j, st in self.reason_statuses().items():
            out[j] = st
        return out

    def reason_statuses(self):
        """``{row: "failed:reason"}``: the partial-file outcome of the rows with a reason
        (tabs and newlines in it made spaces); the others' is ``STATUS_NAMES[code]``."""
        return {j: f"{_CODES[self.code[j]]}:{r.replace(chr(9), ' ').replace(chr(10), ' ')}"
                for j, r in self.reason.items()}

    def failures(self):
        """``[(row, reason)]`` of the failed fits."""
        return [(j, r) for j, r in sorted(self.reason.items()) if self.code[j] == 3]
