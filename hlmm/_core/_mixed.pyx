"""Row-chunked kernels for the HLMM (general low-rank path), BLAS via cython_blas.

A C-contiguous n×l matrix is, to column-major BLAS, the l×n matrix Gᵀ; the kernels
work in that view.  Rows are processed in chunks, so the only temporary is
``chunk × l`` doubles: memory stays O(l·chunk) whatever n is.
"""
from libc.math cimport sqrt
from libc.stdlib cimport malloc, free
from scipy.linalg.cython_blas cimport dsyrk, dtrmm, ddot

cdef Py_ssize_t CHUNK = 1024


def signed_gram(const double[:, ::1] G, const double[::1] a, double[:, ::1] out):
    """``out = Gᵀ diag(a) G = Σ_i a_i g_i g_iᵀ`` (l×l) for weights of any sign.

    The rows with ``a_i > 0`` and ``a_i < 0`` go to two syrk calls (coefficients +1
    and −1) on ``√|a_i| g_i``, so the cost is one syrk over n rows, half a gemm.
    """
    cdef Py_ssize_t n = G.shape[0], i0, i, j, m, npos, nneg
    cdef int l = <int>G.shape[1], k
    cdef double plus = 1.0, minus = -1.0, one = 1.0, s, ai
    cdef char uplo = b'U', trans = b'N'
    cdef double* pos
    cdef double* neg
    if a.shape[0] != n or out.shape[0] != l or out.shape[1] != l:
        raise ValueError("signed_gram: shape mismatch")
    out[:, :] = 0.0
    if l == 0 or n == 0:
        return
    pos = <double*>malloc(CHUNK * l * sizeof(double))
    neg = <double*>malloc(CHUNK * l * sizeof(double))
    if pos == NULL or neg == NULL:
        free(pos)
        free(neg)
        raise MemoryError()
    with nogil:
        i0 = 0
        while i0 < n:
            m = min(CHUNK, n - i0)
            npos = 0
            nneg = 0
            for i in range(m):
                ai = a[i0 + i]
                if ai > 0.0:
                    s = sqrt(ai)
                    for j in range(l):
                        pos[npos * l + j] = s * G[i0 + i, j]
                    npos += 1
                elif ai < 0.0:
                    s = sqrt(-ai)
                    for j in range(l):
                        neg[nneg * l + j] = s * G[i0 + i, j]
                    nneg += 1
            if npos > 0:
                k = <int>npos
                dsyrk(&uplo, &trans, &l, &k, &plus, pos, &l, &one, &out[0, 0], &l)
            if nneg > 0:
                k = <int>nneg
                dsyrk(&uplo, &trans, &l, &k, &minus, neg, &l, &one, &out[0, 0], &l)
            i0 += m
        # BLAS filled the upper triangle in column-major order (the lower one in C
        # order); mirror it so callers see a full symmetric matrix.
        for j in range(l):
            for i in range(j + 1, l):
                out[j, i] = out[i, j]
    free(pos)
    free(neg)


def row_terms(const double[:, ::1] G, const double[:, ::1] Linv, const double[::1] z,
              double[::1] c, double[::1] az):
    """Per-individual terms of the HLMM gradient, for ``A = L Lᵀ``.

    ``c_i = g_iᵀ A⁻¹ g_i = ‖L⁻¹ g_i‖²`` and ``az_i = g_iᵀ z``, given the lower-triangular
    ``Linv = L⁻¹`` (C order).  A triangular multiply per chunk (trmm, n·l² flops in all)
    runs at syrk speed, where a triangular solve (trsm) over G took about twice as long;
    L⁻¹ is well conditioned because A ⪰ I.
    """
    cdef Py_ssize_t n = G.shape[0], i0, i, j, m
    cdef int l = <int>G.shape[1], k, one_i = 1
    cdef double one = 1.0, acc, x
    cdef char side = b'L', uplo = b'U', transa = b'T', diag = b'N'
    cdef double* buf
    if (Linv.shape[0] != l or Linv.shape[1] != l or z.shape[0] != l or c.shape[0] != n
            or az.shape[0] != n):
        raise ValueError("row_terms: shape mismatch")
    if l == 0:
        c[:] = 0.0
        az[:] = 0.0
        return
    buf = <double*>malloc(CHUNK * l * sizeof(double))
    if buf == NULL:
        raise MemoryError()
    with nogil:
        i0 = 0
        while i0 < n:
            m = min(CHUNK, n - i0)
            k = <int>m
            for i in range(m):
                az[i0 + i] = ddot(&l, &G[i0 + i, 0], &one_i, &z[0], &one_i)
                for j in range(l):
                    buf[i * l + j] = G[i0 + i, j]
            # Linv in C order is the upper (L⁻¹)ᵀ to column-major BLAS; its transpose
            # times the columns g_i gives L⁻¹ g_i.
            dtrmm(&side, &uplo, &transa, &diag, &l, &k, &one, &Linv[0, 0], &l, buf, &l)
            for i in range(m):
                acc = 0.0
                for j in range(l):
                    x = buf[i * l + j]
                    acc = acc + x * x
                c[i0 + i] = acc
            i0 += m
    free(buf)
