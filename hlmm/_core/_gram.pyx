"""Weighted Gram kernels over tall n×l matrices, in row chunks, BLAS via cython_blas.

All matrices are C-contiguous (one row per individual).  A C-contiguous n×l matrix
is, to column-major BLAS, the l×n matrix Gᵀ: the kernels are written in that view.
Rows are processed in chunks so the only temporary is ``chunk × l`` doubles.
"""
from libc.math cimport sqrt
from libc.stdlib cimport malloc, free
from libc.string cimport memset
from scipy.linalg.cython_blas cimport dsyrk, dgemm, ddot

cdef Py_ssize_t CHUNK = 1024


cdef void _fill_lower_from_upper_colmajor(double* C, int l) noexcept nogil:
    # BLAS wrote the upper triangle in column-major order, i.e. the lower triangle of
    # the C-order matrix; mirror it so the caller sees a full symmetric matrix.
    cdef int j, k
    for j in range(l):
        for k in range(j + 1, l):
            C[j * l + k] = C[k * l + j]


def weighted_gram(const double[:, ::1] G, const double[::1] w, double[:, ::1] out,
                  bint accumulate=False):
    """``out (+)= Gᵀ diag(w) G = Σ_i w_i g_i g_iᵀ`` (l×l), for ``w_i ≥ 0``.

    One BLAS syrk over the row-scaled chunks ``diag(√w) G``.
    """
    cdef Py_ssize_t n = G.shape[0], i0, i, j, m
    cdef int l = <int>G.shape[1], k, one = 1
    cdef double alpha = 1.0, beta, s
    cdef char uplo = b'U', trans = b'N'
    cdef double* buf
    if w.shape[0] != n or out.shape[0] != l or out.shape[1] != l:
        raise ValueError("weighted_gram: shape mismatch")
    if l == 0:
        return
    buf = <double*>malloc(CHUNK * l * sizeof(double))
    if buf == NULL:
        raise MemoryError()
    # syrk always accumulates into out; starting from zero gives the plain Gram.
    beta = 1.0
    if not accumulate:
        out[:, :] = 0.0
    with nogil:
        i0 = 0
        while i0 < n:
            m = min(CHUNK, n - i0)
            for i in range(m):
                s = sqrt(w[i0 + i])
                for j in range(l):
                    buf[i * l + j] = s * G[i0 + i, j]
            k = <int>m
            dsyrk(&uplo, &trans, &l, &k, &alpha, buf, &l, &beta, &out[0, 0], &l)
            i0 += m
        _fill_lower_from_upper_colmajor(&out[0, 0], l)
    free(buf)


def gram_rows(const double[:, ::1] G, const Py_ssize_t[::1] rows, double[:, ::1] out):
    """``out = Σ_{i∈rows} g_i g_iᵀ`` (l×l): the unweighted Gram of a subset of rows.

    One syrk over the gathered rows (the carriers of a genotype class in a scan).
    """
    cdef Py_ssize_t n = rows.shape[0], i0, i, j, m
    cdef int l = <int>G.shape[1], k
    cdef double alpha = 1.0, beta = 1.0
    cdef char uplo = b'U', trans = b'N'
    cdef double* buf
    if out.shape[0] != l or out.shape[1] != l:
        raise ValueError("gram_rows: shape mismatch")
    out[:, :] = 0.0
    if l == 0 or n == 0:
        return
    buf = <double*>malloc(CHUNK * l * sizeof(double))
    if buf == NULL:
        raise MemoryError()
    with nogil:
        i0 = 0
        while i0 < n:
            m = min(CHUNK, n - i0)
            for i in range(m):
                for j in range(l):
                    buf[i * l + j] = G[rows[i0 + i], j]
            k = <int>m
            dsyrk(&uplo, &trans, &l, &k, &alpha, buf, &l, &beta, &out[0, 0], &l)
            i0 += m
        _fill_lower_from_upper_colmajor(&out[0, 0], l)
    free(buf)


