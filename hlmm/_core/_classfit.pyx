"""Exact per-SNP HLM fits from genotype-class sufficient statistics, O(1) per SNP.

Each SNP's model is ``y_i ~ N(α0 + α1·x_i, exp(β0 + β1·x_i))`` with ``x_i = g_i − 2f``
over the individuals with a call (``f = mean(g)/2``), so individuals of class k share
``x_k = k − 2f``, ``d_k = exp(η_k)``, ``w_k = 1/d_k`` and ``μ_k = α0 + α1·x_k``.  With
``v_k = (1, x_k)`` and ``rr_k = S2_k − 2μ_k·S1_k + n_k·μ_k²`` (= Σ_{i∈k}(y_i − μ_k)²):

- ``α̂(β) = (Σ_k w_k n_k v_k v_kᵀ)⁻¹ Σ_k w_k S1_k v_k``   (weighted least squares)
- ``f(β) = −2L − n·log2π = Σ_k n_k η_k + w_k·rr_k``       (at α̂(β))
- ``∂f/∂β = Σ_k v_k (n_k − w_k rr_k)``, and the profile Hessian
  ``H = Σ_k w_k rr_k v_k v_kᵀ − 2·C (XᵀWX)⁻¹ Cᵀ`` with ``C = Σ_k w_k(S1_k − n_k μ_k) v_k v_kᵀ``.

With three classes, f is minimised by Newton's method on β (Fisher scoring
``Σ_k n_k v_k v_kᵀ`` where H is not positive definite, backtracking line search), the
same iteration as :class:`hlmm.HLM`.  With two classes the model is saturated: each
class gets its own mean and ML variance ``rr_k/n_k`` in closed form.

Standard errors as the original hlmm: ``cov(α) = (XᵀD⁻¹X)⁻¹``, ``cov(β) = 2(VᵀV)⁻¹``.

Dosage SNPs (one class per stored value, K in the thousands) take the same Newton
iteration from the null with one exp per class per step (``_classfit_many.pxi``).
"""
from libc.math cimport exp, log, sqrt, fabs, isfinite, INFINITY, NAN
cimport numpy as cnp
import numpy as np
from libc.stdlib cimport malloc, free
from scipy.linalg.cython_blas cimport daxpy, ddot, dgemm, dsymm, dsymv, dsyrk, dtrmm
from scipy.linalg.cython_lapack cimport dlauum, dpotrf, dtrtri

cnp.import_array()

# status codes, mapped to reasons by hlmm.scan.class_engines
cdef enum:
    ST_OK = 0
    ST_NO_CALLS = 1
    ST_MONOMORPHIC = 2
    ST_NOT_CONVERGED = 3
    ST_DEGENERATE = 4
    ST_LINESEARCH = 5

cdef double LOG2PI = 1.8378770664093453

# columns of the result matrix
cdef enum:
    NOUT = 12
N_OUT = NOUT
COLUMNS = ("n", "freq", "likelihood", "alpha0", "add", "add_se",
           "beta0", "var", "var_se", "alpha0_se", "beta0_se", "n_iter")


cdef double _profile(int K, const double* nk, const double* S1, const double* S2,
                     const double* x, double b0, double b1, double* a) noexcept nogil:
    """f(β) at α̂(β) (stored in a[0:2]); +inf where the weights overflow or WLS is singular."""
    cdef int k
    cdef double w, m00 = 0, m01 = 0, m11 = 0, r0 = 0, r1 = 0, det, mu, f = 0
    for k in range(K):
        w = exp(-(b0 + b1 * x[k]))
        m00 += w * nk[k]
        m01 += w * nk[k] * x[k]
        m11 += w * nk[k] * x[k] * x[k]
        r0 += w * S1[k]
        r1 += w * S1[k] * x[k]
    det = m00 * m11 - m01 * m01
    if not (isfinite(det) and det > 0 and isfinite(r0) and isfinite(r1)):
        return INFINITY
    a[0] = (m11 * r0 - m01 * r1) / det
    a[1] = (m00 * r1 - m01 * r0) / det
    for k in range(K):
        mu = a[0] + a[1] * x[k]
        f += nk[k] * (b0 + b1 * x[k]) + exp(-(b0 + b1 * x[k])) * (S2[k] - 2 * mu * S1[k] + nk[k] * mu * mu)
    if not isfinite(f):
        return INFINITY
    return f


