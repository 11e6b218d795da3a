"""The exact GxE HLM of many hard-call SNPs at once from weighted genotype-class moments.

One SNP's full model (:mod:`hlmm.models.interaction`, numeric E, g·E in the mean only):
for genotype class c (``x_c = c − 2f``) and individual i in it,

    y_i ~ N(x_iᵀα, exp(v_iᵀβ)),   x_i = L_c B_i,   v_i = T_c φ_i,

``B`` the null mean design (intercept first, E among its columns), ``φ_i = (1, u_i)``
the null variance design (intercept, then the variance covariates and E, ``u_i``),
``L_c`` appending ``x_c`` and ``x_c·E`` to B and ``T_c`` appending ``x_c`` to φ.  Every
parameter is free: this is the MLE :meth:`hlmm.models.hlm.HLM.fit` finds.

The weights.  With the null model's ``β⁰`` and ``w⁰_i = exp(−φ_iᵀβ⁰)`` (fixed per
phenotype), the SNP's weight is

    w_i = exp(−v_iᵀβ) = w⁰_i · κ_c · exp(−t_i),   κ_c = exp(−(β_1 − β⁰_1) − x_c β_g),
    t_i = u_iᵀδ,   δ = β_u − β⁰_u,

the class factor κ_c exact, and only ``exp(−t_i)`` individual.  ``δ``, how far the
SNP moves the covariates' variance effects, is small (median 1e-4, at most ~1e-3 at
n = 20,000 for SNPs without a strong effect), and for ``|t| ≤ T``

    exp(−t) = Σ_{j≤D} (−t)^j / j!  + ε,   |ε| ≤ T^{D+1}/(D+1)! · e^{T} · e^{−t},

so with ``T = Σ_s |δ_s| max_i |u_is|`` and ``T^{D+1}/(D+1)!·e^{2T} ≤ 1e-13`` every
weight below is exact to a relative 1e-13, the rounding of the sums themselves.  A
point outside that bound is not evaluated here (the caller fits that SNP by the compiled
per-SNP Newton, :func:`hlmm._core._gxe.fit_snp`).  Expanding ``(u·δ)^j/j! = Σ_{|μ|=j}
u^μ δ^μ / μ!`` gives every weighted sum of the fit as fixed moments

    Mom_c[a, b, μ] = Σ_{i∈c} w⁰_i z_ia z_ib u_i^μ,   z_i = (B_i, y_i),  |μ| ≤ D + 1,

(one more degree for the φ of the gradient's ``Σ w r² v``) contracted with ``coef_μ(δ) =
(−1)^{|μ|} δ^μ / μ!``:

    W_c[a, b, s, s'] = Σ_{i∈c} w_i z_ia z_ib φ_is φ_is' = κ_c Σ_μ coef_μ Mom_c[a, b, μ + e_s + e_s']

(the terms of degree above D + 1 dropped: only ``∂²f/∂β²`` has them, see
:class:`MomentLayout`).
The moments are summed once per block of SNPs (O(n) per SNP, by the shared class-sums
kernel); everything after is O(1) in n.  With ``ρ_c = e_y − L̃_cᵀα`` (``r_i = z_iᵀρ_c``,
``L̃_c = [L_c, 0]`` acting on z) and ``f = −2ℓ − n·log 2π = Σ_i [v_iᵀβ + w_i r_i²]``:

    f      = Σ_c [N_cᵀ T_cᵀβ + ρ_cᵀ W_c00 ρ_c],           N_c = Σ_{i∈c} φ_i,
    ∂f/∂α  = −2 Σ_c L̃_c W_c00 ρ_c,                        ∂f/∂β = Σ_c T_c (N_c − Q_c[:, 0]),
    ∂²f/∂α² = 2 Σ_c L̃_c W_c00 L̃_cᵀ,   ∂²f/∂α∂βᵀ = 2 Σ_c L̃_c R_c T_cᵀ,   ∂²f/∂β² = Σ_c T_c Q_c T_cᵀ,

``Q_c[s, s'] = ρ_cᵀ W_c[:, :, s, s'] ρ_c``, ``R_c[a, s] = Σ_b W_c[a, b, 0, s] ρ_cb``.
Newton with the exact Hessian and Armijo halving, from the null estimates (the SNP's
effects 0), to a Newton decrement below ``tol``, then one full step; the reported
point's ``cov(α) = (Σ w x xᵀ)⁻¹`` and ``cov(β) = 2(VᵀV)⁻¹`` (from the unweighted class
sums ``Σ_{i∈c} φ_i φ_iᵀ``) are those of the HLM's model-based SEs.
"""
from itertools import combinations_with_replacement
from math import factorial

