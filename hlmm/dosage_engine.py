"""Per-SNP HLM fits of dosage SNPs from one class per stored dosage value (DESIGN §8).

A .pgen or BGEN dosage is stored on a grid (.pgen: steps of 1/16384; b-bit BGEN:
``(a + 2b)/(2^b − 1)``), so the individuals sharing a stored value share ``x_k``, ``d_k``
and ``μ_k`` exactly as hard-call genotype classes do: the fit of
``y ~ N(α0 + α1·x, exp(β0 + β1·x))`` depends on the data only through each value's
``n_k, Σy, Σy²`` (and ``Σy³, Σy⁴`` for robust SEs), and costs O(number of values)
(``_classfit.hlm_fit_classes``, the kernel of the hard-call engine, with a Newton that
starts at the null and evaluates one exp per class per step for many classes).  The
class sums come from one pass over the SNP's dosages (``_dosage.dosage_classes``, direct
indexing by ``rint(g·scale)``, float32 .pgen rows read as they are).

Hard-call SNPs of every format go through the .bed kernels instead (their rows are
packed to .bed bytes by ``_dosage.pack_rows``) and give identical numbers.
"""
import threading

import numpy as np

from ._core import _classfit, _dosage
from .scan_engine import _COL, _REASONS, with_robust_ses

class DosageClassScan:
    """Exact HLM fits of dosage SNPs from their dosage-value classes.

    ``y``: the analysis phenotype; ``sample_index``: analysis individual → file sample;
    ``scale``: inverse grid step of the file's dosages; ``robust``: False or a
    :mod:`hlmm.robust` estimator name.  Thread-safe (per-thread accumulators).
    """

    def __init__(self, y, sample_index, scale, robust=False):
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.sample_index = np.ascontiguousarray(sample_index, dtype=np.intp)
        self.scale = float(scale)
        self.robust = robust
        self.powers = 4 if robust else 2
        self._local = threading.local()

    def _buffers(self):
        b = getattr(self._local, "buf", None)
        if b is None:
            nkeys = int(2 * self.scale + 1.5)
            cap = min(len(self.y), nkeys)
            b = (np.zeros((nkeys, 1 + self.powers)), np.empty(cap),
                 np.empty((cap, 1 + self.powers)))
            self._local.buf = b
        return b

    def class_sums(self, row):
        """``(g, sums)`` of one SNP: its distinct dosage values (sorted) and per value
        ``(n, Σy, …, Σy^P)``; None when a value is off the file's grid.  ``row``: float32
        or float64 dosages of every file sample."""
        acc, g, sums = self._buffers()
        K = _dosage.dosage_classes(row, self.sample_index, self.y, self.scale, acc, g, sums)
        if K < 0:
            return None
        return g[:K].copy(), sums[:K].copy()

    def fit_block(self, rows, tol=1e-10, max_iter=100, which=None):
        """Fit the SNPs whose all-sample dosage rows are ``rows`` (m × n_samples, float32
        or float64), or only the rows ``which`` of it (no copy of the block).

        Returns a dict of arrays like :meth:`hlmm.scan_engine.HLMClassScan.fit_block`
        (``n, freq, likelihood, add, add_se, var, var_se, ok, reason`` and ``av_cov``
        with robust SEs) and ``off_grid`` (bool: fit these by the general path).
        """
        which = range(rows.shape[0]) if which is None else which
        m = len(which)
        if rows.dtype not in (np.float32, np.float64):
            rows = np.asarray(rows, dtype=np.float64)
        parts = [self.class_sums(np.ascontiguousarray(rows[j])) for j in which]
        off_grid = np.array([p is None for p in parts])
        parts = [p if p is not None else (np.zeros(0), np.zeros((0, 1 + self.powers)))
                 for p in parts]
        counts = np.array([len(g) for g, _ in parts], dtype=np.intp)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.intp)
        g = np.concatenate([p[0] for p in parts]) if m else np.zeros(0)
        S = np.concatenate([p[1] for p in parts]) if m else np.zeros((0, 1 + self.powers))
        out = np.empty((m, _classfit.N_OUT))
        status = np.empty(m, dtype=np.int32)
        _classfit.hlm_fit_classes(offsets, np.ascontiguousarray(S[:, 0]),
                                  np.ascontiguousarray(S[:, 1]), np.ascontiguousarray(S[:, 2]),
                                  np.ascontiguousarray(g), out, status, tol, max_iter)
        res = {k: out[:, _COL[k]].copy() for k in ("n", "freq", "likelihood", "alpha0", "add",
                                                   "add_se", "beta0", "var", "var_se")}
        res["ok"] = (status == 0) & ~off_grid
        res["reason"] = np.array([_REASONS.get(int(s), "failed") for s in status], dtype=object)
        res["off_grid"] = off_grid
        if self.robust and m:
            kmax = max(int(counts.max()), 1)
            P = np.zeros((m, kmax, 5))
            x = np.zeros((m, kmax))
            for j in range(m):
                a, b = offsets[j], offsets[j + 1]
                P[j, : b - a] = S[a:b]
                x[j, : b - a] = g[a:b] - 2.0 * res["freq"][j]
            with_robust_ses(res, P, x, self.robust)
        return res
