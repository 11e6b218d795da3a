"""Genotype-class sums of many columns at once: the statistics of a many-phenotype scan.

For SNP ``j`` and individual ``u`` of the union sample (.bed position ``index[u]``), let
``g_ju`` be the genotype class (count of the counted allele, −1 missing; the .bed codes
as in :mod:`hlmm._core._bed`).  For a matrix ``B`` (union individuals × columns: each
phenotype's y, y², … with zeros where it is missing, and 0/1 columns marking who is in
each phenotype's sample) :func:`class_column_sums` returns

    out[j, 0, c] = Σ_{u: g_ju = 1} B[u, c],   out[j, 1, c] = Σ_{u: g_ju = 2} B[u, c],
    out[j, 2, c] = Σ_{u: g_ju = −1} B[u, c].

Class 0 is then ``Σ_u B[u, c] − out[j, 0, c] − out[j, 1, c] − out[j, 2, c]``.

How: per SNP, let ``r`` be the rarer homozygote (by its count in the .bed row) and ``h``
the other.  One dense row per SNP, ``d_u = 1`` for a heterozygote, 2 for ``h``, 0 for
``r`` and missing calls, gives ``D = Σ_u d_u B[u] = S_het + 2 S_h`` as a matrix product,
decoded tile by tile of individuals into a buffer that stays in cache and accumulated
with one dgemm per tile (the dgemm's 2·n flops per column and SNP are the cost).  The
rows of ``r`` (a fraction f² ≤ 1/4 of the calls) and of the missing calls are added
directly: ``R = S_r``, ``S_miss``.  With the column totals ``T``, ``base = T − R − S_miss
= S_het + S_h`` and

    S_het = 2·base − D,    S_h = D − base.
"""
import numpy as np

cimport numpy as cnp
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from scipy.linalg.cython_blas cimport dgemm, dsyrk

cnp.import_array()

cdef extern from "_addrow.h" nogil:
    void hlmm_add_row(double* dst, const double* src, Py_ssize_t n)

# per byte: how many of its 4 codes are 0b00 / 0b11 (the two homozygotes)
cdef unsigned char N00[256]
cdef unsigned char N11[256]


cdef void _init_counts() noexcept:
    cdef int v, lane, code
    for v in range(256):
        N00[v] = 0
        N11[v] = 0
        for lane in range(4):
            code = (v >> (2 * lane)) & 3
            if code == 0:
                N00[v] += 1
            elif code == 3:
                N11[v] += 1


_init_counts()


def class_column_sums(const unsigned char[:, ::1] packed, const Py_ssize_t[::1] index,
                      bint count_a1, const double[:, ::1] B, const double[::1] totals,
                      double[:, :, ::1] out, Py_ssize_t tile=1024):
    """Fill ``out`` (SNPs × 3 × columns) with the class-1, class-2 and missing-call sums
    of the columns of ``B`` (union individuals × columns, C order) for the SNP rows of
    ``packed`` (.bed bytes); ``index[u]`` is individual ``u``'s .bed position and
    ``totals`` the column sums of ``B``."""
    cdef Py_ssize_t m = packed.shape[0], n = index.shape[0], C = B.shape[1]
    cdef Py_ssize_t nb = packed.shape[1]
    cdef Py_ssize_t j, u, t0, t1, T, c, b, pos, limit = 4 * packed.shape[1]
    cdef long n00, n11
    cdef unsigned char code
    cdef const unsigned char* row
    cdef double* a
    cdef double* add_to
    cdef const double* brow
    cdef double one = 1.0, base, d, rr
    cdef double* A
    cdef double* acc
    cdef double* accr
    cdef double* dv            # per SNP: the dense row's value of each 2-bit code
    cdef unsigned char* rcode  # per SNP: the code of its sparse (rarer) homozygote
    cdef int M_, N_, K_, lda, ldb, ldc
    # .bed code 0b00 is class 2 when A1 is counted, class 0 otherwise
    cdef unsigned char code_class2 = 0 if count_a1 else 3
    if B.shape[0] != n:
        raise ValueError(f"B must have {n} rows (the union sample), got {B.shape[0]}")
    if totals.shape[0] != C:
        raise ValueError(f"totals must have {C} entries")
    if out.shape[0] != m or out.shape[1] != 3 or out.shape[2] != C:
        raise ValueError(f"out must be {m} × 3 × {C}")
    if tile < 1:
        raise ValueError("tile must be positive")
    for u in range(n):
        if index[u] < 0 or index[u] >= limit:
            raise IndexError(f"index[{u}] = {index[u]} outside a .bed row of {limit} samples")
    if m == 0 or C == 0:
        return
    T = min(tile, n) if n > 0 else 1
    A = <double*> malloc(m * T * sizeof(double))
    acc = <double*> malloc(m * C * sizeof(double))
    accr = <double*> malloc(m * C * sizeof(double))
    dv = <double*> malloc(4 * m * sizeof(double))
    rcode = <unsigned char*> malloc(m)
    if A == NULL or acc == NULL or accr == NULL or dv == NULL or rcode == NULL:
        free(A)
        free(acc)
        free(accr)
        free(dv)
        free(rcode)
        raise MemoryError()
    with nogil:
        memset(acc, 0, m * C * sizeof(double))
        memset(accr, 0, m * C * sizeof(double))
        for j in range(m):
            memset(&out[j, 2, 0], 0, C * sizeof(double))
            # which homozygote is rarer: only speed depends on it, so the whole row
            # (all .bed samples, padding included) is good enough
            n00 = 0
            n11 = 0
            row = &packed[j, 0]
            for b in range(nb):
                n00 += N00[row[b]]
                n11 += N11[row[b]]
            rcode[j] = 0 if n00 < n11 else 3
            dv[4 * j + 1] = 0.0             # missing
            dv[4 * j + 2] = 1.0             # heterozygote
            dv[4 * j + rcode[j]] = 0.0
            dv[4 * j + (3 - rcode[j])] = 2.0
        t0 = 0
        while t0 < n:
            t1 = min(t0 + T, n)
            K_ = <int>(t1 - t0)
            for j in range(m):
                row = &packed[j, 0]
                a = &A[j * K_]
                for u in range(t0, t1):
                    pos = index[u]
                    code = (row[pos >> 2] >> (2 * (pos & 3))) & 3
                    a[u - t0] = dv[4 * j + code]
                    if code == rcode[j] or code == 1:
                        add_to = &accr[j * C] if code != 1 else &out[j, 2, 0]
                        hlmm_add_row(add_to, &B[u, 0], C)
            # column-major view: accᵀ (C × m) += Bᵀ[:, tile] (C × K) · Aᵀ (K × m)
            M_ = <int>C
            N_ = <int>m
            lda = <int>C
            ldb = K_
            ldc = <int>C
            dgemm("N", "N", &M_, &N_, &K_, &one, <double*>&B[t0, 0], &lda, A, &ldb,
                  &one, acc, &ldc)
            t0 = t1
        for j in range(m):
            for c in range(C):
                d = acc[j * C + c]
                rr = accr[j * C + c]
                base = totals[c] - rr - out[j, 2, c]
                out[j, 0, c] = 2.0 * base - d
                out[j, 1, c] = rr if rcode[j] == code_class2 else d - base
    free(A)
    free(acc)
    free(accr)
    free(dv)
    free(rcode)


