"""Sandwich (robust) covariances of HLM estimates, and the kurtosis check of the scan.

The HLM's model-based standard errors assume normal residuals.  The variance test is
the fragile one: with standardised residuals ``e_i = √w_i·r_i`` (``r_i = y_i − x_iᵀα``,
``w_i = exp(−v_iᵀβ)``) of kurtosis κ, the β block of the model-based covariance is off
by the factor ``(κ − 1)/2`` (κ = 9 for t(5): the χ² of the variance test is inflated
fourfold).  The sandwich ``I⁻¹ B I⁻¹`` corrects this.

Scores of the log-likelihood per individual, with ``a_i = √w_i·x_i``:
``s_α,i = a_i·e_i``, ``s_β,i = ½·v_i·(e_i² − 1)``.

Bread: the expected information ``I = diag(XᵀWX, ½VᵀV)`` (the exact expected Hessian
whenever the mean and the variance functions are right, whatever the shape of the
residual distribution, which is the null hypothesis of a variance test).

Meat, two estimators (``kind``):

- ``"hc0"``: ``B = Σ_i s_i s_iᵀ``, blocks ``Σ e_i² a_i a_iᵀ``,
  ``½ Σ e_i(e_i² − 1) a_i v_iᵀ``, ``¼ Σ (e_i² − 1)² v_i v_iᵀ``.  Each individual's own
  fourth moment enters: a genotype class of a few individuals makes the meat of the
  SNP's variance effect as noisy as that class's sample kurtosis.
- ``"pooled"`` (the default of ``robust=True``): the moments are pooled over all
  individuals, ``m2 = mean e²``, ``m3 = mean e(e² − 1)``, ``m4 = mean (e² − 1)²``, and
  ``B = [[m2·XᵀWX, ½m3·AᵀV], [½m3·VᵀA, ¼m4·VᵀV]]`` with ``A`` the rows ``a_i``.  This is
  the sandwich of the location–scale model ``y_i = x_iᵀα + exp(v_iᵀβ/2)·ε_i`` with
  ε_i i.i.d. of any shape (mean 0, variance 1): it corrects for kurtosis and skewness
  without estimating a fourth moment per genotype class, so it stays calibrated for
  rare variants (``bench/bench_calibration.py`` compares the two).

For the HLMM (``y ~ N(Xα, D + h2·GGᵀ)``) the per-individual scores of (α, β) are
``s_α,i = x_i·(Σ⁻¹r)_i`` and ``s_β,i = ½·v_i·d_i·[(Σ⁻¹r)_i² − (Σ⁻¹)_ii]``: with
``ẽ_i = √d_i(Σ⁻¹r)_i`` and ``c̄`` the mean of its model variance ``d_i(Σ⁻¹)_ii``, the
normalised ``u_i = ẽ_i/√c̄`` play the role of ``e_i`` and the pooled meat is the one above
with ``XᵀWX, AᵀV, VᵀV`` scaled by ``c̄, c̄^{3/2}, c̄²`` (:func:`hlmm_robust_cov`); h2's
score keeps its normal-theory variance.  Only ``"pooled"`` is defined for the HLMM.

In the scan's class engine every sum above is a sum over the three genotype classes of
polynomials in ``y``: with the class power sums ``P_jk = Σ_{i∈k} y_i^j`` (j = 0…4) and
``μ_k``, ``d_k`` of the SNP's fit, the central sums are
``R1 = P1 − nμ``, ``R2 = P2 − 2μP1 + nμ²``, ``R3 = P3 − 3μP2 + 3μ²P1 − nμ³``,
``R4 = P4 − 4μP3 + 6μ²P2 − 4μ³P1 + nμ⁴``, and ``Σ_{i∈k} e_i^j = R_j / d_k^{j/2}``
(:func:`class_sandwich`), so a SNP's robust SEs cost O(1), as its fit does.
"""
import numpy as np

KINDS = ("pooled", "hc0")
DEFAULT_KIND = "pooled"


def check_kind(kind):
    if kind is True:
        return DEFAULT_KIND
    if kind not in KINDS:
        raise ValueError(f"robust must be True, False or one of {', '.join(KINDS)}; got {kind!r}")
    return kind