def weighted_cross(const double[:, ::1] A, const double[:, ::1] B, const double[::1] w,
                   double[:, ::1] out):
    """``out = Aᵀ diag(w) B = Σ_i w_i a_i b_iᵀ`` (a×b); w may have any sign."""
    cdef Py_ssize_t n = A.shape[0], i0, i, j, m
    cdef int a = <int>A.shape[1], b = <int>B.shape[1], k
    cdef double one = 1.0, beta
    cdef char tn = b'N', tt = b'T'
    cdef double* buf
    if B.shape[0] != n or w.shape[0] != n or out.shape[0] != a or out.shape[1] != b:
        raise ValueError("weighted_cross: shape mismatch")
    out[:, :] = 0.0
    if a == 0 or b == 0 or n == 0:
        return
    buf = <double*>malloc(CHUNK * b * sizeof(double))
    if buf == NULL:
        raise MemoryError()
    with nogil:
        i0 = 0
        beta = 1.0
        while i0 < n:
            m = min(CHUNK, n - i0)
            for i in range(m):
                for j in range(b):
                    buf[i * b + j] = w[i0 + i] * B[i0 + i, j]
            k = <int>m
            # column-major: out_cm (b×a) += Bs_cm (b×m) · A_cm(a×m)ᵀ
            dgemm(&tn, &tt, &b, &a, &k, &one, buf, &b, &A[i0, 0], &a, &beta, &out[0, 0], &b)
            i0 += m
    free(buf)


def row_quadratic(const double[:, ::1] G, const double[:, ::1] M, double[::1] out):
    """``out_i = g_iᵀ M g_i`` for every row, M symmetric l×l: the diagonal of ``G M Gᵀ``
    without forming it (O(n·l²), one gemm per chunk)."""
    cdef Py_ssize_t n = G.shape[0], i0, i, m
    cdef int l = <int>G.shape[1], k, one_i = 1
    cdef double one = 1.0, zero = 0.0
    cdef char tn = b'N'
    cdef double* buf
    if M.shape[0] != l or M.shape[1] != l or out.shape[0] != n:
        raise ValueError("row_quadratic: shape mismatch")
    if l == 0:
        out[:] = 0.0
        return
    buf = <double*>malloc(CHUNK * l * sizeof(double))
    if buf == NULL:
        raise MemoryError()
    with nogil:
        i0 = 0
        while i0 < n:
            m = min(CHUNK, n - i0)
            k = <int>m
            # column-major: T_cm (l×m) = M (l×l) · G_cm (l×m); M symmetric so no transpose
            dgemm(&tn, &tn, &l, &k, &l, &one, &M[0, 0], &l, &G[i0, 0], &l, &zero, buf, &l)
            for i in range(m):
                out[i0 + i] = ddot(&l, &buf[i * l], &one_i, &G[i0 + i, 0], &one_i)
            i0 += m
    free(buf)


cdef int _matrix_rows(list Ms, Py_ssize_t l, const double** rows, str name) except -1:
    """Point ``rows[k]`` at the data of each of the (at most 4) l × l C-ordered M_k."""
    cdef const double[:, ::1] Mk
    cdef Py_ssize_t k
    if len(Ms) < 1 or len(Ms) > 4:
        raise ValueError(f"{name}: 1 to 4 matrices")
    for k in range(len(Ms)):
        Mk = Ms[k]
        if Mk.shape[0] != l or Mk.shape[1] != l:
            raise ValueError(f"{name}: every M_k must be l × l")
        rows[k] = &Mk[0, 0] if l else NULL
    return 0


def combine_two(list Ms, const double[::1] a, const double[::1] b, double[:, ::1] A,
                double[:, ::1] K):
    """``A = Σ_k a_k M_k`` and ``K = Σ_k b_k M_k`` (l × l, C order) in one pass over the
    M_k (at most 4 of them), row by row and without the GIL: the HLMM's weighted Gram
    combinations ``Σ w_k M_k`` and ``Σ w_k x_k M_k`` of one point, which read the M_k
    (the memory traffic, not the flops, is their cost) once instead of twice."""
    cdef Py_ssize_t C = len(Ms), l = A.shape[0], i, j, k
    cdef const double* rows[4]
    cdef double ak, bk
    cdef double* ra
    cdef double* rk
    cdef const double* m
    _matrix_rows(Ms, l, rows, "combine_two")
    if a.shape[0] != C or b.shape[0] != C:
        raise ValueError("combine_two: as many coefficients as matrices")
    if A.shape[1] != l or K.shape[0] != l or K.shape[1] != l:
        raise ValueError("combine_two: A and K must be l × l")
    if l == 0:
        return
    with nogil:
        for i in range(l):
            ra = &A[i, 0]
            rk = &K[i, 0]
            m = rows[0] + i * l
            ak, bk = a[0], b[0]
            for j in range(l):
                ra[j] = ak * m[j]
                rk[j] = bk * m[j]
            for k in range(1, C):
                m = rows[k] + i * l
                ak, bk = a[k], b[k]
                for j in range(l):
                    ra[j] = ra[j] + ak * m[j]
                    rk[j] = rk[j] + bk * m[j]