import numpy as np

ERR = 1e-13          # bound on the relative error of each weight (see above)


def monomials(q, degree):
    """Exponent tuples of the monomials in q variables of total degree ≤ ``degree``,
    by degree (the empty monomial first)."""
    out = [(0,) * q]
    for dg in range(1, degree + 1):
        for c in combinations_with_replacement(range(q), dg):
            e = [0] * q
            for s in c:
                e[s] += 1
            out.append(tuple(e))
    return out


def taylor_radius(D):
    """Largest T with T^{D+1}/(D+1)!·e^{2T} ≤ ERR (bisection)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        t = 0.5 * (lo + hi)
        lo, hi = (t, hi) if t ** (D + 1) / factorial(D + 1) * np.exp(2 * t) <= ERR else (lo, t)
    return lo


class MomentLayout:
    """Which moments the fit needs: ``d`` columns of z = (B, y), ``qu`` columns of u,
    Taylor order ``D``.  ``pairs``: the (a, b), a ≤ b, of z; ``mono``: the monomials of
    u up to degree D + 1; ``mono2``: those up to degree 2 (the unweighted ``Σ u^μ``).

    f and the gradient need ``W[a, b, s, s']`` with at most one φ factor (degree ≤
    D + 1) exactly; the ``s, s' ≥ 1`` entries enter only ``∂²f/∂β²``, where the Taylor
    series is cut one order earlier (a relative error ≤ T^D/D!, ~1e-10: the Newton
    steps, not the MLE, depend on it; the SEs come from ``∂²f/∂α²``, exact).

    ``zu[a]``: z's column a is u's column ``zu[a]`` (E, and covariates in both designs),
    or −1; z's column 0 is the intercept.  Moments that are the same product of data
    columns (``z_E·u^μ = u^{μ+e_E}``) are summed once: ``keys`` lists the distinct
    products (z columns not in u, exponents of u), ``gather`` (pairs × mono) the key of
    each moment."""

    def __init__(self, d, qu, D, zu=None):
        self.d, self.qu, self.D = d, qu, D
        zu = [-1] * d if zu is None else list(zu)
        self.pairs = [(a, b) for a in range(d) for b in range(a, d)]
        self.mono = monomials(qu, D + 1)
        self.index = {m: j for j, m in enumerate(self.mono)}
        self.mono2 = self.mono[:len(monomials(qu, 2))]
        self.taylor = [m for m in self.mono if sum(m) <= D]
        self.radius = taylor_radius(D)
        keys, gather = {}, np.empty((len(self.pairs), len(self.mono)), dtype=np.intp)
        for i, (a, b) in enumerate(self.pairs):
            for j, mu in enumerate(self.mono):
                e, zc = list(mu), []
                for c in (a, b):
                    if c == 0:
                        continue
                    if zu[c] >= 0:
                        e[zu[c]] += 1
                    else:
                        zc.append(c)
                gather[i, j] = keys.setdefault((tuple(sorted(zc)), tuple(e)), len(keys))
        self.keys, self.gather = list(keys), gather
        q0 = qu + 1
        unit = [(0,) * qu] + [tuple(int(k == s) for k in range(qu)) for s in range(qu)]
        # ν(s, s'): the monomial of φ_s φ_s' (s = 0 the intercept)
        self.nu = np.array([[self.index[tuple(a + b for a, b in zip(unit[s], unit[t]))]
                             for t in range(q0)] for s in range(q0)])
        # μ + ν's index, or len(mono) (a zero moment) beyond degree D + 1
        top = len(self.mono)
        self.shift = np.array([[self.index.get(tuple(a + b for a, b in zip(mu, nu)), top)
                                for mu in self.taylor] for nu in self.mono2])
        # coef_μ(δ) = scale_μ · Π_s δ_s^{μ_s},  scale_μ = (−1)^{|μ|} / μ!
        self.scale = np.array([(-1.0) ** sum(mu) / np.prod([factorial(k) for k in mu])
                               for mu in self.taylor])
        self.expo = np.array(self.taylor, dtype=np.intp).reshape(len(self.taylor), qu)

    @classmethod
    def choose(cls, d, qu, zu=None, n=0, radius=None, prefer=256, memory=1 << 30):
        """The Taylor order: the lowest whose bound reaches ``radius`` within ``prefer``
        columns (by default 0.02·√(20,000/n), at least 0.02: δ shrinks as 1/√n, and at
        n = 20,000 a bound of 0.02 leaves to the per-SNP fit only SNPs with strong
        effects), else the highest within them, else 3 while the n × columns features
        take at most ``memory`` bytes and the columns cost less than the per-SNP fit
        (≤ 600); None beyond (many variance covariates, a categorical E's levels:
        the per-SNP path)."""
        if radius is None:
            radius = min(0.3, 0.02 * max(1.0, np.sqrt(20000.0 / max(n, 1))))
        cap = min(600, memory // (8 * max(n, 1)))
        best = None
        for D in range(3, 11):
            lay = cls(d, qu, D, zu)
            if lay.n_columns > min(prefer, cap):
                break
            best = lay
            if lay.radius >= radius:
                break
        if best is None:
            lay = cls(d, qu, 3, zu)
            if lay.n_columns <= cap:
                best = lay
        return best

    @property
    def n_columns(self):
        return len(self.keys) + len(self.mono2)

    def features(self, z, u, w0):
        """The n × n_columns matrix whose genotype-class column sums are the moments:
        ``w0·Π z_c·u^e`` per key, then ``u^μ`` for |μ| ≤ 2."""
        def product(col, zc, e):
            for c in zc:
                col *= z[:, c]
            for s, k in enumerate(e):
                if k:
                    col *= u[:, s] ** k
            return col

        F = np.empty((z.shape[0], self.n_columns))
        for j, (zc, e) in enumerate(self.keys):
            F[:, j] = product(w0.copy(), zc, e)
        for j, mu in enumerate(self.mono2):
            F[:, len(self.keys) + j] = product(np.ones(z.shape[0]), (), mu)
        return F

    def unpack(self, out):
        """``(Mom, N)``: (m, 3, pairs, mono) and (m, 3, mono2) from the class sums
        ``out`` (m, ≥ 3, n_columns) of :meth:`features`."""
        k = len(self.keys)
        return out[:, :3, :k][:, :, self.gather], out[:, :3, k:]


def maps(xk, p0, e_cols, d):
    """``Lt`` (m, 3, p, d): per SNP and class the map from z = (B, y) to x = (B, x_c,
    x_c·E) (zero on y); ``T`` (m, 3, q0 + 1, q0) from φ to v = (φ, x_c) is built by the
    caller's q0."""
    m = xk.shape[0]
    k = len(e_cols)
    Lt = np.zeros((m, 3, p0 + 1 + k, d))
    Lt[:, :, np.arange(p0), np.arange(p0)] = 1.0
    Lt[:, :, p0, 0] = xk
    for j, c in enumerate(e_cols):
        Lt[:, :, p0 + 1 + j, c] = xk
    return Lt