def hlm_sandwich(y, X, V, alpha, beta, kind=DEFAULT_KIND):
    """Robust covariance of ``(α, β)`` of an HLM fit (see the module docstring).

    Returns the ``(p+q) × (p+q)`` matrix ``I⁻¹ B I⁻¹``; O(n·(p+q)²).
    """
    kind = check_kind(kind)
    eta = V @ beta
    sw = np.exp(-0.5 * eta)
    e = (y - X @ alpha) * sw
    A = X * sw[:, None]
    e2m1 = e * e - 1.0
    p, q = X.shape[1], V.shape[1]
    I_aa = A.T @ A
    I_bb = 0.5 * (V.T @ V)
    B = np.empty((p + q, p + q))
    if kind == "hc0":
        B[:p, :p] = (A * (e * e)[:, None]).T @ A
        B[:p, p:] = 0.5 * (A * (e * e2m1)[:, None]).T @ V
        B[p:, p:] = 0.25 * (V * (e2m1 * e2m1)[:, None]).T @ V
    else:
        n = y.shape[0]
        m2, m3, m4 = np.dot(e, e) / n, np.dot(e, e2m1) / n, np.dot(e2m1, e2m1) / n
        B[:p, :p] = m2 * I_aa
        B[:p, p:] = 0.5 * m3 * (A.T @ V)
        B[p:, p:] = m4 * 0.5 * I_bb
    B[p:, :p] = B[:p, p:].T
    Iinv = np.zeros((p + q, p + q))
    Iinv[:p, :p] = np.linalg.inv(I_aa)
    Iinv[p:, p:] = np.linalg.inv(I_bb)
    return Iinv @ B @ Iinv


def pooled_excess(m2, m3, m4, cbar, XtWX, AtV, VtV):
    """``Δ = B − I``: the pooled meat's excess over its normal-theory value.

    ``B_αα = m2·c̄·XᵀWX``, ``B_αβ = ½m3·c̄^{3/2}·AᵀV`` (``A`` the rows ``√w_i·x_i``),
    ``B_ββ = ¼m4·c̄²·VᵀV``; under normality ``m2 = 1, m3 = 0, m4 = 2`` and ``B`` is the
    expected information, so the robust covariance is ``C + C·Δ·C`` with ``C`` the
    model-based one.  For the HLM ``c̄ = 1`` and ``C + CΔC = I⁻¹BI⁻¹`` exactly.
    """
    p, q = XtWX.shape[0], VtV.shape[0]
    D = np.empty((p + q, p + q))
    D[:p, :p] = (m2 - 1.0) * cbar * XtWX
    D[:p, p:] = 0.5 * m3 * cbar ** 1.5 * AtV
    D[p:, :p] = D[:p, p:].T
    D[p:, p:] = 0.25 * (m4 - 2.0) * cbar * cbar * VtV
    return D


def pooled_moments(u):
    """``(mean u², mean u(u² − 1), mean (u² − 1)²)`` of the normalised residuals."""
    u2m1 = u * u - 1.0
    n = u.shape[0]
    return np.dot(u, u) / n, np.dot(u, u2m1) / n, np.dot(u2m1, u2m1) / n


def with_excess(cov, D):
    """``C + C[:, θ]·Δ·C[θ, :]`` for the first ``len(Δ)`` parameters θ = (α, β); a
    trailing h2 keeps its normal-theory score (its row of the meat is the information's)."""
    k = D.shape[0]
    Ct = cov[:, :k]
    return cov + Ct @ D @ Ct.T


def hlmm_pooled_terms(y, X, V, G, alpha, beta, h2):
    """The HLMM's normalised residuals and ``c̄`` for the pooled sandwich (dense in l,
    O(n·l²); the scan's class engine computes the same from class statistics).

    With ``(Σ⁻¹r)_i = w_i(r_i − h2·g_iᵀz)``, ``z = A⁻¹GᵀWr``, ``A = I + h2·GᵀWG``:
    ``ẽ_i = √d_i·(Σ⁻¹r)_i`` has variance ``c_i = d_i(Σ⁻¹)_ii = 1 − h2·w_i·g_iᵀA⁻¹g_i``
    under the model; ``c̄ = mean c_i = 1 − h2·tr(A⁻¹GᵀWG)/n`` and ``u_i = ẽ_i/√c̄``.
    Returns ``(u, c̄)``.  Individuals' scores are treated as independent in the meat
    (their correlation through h2·GGᵀ is O(l/n) of it).
    """
    w = np.exp(-(V @ beta))
    r = y - X @ alpha
    Gw = G * w[:, None]
    GWG = G.T @ Gw
    A = np.eye(G.shape[1]) + h2 * GWG
    z = np.linalg.solve(A, Gw.T @ r)
    et = np.sqrt(w) * (r - h2 * (G @ z))
    cbar = 1.0 - h2 * np.trace(np.linalg.solve(A, GWG)) / y.shape[0]
    return et / np.sqrt(cbar), cbar


