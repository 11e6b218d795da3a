"""Kernels for the random-effects design G: per-column statistics and the z-scored fill.

With ``m`` the non-missing values of a column, ``mean = Σx/m`` and
``SS = Σ_{non-missing} (x − mean)²``, the standardised entry is
``((x − mean)/sd)·s`` with ``sd = √(SS/n)`` and ``s = l^−½``; a missing value is 0 (mean
imputation).  A column whose values are all hard calls (0, 1, 2) gets its statistics
from the class counts ``c_k``: ``Σx = c₁ + 2c₂``, ``SS = Σ_k c_k (k − mean)²``, exactly
what :func:`standardise_bed` uses, so a design read from a .bed, a .pgen, a .bgen or a
text table of the same hard calls is the same to the bit.  The kernels release the GIL
and work on a column or row range, so the caller can run ranges in threads; within a
column the sums run over the rows in order, whatever the threads.
"""
cimport numpy as cnp
from libc.math cimport isnan
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

cnp.import_array()

cdef Py_ssize_t CHUNK = 32     # SNPs decoded at a time by fill_bed


cdef int _columns_in(Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t size, str what) except -1:
    """``lo..hi-1`` must lie in ``0..size-1`` (the loops index without bounds checks)."""
    if lo < 0 or hi > size or lo > hi:
        raise ValueError(f"{what}: range {lo}..{hi} outside 0..{size}")
    return 0


def column_sums(const double[:, ::1] G, Py_ssize_t lo, Py_ssize_t hi, int64_t[::1] m,
                double[::1] total, int64_t[:, ::1] counts, signed char[::1] hard):
    """For columns ``lo..hi-1``: non-missing count ``m``, ``total`` = Σx (rows in order),
    ``counts[j, k]`` = rows equal to k ∈ {0, 1, 2}, ``hard[j]`` = 1 when every
    non-missing value is 0, 1 or 2."""
    cdef Py_ssize_t n = G.shape[0], i, j
    cdef double x
    _columns_in(lo, hi, G.shape[1], "column_sums")
    if (m.shape[0] < hi or total.shape[0] < hi or counts.shape[0] < hi
            or counts.shape[1] < 3 or hard.shape[0] < hi):
        raise ValueError("column_sums: outputs shorter than the columns")
    with nogil:
        for j in range(lo, hi):
            m[j] = 0
            total[j] = 0.0
            counts[j, 0] = 0
            counts[j, 1] = 0
            counts[j, 2] = 0
            hard[j] = 1
        for i in range(n):
            for j in range(lo, hi):
                x = G[i, j]
                if isnan(x):
                    continue
                m[j] += 1
                total[j] += x
                if x == 0.0:
                    counts[j, 0] += 1
                elif x == 1.0:
                    counts[j, 1] += 1
                elif x == 2.0:
                    counts[j, 2] += 1
                else:
                    hard[j] = 0


def column_ss(const double[:, ::1] G, Py_ssize_t lo, Py_ssize_t hi,
              const double[::1] mean, double[::1] ss):
    """``ss[j] = Σ_{non-missing} (x − mean[j])²`` over the rows in order, columns lo..hi-1."""
    cdef Py_ssize_t n = G.shape[0], i, j
    cdef double d
    _columns_in(lo, hi, G.shape[1], "column_ss")
    if mean.shape[0] < hi or ss.shape[0] < hi:
        raise ValueError("column_ss: mean or ss shorter than the columns")
    with nogil:
        for j in range(lo, hi):
            ss[j] = 0.0
        for i in range(n):
            for j in range(lo, hi):
                if not isnan(G[i, j]):
                    d = G[i, j] - mean[j]
                    ss[j] += d * d


def standardise_rows(double[:, ::1] G, Py_ssize_t lo, Py_ssize_t hi,
                     const double[::1] mean, const double[::1] sd, double scale):
    """In place for rows lo..hi-1: ``((x − mean)/sd)·scale``, NaN → 0 (columns with
    ``sd`` 0 are left alone: the caller drops them)."""
    cdef Py_ssize_t l = G.shape[1], i, j
    cdef double x
    _columns_in(lo, hi, G.shape[0], "standardise_rows")
    if mean.shape[0] != l or sd.shape[0] != l:
        raise ValueError("standardise_rows: mean and sd must have one value per column")
    with nogil:
        for i in range(lo, hi):
            for j in range(l):
                if sd[j] == 0.0:
                    continue
                x = G[i, j]
                G[i, j] = 0.0 if isnan(x) else ((x - mean[j]) / sd[j]) * scale