cdef void _se(int K, const double* nk, const double* x, double b0, double b1,
              double* res) noexcept nogil:
    """SEs: cov(α) = (Σ w_k n_k v vᵀ)⁻¹, cov(β) = 2(Σ n_k v vᵀ)⁻¹."""
    cdef int k
    cdef double w, m00 = 0, m01 = 0, m11 = 0, f00 = 0, f01 = 0, f11 = 0, det
    for k in range(K):
        w = exp(-(b0 + b1 * x[k]))
        m00 += w * nk[k]
        m01 += w * nk[k] * x[k]
        m11 += w * nk[k] * x[k] * x[k]
        f00 += nk[k]
        f01 += nk[k] * x[k]
        f11 += nk[k] * x[k] * x[k]
    det = m00 * m11 - m01 * m01
    res[5] = sqrt(m00 / det)
    res[9] = sqrt(m11 / det)
    det = f00 * f11 - f01 * f01
    res[8] = sqrt(2 * f00 / det)
    res[10] = sqrt(2 * f11 / det)


cdef double _direction(double g0, double g1, double h00, double h01, double h11,
                       double F00, double F01, double F11, double F_det,
                       double* s) noexcept nogil:
    """Newton's step ``s = −H⁻¹g`` (Fisher scoring ``F = Σ n_k v_k v_kᵀ`` where H is not
    positive definite or the step does not descend); returns the decrement ``−gᵀs``."""
    cdef double det = h00 * h11 - h01 * h01, dec
    if h00 > 0 and det > 0:
        s[0] = -(h11 * g0 - h01 * g1) / det
        s[1] = -(h00 * g1 - h01 * g0) / det
    else:
        s[0] = -(F11 * g0 - F01 * g1) / F_det
        s[1] = -(F00 * g1 - F01 * g0) / F_det
    dec = -(g0 * s[0] + g1 * s[1])
    if dec < 0:
        s[0] = -(F11 * g0 - F01 * g1) / F_det
        s[1] = -(F00 * g1 - F01 * g0) / F_det
        dec = -(g0 * s[0] + g1 * s[1])
    return dec


cdef void _store(double* res, double f, double ntot, const double* a, double b0,
                 double b1) noexcept nogil:
    """The fit's −2L-based log-likelihood, α and β into ``res``."""
    res[2] = -0.5 * (f + ntot * LOG2PI)
    res[3] = a[0]
    res[4] = a[1]
    res[6] = b0
    res[7] = b1