def traces_and_products(list Ms, const double[:, ::1] B, const double[::1] z,
                        double[::1] tr, double[:, ::1] Mz):
    """``tr[k] = ⟨B, M_k⟩ = tr(B·M_k)`` (B, M_k symmetric) and ``Mz[k] = M_k z`` for the
    l × l M_k (at most 4), in one pass: row i of B is read once for every k, each M_k
    once (per row, two BLAS dots), without the GIL — the HLMM evaluation's
    ``tr(A⁻¹M_k)`` and ``M_k z``, which are memory-bound."""
    cdef Py_ssize_t C = len(Ms), l = B.shape[0], i, k
    cdef const double* rows[4]
    cdef int n = <int>l, one = 1
    cdef double acc[4]
    _matrix_rows(Ms, l, rows, "traces_and_products")
    if tr.shape[0] != C or Mz.shape[0] != C:
        raise ValueError("traces_and_products: tr and Mz of as many rows as matrices")
    if B.shape[1] != l or z.shape[0] != l or Mz.shape[1] != l:
        raise ValueError("traces_and_products: B must be l × l, z and Mz rows of length l")
    for k in range(C):
        acc[k] = 0.0
    if l:
        with nogil:
            for i in range(l):
                for k in range(C):
                    acc[k] += ddot(&n, <double*>&B[i, 0], &one, <double*>(rows[k] + i * l),
                                   &one)
                    Mz[k, i] = ddot(&n, <double*>(rows[k] + i * l), &one, <double*>&z[0], &one)
    for k in range(C):
        tr[k] = acc[k]


cdef int _rows_gram(const double[:, ::1] G, const Py_ssize_t[::1] add,
                    const Py_ssize_t[::1] rem, const double[:, ::1] Y, double[:, ::1] M,
                    double[:, ::1] S, bint overwrite, str name) except -1:
    # T = Σ_{i∈add} (g_i, Y_i)(g_i, Y_i)ᵀ − Σ_{i∈rem} (…)(…)ᵀ, chunks of gathered rows
    # one syrk each (coefficient +1 for add, −1 for rem), then written into M and S
    # (overwrite) or added to them
    cdef Py_ssize_t na = add.shape[0], nr = rem.shape[0], ntot, i0, i, j, m, r, CH = 1024
    cdef Py_ssize_t l = G.shape[1], P = Y.shape[1]
    cdef Py_ssize_t L = (l + P + 7) // 8 * 8     # BLAS is slower on odd strides
    cdef int la = <int>L, k
    cdef double d_one = 1.0, coef
    cdef char uplo = b'U', trans = b'N'
    cdef double* buf
    cdef double* T
    if (M.shape[0] != l or M.shape[1] != l or S.shape[0] != P or S.shape[1] != l
            or Y.shape[0] != G.shape[0]):
        raise ValueError(f"{name}: shape mismatch")
    for i in range(na):
        if add[i] < 0 or add[i] >= G.shape[0]:
            raise IndexError(f"{name}: row index out of range")
    for i in range(nr):
        if rem[i] < 0 or rem[i] >= G.shape[0]:
            raise IndexError(f"{name}: row index out of range")
    ntot = na + nr
    if (ntot == 0 and not overwrite) or l == 0:
        return 0
    buf = <double*> malloc((CH * L + L * L) * sizeof(double))
    if buf == NULL:
        raise MemoryError()
    T = buf + CH * L
    with nogil:
        memset(T, 0, L * L * sizeof(double))
        i0 = 0
        while i0 < ntot:
            # chunks never straddle add and rem: each has one sign
            if i0 < na:
                m = min(CH, na - i0)
                coef = 1.0
            else:
                m = min(CH, ntot - i0)
                coef = -1.0
            for i in range(m):
                r = add[i0 + i] if i0 < na else rem[i0 - na + i]
                for j in range(l):
                    buf[i * L + j] = G[r, j]
                for j in range(P):
                    buf[i * L + l + j] = Y[r, j]
                for j in range(l + P, L):
                    buf[i * L + j] = 0.0
            k = <int>m
            # column-major, the chunk is the L × m matrix [G Y 0]ᵀ; 'U' there is the
            # lower triangle of the C-ordered T
            dsyrk(&uplo, &trans, &la, &k, &coef, buf, &la, &d_one, T, &la)
            i0 += m
        if overwrite:
            for i in range(l):
                for j in range(i + 1):
                    M[i, j] = T[i * L + j]
                    M[j, i] = T[i * L + j]
            for j in range(P):
                for i in range(l):
                    S[j, i] = T[(l + j) * L + i]
        else:
            for i in range(l):
                for j in range(i):
                    M[i, j] += T[i * L + j]
                    M[j, i] += T[i * L + j]
                M[i, i] += T[i * L + i]
            for j in range(P):
                for i in range(l):
                    S[j, i] += T[(l + j) * L + i]
    free(buf)
    return 0


