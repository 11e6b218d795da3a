"""Genotype-class sums of many columns at once: the statistics of a many-phenotype scan.

For SNP ``j`` and individual ``u`` of the union sample (.bed position ``index[u]``), let
``g_ju`` be the genotype class (count of the counted allele, −1 missing; the .bed codes
as in :mod:`hlmm._core._bed`).  For a matrix ``B`` (union individuals × columns: each
phenotype's y, y², … with zeros where it is missing, and 0/1 columns marking who is in
each phenotype's sample) :func:`class_column_sums` returns

    out[j, 0, c] = Σ_{u: g_ju = 1} B[u, c],   out[j, 1, c] = Σ_{u: g_ju = 2} B[u, c],
    out[j, 2, c] = Σ_{u: g_ju = −1} B[u, c].

Class 0 is then ``Σ_u B[u, c] − out[j, 0, c] − out[j, 1, c] − out[j, 2, c]``.

The first two are a matrix product ``A B`` with ``A`` the one-hot indicators of classes 1
and 2 (2 rows per SNP): decoded tile by tile of individuals into a buffer that stays in
cache and accumulated with one dgemm per tile, so for many columns the cost is the
dgemm's (8·n·columns/2 flops per SNP), not the decoding's.  Missing calls are rare: their
rows of ``B`` are added directly.
"""
import numpy as np

cimport numpy as cnp
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from scipy.linalg.cython_blas cimport dgemm

cnp.import_array()

def class_column_sums(const unsigned char[:, ::1] packed, const Py_ssize_t[::1] index,
                      bint count_a1, const double[:, ::1] B, double[:, :, ::1] out,
                      Py_ssize_t tile=1024):
    """Fill ``out`` (SNPs × 3 × columns) with the class-1, class-2 and missing-call sums
    of the columns of ``B`` (union individuals × columns, C order) for the SNP rows of
    ``packed`` (.bed bytes); ``index[u]`` is individual ``u``'s .bed position."""
    cdef Py_ssize_t m = packed.shape[0], n = index.shape[0], C = B.shape[1]
    cdef Py_ssize_t j, u, t0, t1, T, c, pos, limit = 4 * packed.shape[1]
    cdef unsigned char code
    cdef const unsigned char* row
    cdef double* a1
    cdef double* a2
    # per 2-bit code: is it class 1 (het, 0b10) / class 2 (0b00 counting A1, else 0b11)
    cdef double is1[4]
    cdef double is2[4]
    is1[:] = [0.0, 0.0, 1.0, 0.0]
    if count_a1:
        is2[:] = [1.0, 0.0, 0.0, 0.0]
    else:
        is2[:] = [0.0, 0.0, 0.0, 1.0]
    cdef double one = 1.0
    cdef double* A
    cdef double* acc
    cdef double* miss
    cdef int M_, N_, K_, lda, ldb, ldc
    if B.shape[0] != n:
        raise ValueError(f"B must have {n} rows (the union sample), got {B.shape[0]}")
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
    A = <double*> malloc(2 * m * T * sizeof(double))
    acc = <double*> malloc(2 * m * C * sizeof(double))
    if A == NULL or acc == NULL:
        free(A)
        free(acc)
        raise MemoryError()
    with nogil:
        memset(acc, 0, 2 * m * C * sizeof(double))
        for j in range(m):
            memset(&out[j, 2, 0], 0, C * sizeof(double))
        t0 = 0
        while t0 < n:
            t1 = min(t0 + T, n)
            K_ = <int>(t1 - t0)
            # A is (2m × K) row-major: row 2j marks class 1 of SNP j, row 2j+1 class 2
            for j in range(m):
                row = &packed[j, 0]
                a1 = &A[(2 * j) * K_]
                a2 = &A[(2 * j + 1) * K_]
                for u in range(t0, t1):
                    pos = index[u]
                    code = (row[pos >> 2] >> (2 * (pos & 3))) & 3
                    # table lookups, not branches: genotypes are unpredictable
                    a1[u - t0] = is1[code]
                    a2[u - t0] = is2[code]
                    if code == 1:       # missing call (rare)
                        miss = &out[j, 2, 0]
                        for c in range(C):
                            miss[c] += B[u, c]
            # column-major view: accᵀ (C × 2m) += Bᵀ[:, tile] (C × K) · Aᵀ (K × 2m)
            M_ = <int>C
            N_ = <int>(2 * m)
            lda = <int>C
            ldb = K_
            ldc = <int>C
            dgemm("N", "N", &M_, &N_, &K_, &one, <double*>&B[t0, 0], &lda, A, &ldb,
                  &one, acc, &ldc)
            t0 = t1
        for j in range(m):
            for c in range(C):
                out[j, 0, c] = acc[(2 * j) * C + c]
                out[j, 1, c] = acc[(2 * j + 1) * C + c]
    free(A)
    free(acc)


def gather_products(const double[:, ::1] G, const Py_ssize_t[::1] rows,
                    const double[:, ::1] Y, double[:, ::1] S, Py_ssize_t chunk=256):
    """``S[p, :] = Σ_{i ∈ rows} Y[i, p] · G[i, :]`` (P × l): for every phenotype p at once
    the sums ``s_k = Σ_{i∈k} y_i g_i`` of a genotype class's rows (a column of ones in
    ``Y`` gives ``u_k = Σ_{i∈k} g_i``).  The rows are gathered chunk by chunk into a
    buffer and multiplied with one dgemm each, so G is read once for all phenotypes."""
    cdef Py_ssize_t n = G.shape[0], l = G.shape[1], P = Y.shape[1], r = rows.shape[0]
    cdef Py_ssize_t a, b, i, t, h
    cdef double one = 1.0, zero = 0.0
    cdef double* Gb
    cdef double* Yb
    cdef int M_, N_, K_, lda, ldb, ldc
    if Y.shape[0] != n:
        raise ValueError(f"Y must have {n} rows")
    if S.shape[0] != P or S.shape[1] != l:
        raise ValueError(f"S must be {P} × {l}")
    for i in range(r):
        if rows[i] < 0 or rows[i] >= n:
            raise IndexError(f"rows[{i}] = {rows[i]} out of range")
    for t in range(P):
        for h in range(l):
            S[t, h] = 0.0
    if r == 0 or l == 0 or P == 0:
        return
    if chunk < 1:
        chunk = 1
    Gb = <double*> malloc(chunk * l * sizeof(double))
    Yb = <double*> malloc(chunk * P * sizeof(double))
    if Gb == NULL or Yb == NULL:
        free(Gb)
        free(Yb)
        raise MemoryError()
    with nogil:
        a = 0
        while a < r:
            b = min(a + chunk, r)
            for t in range(b - a):
                i = rows[a + t]
                for h in range(l):
                    Gb[t * l + h] = G[i, h]
                for h in range(P):
                    Yb[t * P + h] = Y[i, h]
            # column-major: Sᵀ (l × P) += Gbᵀ (l × K) · Yb (K × P), Yb held as its transpose
            M_ = <int>l
            N_ = <int>P
            K_ = <int>(b - a)
            lda = <int>l
            ldb = <int>P
            ldc = <int>l
            dgemm("N", "T", &M_, &N_, &K_, &one, Gb, &lda, Yb, &ldb, &one, &S[0, 0], &ldc)
            a = b
    free(Gb)
    free(Yb)