cdef int _newton(int K, const double* nk, const double* S1, const double* S2,
                 const double* x, double tol, int max_iter, double* res) noexcept nogil:
    cdef int k, it, ls
    cdef double a[2]
    cdef double a_new[2]
    cdef double st[2]
    cdef double b0, b1, f, f_new, w, mu, e, c, t, s0, s1, dec
    cdef double g0, g1, h00, h01, h11, m00, m01, m11, det, c00, c01, c10, c11
    cdef double q00, q01, q11, ntot = 0, rrtot = 0, floor, t0 = 0, t1 = 0
    cdef double F00 = 0, F01 = 0, F11 = 0, F_det
    cdef bint converged = False, near
    # start: OLS α, then the n_k-weighted regression of log(rr_k/n_k) on v_k
    _profile(K, nk, S1, S2, x, 0.0, 0.0, a)
    for k in range(K):
        mu = a[0] + a[1] * x[k]
        rrtot += S2[k] - 2 * mu * S1[k] + nk[k] * mu * mu
        ntot += nk[k]
        F00 += nk[k]
        F01 += nk[k] * x[k]
        F11 += nk[k] * x[k] * x[k]
    F_det = F00 * F11 - F01 * F01
    floor = 1e-8 * max(rrtot / ntot, 1e-300)
    for k in range(K):
        mu = a[0] + a[1] * x[k]
        e = log(max((S2[k] - 2 * mu * S1[k] + nk[k] * mu * mu) / nk[k], 0.0) + floor)
        t0 += nk[k] * e
        t1 += nk[k] * x[k] * e
    b0 = (F11 * t0 - F01 * t1) / F_det
    b1 = (F00 * t1 - F01 * t0) / F_det
    f = _profile(K, nk, S1, S2, x, b0, b1, a)
    if not isfinite(f):
        return ST_NOT_CONVERGED
    it = 0
    while it < max_iter:
        it += 1
        g0 = g1 = h00 = h01 = h11 = m00 = m01 = m11 = 0
        c00 = c01 = c10 = c11 = 0
        for k in range(K):
            w = exp(-(b0 + b1 * x[k]))
            mu = a[0] + a[1] * x[k]
            e = w * (S2[k] - 2 * mu * S1[k] + nk[k] * mu * mu)
            g0 += nk[k] - e
            g1 += x[k] * (nk[k] - e)
            h00 += e
            h01 += e * x[k]
            h11 += e * x[k] * x[k]
            m00 += w * nk[k]
            m01 += w * nk[k] * x[k]
            m11 += w * nk[k] * x[k] * x[k]
            c = w * (S1[k] - nk[k] * mu)
            c00 += c
            c01 += c * x[k]
            c11 += c * x[k] * x[k]
        c10 = c01
        # H -= 2·C M⁻¹ Cᵀ  (M = XᵀWX, C symmetric here since V = X)
        det = m00 * m11 - m01 * m01
        q00 = (c00 * c00 * m11 - 2 * c00 * c01 * m01 + c01 * c01 * m00) / det
        q01 = (c00 * c10 * m11 - (c00 * c11 + c01 * c10) * m01 + c01 * c11 * m00) / det
        q11 = (c10 * c10 * m11 - 2 * c10 * c11 * m01 + c11 * c11 * m00) / det
        h00 -= 2 * q00
        h01 -= 2 * q01
        h11 -= 2 * q11
        dec = _direction(g0, g1, h00, h01, h11, F00, F01, F11, F_det, st)
        s0 = st[0]
        s1 = st[1]
        # Near the optimum the predicted decrease falls below the rounding of f (f ~ n):
        # Armijo cannot resolve it, so a full Newton step that does not raise f beyond
        # rounding is taken (Newton is then in its quadratic regime).
        near = dec < 1e-10 * max(1.0, fabs(f))
        t = 1.0
        for ls in range(60):
            f_new = _profile(K, nk, S1, S2, x, b0 + t * s0, b1 + t * s1, a_new)
            if f_new <= f - 1e-4 * t * dec or (near and t == 1.0 and f_new <= f + 1e-12 * fabs(f)):
                break
            t *= 0.5
        else:
            res[11] = it
            return ST_LINESEARCH
        b0 += t * s0
        b1 += t * s1
        a[0] = a_new[0]
        a[1] = a_new[1]
        f = f_new
        if dec < tol:
            converged = True
            break
    res[11] = it
    if not converged:
        return ST_NOT_CONVERGED
    _store(res, f, ntot, a, b0, b1)
    _se(K, nk, x, b0, b1, res)
    return ST_OK


include "_classfit_many.pxi"


cdef int _fit_one(const double* st, double tol, int max_iter, double* res) noexcept nogil:
    cdef int k, K = 0, j
    cdef double nk[3]
    cdef double S1[3]
    cdef double S2[3]
    cdef double x[3]
    cdef double ntot = st[0] + st[3] + st[6], f
    for j in range(NOUT):
        res[j] = NAN
    res[0] = ntot
    res[11] = 0
    if ntot <= 0:
        return ST_NO_CALLS
    f = (st[3] + 2 * st[6]) / (2 * ntot)
    res[1] = f
    for k in range(3):
        if st[3 * k] > 0:
            nk[K] = st[3 * k]
            S1[K] = st[3 * k + 1]
            S2[K] = st[3 * k + 2]
            x[K] = k - 2 * f
            K += 1
    return _fit_present(K, nk, S1, S2, x, tol, max_iter, res, NULL, NULL)


