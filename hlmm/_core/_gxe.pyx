# cython: boundscheck=False, wraparound=False, cdivision=True
"""Exact per-SNP fit of the GxE HLM (``hlmm chr --interaction``) in one compiled call.

The SNP's model has mean design ``x_i = [X0_i, g_i, g_i·E_i]`` and log-variance design
``v_i = [V0_i, g_i (, g_i·E_i)]``; neither is materialised: each row is built on the fly
from the null designs X0, V0, the centred genotype g and E.  The fit is Newton's method on
the joint ``θ = (α, β)`` of ``f(θ) = Σ_i [v_iᵀβ + w_i r_i²]`` (``−2L − n·log2π``;
``w_i = exp(−v_iᵀβ)``, ``r_i = y_i − x_iᵀα``) with its exact Hessian

    ∂f/∂α = −2 Σ w r x,          ∂f/∂β = Σ (1 − w r²) v,
    ∂²f/∂α² = 2 Σ w x xᵀ,        ∂²f/∂α∂βᵀ = 2 Σ w r x vᵀ,        ∂²f/∂β² = Σ w r² v vᵀ,

i.e. ``D·(Σ a_i a_iᵀ)·D`` with ``a_i = (√w_i x_i, √w_i r_i v_i)`` and D doubling the α
rows and columns: one O(n·(p+q)²) pass per iteration.  It starts from the null model's
estimates with the SNP's effects at 0 (the null is nested, so this is near the MLE),
takes Armijo-damped Newton steps while the decrement ``gᵀH⁻¹g`` exceeds ``DEC_FULL``,
then one full step (the decrement then falls quadratically, to ~DEC_FULL²/scale), and
reports the point after that step.  The MLE is the one :meth:`hlmm.models.hlm.HLM.fit`
finds (the same likelihood, unique at its maximum); a Hessian that is not positive
definite, a failed line search or too many iterations return a failure code so that the
caller takes that general path instead.  The GIL is released for the whole fit.
"""
from libc.math cimport exp, sqrt, isfinite

cdef double DEC_FULL = 1e-9


cdef int _cholesky(double* A, int m) noexcept nogil:
    # in place, lower triangle of the row-major m×m A; 0 on success
    cdef int i, j, k
    cdef double s
    for j in range(m):
        s = A[j * m + j]
        for k in range(j):
            s -= A[j * m + k] * A[j * m + k]
        if not s > 0.0:
            return 1
        A[j * m + j] = sqrt(s)
        for i in range(j + 1, m):
            s = A[i * m + j]
            for k in range(j):
                s -= A[i * m + k] * A[j * m + k]
            A[i * m + j] = s / A[j * m + j]
    return 0


cdef void _chol_solve(double* L, int m, double* b) noexcept nogil:
    # b ← (LLᵀ)⁻¹b
    cdef int i, k
    cdef double s
    for i in range(m):
        s = b[i]
        for k in range(i):
            s -= L[i * m + k] * b[k]
        b[i] = s / L[i * m + i]
    for i in range(m - 1, -1, -1):
        s = b[i]
        for k in range(i + 1, m):
            s -= L[k * m + i] * b[k]
        b[i] = s / L[i * m + i]


cdef double _pass(const double[::1] y, const double[:, ::1] X0, const double[:, ::1] V0,
                  const double[::1] g, const double[:, ::1] E, int ivar,
                  double* theta, double* grad, double* H, double* row,
                  int p, int q, int want_h) noexcept nogil:
    # f at θ; its gradient and (want_h) the Hessian's upper triangle into grad, H
    cdef Py_ssize_t n = y.shape[0], i
    cdef int p0 = X0.shape[1], q0 = V0.shape[1], k = E.shape[1], m = p + q
    cdef int j, l
    cdef double eta, w, r, sw, swr, f = 0.0, gi, e
    for j in range(m):
        grad[j] = 0.0
    if want_h:
        for j in range(m * m):
            H[j] = 0.0
    for i in range(n):
        gi = g[i]
        # row = (x_i, v_i)
        for j in range(p0):
            row[j] = X0[i, j]
        row[p0] = gi
        for j in range(k):
            row[p0 + 1 + j] = gi * E[i, j]
        for j in range(q0):
            row[p + j] = V0[i, j]
        row[p + q0] = gi
        if ivar:
            for j in range(k):
                row[p + q0 + 1 + j] = gi * E[i, j]
        eta = 0.0
        for j in range(q):
            eta += row[p + j] * theta[p + j]
        r = y[i]
        for j in range(p):
            r -= row[j] * theta[j]
        w = exp(-eta)
        e = w * r * r
        f += eta + e
        for j in range(p):
            grad[j] -= 2.0 * w * r * row[j]
        for j in range(q):
            grad[p + j] += (1.0 - e) * row[p + j]
        if want_h:
            sw = sqrt(w)
            swr = sw * r
            for j in range(p):
                row[j] *= sw
            for j in range(p, m):
                row[j] *= swr
            for j in range(m):
                for l in range(j, m):
                    H[j * m + l] += row[j] * row[l]
    if want_h:
        for j in range(m):
            for l in range(j, m):
                if j < p:
                    H[j * m + l] *= 2.0
                H[l * m + j] = H[j * m + l]
    return f