def hlmm_robust_cov(y, X, V, G, alpha, beta, h2, cov):
    """Robust covariance of an HLMM fit from its model-based ``cov`` (α, β, h2): the
    pooled sandwich of the fixed effects, ``C + CΔC`` (:func:`pooled_excess`)."""
    u, cbar = hlmm_pooled_terms(y, X, V, G, alpha, beta, h2)
    m2, m3, m4 = pooled_moments(u)
    w = np.exp(-(V @ beta))
    sw = np.sqrt(w)
    D = pooled_excess(m2, m3, m4, cbar, (X * w[:, None]).T @ X, (X * sw[:, None]).T @ V,
                      V.T @ V)
    return with_excess(cov, D)


def central_sums(P, mu):
    """Central power sums ``R_j = Σ (y − μ)^j``, j = 1…4, from power sums ``P[..., j]``
    (j = 0…4) by the binomial expansion; arrays broadcast over SNPs and classes."""
    P0, P1, P2, P3, P4 = (P[..., j] for j in range(5))
    m2 = mu * mu
    R1 = P1 - P0 * mu
    R2 = P2 - 2.0 * mu * P1 + P0 * m2
    R3 = P3 - 3.0 * mu * P2 + 3.0 * m2 * P1 - P0 * m2 * mu
    R4 = P4 - 4.0 * mu * P3 + 6.0 * m2 * P2 - 4.0 * m2 * mu * P1 + P0 * m2 * m2
    return R1, R2, R3, R4


def class_sandwich(P, x, a0, a1, b0, b1, kind=DEFAULT_KIND):
    """Robust ``(se(α1), se(β1), cov(α1, β1))`` of the scan's per-SNP HLM fits.

    ``P``: (m, 3, 5) class power sums ``Σ_{i∈k} y_i^j`` (``P[..., 0] = n_k``), ``x``:
    (m, 3) centred genotype of each class, ``a0, a1, b0, b1``: (m,) the fits.  Classes
    with ``n_k = 0`` contribute nothing.  Vectorised over the m SNPs (module docstring).
    """
    kind = check_kind(kind)
    mu = a0[:, None] + a1[:, None] * x
    eta = b0[:, None] + b1[:, None] * x
    w = np.exp(-eta)
    sw = np.sqrt(w)
    R1, R2, R3, R4 = central_sums(P, mu)
    n = P[..., 0]
    E1, E2, E3, E4 = R1 * sw, R2 * w, R3 * w * sw, R4 * w * w
    c2 = E2                      # Σ e²
    c3 = E3 - E1                 # Σ e(e² − 1)
    c4 = E4 - 2.0 * E2 + n       # Σ (e² − 1)²
    # per-class weights of the 2×2 blocks over v = (1, x): Σ_k c_k·v_k v_kᵀ
    def block(c):
        return (c.sum(1), (c * x).sum(1), (c * x * x).sum(1))

    I_aa = block(n * w)
    I_bb = tuple(0.5 * t for t in block(n))
    if kind == "hc0":
        B_aa = block(w * c2)
        B_ab = tuple(0.5 * t for t in block(sw * c3))
        B_bb = tuple(0.25 * t for t in block(c4))
    else:
        N = n.sum(1)
        m2, m3, m4 = c2.sum(1) / N, c3.sum(1) / N, c4.sum(1) / N
        B_aa = tuple(m2 * t for t in I_aa)
        B_ab = tuple(0.5 * m3 * t for t in block(n * sw))
        B_bb = tuple(0.5 * m4 * t for t in I_bb)

    def inv(b):
        s00, s01, s11 = b
        det = s00 * s11 - s01 * s01
        return s11 / det, -s01 / det, s00 / det

    def sym(b):  # 2×2 symmetric block as an (m, 2, 2) array
        s00, s01, s11 = b
        return np.stack([np.stack([s00, s01], -1), np.stack([s01, s11], -1)], -2)

    with np.errstate(invalid="ignore", divide="ignore"):
        Ia, Ib = sym(inv(I_aa)), sym(inv(I_bb))
        Baa, Bbb, Bab = sym(B_aa), sym(B_bb), sym(B_ab)   # B_ab is symmetric here too
        Caa = Ia @ Baa @ Ia
        Cbb = Ib @ Bbb @ Ib
        Cab = Ia @ Bab @ Ib
        se_a = np.sqrt(Caa[:, 1, 1])
        se_b = np.sqrt(Cbb[:, 1, 1])
    return se_a, se_b, Cab[:, 1, 1]


def standardised_kurtosis(e):
    """Sample kurtosis ``mean(e⁴)/mean(e²)²`` of standardised residuals (3 if normal)."""
    e = np.asarray(e, dtype=float)
    e2 = e * e          # (e ** 4 goes through pow: 10× slower)
    m2 = np.mean(e2)
    # e⁴ in place: one n-vector fewer to allocate (a scan checks every phenotype)
    return float(np.mean(np.square(e2, out=e2)) / (m2 * m2))