cdef int _fit_present(int K, const double* nk, const double* S1, const double* S2,
                      const double* x, double tol, int max_iter, double* res,
                      double* w, const Grid* grid) noexcept nogil:
    """The fit from the K classes present (n_k > 0): Newton for K ≥ 3, the saturated
    closed form for K = 2.  ``res`` holds n and f already.  With scratch ``w`` (K
    doubles), more than 3 classes go to :func:`_newton_many` first; hard calls (K ≤ 3)
    always take :func:`_newton`."""
    cdef int k
    cdef double rr
    cdef double d[2]
    cdef double mu[2]
    if K < 2:
        return ST_MONOMORPHIC
    if K > 3 and w != NULL:
        if _newton_many(K, nk, S1, S2, x, tol, max_iter, res, w, grid) == ST_OK:
            return ST_OK
    if K >= 3:
        return _newton(K, nk, S1, S2, x, tol, max_iter, res)
    # two classes: saturated, closed form (class means and ML class variances)
    for k in range(2):
        mu[k] = S1[k] / nk[k]
        rr = S2[k] - S1[k] * mu[k]
        # a class whose y values are all equal (e.g. a single carrier) has zero ML
        # variance: the likelihood is unbounded and no MLE exists
        if not (rr > 1e-12 * S2[k]):
            return ST_DEGENERATE
        d[k] = rr / nk[k]
    res[4] = (mu[1] - mu[0]) / (x[1] - x[0])
    res[3] = mu[0] - res[4] * x[0]
    res[7] = (log(d[1]) - log(d[0])) / (x[1] - x[0])
    res[6] = log(d[0]) - res[7] * x[0]
    res[2] = -0.5 * (nk[0] * (LOG2PI + log(d[0]) + 1) + nk[1] * (LOG2PI + log(d[1]) + 1))
    _se(2, nk, x, res[6], res[7], res)
    return ST_OK


def hlm_fit_block(const double[:, ::1] stats, double[:, ::1] out, int[::1] status,
                  double tol=1e-10, int max_iter=100):
    """Fit every SNP of a block from its class statistics (``stats``: n_snps × 9, columns
    ``n_k, S1_k, S2_k`` for k = 0, 1, 2).  ``out``: n_snps × 12, columns :data:`COLUMNS`
    (NaN estimates where ``status != 0``)."""
    cdef Py_ssize_t s, k, n_snps = stats.shape[0]
    if stats.shape[1] != 9 or out.shape[0] != n_snps or out.shape[1] != NOUT \
            or status.shape[0] != n_snps:
        raise ValueError("hlm_fit_block: shape mismatch")
    with nogil:
        for s in range(n_snps):
            status[s] = _fit_one(&stats[s, 0], tol, max_iter, &out[s, 0])
            if status[s] != ST_OK:
                for k in range(2, NOUT - 1):
                    out[s, k] = NAN


