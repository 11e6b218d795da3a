"""Fused, row-blocked kernels for the heteroskedastic linear model.

For ``y_i ~ N(x_iᵀα, d_i)``, ``d_i = exp(v_iᵀβ)``, ``w_i = 1/d_i``.  Each kernel makes a
single pass over the rows.  Rows are taken in blocks of ``CHUNK``; each block is scaled
into a small buffer (``CHUNK × m`` doubles, cache resident) and its Gram matrix is one
BLAS ``dsyrk`` (scipy.linalg.cython_blas, so scipy's own BLAS and no linking).  The
per-block Grams are added with Neumaier's compensated summation, so the error of the
totals grows with ``CHUNK`` rather than with n: the line search of the Newton fit
compares likelihoods that differ by ~1e-10 on values of order n.  The GIL is
released for the whole pass.  A Newton iteration on the profile likelihood costs two
passes of O(n·(p+q)²) flops.
"""
from libc.math cimport exp, fabs
from libc.stdlib cimport malloc, free
from scipy.linalg.cython_blas cimport dsyrk, dgemv, dgemm

# Rows per block: the buffer (CHUNK × (p+q+1) doubles) stays in L2 for p, q ≤ ~15, BLAS
# call overhead is amortised even for p = q = 1 (measured: 64 is slower, 4096 no faster),
# and the block Gram's own rounding error is that of a CHUNK-term sum.
cdef Py_ssize_t CHUNK = 1024
cdef int CHUNK_I = 1024


cdef inline void _neumaier(double* s, double* c, double x) noexcept nogil:
    # s + c is the running total; c collects the low-order bits lost in s + x.
    cdef double t = s[0] + x
    if fabs(s[0]) >= fabs(x):
        c[0] += (s[0] - t) + x
    else:
        c[0] += (x - t) + s[0]
    s[0] = t


cdef void _block_gram(double* Z, int m, int k, double* T, double* S, double* Cc) noexcept nogil:
    # T = ZᵀZ for the row-major k×m block Z (BLAS sees Zᵀ, an m×k column-major matrix;
    # 'U' in column-major is the lower triangle in row-major), then S += T compensated.
    cdef char uplo = b'U', trans = b'N'
    cdef double one = 1.0, zero = 0.0
    cdef int j, l
    dsyrk(&uplo, &trans, &m, &k, &one, Z, &m, &zero, T, &m)
    for j in range(m):
        for l in range(j + 1):
            _neumaier(&S[j * m + l], &Cc[j * m + l], T[j * m + l])


def wls_moments(const double[::1] y, const double[:, ::1] X, const double[:, ::1] V,
                const double[::1] beta, double[:, ::1] XtWX, double[::1] XtWy,
                double[::1] yWy=None):
    """Weighted least-squares moments.

    ``XtWX = Σ_i w_i x_i x_iᵀ``, ``XtWy = Σ_i w_i x_i y_i`` with ``w_i = exp(−v_iᵀβ)``
    (outputs overwritten): the Gram of the rows ``√w_i·(x_i, y_i)``; ``yWy[0]``, when
    given, gets its last entry ``Σ_i w_i y_i²``.
    Returns ``Σ_i v_iᵀβ = Σ_i log d_i``.
    """
    cdef Py_ssize_t n = y.shape[0], p = X.shape[1], q = V.shape[1]
    cdef Py_ssize_t i, i0, j, k, nb
    cdef int m = <int>(p + 1)
    cdef double eta, sw, blk_eta, sum_eta = 0.0, c_eta = 0.0
    cdef double *Z
    cdef double *T
    cdef double *S
    cdef double *Cc
    if X.shape[0] != n or V.shape[0] != n or beta.shape[0] != q:
        raise ValueError("wls_moments: shape mismatch")
    if XtWX.shape[0] != p or XtWX.shape[1] != p or XtWy.shape[0] != p:
        raise ValueError("wls_moments: output shape mismatch")
    Z = <double*>malloc((CHUNK * m + 3 * m * m) * sizeof(double))
    if Z == NULL:
        raise MemoryError()
    T = Z + CHUNK * m
    S = T + m * m
    Cc = S + m * m
    with nogil:
        for j in range(m * m):
            S[j] = 0.0
            Cc[j] = 0.0
        i0 = 0
        while i0 < n:
            nb = min(CHUNK, n - i0)
            blk_eta = 0.0
            for i in range(nb):
                eta = 0.0
                for k in range(q):
                    eta = eta + V[i0 + i, k] * beta[k]
                blk_eta = blk_eta + eta
                # exp(−η/2) rather than √exp(−η): finite for twice the range of η.
                sw = exp(-0.5 * eta)
                for j in range(p):
                    Z[i * m + j] = sw * X[i0 + i, j]
                Z[i * m + p] = sw * y[i0 + i]
            _block_gram(Z, m, <int>nb, T, S, Cc)
            _neumaier(&sum_eta, &c_eta, blk_eta)
            i0 += nb
        for j in range(p):
            XtWy[j] = S[p * m + j] + Cc[p * m + j]
            for k in range(j + 1):
                XtWX[j, k] = S[j * m + k] + Cc[j * m + k]
                XtWX[k, j] = XtWX[j, k]
    if yWy is not None and yWy.shape[0] > 0:
        yWy[0] = S[p * m + p] + Cc[p * m + p]
    free(Z)
    return sum_eta + c_eta