def gram_products_rows(const double[:, ::1] G, const Py_ssize_t[::1] rows,
                       const double[:, ::1] Y, double[:, ::1] M, double[:, ::1] S):
    """``M = Σ_{i∈rows} g_i g_iᵀ`` (l × l) and ``S[p] = Σ_{i∈rows} Y[i, p]·g_i``
    (P × l), overwritten, in one pass over the rows: chunks of gathered rows
    ``(g_i, Y_i)`` and one syrk each (``Y``'s column of ones gives ``u_k``).  The
    many-phenotype HLMM's class Grams and sums: G is read once for all phenotypes."""
    _rows_gram(G, rows, rows[:0], Y, M, S, True, "gram_products_rows")


def gram_update_rows(const double[:, ::1] G, const Py_ssize_t[::1] add,
                     const Py_ssize_t[::1] rem, const double[:, ::1] Y, double[:, ::1] M,
                     double[:, ::1] S):
    """In place: ``M += Σ_{i∈add} g_i g_iᵀ − Σ_{i∈rem} g_i g_iᵀ`` (l × l) and
    ``S[p] += Σ_{i∈add} Y[i, p]·g_i − Σ_{i∈rem} Y[i, p]·g_i`` (P × l).

    A genotype class's Gram and sums moved from one SNP to a neighbour in linkage
    disequilibrium: the rows that joined the class are added, those that left it
    removed, at the cost of a syrk over ``len(add) + len(rem)`` rows (the kernel of
    :func:`gram_products_rows`, signed)."""
    _rows_gram(G, add, rem, Y, M, S, False, "gram_update_rows")


def ld_costs(const signed char[::1] c, const signed char[:, ::1] R, int largest,
             Py_ssize_t[:, ::1] out):
    """Rows to update to move class Grams from each earlier SNP to this one.

    ``c``: this SNP's genotype classes (0, 1, 2, −1 missing); ``R``: earlier SNPs'
    classes, one row each.  ``out[r, 0]`` counts, over the individuals whose class
    differs between ``R[r]`` and ``c``, one for the class they join and one for the
    class they leave unless that class is ``largest`` (the one formed by subtraction,
    never updated); ``out[r, 1]`` is the same with ``R[r]``'s alleles swapped
    (class k read as 2 − k, missing kept)."""
    cdef Py_ssize_t n = c.shape[0], nr = R.shape[0], r, i, i0, m
    cdef Py_ssize_t s0, s1
    cdef unsigned int t0, t1
    cdef signed char a, b, bf, L = <signed char>largest
    cdef const signed char* cr
    cdef const signed char* rr
    if R.shape[1] != n or out.shape[0] != nr or out.shape[1] != 2:
        raise ValueError("ld_costs: shape mismatch")
    with nogil:
        for r in range(nr):
            s0 = 0
            s1 = 0
            i0 = 0
            # branch-free, in chunks whose 32-bit sums cannot overflow: the compiler
            # vectorises it (the branching loop mispredicted on every moved row and
            # cost 5 ms for 64 kept SNPs at n = 20,000)
            while i0 < n:
                m = min(n - i0, 1 << 20)
                cr = &c[i0]
                rr = &R[r, i0]
                t0 = 0
                t1 = 0
                for i in range(m):
                    a = cr[i]
                    b = rr[i]
                    bf = b if b < 0 else 2 - b
                    t0 += (a != b) * ((a != L) + (b != L))
                    t1 += (a != bf) * ((a != L) + (bf != L))
                s0 += t0
                s1 += t1
                i0 += m
            out[r, 0] = s0
            out[r, 1] = s1