def hlm_fit_classes(const Py_ssize_t[::1] offsets, const double[::1] nk, const double[::1] S1,
                    const double[::1] S2, const double[::1] g, double[:, ::1] out,
                    int[::1] status, double tol=1e-10, int max_iter=100, double scale=0.0):
    """:func:`hlm_fit_block` for SNPs with any number of genotype classes (dosages).

    SNP ``s`` has the classes ``offsets[s] … offsets[s+1]−1`` with dosage value ``g_k``
    (of the counted allele, in [0, 2]), ``n_k > 0``, ``S1_k``, ``S2_k``.  As for hard
    calls, ``f = Σ n_k g_k / (2N)`` and ``x_k = g_k − 2f``: one class per distinct stored
    dosage value keeps the fit exact (DESIGN §8).  ``out``: n_snps × 12 (:data:`COLUMNS`).
    ``scale`` > 0: the values are multiples of ``1/scale`` (the file's grid); a SNP with
    more than GRID_MIN_K classes whose ``g_k`` all equal ``key_k/scale`` gets its weights
    ``exp(−β1·x_k)`` from two small tables of exps per step (:func:`_grid_weights`).
    """
    cdef Py_ssize_t s, k, j, a, b, n_snps = offsets.shape[0] - 1, kmax = 0, key
    cdef double ntot, tot, f
    cdef Grid grid
    cdef const Grid* gp
    cdef bint on_grid
    if out.shape[0] != n_snps or out.shape[1] != NOUT or status.shape[0] != n_snps:
        raise ValueError("hlm_fit_classes: shape mismatch")
    if nk.shape[0] != S1.shape[0] or nk.shape[0] != S2.shape[0] or nk.shape[0] != g.shape[0] \
            or offsets[n_snps] != nk.shape[0]:
        raise ValueError("hlm_fit_classes: class arrays and offsets differ")
    for s in range(n_snps):
        if offsets[s + 1] < offsets[s]:
            raise ValueError("hlm_fit_classes: offsets must be non-decreasing")
        kmax = max(kmax, offsets[s + 1] - offsets[s])
    x_arr = cnp.PyArray_ZEROS(1, [max(kmax, 1)], cnp.NPY_DOUBLE, 0)
    w_arr = cnp.PyArray_ZEROS(1, [max(kmax, 1)], cnp.NPY_DOUBLE, 0)
    cdef double[::1] x = x_arr
    cdef double[::1] w = w_arr
    key_arr = cnp.PyArray_ZEROS(1, [max(kmax, 1)], cnp.NPY_INTP, 0)
    cdef Py_ssize_t[::1] keys = key_arr
    grid.key = &keys[0]
    grid.step = 1.0 / scale if scale > 0 else 0.0
    with nogil:
        for s in range(n_snps):
            a = offsets[s]
            b = offsets[s + 1]
            for j in range(NOUT):
                out[s, j] = NAN
            ntot = 0.0
            tot = 0.0
            for k in range(a, b):
                ntot += nk[k]
                tot += nk[k] * g[k]
            out[s, 0] = ntot
            out[s, 11] = 0
            if ntot <= 0:
                status[s] = ST_NO_CALLS
                continue
            f = tot / (2 * ntot)
            out[s, 1] = f
            for k in range(a, b):
                x[k - a] = g[k] - 2 * f
            gp = NULL
            if scale > 0 and b - a > GRID_MIN_K:
                on_grid = True
                for k in range(a, b):
                    key = <Py_ssize_t>(g[k] * scale + 0.5)
                    if not (g[k] >= 0 and key / scale == g[k] and key < 256 * GRID_MAX_HI):
                        on_grid = False
                        break
                    keys[k - a] = key
                if on_grid:
                    grid.x0 = -2 * f
                    grid.n_hi = 0
                    for k in range(b - a):
                        if keys[k] >> 8 >= grid.n_hi:
                            grid.n_hi = <int>(keys[k] >> 8) + 1
                    gp = &grid
            status[s] = _fit_present(<int>(b - a), &nk[a], &S1[a], &S2[a], &x[0], tol,
                                     max_iter, &out[s, 0], &w[0], gp)
            if status[s] != ST_OK:
                for k in range(2, NOUT - 1):
                    out[s, k] = NAN


def gather_sums(const double[:, ::1] G, const Py_ssize_t[::1] rows, const double[::1] y,
                double[::1] u, double[::1] s):
    """``u = Σ_{i∈rows} g_i``, ``s = Σ_{i∈rows} y_i·g_i`` (l-vectors, overwritten)."""
    cdef Py_ssize_t i, j, r, l = G.shape[1], m = rows.shape[0]
    cdef double yi
    if u.shape[0] != l or s.shape[0] != l or y.shape[0] != G.shape[0]:
        raise ValueError("gather_sums: shape mismatch")
    for i in range(m):
        if rows[i] < 0 or rows[i] >= G.shape[0]:
            raise IndexError("gather_sums: row index out of range")
    with nogil:
        for j in range(l):
            u[j] = 0.0
            s[j] = 0.0
        for i in range(m):
            r = rows[i]
            yi = y[r]
            for j in range(l):
                u[j] += G[r, j]
                s[j] += yi * G[r, j]


cdef double _tiled(double* A, Py_ssize_t l, bint mirror) noexcept nogil:
    # Over the strictly lower triangle of the C-ordered l×l A in 64×64 tiles (the
    # strided A[j, i] stays in cache): copy A[i, j] to A[j, i] (mirror), or return
    # Σ_{i>j} A[i, j]·A[j, i].
    cdef Py_ssize_t i, j, i0, j0, T = 64
    cdef double s = 0.0
    i0 = 0
    while i0 < l:
        j0 = 0
        while j0 <= i0:
            for i in range(i0, min(i0 + T, l)):
                for j in range(j0, min(j0 + T, i)):
                    if mirror:
                        A[j * l + i] = A[i * l + j]
                    else:
                        s = s + A[i * l + j] * A[j * l + i]
            j0 += T
        i0 += T
    return s