class MomentFits:
    """Newton on the SNPs of a block (module docstring).  ``Mom`` (m, 3, pairs, mono):
    the weighted moments per class; ``N`` (m, 3, mono2): the unweighted ``Σ u^μ``
    (|μ| ≤ 2, the count first); ``xk`` (m, 3); ``null_alpha`` (p0), ``null_beta`` (q0);
    ``umax`` (qu): ``max_i |u_is|`` over the analysis sample."""

    def __init__(self, layout, Mom, N, xk, e_cols, null_alpha, null_beta, umax):
        lay = self.lay = layout
        m = Mom.shape[0]
        d, qu = lay.d, lay.qu
        q0 = qu + 1
        self.m, self.p0, self.q0 = m, d - 1, q0
        self.Lt = maps(xk, d - 1, e_cols, d)
        self.p = self.Lt.shape[2]
        self.q = q0 + 1
        T = np.zeros((m, 3, self.q, q0))
        T[:, :, np.arange(q0), np.arange(q0)] = 1.0
        T[:, :, q0, 0] = xk
        self.T = T
        self.xk = xk
        # Mom as (m, 3, d, d, mono + 1), symmetric in a, b, and a zero moment last
        M = np.zeros((m, 3, d, d, Mom.shape[3] + 1))
        for j, (a, b) in enumerate(lay.pairs):
            M[:, :, a, b, :-1] = M[:, :, b, a, :-1] = Mom[:, :, j]
        self.M = M
        # the unweighted sums as Σ φ (m, 3, q0) and Σ φ φᵀ (m, 3, q0, q0)
        self.Nphi = N[:, :, :q0]
        self.NN = N[:, :, lay.nu]
        self.alpha0, self.beta0 = np.asarray(null_alpha), np.asarray(null_beta)
        self.umax = np.asarray(umax, dtype=float)

    def start(self):
        th = np.zeros((self.m, self.p + self.q))
        th[:, :self.p0] = self.alpha0
        th[:, self.p:self.p + self.q0] = self.beta0
        return th

    def valid(self, th):
        """Whether the Taylor bound holds at each row of ``th``."""
        delta = th[:, self.p + 1:self.p + self.q0] - self.beta0[1:]
        return np.abs(delta) @ self.umax <= self.lay.radius

    def evaluate(self, th, rows, hessian=True):
        """``f``, gradient, Hessian (module docstring) of SNPs ``rows`` at ``th`` (rows
        of th for those SNPs)."""
        lay, p, q0 = self.lay, self.p, self.q0
        Lt, T, M = self.Lt[rows], self.T[rows], self.M[rows]
        alpha, beta = th[:, :p], th[:, p:]
        delta = beta[:, 1:q0] - self.beta0[1:]
        # coef_μ(δ) = (−1)^{|μ|} δ^μ / μ!
        pw = np.ones((delta.shape[0], lay.qu, lay.D + 1))          # δ_s^k by products
        for k in range(1, lay.D + 1):
            pw[:, :, k] = pw[:, :, k - 1] * delta
        coef = lay.scale * pw[:, np.arange(lay.qu), lay.expo].prod(axis=2)
        lam = (beta[:, 0] - self.beta0[0])[:, None] + self.xk[rows] * beta[:, q0][:, None]
        kappa = np.exp(-lam)                                             # (r, 3)
        # W[a, b, ν] for ν of degree ≤ 2: one batched product of the moments with the
        # coefficients scattered to μ + ν (the last, zero, moment takes the cut terms)
        r = th.shape[0]
        Cm = np.zeros((r, M.shape[-1], lay.shift.shape[0]))
        for v in range(lay.shift.shape[0]):
            Cm[:, lay.shift[v], v] = coef
        Cm[:, -1] = 0.0
        d = lay.d
        Wn = (M.reshape(r, 3 * d * d, -1) @ Cm).reshape(r, 3, d, d, -1)
        Wn *= kappa[:, :, None, None, None]
        e_y = np.zeros(d)
        e_y[-1] = 1.0
        rho = e_y - (alpha[:, None, None, :] @ Lt)[:, :, 0]              # (r, 3, d)
        Wr = np.einsum("rcabv,rcb->rcav", Wn, rho)                       # W ρ per ν
        Q = np.einsum("rcav,rca->rcv", Wr, rho)[..., lay.nu]             # (r, 3, q0, q0)
        W00rho = Wr[..., 0]
        Nphi = self.Nphi[rows]
        eta = (T @ Nphi[..., None]).sum(axis=1)[..., 0]
        f = np.einsum("rq,rq->r", eta, beta) + Q[:, :, 0, 0].sum(axis=1)
        ga = -2.0 * (Lt @ W00rho[..., None]).sum(axis=1)[..., 0]
        gb = (T @ (Nphi - Q[:, :, :, 0])[..., None]).sum(axis=1)[..., 0]
        g = np.concatenate([ga, gb], axis=1)
        if not hessian:
            return f, g, None
        LtT, TT = np.swapaxes(Lt, 2, 3), np.swapaxes(T, 2, 3)
        Haa = 2.0 * (Lt @ Wn[..., 0] @ LtT).sum(axis=1)
        R = Wr[..., lay.nu[0]]                                           # (r, 3, d, q0)
        Hab = 2.0 * (Lt @ R @ TT).sum(axis=1)
        Hbb = (T @ Q @ TT).sum(axis=1)
        H = np.block([[Haa, Hab], [np.swapaxes(Hab, 1, 2), Hbb]])
        return f, g, H

    def fit(self, tol=1e-9, max_iter=50):
        """Newton from the null start for every SNP.  Returns ``(theta, f, H, status)``:
        status 0 converged, 1 Hessian not positive definite, 2 line search failed, 3 too
        many iterations, 4 not finite, 5 a step left the Taylor bound (status ≠ 0: the
        caller fits that SNP by the per-SNP Newton)."""
        m, n_par = self.m, self.p + self.q
        th = self.start()
        status = np.full(m, 3, dtype=np.int8)
        f = np.full(m, np.nan)
        H = np.full((m, n_par, n_par), np.nan)
        active = np.arange(m)
        last = np.zeros(m, bool)     # the decrement fell below tol: the full step is taken
        fa, ga, Ha = self.evaluate(th, active)
        for _ in range(max_iter + 1):
            if not active.size:
                break
            steps, pd = _newton_steps(Ha, ga)
            dec = -np.einsum("ri,ri->r", ga, steps)
            code = np.full(active.size, -1)
            code[~pd] = 1
            code[~(np.isfinite(fa) & np.isfinite(dec))] = 4
            fin = (code < 0) & last[active]
            # after the full step: converged when the decrement stayed below tol
            code[fin] = np.where(dec[fin] < tol, 0, 3)
            f[active[fin]], H[active[fin]] = fa[fin], Ha[fin]
            # a Newton step beyond the bound: the MLE is probably there too
            code[(code < 0) & ~self.valid(th[active] + steps)] = 5
            go = code < 0
            small = go & (dec < tol)
            # near the MLE (a step of < 0.01 standard errors) the step is taken whole:
            # f's rounding (its sums are quadratic forms in the moments) would swamp
            # Armijo's required decrease there
            whole = go & (dec < 1e-4)
            t = np.ones(active.size)
            trial = th[active] + steps
            ft = np.full(active.size, np.nan)
            gt, Ht = np.zeros_like(ga), np.zeros_like(Ha)
            need = go.copy()
            for _ls in range(40):
                idx = np.flatnonzero(need)
                if idx.size:
                    ft[idx], gt[idx], Ht[idx] = self.evaluate(trial[idx], active[idx])
                acc = need & np.isfinite(ft) & (whole | (ft <= fa - 1e-4 * t * dec))
                need &= ~acc
                if not need.any():
                    break
                t[need] *= 0.5
                trial[need] = th[active[need]] + t[need, None] * steps[need]
            code[need] = 2
            moved = go & ~need
            th[active[moved]] = trial[moved]
            fa = np.where(moved, ft, fa)
            ga = np.where(moved[:, None], gt, ga)
            Ha = np.where(moved[:, None, None], Ht, Ha)
            last[active[moved & small]] = True
            ended = code >= 0
            status[active[ended]] = code[ended]
            keep = ~ended
            active, fa, ga, Ha = active[keep], fa[keep], ga[keep], Ha[keep]
        return th, f, H, status

    def covariances(self, H, rows):
        """Per SNP ``rows`` ``cov(α) = (Σ w x xᵀ)⁻¹`` (half the α block of their Hessians
        ``H`` at the MLE) and ``cov(β) = 2(VᵀV)⁻¹``."""
        p = self.p
        ca = np.linalg.inv(0.5 * H[:, :p, :p])
        VtV = np.einsum("mcqs,mcst,mcut->mqu", self.T[rows], self.NN[rows], self.T[rows])
        cb = 2.0 * np.linalg.inv(VtV)
        return ca, cb


def _newton_steps(H, g):
    """``−H⁻¹g`` per row, and whether H was positive definite (Cholesky)."""
    steps = np.zeros_like(g)
    pd = np.zeros(g.shape[0], bool)
    ok = np.all(np.isfinite(H), axis=(1, 2)) & np.all(np.isfinite(g), axis=1)
    try:
        np.linalg.cholesky(H[ok])
        pd[ok] = True
    except np.linalg.LinAlgError:
        for i in np.flatnonzero(ok):
            try:
                np.linalg.cholesky(H[i])
                pd[i] = True
            except np.linalg.LinAlgError:
                pass
    if pd.any():
        steps[pd] = -np.linalg.solve(H[pd], g[pd][..., None])[..., 0]
    return steps, pd
