# The many-class Newton of _classfit.pyx (dosage values: K in the thousands), included
# there (it shares _profile, _direction and _store):
#  - _eval_many: f, α̂, gradient, profile Hessian and XᵀWX with one exp per class
#    (or the grid's two exp tables, _grid_weights);
#  - _newton_many: _newton's iteration started at the null, one evaluation per step.

ctypedef struct Grid:
    # x_k = x0 + key[k]·step (dosage values on a grid): exp(−b1·x_k) from two tables
    const Py_ssize_t* key
    double step
    double x0
    int n_hi                # key >> 8 ≤ n_hi − 1


cdef enum:
    GRID_MIN_K = 1024       # fewer classes: one exp each is cheaper than the tables
    GRID_MAX_HI = 1024      # keys < 2^18 (BGEN's 1/65535 grid: < 131071)


cdef void _grid_weights(int K, const Grid* grid, double b0, double b1,
                        double* w) noexcept nogil:
    """``w[k] = exp(−(b0 + b1·x_k))`` as ``exp(−(b0 + b1·x0))·exp(−b1·step·256h)·
    exp(−b1·step·l)`` with ``key = 256h + l``: 256 + n_hi exps instead of K (a few ulps
    from the direct exp, the rounding of the summed class statistics)."""
    cdef double lo[256]
    cdef double hi[GRID_MAX_HI]
    cdef double u = -b1 * grid.step, c = exp(-(b0 + b1 * grid.x0))
    cdef int l, k
    cdef Py_ssize_t key
    for l in range(256):
        lo[l] = exp(u * l)
    for l in range(grid.n_hi):
        hi[l] = exp(u * (256.0 * l))
    for k in range(K):
        key = grid.key[k]
        w[k] = c * hi[key >> 8] * lo[key & 255]


cdef double _eval_many(int K, const double* nk, const double* S1, const double* S2,
                       const double* x, double b0, double b1, double* w, double* a,
                       double* gh, const Grid* grid) noexcept nogil:
    """:func:`_profile` at β = (b0, b1) with one exp per class, plus what Newton needs
    there: ``w[k] = exp(−η_k)`` (kept), α̂ in ``a``, and in ``gh`` the gradient
    ``(g0, g1)``, the profile Hessian ``(h00, h01, h11)`` (:func:`_newton`'s formulas)
    and ``(m00, m01, m11)`` = XᵀWX.  Returns f, +inf where it is undefined."""
    cdef int k
    cdef double wk, m00 = 0, m01 = 0, m11 = 0, r0 = 0, r1 = 0, det, mu, e, c, f = 0
    cdef double g0 = 0, g1 = 0, h00 = 0, h01 = 0, h11 = 0, c00 = 0, c01 = 0, c11 = 0
    cdef double q00, q01, q11, wn
    if b1 == 0.0:               # the null start: one weight
        wk = exp(-b0)
        for k in range(K):
            w[k] = wk
    elif grid != NULL:
        _grid_weights(K, grid, b0, b1, w)
    else:
        for k in range(K):
            w[k] = exp(-(b0 + b1 * x[k]))
    for k in range(K):
        wn = w[k] * nk[k]
        m00 += wn
        m01 += wn * x[k]
        m11 += wn * x[k] * x[k]
        r0 += w[k] * S1[k]
        r1 += w[k] * S1[k] * x[k]
    det = m00 * m11 - m01 * m01
    if not (isfinite(det) and det > 0 and isfinite(r0) and isfinite(r1)):
        return INFINITY
    a[0] = (m11 * r0 - m01 * r1) / det
    a[1] = (m00 * r1 - m01 * r0) / det
    for k in range(K):
        mu = a[0] + a[1] * x[k]
        e = w[k] * (S2[k] - 2 * mu * S1[k] + nk[k] * mu * mu)
        f += nk[k] * (b0 + b1 * x[k]) + e
        g0 += nk[k] - e
        g1 += x[k] * (nk[k] - e)
        h00 += e
        h01 += e * x[k]
        h11 += e * x[k] * x[k]
        c = w[k] * (S1[k] - nk[k] * mu)
        c00 += c
        c01 += c * x[k]
        c11 += c * x[k] * x[k]
    if not isfinite(f):
        return INFINITY
    q00 = (c00 * c00 * m11 - 2 * c00 * c01 * m01 + c01 * c01 * m00) / det
    q01 = (c00 * c01 * m11 - (c00 * c11 + c01 * c01) * m01 + c01 * c11 * m00) / det
    q11 = (c01 * c01 * m11 - 2 * c01 * c11 * m01 + c11 * c11 * m00) / det
    gh[0] = g0
    gh[1] = g1
    gh[2] = h00 - 2 * q00
    gh[3] = h01 - 2 * q01
    gh[4] = h11 - 2 * q11
    gh[5] = m00
    gh[6] = m01
    gh[7] = m11
    return f