def gram_products_rows(const double[:, ::1] G, const Py_ssize_t[::1] rows,
                       const double[:, ::1] Y, double[:, ::1] M, double[:, ::1] S):
    """``M = Σ_{i∈rows} g_i g_iᵀ`` (l × l) and ``S[p] = Σ_{i∈rows} Y[i, p]·g_i``
    (P × l), overwritten, in one pass over the rows: chunks of gathered rows
    ``(g_i, Y_i)`` and one syrk each (``Y``'s column of ones gives ``u_k``).  The
    many-phenotype HLMM's class Grams and sums: G is read once for all phenotypes."""
    cdef Py_ssize_t n = rows.shape[0], i0, i, j, m, CH = 1024
    cdef Py_ssize_t l = G.shape[1], P = Y.shape[1]
    cdef Py_ssize_t L = (l + P + 7) // 8 * 8     # BLAS is slower on odd strides
    cdef int la = <int>L, k
    cdef double d_one = 1.0
    cdef char uplo = b'U', trans = b'N'
    cdef double* buf
    cdef double* T
    if (M.shape[0] != l or M.shape[1] != l or S.shape[0] != P or S.shape[1] != l
            or Y.shape[0] != G.shape[0]):
        raise ValueError("gram_products_rows: shape mismatch")
    for i in range(n):
        if rows[i] < 0 or rows[i] >= G.shape[0]:
            raise IndexError("gram_products_rows: row index out of range")
    buf = <double*> malloc((CH * L + L * L) * sizeof(double))
    if buf == NULL:
        raise MemoryError()
    T = buf + CH * L
    with nogil:
        memset(T, 0, L * L * sizeof(double))
        i0 = 0
        while i0 < n:
            m = min(CH, n - i0)
            for i in range(m):
                for j in range(l):
                    buf[i * L + j] = G[rows[i0 + i], j]
                for j in range(P):
                    buf[i * L + l + j] = Y[rows[i0 + i], j]
                for j in range(l + P, L):
                    buf[i * L + j] = 0.0
            k = <int>m
            # column-major, the chunk is the L × m matrix [G Y 0]ᵀ; 'U' there is the
            # lower triangle of the C-ordered T
            dsyrk(&uplo, &trans, &la, &k, &d_one, buf, &la, &d_one, T, &la)
            i0 += m
        for i in range(l):
            for j in range(i + 1):
                M[i, j] = T[i * L + j]
                M[j, i] = T[i * L + j]
        for j in range(P):
            for i in range(l):
                S[j, i] = T[(l + j) * L + i]
    free(buf)