def mirror_lower(double[:, ::1] A):
    """Copy the lower triangle of the square C-ordered A onto its upper one, in place
    (LAPACK's dpotri on a C array fills one triangle)."""
    if A.shape[1] != A.shape[0]:
        raise ValueError("mirror_lower: A must be square")
    if A.shape[0]:
        with nogil:
            _tiled(&A[0, 0], A.shape[0], True)


cdef int _trtri_upper(double* U, int n, int ld) noexcept nogil:
    # U ← U⁻¹ for the upper triangular column-major n×n U (leading dimension ld),
    # recursively: [U11 U12; 0 U22]⁻¹ = [U11⁻¹  −U11⁻¹·U12·U22⁻¹; 0  U22⁻¹], every flop
    # in two triangular multiplies (dtrmm).  LAPACK's dtrtri (OpenBLAS) ran at a third
    # of dtrmm's speed at l = 500 on one thread (3.4 ms against 1.1 ms here).
    cdef int n1, n2, info = 0
    cdef double one = 1.0, mone = -1.0
    cdef char L = b'L', R = b'R', up = b'U', nt = b'N'
    if n <= 64:
        dtrtri(&up, &nt, &n, U, &ld, &info)
        return info
    n1 = n // 2
    n2 = n - n1
    info = _trtri_upper(U, n1, ld)
    if info == 0:
        info = _trtri_upper(U + n1 * ld + n1, n2, ld)
    if info != 0:
        return info
    # U12 ← U12·U22⁻¹, then ← −U11⁻¹·U12
    dtrmm(&R, &up, &nt, &nt, &n1, &n2, &one, U + n1 * ld + n1, &ld, U + n1 * ld, &ld)
    dtrmm(&L, &up, &nt, &nt, &n1, &n2, &mone, U, &ld, U + n1 * ld, &ld)
    return 0


cdef int _chol_inverse(double* A, int n, double* Linv, double* logdet) noexcept nogil:
    """``A ← A⁻¹`` (n×n, C order, symmetric positive definite) by dpotrf, the recursive
    triangular inverse and dlauum, the triangle mirrored; ``*logdet ← log|A|``; with
    ``Linv`` (n×n, C order) not NULL also ``Linv ← L⁻¹`` (``A = LLᵀ``, zeros above).
    Returns LAPACK's info (0: done)."""
    cdef int info = 0, i, j
    cdef char uplo = b'U'     # the Fortran upper triangle is the C-ordered lower one
    cdef double ld = 0.0
    dpotrf(&uplo, &n, A, &n, &info)
    if info != 0:
        return info
    for i in range(n):
        ld += log(A[i * n + i])
    logdet[0] = 2.0 * ld
    info = _trtri_upper(A, n, n)
    if info != 0:
        return info
    if Linv != NULL:
        for i in range(n):
            for j in range(i + 1):
                Linv[i * n + j] = A[i * n + j]
            for j in range(i + 1, n):
                Linv[i * n + j] = 0.0
    dlauum(&uplo, &n, A, &n, &info)
    if info == 0:
        _tiled(A, n, True)
    return info


def chol_inverse_inplace(double[:, ::1] A):
    """``A ← A⁻¹`` for a symmetric positive definite, C-ordered A; returns ``log|A|``,
    or None (A then undefined) when A is not positive definite.

    ``A = UᵀU`` (dpotrf), ``U⁻¹`` by recursive blocks (:func:`_trtri_upper`), then
    ``A⁻¹ = U⁻¹U⁻ᵀ`` (dlauum) and the triangle mirrored: the steps of LAPACK's dpotri
    (results equal to rounding; dpotri's own dtrtri was the slow part), without the
    GIL, which scipy's wrappers hold: per-phenotype HLMM fits in threads ran no faster
    than in one (measured 0.94×)."""
    cdef int n = <int>A.shape[0], info
    cdef double logdet = 0.0
    if A.shape[1] != A.shape[0]:
        raise ValueError("chol_inverse_inplace: A must be square")
    if n == 0:
        return 0.0
    with nogil:
        info = _chol_inverse(&A[0, 0], n, NULL, &logdet)
    return None if info != 0 else logdet


