"""Genotype-class sums of many columns at once: the statistics of a many-phenotype scan.

For SNP ``j`` and individual ``u`` of the union sample (.bed position ``index[u]``), let
``g_ju`` be the genotype class (count of the counted allele, −1 missing; the .bed codes
as in :mod:`hlmm._core._bed`).  For a matrix ``B`` (union individuals × columns: each
phenotype's y, y², … with zeros where it is missing, and 0/1 columns marking who is in
each phenotype's sample) :func:`class_column_sums` returns

    out[j, k, c] = Σ_{u: g_ju = k} B[u, c]   (k = 0, 1, 2),
    out[j, 3, c] = Σ_{u: g_ju = −1} B[u, c].

Every class is summed directly, never derived by subtracting from totals: a difference
of whole-sample sums loses digits that robust SEs of, e.g., a binary trait then magnify.

How: per SNP, the two most frequent classes (by their counts in the .bed row) are two
dense 0/1 rows of a matrix product with ``B``, decoded tile by tile of individuals into
a buffer that stays in cache and accumulated with one dgemm per tile (its 2·n flops per
column, row and SNP are the cost).  The rows of the rarest class (a fraction ≤ 1/3 of
the calls, usually far less) and of the missing calls are added directly.
"""
import numpy as np

cimport numpy as cnp
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from scipy.linalg.cython_blas cimport dgemm, dsyrk

cnp.import_array()

cdef extern from "_addrow.h" nogil:
    void hlmm_add_row(double* dst, const double* src, Py_ssize_t n)

# per byte: how many of its 4 codes are 0b00 / 0b10 / 0b11
cdef unsigned char NCODE[3][256]


cdef void _init_counts() noexcept:
    cdef int v, lane, code
    for v in range(256):
        NCODE[0][v] = 0
        NCODE[1][v] = 0
        NCODE[2][v] = 0
        for lane in range(4):
            code = (v >> (2 * lane)) & 3
            if code == 0:
                NCODE[0][v] += 1
            elif code == 2:
                NCODE[1][v] += 1
            elif code == 3:
                NCODE[2][v] += 1


_init_counts()


def class_column_sums(const unsigned char[:, ::1] packed, const Py_ssize_t[::1] index,
                      bint count_a1, const double[:, ::1] B, double[:, :, ::1] out,
                      Py_ssize_t tile=1024):
    """Fill ``out`` (SNPs × 4 × columns) with the sums of the columns of ``B`` (union
    individuals × columns, C order) over classes 0, 1, 2 and the missing calls of the
    SNP rows of ``packed`` (.bed bytes); ``index[u]`` is individual ``u``'s .bed
    position."""
    cdef Py_ssize_t m = packed.shape[0], n = index.shape[0], C = B.shape[1]
    cdef Py_ssize_t nb = packed.shape[1]
    cdef Py_ssize_t j, u, t0, t1, T, c, b, pos, limit = 4 * packed.shape[1]
    cdef long cnt[3]
    cdef int r, q
    cdef unsigned char code
    cdef const unsigned char* row
    cdef double* a0
    cdef double* a1
    cdef double* add_to
    cdef double one = 1.0
    cdef double* A
    cdef double* acc
    cdef double* accr
    cdef double* dv            # per SNP and code: its value in dense rows 0 and 1
    cdef unsigned char* rcode  # per SNP: the code of its rarest class
    cdef unsigned char* dcode  # per SNP: the codes of its two dense rows
    cdef int M_, N_, K_, lda, ldb, ldc
    # class of each 2-bit code (0b01 missing: −1)
    cdef int klass[4]
    # with the rarest call at index r (codes 0b00, 0b10, 0b11), the two dense codes
    cdef unsigned char RARE[3]
    cdef unsigned char DENSE0[3]
    cdef unsigned char DENSE1[3]
    RARE[:] = [0, 2, 3]
    DENSE0[:] = [2, 0, 0]
    DENSE1[:] = [3, 3, 2]
    if count_a1:
        klass[:] = [2, -1, 1, 0]
    else:
        klass[:] = [0, -1, 1, 2]
    if B.shape[0] != n:
        raise ValueError(f"B must have {n} rows (the union sample), got {B.shape[0]}")
    if out.shape[0] != m or out.shape[1] != 4 or out.shape[2] != C:
        raise ValueError(f"out must be {m} × 4 × {C}")
    if tile < 1:
        raise ValueError("tile must be positive")
    for u in range(n):
        if index[u] < 0 or index[u] >= limit:
            raise IndexError(f"index[{u}] = {index[u]} outside a .bed row of {limit} samples")
    if m == 0 or C == 0:
        return
    T = min(tile, n) if n > 0 else 1
    # one block: the doubles first, then the per-SNP codes
    A = <double*> malloc((2 * m * T + 3 * m * C + 8 * m) * sizeof(double) + 3 * m)
    if A == NULL:
        raise MemoryError()
    acc = A + 2 * m * T
    accr = acc + 2 * m * C
    dv = accr + m * C
    rcode = <unsigned char*> (dv + 8 * m)
    dcode = rcode + m
    with nogil:
        memset(acc, 0, 2 * m * C * sizeof(double))
        memset(accr, 0, m * C * sizeof(double))
        for j in range(m):
            memset(&out[j, 3, 0], 0, C * sizeof(double))
            # the rarest class is summed row by row: only speed depends on which it is,
            # so counts over the whole row (all .bed samples, padding included) do
            cnt[0] = 0
            cnt[1] = 0
            cnt[2] = 0
            row = &packed[j, 0]
            for b in range(nb):
                cnt[0] += NCODE[0][row[b]]
                cnt[1] += NCODE[1][row[b]]
                cnt[2] += NCODE[2][row[b]]
            r = 0
            for q in range(1, 3):
                if cnt[q] < cnt[r]:
                    r = q
            # codes of the three calls: 0b00, 0b10, 0b11 (index q ↦ code 0, 2, 3)
            rcode[j] = RARE[r]
            dcode[2 * j] = DENSE0[r]
            dcode[2 * j + 1] = DENSE1[r]
            for q in range(4):
                dv[8 * j + q] = 1.0 if q == dcode[2 * j] else 0.0
                dv[8 * j + 4 + q] = 1.0 if q == dcode[2 * j + 1] else 0.0
        t0 = 0
        while t0 < n:
            t1 = min(t0 + T, n)
            K_ = <int>(t1 - t0)
            # A is (2m × K) row-major: rows 2j, 2j+1 mark SNP j's two dense classes
            for j in range(m):
                row = &packed[j, 0]
                a0 = &A[(2 * j) * K_]
                a1 = &A[(2 * j + 1) * K_]
                for u in range(t0, t1):
                    pos = index[u]
                    code = (row[pos >> 2] >> (2 * (pos & 3))) & 3
                    # table lookups, not branches: genotypes are unpredictable
                    a0[u - t0] = dv[8 * j + code]
                    a1[u - t0] = dv[8 * j + 4 + code]
                    if code == rcode[j] or code == 1:
                        add_to = &accr[j * C] if code != 1 else &out[j, 3, 0]
                        hlmm_add_row(add_to, &B[u, 0], C)
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
                out[j, klass[dcode[2 * j]], c] = acc[(2 * j) * C + c]
                out[j, klass[dcode[2 * j + 1]], c] = acc[(2 * j + 1) * C + c]
                out[j, klass[rcode[j]], c] = accr[j * C + c]
    free(A)


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
