"""Brown–Forsythe test per SNP (Levene's test about the group medians, OSCA ``--vqtl-mtd 2``).

For a SNP the groups are its genotype classes (missing calls dropped); for class k with
``n_k ≥ 1`` members and median ``m_k``, ``Z_i = |y_i − m_k|``; with ``N = Σ n_k`` and
``K`` non-empty classes::

    F = (N − K)/(K − 1) · Σ_k n_k (Z̄_k − Z̄)² / Σ_k Σ_{i∈k} (Z_i − Z̄_k)²,

``F ~ F(K − 1, N − K)`` under the null (equal dispersion), as
``scipy.stats.levene(*groups, center='median')``.  Per class only ``n_k``,
``A_k = Σ|y_i − m_k|`` and ``Q_k = Σ(y_i − m_k)² = S2_k − 2 m_k S1_k + n_k m_k²`` are
needed, since ``Σ_{i∈k}(Z_i − Z̄_k)² = Q_k − A_k²/n_k``.  ``S1, S2`` are the scan's class
sums (:func:`hlmm._core._bed.class_stats_tabled`), and ``m_k`` and ``A_k`` come from one
partial walk over the individuals in increasing ``y``, decoding each one's genotype
straight from the packed .bed row (see :mod:`hlmm._core._levene`): with ``L_k`` the sum of
the lowest ``⌊n_k/2⌋`` values, ``A_k = S1_k − 2 L_k − [n_k odd]·m_k``.  No float genotype
matrix is built.

``F`` is NaN when fewer than two classes are non-empty or the within-class dispersion of
``Z`` is zero; its p-value is reported as ``−log10 p`` computed in log space, finite even
far below the double-precision range (see :func:`f_logsf`).
"""
import numpy as np
from scipy import special, stats

from .._core import _bed, _levene

LN10 = np.log(10.0)


def _log_betainc_cf(a, b, x, maxit=5000, eps=1e-16):
    """``log I_x(a, b)`` (regularised incomplete beta) for ``x < (a+1)/(a+b+2)``, in log
    space: ``a log x + b log(1−x) − log a − log B(a, b) + log CF`` with the continued
    fraction of Numerical Recipes ``betacf`` (modified Lentz), vectorised."""
    a, b, x = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float),
                                  np.asarray(x, float))
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = np.where(np.abs(d) < tiny, tiny, d)
    d = 1.0 / d
    log_h = np.log(np.abs(d))
    h_sign = np.sign(d)
    active = np.ones(x.shape, bool)
    for it in range(1, maxit + 1):
        m2 = 2.0 * it
        aa = it * (b - it) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        step1 = d * c
        aa = -(a + it) * (qab + it) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        step = step1 * d * c
        upd = np.where(active, step, 1.0)
        log_h = log_h + np.log(np.abs(upd))
        h_sign = h_sign * np.sign(upd)
        active &= np.abs(step - 1.0) >= eps
        if not active.any():
            break
    return (a * np.log(x) + b * np.log1p(-x) - np.log(a) - special.betaln(a, b) + log_h)


def f_logsf(F, d1, d2):
    """Natural log of the survival function of the F(d1, d2) distribution, vectorised,
    accurate in the far tail (no underflow).

    ``d1 = 2`` has the closed form ``sf = (1 + 2F/d2)^(−d2/2)``.  Otherwise
    ``sf = I_x(d2/2, d1/2)`` with ``x = d2/(d2 + d1 F)``: scipy's ``f.logsf`` where it is
    above ``e^−600``, else the log-space continued fraction :func:`_log_betainc_cf` (the
    far tail has ``x < (a+1)/(a+b+2)``, where it converges).  NaN where F is NaN.
    """
    F, d1, d2 = np.broadcast_arrays(np.asarray(F, float), np.asarray(d1, float),
                                    np.asarray(d2, float))
    out = np.full(F.shape, np.nan)
    ok = np.isfinite(F) & (d1 > 0) & (d2 > 0)
    two = ok & (d1 == 2)
    out[two] = -0.5 * d2[two] * np.log1p(2.0 * np.maximum(F[two], 0.0) / d2[two])
    gen = ok & ~two
    if gen.any():
        Fg, a1, a2 = np.maximum(F[gen], 0.0), d1[gen], d2[gen]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            lp = stats.f.logsf(Fg, a1, a2)
        far = ~np.isfinite(lp) | (lp < -600.0)
        if far.any():
            a, b = a2[far] / 2.0, a1[far] / 2.0
            x = a2[far] / (a2[far] + a1[far] * Fg[far])
            lp[far] = _log_betainc_cf(a, b, x)
        out[gen] = lp
    out[ok & np.isposinf(F)] = -np.inf
    return out