def profile_derivatives(const double[::1] y, const double[:, ::1] X, const double[:, ::1] V,
                        const double[::1] beta, const double[::1] alpha,
                        double[::1] grad, double[:, ::1] H_bb, double[:, ::1] C_ba):
    """Value and derivatives of ``f(α, β) = −2L − n·log2π = Σ_i [v_iᵀβ + r_i² w_i]``.

    With ``r_i = y_i − x_iᵀα`` and ``e_i = r_i² w_i`` (outputs overwritten):

    - ``grad = ∂f/∂β = Σ_i v_i (1 − e_i)``
    - ``H_bb = ∂²f/∂β∂βᵀ = Σ_i e_i v_i v_iᵀ``
    - ``C_ba = Σ_i r_i w_i v_i x_iᵀ``  (so ``∂²f/∂β∂αᵀ = 2·C_ba``)

    All three are blocks of the Gram of the rows ``(a_i v_i, √w_i x_i, a_i)``,
    ``a_i = r_i √w_i``.  Returns ``(f, s)`` with ``s = Σ_i (|v_iᵀβ| + e_i)``, the scale
    of the rounding error of ``f``.
    """
    cdef Py_ssize_t n = y.shape[0], p = X.shape[1], q = V.shape[1]
    cdef Py_ssize_t i, i0, j, k, nb
    cdef int m = <int>(q + p + 1)
    cdef double eta, sw, r, a, blk_eta, blk_abs
    cdef double sum_eta = 0.0, c_eta = 0.0, sum_abs = 0.0, c_abs = 0.0
    cdef double sum_e
    cdef double *Z
    cdef double *T
    cdef double *S
    cdef double *Cc
    cdef double *sv
    cdef double *csv
    if X.shape[0] != n or V.shape[0] != n or beta.shape[0] != q or alpha.shape[0] != p:
        raise ValueError("profile_derivatives: shape mismatch")
    if (grad.shape[0] != q or H_bb.shape[0] != q or H_bb.shape[1] != q
            or C_ba.shape[0] != q or C_ba.shape[1] != p):
        raise ValueError("profile_derivatives: output shape mismatch")
    Z = <double*>malloc((CHUNK * m + 3 * m * m + 2 * q + q) * sizeof(double))
    if Z == NULL:
        raise MemoryError()
    T = Z + CHUNK * m
    S = T + m * m
    Cc = S + m * m
    sv = Cc + m * m
    csv = sv + q
    with nogil:
        for j in range(m * m):
            S[j] = 0.0
            Cc[j] = 0.0
        for j in range(q):
            sv[j] = 0.0
            csv[j] = 0.0
        i0 = 0
        while i0 < n:
            nb = min(CHUNK, n - i0)
            blk_eta = 0.0
            blk_abs = 0.0
            # T[0:q] is free until the syrk below: use it for the block's column sums of V.
            for k in range(q):
                T[k] = 0.0
            for i in range(nb):
                eta = 0.0
                for k in range(q):
                    eta = eta + V[i0 + i, k] * beta[k]
                    T[k] = T[k] + V[i0 + i, k]
                blk_eta = blk_eta + eta
                blk_abs = blk_abs + fabs(eta)
                r = y[i0 + i]
                for k in range(p):
                    r = r - X[i0 + i, k] * alpha[k]
                sw = exp(-0.5 * eta)
                a = r * sw
                for k in range(q):
                    Z[i * m + k] = a * V[i0 + i, k]
                for k in range(p):
                    Z[i * m + q + k] = sw * X[i0 + i, k]
                Z[i * m + q + p] = a
            for k in range(q):
                _neumaier(&sv[k], &csv[k], T[k])
            _block_gram(Z, m, <int>nb, T, S, Cc)
            _neumaier(&sum_eta, &c_eta, blk_eta)
            _neumaier(&sum_abs, &c_abs, blk_abs)
            i0 += nb
        # Row q+p of the Gram: (Σ e_i v_i, Σ a_i √w_i x_i, Σ e_i).
        sum_e = S[(q + p) * m + q + p] + Cc[(q + p) * m + q + p]
        for j in range(q):
            grad[j] = (sv[j] + csv[j]) - (S[(q + p) * m + j] + Cc[(q + p) * m + j])
            for k in range(j + 1):
                H_bb[j, k] = S[j * m + k] + Cc[j * m + k]
                H_bb[k, j] = H_bb[j, k]
            for k in range(p):
                C_ba[j, k] = S[(q + k) * m + j] + Cc[(q + k) * m + j]
    free(Z)
    return (sum_eta + c_eta) + sum_e, (sum_abs + c_abs) + sum_e