def chol_inverse_factor(double[:, ::1] A, double[:, ::1] Linv):
    """:func:`chol_inverse_inplace` that also returns the inverse Cholesky factor:
    ``A ← A⁻¹`` and ``Linv ← L⁻¹`` (lower triangular, C order, zeros above) for
    ``A = LLᵀ``; returns ``log|A|``, or None when A is not positive definite.

    (In C order the Fortran ``A = UᵀU`` of dpotrf stores ``L = Uᵀ`` in the lower
    triangle, and :func:`_trtri_upper` leaves ``U⁻¹``, i.e. ``L⁻¹``, there.)  The
    dosage HLMM's per-carrier terms ``‖L⁻¹g_i‖²`` need the factor as well as A⁻¹."""
    cdef int n = <int>A.shape[0], info
    cdef double logdet = 0.0
    if A.shape[1] != A.shape[0] or Linv.shape[0] != A.shape[0] or Linv.shape[1] != A.shape[0]:
        raise ValueError("chol_inverse_factor: A and Linv must be square, of one size")
    if n == 0:
        return 0.0
    with nogil:
        info = _chol_inverse(&A[0, 0], n, &Linv[0, 0], &logdet)
    return None if info != 0 else logdet


def sym_product(const double[:, ::1] B, const double[:, ::1] K, double[::1, :] Y):
    """``Y = B·K`` (Fortran-ordered Y) for symmetric C-ordered B and K: the dgemm of
    ``scipy.linalg.blas.dgemm(1.0, B.T, K.T)`` (identical result) without the GIL."""
    cdef int l = <int>B.shape[0]
    cdef double one = 1.0, zero = 0.0
    cdef char nn = b'N'
    if (B.shape[1] != l or K.shape[0] != l or K.shape[1] != l or Y.shape[0] != l
            or Y.shape[1] != l):
        raise ValueError("sym_product: B, K and Y must be l × l")
    if l == 0:
        return
    with nogil:
        # column-major, B's memory is Bᵀ = B and K's is K
        dgemm(&nn, &nn, &l, &l, &l, &one, <double*>&B[0, 0], &l, <double*>&K[0, 0], &l,
              &zero, &Y[0, 0], &l)


def trace_square(double[:, ::1] Y):
    """``tr(Y²) = Σ_ij Y_ij·Y_ji`` of a square C-ordered Y without forming Y² or Yᵀ."""
    cdef Py_ssize_t l = Y.shape[0], i
    cdef double s = 0.0, d = 0.0
    if Y.shape[1] != l:
        raise ValueError("trace_square: Y must be square")
    if l:
        with nogil:
            s = _tiled(&Y[0, 0], l, False)
            for i in range(l):
                d = d + Y[i, i] * Y[i, i]
    return 2.0 * s + d


def inner_products_ie(const double[:, ::1] B, const double[:, ::1] Z):
    """``(⟨B, Z⟩, ‖E‖², ⟨B, E⟩, ⟨E, Z⟩)`` with ``E = I − B``, for l × l C-ordered B and
    Z, in one pass and without forming E (``E`` is kept exact entry by entry: the
    expanded ``l − 2tr B + ‖B‖²`` would cancel when h2, hence E, is small).  The HLMM
    Hessian's traces ``tr(BZᵀ)`` etc. of :meth:`hlmm.models.hlmm_classes.ClassStatsHLMM.hessian`."""
    cdef Py_ssize_t l = B.shape[0], i, j
    cdef double bz = 0.0, ee = 0.0, be = 0.0, ez = 0.0, b, e, z
    if B.shape[1] != l or Z.shape[0] != l or Z.shape[1] != l:
        raise ValueError("inner_products_ie: B and Z must be l × l")
    with nogil:
        for i in range(l):
            for j in range(l):
                b = B[i, j]
                z = Z[i, j]
                e = (1.0 if i == j else 0.0) - b
                bz = bz + b * z
                ee = ee + e * e
                be = be + b * e
                ez = ez + e * z
    return bz, ee, be, ez