class BrownForsythe:
    """The Brown–Forsythe test of every SNP of a scan, from packed .bed bytes.

    ``BrownForsythe(sample_index, y, n_fam, count_a1)``: analysis individual ``i`` is .fam
    sample ``sample_index[i]`` with phenotype ``y[i]``; ``n_fam`` .fam samples; classes
    count the A1 allele with ``count_a1`` (as :class:`hlmm.io.bed.BedFile`).  Built
    once per scan (O(n log n): the order of ``y``, and the subset-sum tables of
    :func:`hlmm._core._bed.subset_tables` on the centred phenotype); :meth:`block` is
    thread-safe and its kernels release the GIL.
    """

    def __init__(self, sample_index, y, n_fam, count_a1):
        sample_index = np.ascontiguousarray(sample_index, dtype=np.intp)
        y = np.ascontiguousarray(y, dtype=np.float64)
        if sample_index.ndim != 1 or y.shape != sample_index.shape:
            raise ValueError("BrownForsythe: sample_index and y must be vectors of one length")
        if not np.all(np.isfinite(y)):
            raise ValueError("BrownForsythe: y has non-finite values")
        n_fam = int(n_fam)
        if n_fam >= 2 ** 32:
            raise ValueError("BrownForsythe: more than 2^32 .fam samples")
        self.n_fam, self.count_a1, self.n = n_fam, bool(count_a1), y.size
        self.bps = (n_fam + 3) // 4
        # Shift-invariant: work with y − median(y), so the class sums S2 − 2mS1 + nm²
        # do not lose digits to a large phenotype mean.
        self.center = float(np.median(y)) if y.size else 0.0
        yc = y - self.center
        # subset_tables validates the index (range, no repeats).
        self.tables = _bed.subset_tables(sample_index, yc, n_fam)
        order = np.argsort(yc, kind="stable")
        self.pos = np.ascontiguousarray(sample_index[order], dtype=np.uint32)
        self.ys = np.ascontiguousarray(yc[order])

    def class_stats(self, packed):
        """Per class (n, S1, S2) of the centred phenotype, n_snps × 9."""
        out = np.empty((packed.shape[0], 9))
        _bed.class_stats_tabled(packed, *self.tables, self.count_a1, out)
        return out

    def _prepare(self, packed, stats):
        packed = np.ascontiguousarray(packed, dtype=np.uint8)
        if packed.ndim != 2 or packed.shape[1] != self.bps:
            raise ValueError(f"BrownForsythe: packed must be n_snps × {self.bps} bytes")
        if stats is None:
            st = self.class_stats(packed)
        else:
            # Class sums of the uncentred y (e.g. the scan's own class_stats_tabled).
            st = np.array(stats, dtype=np.float64, order="C", copy=True)
            if st.shape != (packed.shape[0], 9):
                raise ValueError("BrownForsythe: stats must be n_snps × 9")
            c = self.center
            if c != 0.0:
                n, s1, s2 = st[:, 0::3], st[:, 1::3], st[:, 2::3]
                st[:, 2::3] = s2 - 2.0 * c * s1 + n * c * c
                st[:, 1::3] = s1 - n * c
        return packed, st

    def details(self, packed, stats=None):
        """Per SNP row of ``packed`` (n_snps × bps .bed bytes): a dict with ``n``,
        ``median``, ``A`` (n_snps × 3, classes 0, 1, 2; median NaN for an empty class;
        ``A_k = Σ_{i∈k} |y_i − median_k|``), ``F``, ``df1 = K−1``, ``df2 = N−K``,
        ``neglog10_p``.  ``stats``, optional: the per-class (n, Σy, Σy²) of the same
        ``y`` (n_snps × 9, as ``_bed.class_stats_tabled``) if the caller already has them.
        """
        packed, st = self._prepare(packed, stats)
        ns = packed.shape[0]
        classes = np.empty((ns, 9))
        F = np.empty(ns)
        _levene.bf_block(packed, self.pos, self.ys, st, self.count_a1, classes, F)
        n = classes[:, 0::3]
        K = (n > 0).sum(axis=1)
        N = n.sum(axis=1)
        df1 = (K - 1).astype(float)
        df2 = (N - K).astype(float)
        with np.errstate(invalid="ignore"):
            lp = f_logsf(F, np.where(K >= 2, df1, np.nan), np.where(K >= 2, df2, np.nan))
        return {"n": n, "median": classes[:, 1::3] + self.center, "A": classes[:, 2::3],
                "F": F, "df1": df1, "df2": df2, "neglog10_p": -lp / LN10}

    def block(self, packed, stats=None):
        """``(F, neglog10_p)`` arrays over the SNP rows of ``packed`` (n_snps × bps .bed
        bytes, C-contiguous uint8); NaN where the test is undefined (see the module
        docstring).  Thread-safe."""
        d = self.details(packed, stats)
        return d["F"], d["neglog10_p"]
