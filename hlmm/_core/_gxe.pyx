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
rows and columns: one O(n·(p+q)²) pass per iteration, its Gram by BLAS.  For hard calls
the pass groups the individuals by genotype class c, where ``g_i = x_c`` makes ``a_i`` a
fixed selection and scaling (by 1 or x_c) of ``b_i = (√w_i X0_i, √w_i r_i V0_i)``, so
only the three Grams of the narrower b are summed (``_pass_cls``).  It starts from the
null model's estimates with the SNP's effects at 0 (the null is nested, so this is near the MLE),
takes Armijo-damped Newton steps while the decrement ``gᵀH⁻¹g`` exceeds ``DEC_FULL``,
then one full step (the decrement then falls quadratically, to ~DEC_FULL²/scale), and
reports the point after that step.  The MLE is the one :meth:`hlmm.models.hlm.HLM.fit`
finds (the same likelihood, unique at its maximum); a Hessian that is not positive
definite, a failed line search or too many iterations return a failure code so that the
caller takes that general path instead.  The GIL is released for the whole fit.
"""
from libc.math cimport exp, sqrt, isfinite
from scipy.linalg.cython_blas cimport dsyrk, ddot

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


cdef int CHUNK = 512


cdef double _finish(double sum_eta, double* grad, double* H, double* T, int p,
                    int q) noexcept nogil:
    # Both passes end here: H (row-major lower triangle) holds the m1 × m1 Gram of the
    # rows (√w x, √w r v, √w r); f, the gradient's α part and the Σ w r² v part come from
    # its last row, and the Hessian is its leading m × m block with the α rows and
    # columns doubled, compacted to m × m.
    cdef int m = p + q, m1 = p + q + 1, j, l
    cdef double f = sum_eta + H[m * m1 + m], w
    for j in range(p):
        grad[j] = -2.0 * H[m * m1 + j]
    for j in range(q):
        grad[p + j] -= H[m * m1 + p + j]
    for j in range(m):
        for l in range(j + 1):
            w = H[j * m1 + l]
            if l < p:
                w *= 2.0
            T[j * m + l] = w
            T[l * m + j] = w
    for j in range(m * m):
        H[j] = T[j]
    return f


cdef double _pass(const double[::1] y, const double[:, ::1] X0, const double[:, ::1] V0,
                  const double[::1] g, const double[:, ::1] E, int ivar,
                  double* theta, double* grad, double* H, double* Z, double* T,
                  int p, int q) noexcept nogil:
    # f at θ, its gradient and Hessian (full, row-major) into grad, H.  Rows
    # ``(√w x, √w r v, √w r)`` are written CHUNK at a time into Z and their Gram added
    # by one BLAS dsyrk (m1 × m1, m1 = p + q + 1): its last column holds Σ w r x and
    # Σ w r² v, the gradient's sums, and its corner Σ w r².
    cdef Py_ssize_t n = y.shape[0], i, i0
    cdef int p0 = X0.shape[1], q0 = V0.shape[1], k = E.shape[1], m = p + q, m1 = p + q + 1
    cdef int j, l, nb
    cdef double eta, w, r, sw, swr, gi, sum_eta = 0.0
    cdef double* z
    cdef char uplo = b'U', trans = b'N'
    cdef double one = 1.0, zero = 0.0
    for j in range(m1 * m1):
        H[j] = 0.0
    for j in range(q):
        grad[p + j] = 0.0
    i0 = 0
    while i0 < n:
        nb = <int>(n - i0) if n - i0 < CHUNK else CHUNK
        for i in range(i0, i0 + nb):
            z = Z + (i - i0) * m1
            gi = g[i]
            for j in range(p0):
                z[j] = X0[i, j]
            z[p0] = gi
            for j in range(k):
                z[p0 + 1 + j] = gi * E[i, j]
            for j in range(q0):
                z[p + j] = V0[i, j]
            z[p + q0] = gi
            if ivar:
                for j in range(k):
                    z[p + q0 + 1 + j] = gi * E[i, j]
            eta = 0.0
            for j in range(q):
                eta += z[p + j] * theta[p + j]
                grad[p + j] += z[p + j]
            r = y[i]
            for j in range(p):
                r -= z[j] * theta[j]
            sum_eta += eta
            sw = exp(-0.5 * eta)
            swr = sw * r
            for j in range(p):
                z[j] *= sw
            for j in range(p, m):
                z[j] *= swr
            z[m] = swr
        dsyrk(&uplo, &trans, &m1, &nb, &one, Z, &m1, &zero, T, &m1)
        for j in range(m1):
            for l in range(j + 1):
                H[j * m1 + l] += T[j * m1 + l]
        i0 += nb
    return _finish(sum_eta, grad, H, T, p, q)


cdef double _pass_cls(const double[::1] y, const double[:, ::1] X0,
                      const double[:, ::1] V0, const signed char[::1] codes,
                      const double* xk, const int* ecol, const int* vecol, int k, int ivar,
                      double* theta, double* grad, double* H, double* Z, double* T,
                      double* G, int p, int q) noexcept nogil:
    # _pass for hard calls: within genotype class c (g = xk[c]) the row
    # (√w x, √w r v, √w r) is a fixed selection and scaling of b = (√w X0_i, √w r V0_i,
    # √w r) (X0, V0 start with the intercept and hold E at ecol, vecol), so each class's
    # Gram of b (d = p0 + q0 + 1 wide) is accumulated and mapped to the full one.
    # Z: 3 buffers of CHUNK × d; G: 3 Grams d × d; T: scratch (≥ m1² and ≥ d²).
    cdef Py_ssize_t n = y.shape[0], i
    cdef int p0 = X0.shape[1], q0 = V0.shape[1], m = p + q, m1 = p + q + 1
    cdef int d = p0 + q0 + 1, j, l, c, t
    cdef int nb[3]
    cdef double sv[3][64]
    cdef double ak[3][64]
    cdef double bk[3][64]
    cdef int src[130]
    cdef double eta, r, sw, swr, sum_eta = 0.0, x, sj
    cdef int a, b, one_i = 1
    cdef double* z
    cdef double* Gc
    cdef char uplo = b'U', trans = b'N'
    cdef double one = 1.0, zero = 0.0
    for c in range(3):
        nb[c] = 0
        x = xk[c]
        for j in range(p0):
            ak[c][j] = theta[j]
        ak[c][0] += x * theta[p0]
        for t in range(k):
            ak[c][ecol[t]] += x * theta[p0 + 1 + t]
        for j in range(q0):
            bk[c][j] = theta[p + j]
            sv[c][j] = 0.0
        bk[c][0] += x * theta[p + q0]
        if ivar:
            for t in range(k):
                bk[c][vecol[t]] += x * theta[p + q0 + 1 + t]
    for j in range(3 * d * d):
        G[j] = 0.0
    for i in range(n):
        c = codes[i]
        # class c's buffer is column-major (d columns of CHUNK): each Gram entry is then
        # one BLAS ddot of contiguous columns (dsyrk's packing costs more at d ≈ 7)
        z = Z + c * CHUNK * d + nb[c]
        eta = 0.0
        for j in range(q0):
            eta += V0[i, j] * bk[c][j]
            sv[c][j] += V0[i, j]
        r = y[i]
        for j in range(p0):
            r -= X0[i, j] * ak[c][j]
        sum_eta += eta
        sw = exp(-0.5 * eta)
        swr = sw * r
        for j in range(p0):
            z[j * CHUNK] = X0[i, j] * sw
        for j in range(q0):
            z[(p0 + j) * CHUNK] = V0[i, j] * swr
        z[(d - 1) * CHUNK] = swr
        nb[c] += 1
        if nb[c] == CHUNK or i == n - 1:
            for c in range(3):
                if nb[c] == CHUNK or (i == n - 1 and nb[c] > 0):
                    z = Z + c * CHUNK * d
                    Gc = G + c * d * d
                    for j in range(d):
                        for l in range(j + 1):
                            Gc[j * d + l] += ddot(&nb[c], z + j * CHUNK, &one_i,
                                                  z + l * CHUNK, &one_i)
                    nb[c] = 0
    # the full rows' source in b (row-major lower triangles: G[j, l], l ≤ j)
    for j in range(p0):
        src[j] = j
    src[p0] = 0
    for t in range(k):
        src[p0 + 1 + t] = ecol[t]
    for j in range(q0):
        src[p + j] = p0 + j
    src[p + q0] = p0
    if ivar:
        for t in range(k):
            src[p + q0 + 1 + t] = p0 + vecol[t]
    src[m] = d - 1
    for j in range(m1 * m1):
        H[j] = 0.0
    for j in range(q):
        grad[p + j] = 0.0
    for c in range(3):
        x = xk[c]
        Gc = G + c * d * d
        for j in range(m1):
            # scaled by g where the column is g or g·E
            sj = x if ((j >= p0 and j < p) or (j >= p + q0 and j < m)) else 1.0
            for l in range(j + 1):
                a = src[j] if src[j] >= src[l] else src[l]
                b = src[l] if src[j] >= src[l] else src[j]
                H[j * m1 + l] += sj * (x if ((l >= p0 and l < p) or (l >= p + q0 and l < m))
                                      else 1.0) * Gc[a * d + b]
            if j >= p and j < m:
                grad[j] += sj * sv[c][src[j] - p0]
    return _finish(sum_eta, grad, H, T, p, q)


def fit_snp(const double[::1] y, const double[:, ::1] X0, const double[:, ::1] V0,
            const double[::1] g, const double[:, ::1] E, bint interaction_var,
            double[::1] theta, double[:, ::1] XtWX, int max_iter=50,
            const signed char[::1] codes=None, const double[::1] xk=None,
            const int[::1] ecol=None, const int[::1] vecol=None):
    """Newton fit of one SNP's GxE HLM (module docstring).  ``theta`` (p + q): the start
    on entry (null estimates, the SNP's effects 0), the MLE ``(α, β)`` on return;
    ``XtWX`` (p × p) gets ``Σ w x xᵀ`` there.  Returns ``(status, f, iterations)``:
    status 0 converged, 1 Hessian not positive definite, 2 line search failed,
    3 too many iterations, 4 not finite.

    Hard calls (``codes``: 0, 1, 2 per row, ``g = xk[codes]``; X0 and V0 begin with the
    intercept and hold E's columns at ``ecol`` and ``vecol``): each pass accumulates the
    Grams per genotype class over the null designs' columns only (p0 + q0 + 1 wide,
    against p + q + 1), the same sums by another grouping."""
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
    cdef int m1 = m + 1, cls = codes is not None
    cdef int d = X0.shape[1] + V0.shape[1] + 1
    if cls:
        if (xk is None or ecol is None or xk.shape[0] != 3 or codes.shape[0] != y.shape[0]
                or ecol.shape[0] != k or (interaction_var and (vecol is None
                                                               or vecol.shape[0] != k))
                or X0.shape[1] > 64 or V0.shape[1] > 64):
            raise ValueError("fit_snp: codes, xk, ecol or vecol do not match")
        for j in range(codes.shape[0]):
            if codes[j] < 0 or codes[j] > 2:
                raise ValueError("fit_snp: codes must be 0, 1 or 2")
    cdef const double* xkp = &xk[0] if cls else NULL
    cdef const int* ecp = &ecol[0] if cls else NULL
    cdef const int* vcp = &vecol[0] if (cls and interaction_var) else NULL
    cdef double[::1] buf = __import__("numpy").empty(4 * m1 * m1 + 4 * m + 3 * CHUNK * m1
                                                     + 3 * d * d)
    cdef double* H = &buf[0]
    cdef double* Ht = H + m1 * m1
    cdef double* T = Ht + m1 * m1
    cdef double* grad = T + m1 * m1 + m1 * m1
    cdef double* step = grad + m
    cdef double* trial = step + m
    cdef double* gt = trial + m
    cdef double* Z = gt + m
    cdef double* G = Z + 3 * CHUNK * m1
    cdef double* th = &theta[0]
    with nogil:
        f = (_pass_cls(y, X0, V0, codes, xkp, ecp, vcp, k, interaction_var, th,
                       grad, H, Z, T, G, p, q) if cls else
             _pass(y, X0, V0, g, E, interaction_var, th, grad, H, Z, T, p, q))
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
                f = (_pass_cls(y, X0, V0, codes, xkp, ecp, vcp, k, interaction_var, th,
                               grad, H, Z, T, G, p, q) if cls else
                     _pass(y, X0, V0, g, E, interaction_var, th, grad, H, Z, T, p, q))
                full = 1
                continue
            t = 1.0
            ls = 0
            while ls < 40:
                for j in range(m):
                    trial[j] = th[j] + t * step[j]
                ft = (_pass_cls(y, X0, V0, codes, xkp, ecp, vcp, k, interaction_var, trial,
                                gt, Ht, Z, T, G, p, q) if cls else
                      _pass(y, X0, V0, g, E, interaction_var, trial, gt, Ht, Z, T, p, q))
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