def code_sums(const signed char[::1] codes, const double[::1] y, double[:, ::1] out):
    """``out[k] = (n_k, Σ_{i∈k} y_i, Σ_{i∈k} y_i²)`` for the genotype classes
    k = 0, 1, 2 of hard-call codes (−1 missing, skipped), in one pass."""
    cdef Py_ssize_t n = codes.shape[0], i, k
    cdef signed char c
    cdef double yi
    cdef bint bad = False
    if y.shape[0] != n or out.shape[0] != 3 or out.shape[1] != 3:
        raise ValueError("code_sums: shape mismatch")
    with nogil:
        for k in range(3):
            out[k, 0] = 0.0
            out[k, 1] = 0.0
            out[k, 2] = 0.0
        for i in range(n):
            c = codes[i]
            if c < 0:
                bad = bad or c != -1
                continue
            if c > 2:
                bad = True
                continue
            yi = y[i]
            out[c, 0] += 1.0
            out[c, 1] += yi
            out[c, 2] += yi * yi
    if bad:
        raise ValueError("codes must be 0, 1, 2 or -1 (missing)")


# --- BLAS level 1-3 calls of the HLMM Newton, without the GIL -------------------------
# The same routines with the same arguments as scipy.linalg.blas.ddot / dsymv(1.0, A.T, x)
# / dsymm(1.0, A.T, P) / daxpy (identical results), whose f2py wrappers hold the GIL:
# phenotypes' fits in threads then run one at a time.

def nogil_ddot(const double[::1] x, const double[::1] y):
    """``xᵀy``."""
    cdef int n = <int>x.shape[0], one = 1
    cdef double r = 0.0
    if y.shape[0] != x.shape[0]:
        raise ValueError("nogil_ddot: lengths differ")
    if n == 0:
        return 0.0
    with nogil:
        r = ddot(&n, <double*>&x[0], &one, <double*>&y[0], &one)
    return r


def nogil_dsymv(const double[:, ::1] A, const double[::1] x):
    """``A·x`` for symmetric C-ordered A (its upper triangle as Fortran, as
    ``blas.dsymv(1.0, A.T, x)``)."""
    cdef int n = <int>A.shape[0], one = 1
    cdef double d_one = 1.0, zero = 0.0
    cdef char uplo = b'U'
    if A.shape[1] != n or x.shape[0] != n:
        raise ValueError("nogil_dsymv: shape mismatch")
    y = np.zeros(n)
    cdef double[::1] yv = y
    if n:
        with nogil:
            dsymv(&uplo, &n, &d_one, <double*>&A[0, 0], &n, <double*>&x[0], &one, &zero,
                  &yv[0], &one)
    return y


def nogil_dsymm(const double[:, ::1] A, const double[::1, :] P):
    """``A·P`` (Fortran-ordered) for symmetric C-ordered A and Fortran-ordered P (as
    ``blas.dsymm(1.0, A.T, P)``)."""
    cdef int n = <int>A.shape[0], k = <int>P.shape[1]
    cdef double d_one = 1.0, zero = 0.0
    cdef char side = b'L', uplo = b'U'
    if A.shape[1] != n or P.shape[0] != n:
        raise ValueError("nogil_dsymm: shape mismatch")
    C = np.zeros((n, k), order="F")
    cdef double[::1, :] Cv = C
    if n and k:
        with nogil:
            dsymm(&side, &uplo, &n, &k, &d_one, <double*>&A[0, 0], &n, <double*>&P[0, 0],
                  &n, &zero, &Cv[0, 0], &n)
    return C


def nogil_daxpy(const double[::1] x, double[::1] y, double a):
    """``y ← a·x + y``."""
    cdef int n = <int>x.shape[0], one = 1
    if y.shape[0] != x.shape[0]:
        raise ValueError("nogil_daxpy: lengths differ")
    if n:
        with nogil:
            daxpy(&n, &a, <double*>&x[0], &one, &y[0], &one)
