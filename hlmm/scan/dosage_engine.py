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

from .._core import _classfit, _dosage
from .class_engines import _COL, _REASONS, with_robust_ses

class DosageClassScan:
    """Exact HLM fits of dosage SNPs from their dosage-value classes.

    ``y``: the analysis phenotype; ``sample_index``: analysis individual → file sample;
    ``scale``: inverse grid step of the file's dosages; ``robust``: False or a
    :mod:`hlmm.models.robust` estimator name.  Thread-safe (per-thread accumulators).
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
                 np.empty((1 + self.powers, cap)))
            self._local.buf = b
        return b

    def _classes(self, row):
        """K and this thread's buffers ``(g, sums)`` holding the SNP's classes in
        ``g[:K]``, ``sums[:, :K]`` (K = −1: off the grid)."""
        acc, g, sums = self._buffers()
        return _dosage.dosage_classes(row, self.sample_index, self.y, self.scale, acc, g,
                                      sums), g, sums

    def class_sums(self, row):
        """``(g, sums)`` of one SNP: its distinct dosage values (sorted) and per value
        ``(n, Σy, …, Σy^P)``; None when a value is off the file's grid.  ``row``: float32
        or float64 dosages of every file sample."""
        K, g, sums = self._classes(row)
        if K < 0:
            return None
        return g[:K].copy(), sums[:, :K].T.copy()

    def fit_block(self, rows, tol=1e-10, max_iter=100, which=None):
        """Fit the SNPs whose all-sample dosage rows are ``rows`` (m × n_samples, float32
        or float64), or only the rows ``which`` of it (no copy of the block).

        Returns a dict of arrays like :meth:`hlmm.scan.class_engines.HLMClassScan.fit_block`
        (``n, freq, likelihood, add, add_se, var, var_se, ok, reason`` and ``av_cov``
        with robust SEs) and ``off_grid`` (bool: fit these by the general path).
        """
        which = range(rows.shape[0]) if which is None else which
        m = len(which)
        if rows.dtype not in (np.float32, np.float64):
            rows = np.asarray(rows, dtype=np.float64)
        out = np.empty((m, _classfit.N_OUT))
        status = np.empty(m, dtype=np.int32)
        off_grid = np.zeros(m, dtype=bool)
        parts = []
        offsets = np.zeros(m + 1, dtype=np.intp)
        gs, ss = [], []
        for i, j in enumerate(which):
            K, g, sums = self._classes(np.ascontiguousarray(rows[j]))
            off_grid[i] = K < 0
            K = max(K, 0)                   # off the grid: fitted as no calls, not ok
            offsets[i + 1] = offsets[i] + K
            gs.append(g[:K].copy())
            ss.append(sums[:, :K].copy())
            if self.robust:
                parts.append((gs[-1], ss[-1].T))
        if m:
            # one call for the block: a call per SNP held the GIL for its arguments
            # about as long as the fit itself, and the scan's threads queued on it
            G = np.concatenate(gs)
            S = np.ascontiguousarray(np.concatenate(ss, axis=1))
            _classfit.hlm_fit_classes(offsets, S[0], S[1], S[2], G, out, status, tol,
                                      max_iter, self.scale)
        res = {k: out[:, _COL[k]].copy() for k in ("n", "freq", "likelihood", "alpha0", "add",
                                                   "add_se", "beta0", "var", "var_se")}
        res["ok"] = (status == 0) & ~off_grid
        res["reason"] = np.array([_REASONS.get(int(s), "failed") for s in status], dtype=object)
        res["off_grid"] = off_grid
        if self.robust and m:
            kmax = max(max(len(gk) for gk, _ in parts), 1)
            P = np.zeros((m, kmax, 5))
            x = np.zeros((m, kmax))
            for j, (gk, sk) in enumerate(parts):
                P[j, : len(gk)] = sk
                x[j, : len(gk)] = gk - 2.0 * res["freq"][j]
            with_robust_ses(res, P, x, self.robust)
        return res