def fit_snp(const double[::1] y, const double[:, ::1] X0, const double[:, ::1] V0,
            const double[::1] g, const double[:, ::1] E, bint interaction_var,
            double[::1] theta, double[:, ::1] XtWX, int max_iter=50):
    """Newton fit of one SNP's GxE HLM (module docstring).  ``theta`` (p + q): the start
    on entry (null estimates, the SNP's effects 0), the MLE ``(α, β)`` on return;
    ``XtWX`` (p × p) gets ``Σ w x xᵀ`` there.  Returns ``(status, f, iterations)``:
    status 0 converged, 1 Hessian not positive definite, 2 line search failed,
    3 too many iterations, 4 not finite."""
    cdef int k = E.shape[1]
    cdef int p = X0.shape[1] + 1 + k
    cdef int q = V0.shape[1] + 1 + (k if interaction_var else 0)
    cdef int m = p + q, j, l, it, ls, status = 3, full = 0
    cdef double f = 0.0, ft, dec, t
    if theta.shape[0] != m or XtWX.shape[0] != p or XtWX.shape[1] != p:
        raise ValueError("fit_snp: theta or XtWX has the wrong shape")
    if y.shape[0] != X0.shape[0] or y.shape[0] != V0.shape[0] or y.shape[0] != g.shape[0] \
            or y.shape[0] != E.shape[0]:
        raise ValueError("fit_snp: the arrays' rows differ")
    cdef double[::1] buf = __import__("numpy").empty(3 * m * m + 6 * m)
    cdef double* H = &buf[0]
    cdef double* grad = H + m * m
    cdef double* step = grad + m
    cdef double* row = step + m
    cdef double* trial = row + m
    cdef double* th = &theta[0]
    cdef double* Ht = trial + m
    cdef double* gt = Ht + m * m
    with nogil:
        f = _pass(y, X0, V0, g, E, interaction_var, th, grad, H, row, p, q, 1)
        it = 0
        while it < max_iter:
            it += 1
            if not isfinite(f):
                status = 4
                break
            if full:
                for j in range(p):
                    for l in range(p):
                        XtWX[j, l] = 0.5 * H[j * m + l]
            for j in range(m):
                step[j] = -grad[j]
            if _cholesky(H, m):
                status = 1
                break
            _chol_solve(H, m, step)
            dec = 0.0
            for j in range(m):
                dec -= grad[j] * step[j]
            if not isfinite(dec):
                status = 4
                break
            if full:
                status = 0 if dec < DEC_FULL else 3
                break
            if dec < DEC_FULL:
                # the last step: taken whole, the point after it is reported
                for j in range(m):
                    th[j] += step[j]
                f = _pass(y, X0, V0, g, E, interaction_var, th, grad, H, row, p, q, 1)
                full = 1
                continue
            t = 1.0
            ls = 0
            while ls < 40:
                for j in range(m):
                    trial[j] = th[j] + t * step[j]
                ft = _pass(y, X0, V0, g, E, interaction_var, trial, gt, Ht, row, p, q, 1)
                if isfinite(ft) and ft <= f - 1e-4 * t * dec:
                    break
                t *= 0.5
                ls += 1
            if ls == 40:
                status = 2
                break
            for j in range(m):
                th[j] = trial[j]
                grad[j] = gt[j]
            for j in range(m * m):
                H[j] = Ht[j]
            f = ft
    return status, f, it