def bed_code_counts(const unsigned char[:, ::1] packed, const Py_ssize_t[::1] sample_index,
                    Py_ssize_t lo, Py_ssize_t hi, int64_t[:, ::1] counts):
    """``counts[s, c]``: analysis individuals with the 2-bit .bed code ``c`` at SNP row
    ``s`` of ``packed``, for rows lo..hi-1."""
    cdef Py_ssize_t nn = sample_index.shape[0], limit = 4 * packed.shape[1], s, i, j, b
    cdef Py_ssize_t full = nn // 4
    cdef int64_t hist[256]
    cdef int v
    cdef bint identity = True
    _columns_in(lo, hi, packed.shape[0], "bed_code_counts")
    if counts.shape[0] < hi or counts.shape[1] < 4:
        raise ValueError("bed_code_counts: counts shorter than the rows")
    for i in range(nn):
        if sample_index[i] < 0 or sample_index[i] >= limit:
            raise IndexError(f"sample_index[{i}] = {sample_index[i]} outside a .bed row")
        if sample_index[i] != i:
            identity = False
    with nogil:
        for s in range(lo, hi):
            counts[s, 0] = 0
            counts[s, 1] = 0
            counts[s, 2] = 0
            counts[s, 3] = 0
            if identity:
                # whole bytes through a histogram of byte values, then the last ones
                for v in range(256):
                    hist[v] = 0
                for b in range(full):
                    hist[packed[s, b]] += 1
                for v in range(256):
                    if hist[v]:
                        counts[s, v & 3] += hist[v]
                        counts[s, (v >> 2) & 3] += hist[v]
                        counts[s, (v >> 4) & 3] += hist[v]
                        counts[s, (v >> 6) & 3] += hist[v]
                for i in range(4 * full, nn):
                    counts[s, (packed[s, i >> 2] >> (2 * (i & 3))) & 3] += 1
            else:
                for i in range(nn):
                    j = sample_index[i]
                    counts[s, (packed[s, j >> 2] >> (2 * (j & 3))) & 3] += 1


def fill_bed(const unsigned char[:, ::1] packed, const Py_ssize_t[::1] sample_index,
             const Py_ssize_t[::1] rows, const double[:, ::1] table, double[:, ::1] G,
             Py_ssize_t col0, Py_ssize_t lo, Py_ssize_t hi):
    """``G[i, col0 + t] = table[t, code]`` with ``code`` the 2-bit code of individual
    ``sample_index[i]`` at SNP row ``rows[t]`` of ``packed``, for G rows lo..hi-1."""
    cdef Py_ssize_t nt = rows.shape[0], limit = 4 * packed.shape[1], i, t, t0, t1, j
    cdef Py_ssize_t w = hi - lo
    cdef const unsigned char* row
    cdef unsigned char* codes
    cdef double* g
    for t in range(nt):
        if rows[t] < 0 or rows[t] >= packed.shape[0]:
            raise IndexError("fill_bed: SNP row outside packed")
    if table.shape[0] != nt or table.shape[1] != 4 or col0 + nt > G.shape[1]:
        raise ValueError("fill_bed: table must be len(rows) × 4 and fit in G")
    if lo < 0 or hi > G.shape[0] or hi > sample_index.shape[0]:
        raise ValueError("fill_bed: rows lo..hi outside G")
    for i in range(lo, hi):
        if sample_index[i] < 0 or sample_index[i] >= limit:
            raise IndexError(f"sample_index[{i}] = {sample_index[i]} outside a .bed row")
    if nt == 0 or w <= 0:
        return
    codes = <unsigned char*> malloc(CHUNK * w)
    if codes == NULL:
        raise MemoryError()
    with nogil:
        # A chunk of SNPs at a time: decode their codes in sample order (random access
        # within one .bed row, which stays in cache), then write G row by row.
        t0 = 0
        while t0 < nt:
            t1 = min(t0 + CHUNK, nt)
            for t in range(t0, t1):
                row = &packed[rows[t], 0]
                for i in range(w):
                    j = sample_index[lo + i]
                    codes[(t - t0) * w + i] = (row[j >> 2] >> (2 * (j & 3))) & 3
            for i in range(w):
                g = &G[lo + i, col0]
                for t in range(t0, t1):
                    g[t] = table[t, codes[(t - t0) * w + i]]
            t0 = t1
    free(codes)
