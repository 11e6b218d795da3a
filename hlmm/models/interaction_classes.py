"""The GxE HLM of many hard-call SNPs at once from genotype-class sums (the scan's fast
engine), with the variance covariates' effects held at the null model's.

Model of SNP j (``x_k = k − 2f`` for genotype class k = 0, 1, 2; ``v0_i`` the null
model's log-variance of individual i, which holds the variance covariates and E):

    y_i ~ N(X_iα, exp(v0_i + b0 + b_g·x_k)),   X_i = [B_i, x_k, x_k·E_i] = L_k B_i

with ``B`` the null mean design (intercept, covariates, E).  Every mean effect (the
covariates' and E's too) is fitted per SNP; of the variance effects only the intercept
shift b0 and the SNP's b_g are, the others stay at their null estimates (DESIGN.md §9:
exactness would need an O(n) pass per iteration, since the weights exp(−v_i) change
with them).  With ``w0_i = exp(−v0_i)`` and ``c_k = exp(−b0 − b_g·x_k)`` every sum of
the fit is a class sum of the fixed ``S_k = Σ_{i∈k} w0_i z_i z_iᵀ``, ``z_i = [B_i, y_i]``:

    XᵀWX = Σ_k c_k L_k S_k^{BB} L_kᵀ,  XᵀWy = Σ_k c_k L_k S_k^{By},
    Q_k(α) = Σ_{i∈k} w0_i (y_i − X_iα)² = S_k^{yy} − 2αᵀL_k S_k^{By} + αᵀL_k S_k^{BB} L_kᵀα,

so once the S_k are summed (O(n) per SNP, one matrix product per block) a fit costs
O(1) in n.  α is profiled out, α̂(b) = (XᵀWX)⁻¹XᵀWy, and b = (b0, b_g) found by
Fisher scoring on ``f(b) = −2ℓ = Σ_k n_k t_kᵀb + Σ_k c_k Q_k(α̂) + const``
(``t_k = (1, x_k)``): gradient ``Σ_k t_k (n_k − c_k Q_k)``, expected Hessian
``Σ_k n_k t_k t_kᵀ``.  Standard errors as the HLM's model-based ones: ``(XᵀWX)⁻¹`` for
α, and for b_g ``2(VᵀV)⁻¹`` of the full variance design ``V = [V0, x]`` (it does not
depend on β, so it is the exact model's too).

How far this is from the full model's MLE: mean and variance parameters are
orthogonal in the HLM (zero expected cross-information), so holding the variance
covariates' effects at estimates that are off by O(1/√n) moves γ̂ by O(1/n), a
fraction O(1/√n) of its SE (tests/scan/test_interaction.py measures it).
"""
import numpy as np


def design_maps(xk, n_base, e_cols):
    """``L`` (m, 3, n_base + 1 + k, n_base): per SNP and class the map from the base
    mean design B to ``[B, x_k, x_k·E]`` (``e_cols``: E's columns in B; column 0 of B
    is the intercept)."""
    m = xk.shape[0]
    k = len(e_cols)
    L = np.zeros((m, 3, n_base + 1 + k, n_base))
    L[:, :, np.arange(n_base), np.arange(n_base)] = 1.0
    L[:, :, n_base, 0] = xk
    for j, c in enumerate(e_cols):
        L[:, :, n_base + 1 + j, c] = xk
    return L


def fit_classes(S, nk, xk, vsum, VtV_g, e_cols, tol=1e-10, max_iter=100):
    """Fit the model above for m SNPs.

    ``S``: (m, 3, d, d) class sums of ``w0 z zᵀ`` (d = n_base + 1, y last); ``nk``: (m, 3)
    class counts; ``xk``: (m, 3) centred genotype per class; ``vsum``: (m,) Σ v0_i over
    the SNP's called individuals; ``VtV_g``: (m,) the (x, x) element of ``(VᵀV)⁻¹`` of the
    full variance design.  Returns a dict of arrays: ``alpha`` (m, p), ``alpha_cov``
    (m, p, p), ``b`` (m, 2), ``var_se``, ``loglik``, ``converged``.
    """
    m, _, d, _ = S.shape
    nb = d - 1
    L = design_maps(xk, nb, e_cols)
    SBB, SBy, Syy = S[:, :, :nb, :nb], S[:, :, :nb, nb], S[:, :, nb, nb]
    A_k = np.einsum("mkap,mkpq,mkbq->mkab", L, SBB, L)      # L S Lᵀ per class
    a_k = np.einsum("mkap,mkp->mka", L, SBy)
    t = np.stack([np.ones_like(xk), xk], axis=2)             # (m, 3, 2)
    H = np.einsum("mk,mki,mkj->mij", nk, t, t)               # expected Hessian of f in b
    b = np.zeros((m, 2))
    active = np.ones(m, bool)
    converged = np.zeros(m, bool)

    def profile(b):
        # at log-variance effects b: class weights c, the profiled α and the classes'
        # weighted residual sums of squares Q
        c = np.exp(-np.einsum("mki,mi->mk", t, b))
        XWX = np.einsum("mk,mkab->mab", c, A_k)
        XWy = np.einsum("mk,mka->ma", c, a_k)
        alpha = np.linalg.solve(XWX, XWy[..., None])[..., 0]
        Q = (Syy - 2.0 * np.einsum("ma,mka->mk", alpha, a_k)
             + np.einsum("ma,mkab,mb->mk", alpha, A_k, alpha))
        return c, XWX, alpha, Q

    for _ in range(max_iter):
        c, _, _, Q = profile(b)
        g = np.einsum("mki,mk->mi", t, nk - c * Q)
        step = np.linalg.solve(H, g[..., None])[..., 0]
        dec = np.einsum("mi,mi->m", g, step)
        done = active & (dec < tol)
        converged |= done
        active &= ~done
        if not active.any():
            break
        b[active] -= step[active]
    c, XWX, alpha, Q = profile(b)
    n_l = nk.sum(axis=1)
    f = vsum + np.einsum("mk,mki,mi->m", nk, t, b) + (c * Q).sum(axis=1)
    loglik = -0.5 * (f + n_l * np.log(2.0 * np.pi))
    ok = converged & np.isfinite(loglik)
    return {"alpha": alpha, "alpha_cov": np.linalg.inv(XWX), "b": b,
            "var_se": np.sqrt(2.0 * VtV_g), "loglik": loglik, "converged": ok}
