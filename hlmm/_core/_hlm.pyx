"""Fused one-pass kernels for the heteroskedastic linear model.

For ``y_i ~ N(x_iᵀα, d_i)``, ``d_i = exp(v_iᵀβ)``, ``w_i = 1/d_i``.  Each kernel makes a
single pass over the rows, so no n-vector temporaries are allocated: the Newton
iteration on the profile likelihood costs two passes of O(n·(p+q)²) flops.
"""
from libc.math cimport exp


def wls_moments(const double[::1] y, const double[:, ::1] X, const double[:, ::1] V,
                const double[::1] beta, double[:, ::1] XtWX, double[::1] XtWy):
    """Weighted least-squares moments.

    ``XtWX = Σ_i w_i x_i x_iᵀ``, ``XtWy = Σ_i w_i x_i y_i`` with ``w_i = exp(−v_iᵀβ)``
    (outputs overwritten).  Returns ``Σ_i v_iᵀβ = Σ_i log d_i``.
    """
    cdef Py_ssize_t n = y.shape[0], p = X.shape[1], q = V.shape[1]
    cdef Py_ssize_t i, j, k
    cdef double eta, w, wxj, sum_eta = 0.0
    with nogil:
        for j in range(p):
            XtWy[j] = 0.0
            for k in range(p):
                XtWX[j, k] = 0.0
        for i in range(n):
            eta = 0.0
            for k in range(q):
                eta = eta + V[i, k] * beta[k]
            sum_eta = sum_eta + eta
            w = exp(-eta)
            for j in range(p):
                wxj = w * X[i, j]
                XtWy[j] = XtWy[j] + wxj * y[i]
                for k in range(j + 1):
                    XtWX[j, k] = XtWX[j, k] + wxj * X[i, k]
        for j in range(p):
            for k in range(j + 1, p):
                XtWX[j, k] = XtWX[k, j]
    return sum_eta


def profile_derivatives(const double[::1] y, const double[:, ::1] X, const double[:, ::1] V,
                        const double[::1] beta, const double[::1] alpha,
                        double[::1] grad, double[:, ::1] H_bb, double[:, ::1] C_ba):
    """Value and derivatives of ``f(α, β) = −2L − n·log2π = Σ_i [v_iᵀβ + r_i² w_i]``.

    With ``r_i = y_i − x_iᵀα`` and ``e_i = r_i² w_i`` (outputs overwritten):

    - ``grad = ∂f/∂β = Σ_i v_i (1 − e_i)``
    - ``H_bb = ∂²f/∂β∂βᵀ = Σ_i e_i v_i v_iᵀ``
    - ``C_ba = Σ_i r_i w_i v_i x_iᵀ``  (so ``∂²f/∂β∂αᵀ = 2·C_ba``)

    Returns ``f``.
    """
    cdef Py_ssize_t n = y.shape[0], p = X.shape[1], q = V.shape[1]
    cdef Py_ssize_t i, j, k
    cdef double eta, w, r, e, rw, f = 0.0
    with nogil:
        for j in range(q):
            grad[j] = 0.0
            for k in range(q):
                H_bb[j, k] = 0.0
            for k in range(p):
                C_ba[j, k] = 0.0
        for i in range(n):
            eta = 0.0
            for k in range(q):
                eta = eta + V[i, k] * beta[k]
            w = exp(-eta)
            r = y[i]
            for k in range(p):
                r = r - X[i, k] * alpha[k]
            rw = r * w
            e = r * rw
            f = f + eta + e
            for j in range(q):
                grad[j] = grad[j] + V[i, j] * (1.0 - e)
                for k in range(j + 1):
                    H_bb[j, k] = H_bb[j, k] + e * V[i, j] * V[i, k]
                for k in range(p):
                    C_ba[j, k] = C_ba[j, k] + rw * V[i, j] * X[i, k]
        for j in range(q):
            for k in range(j + 1, q):
                H_bb[j, k] = H_bb[k, j]
    return f