def joint_cross(const double[::1] y, const double[:, ::1] X, const double[:, ::1] V,
                const double[::1] alpha, const double[::1] beta, Py_ssize_t p0,
                Py_ssize_t q0, double[::1] g_alpha, double[::1] g_beta,
                double[:, ::1] Hx, double[:, ::1] Hv):
    """Value, gradient and some Hessian columns of ``f(α, β) = Σ_i [v_iᵀβ + r_i² w_i]``
    at any (α, β), in one O(n·(p+q)) pass, no Gram.

    With ``r_i = y_i − x_iᵀα``, ``w_i = exp(−v_iᵀβ)``, ``e_i = r_i² w_i``:
    ``g_alpha = ∂f/∂α = −2 Σ_i w_i r_i x_i``, ``g_beta = ∂f/∂β = Σ_i v_i (1 − e_i)``, and
    with ``∂²f/∂α∂αᵀ = 2Σ_i w_i x_i x_iᵀ``, ``∂²f/∂α∂βᵀ = 2Σ_i w_i r_i x_i v_iᵀ``,
    ``∂²f/∂β∂βᵀ = Σ_i e_i v_i v_iᵀ`` (outputs overwritten):
    ``Hx[:, j − p0] = ∂²f/∂(α, β)∂α_j`` ((p+q) × (p−p0)) and
    ``Hv[:, k − q0] = ∂²f/∂(α, β)∂β_k`` ((p+q) × (q−q0)), the columns of the mean
    columns ``j ≥ p0`` of X and the variance columns ``k ≥ q0`` of V.  Returns
    ``(f, s)``, ``s = Σ_i (|v_iᵀβ| + e_i)`` the scale of the rounding error of f; f and
    s are summed per block of ``CHUNK`` rows and the blocks added compensated, as in
    :func:`profile_derivatives`.  Per block, η and Xα are two gemvs and the sums two
    gemms of the block with its per-row weights (``X_bᵀ[w r, w x_j, w r v_k]``,
    ``V_bᵀ[1 − e, w r x_j, e v_k]``).
    """
    cdef Py_ssize_t n = y.shape[0], p = X.shape[1], q = V.shape[1]
    cdef Py_ssize_t i, i0, j, k, nb, p1 = p - p0, q1 = q - q0
    cdef int kx = <int>(1 + p1 + q1), ip = <int>p, iq = <int>q, inb, one = 1, kx2
    cdef bint same = (&X[0, 0] == &V[0, 0]) and p == q
    cdef double eta, w, r, e, wr, blk_f, blk_abs, d_one = 1.0, d_zero = 0.0
    cdef double sum_f = 0.0, c_f = 0.0, sum_abs = 0.0, c_abs = 0.0
    cdef char tt = b'T', tn = b'N'
    cdef double *bx, *bv, *et, *mu, *ax, *av
    if X.shape[0] != n or V.shape[0] != n or beta.shape[0] != q or alpha.shape[0] != p:
        raise ValueError("joint_cross: shape mismatch")
    if not (0 <= p0 <= p and 0 <= q0 <= q):
        raise ValueError("joint_cross: p0, q0 out of range")
    if (g_alpha.shape[0] != p or g_beta.shape[0] != q or Hx.shape[0] != p + q
            or Hx.shape[1] != p1 or Hv.shape[0] != p + q or Hv.shape[1] != q1):
        raise ValueError("joint_cross: output shape mismatch")
    if n == 0 or p == 0 or q == 0:
        raise ValueError("joint_cross: empty design")
    kx2 = 2 * kx
    # column-major buffers: bx, bv (CHUNK × kx) weights, contiguous; ax (p × kx) and
    # av (q × kx) sums, contiguous
    bx = <double*>malloc((2 * CHUNK * kx + 2 * CHUNK + (p + q) * kx) * sizeof(double))
    if bx == NULL:
        raise MemoryError()
    bv = bx + CHUNK * kx
    et = bv + CHUNK * kx
    mu = et + CHUNK
    ax = mu + CHUNK
    av = ax + p * kx
    with nogil:
        for j in range((p + q) * kx):
            ax[j] = 0.0
        i0 = 0
        while i0 < n:
            nb = min(CHUNK, n - i0)
            inb = <int>nb
            # a C-ordered block of rows is, to column-major BLAS, the q × nb matrix Vᵀ
            dgemv(&tt, &iq, &inb, &d_one, &V[i0, 0], &iq, &beta[0], &one, &d_zero, et, &one)
            dgemv(&tt, &ip, &inb, &d_one, &X[i0, 0], &ip, &alpha[0], &one, &d_zero, mu,
                  &one)
            blk_f = 0.0
            blk_abs = 0.0
            for i in range(nb):
                eta = et[i]
                r = y[i0 + i] - mu[i]
                w = exp(-eta)
                wr = w * r
                e = wr * r
                blk_f = blk_f + eta + e
                blk_abs = blk_abs + fabs(eta) + e
                bx[i] = wr
                bv[i] = 1.0 - e
                for j in range(p1):
                    bx[(1 + j) * CHUNK + i] = w * X[i0 + i, p0 + j]
                    bv[(1 + j) * CHUNK + i] = wr * X[i0 + i, p0 + j]
                for j in range(q1):
                    bx[(1 + p1 + j) * CHUNK + i] = wr * V[i0 + i, q0 + j]
                    bv[(1 + p1 + j) * CHUNK + i] = e * V[i0 + i, q0 + j]
            # ax (p × kx) += X_bᵀ (p × nb) · bx (nb × kx); av likewise with V, or with
            # X = V both in one product (bv follows bx in memory, av follows ax)
            if same:
                dgemm(&tn, &tn, &ip, &kx2, &inb, &d_one, &X[i0, 0], &ip, bx,
                      <int*>&CHUNK_I, &d_one, ax, &ip)
            else:
                dgemm(&tn, &tn, &ip, &kx, &inb, &d_one, &X[i0, 0], &ip, bx,
                      <int*>&CHUNK_I, &d_one, ax, &ip)
                dgemm(&tn, &tn, &iq, &kx, &inb, &d_one, &V[i0, 0], &iq, bv,
                      <int*>&CHUNK_I, &d_one, av, &iq)
            _neumaier(&sum_f, &c_f, blk_f)
            _neumaier(&sum_abs, &c_abs, blk_abs)
            i0 += nb
        for k in range(p):
            g_alpha[k] = -2.0 * ax[k]
        for k in range(q):
            g_beta[k] = av[k]
        for j in range(p1):
            for k in range(p):
                Hx[k, j] = 2.0 * ax[(1 + j) * p + k]
            for k in range(q):
                Hx[p + k, j] = 2.0 * av[(1 + j) * q + k]
        for j in range(q1):
            for k in range(p):
                Hv[k, j] = 2.0 * ax[(1 + p1 + j) * p + k]
            for k in range(q):
                Hv[p + k, j] = av[(1 + p1 + j) * q + k]
    free(bx)
    return sum_f + c_f, sum_abs + c_abs