cdef int _newton_many(int K, const double* nk, const double* S1, const double* S2,
                      const double* x, double tol, int max_iter, double* res,
                      double* w, const Grid* grid) noexcept nogil:
    """:func:`_newton` for many classes (dosage values, K in the thousands): the same
    Newton iteration, line search and stopping rule, but started at the null
    (β1 = 0, α = OLS, β0 = log(RSS/n); SNP effects are small, and the log of thousands
    of tiny classes' variances is a poor start) and with one exp per class per tried β:
    gradient and Hessian come with the accepted trial's evaluation, and the SEs reuse its
    weights.  ``w``: K doubles of scratch.  Returns the status (not ST_OK: the caller
    falls back to :func:`_newton`)."""
    cdef int k, it, ls
    cdef double a[2]
    cdef double a_new[2]
    a_new[0] = 0
    a_new[1] = 0
    cdef double gh[8]
    cdef double gh_new[8]
    cdef double st[2]
    cdef double b0, b1, f, f_new, s0, s1, dec, det, t, ntot = 0, rss = 0, mu
    cdef double F00 = 0, F01 = 0, F11 = 0, F_det, m00, m01, m11
    cdef bint converged = False, near
    for k in range(K):
        F00 += nk[k]
        F01 += nk[k] * x[k]
        F11 += nk[k] * x[k] * x[k]
        a_new[0] += S1[k]
        a_new[1] += S1[k] * x[k]
    F_det = F00 * F11 - F01 * F01
    if not F_det > 0:
        return ST_NOT_CONVERGED
    a[0] = (F11 * a_new[0] - F01 * a_new[1]) / F_det      # OLS α
    a[1] = (F00 * a_new[1] - F01 * a_new[0]) / F_det
    for k in range(K):
        mu = a[0] + a[1] * x[k]
        rss += S2[k] - 2 * mu * S1[k] + nk[k] * mu * mu
    ntot = F00
    if not rss > 0:
        return ST_NOT_CONVERGED
    b0 = log(rss / ntot)
    b1 = 0.0
    f = _eval_many(K, nk, S1, S2, x, b0, b1, w, a, gh, grid)
    if not isfinite(f):
        return ST_NOT_CONVERGED
    it = 0
    while it < max_iter:
        it += 1
        dec = _direction(gh[0], gh[1], gh[2], gh[3], gh[4], F00, F01, F11, F_det, st)
        s0 = st[0]
        s1 = st[1]
        near = dec < 1e-10 * max(1.0, fabs(f))
        t = 1.0
        for ls in range(60):
            f_new = _eval_many(K, nk, S1, S2, x, b0 + t * s0, b1 + t * s1, w, a_new, gh_new,
                               grid)
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
        for k in range(8):
            gh[k] = gh_new[k]
        f = f_new
        if dec < tol:
            converged = True
            break
    res[11] = it
    if not converged:
        return ST_NOT_CONVERGED
    _store(res, f, ntot, a, b0, b1)
    # SEs as _se, with the weights of the accepted β (w holds them)
    m00, m01, m11 = gh[5], gh[6], gh[7]
    det = m00 * m11 - m01 * m01
    res[5] = sqrt(m00 / det)
    res[9] = sqrt(m11 / det)
    res[8] = sqrt(2 * F00 / F_det)
    res[10] = sqrt(2 * F11 / F_det)
    return ST_OK
