"""Per-SNP fits of the default scan mode from genotype-class sufficient statistics.

Every SNP's model is ``X = V = [1, x]``, ``x_i = g_i − 2f`` over the individuals with a
call, ``f = mean(g)/2`` of the counted allele (the original's convention).  Individuals
of genotype class k ∈ {0, 1, 2} share ``x_k``, ``d_k = exp(β0 + β1·x_k)``, ``w_k = 1/d_k``
and ``μ_k = α0 + α1·x_k``, so the likelihood depends on the data only through

- ``n_k``, ``S1_k = Σ_{i∈k} y_i``, ``S2_k = Σ_{i∈k} y_i²``                  (HLM)
- and ``u_k = Σ g_i``, ``s_k = Σ g_i y_i``, ``M_k = Σ g_i g_iᵀ`` (G's rows)  (HLMM).

:class:`HLMClassScan` fits the HLM of a block of SNPs from ``_bed.class_stats`` output in
O(1) per SNP; :class:`HLMMClassScan` fits the HLMM ``Σ = D + h2·GGᵀ`` of one SNP at
O(n_carriers·l²) + O(l³) per likelihood evaluation (DESIGN.md §3).  Both are thread-safe:
per-call state is local, and the heavy kernels (BLAS, LAPACK, Cython) release the GIL.
"""
import threading

import numpy as np
from scipy import linalg
from scipy.linalg import blas

from .._core import _classfit, _gram
from ..models._validate import all_finite, as_vector
from ..models import robust as _robust
from .ld_grams import LDGrams, LDStarts, direct_parts
from ..models.hlmm_carriers import CarrierStatsHLMM
from ..models.hlmm_classes import (H2_MIN, LOG2PI, ClassStatsHLMM,  # noqa: F401
                              _newton_exact, _newton_hlmm, _observed_information)

_REASONS = {0: "", 1: "no calls", 2: "monomorphic", 3: "not converged",
            4: "degenerate: a genotype class has zero variance", 5: "line search failed"}
# status code → reason; past the codes, "failed"
_REASON_LUT = np.array([_REASONS[k] for k in range(len(_REASONS))] + ["failed"], dtype=object)
_COL = {name: j for j, name in enumerate(_classfit.COLUMNS)}
KEYS = ("n", "freq", "likelihood", "add", "add_se", "var", "var_se")


def _hlm_raw(stats, tol=1e-10, max_iter=100):
    stats = np.ascontiguousarray(stats, dtype=np.float64)
    if stats.ndim != 2 or stats.shape[1] != 9:
        raise ValueError("stats must be n_snps × 9 (n_k, S1_k, S2_k for k = 0, 1, 2)")
    out = np.empty((stats.shape[0], _classfit.N_OUT))
    status = np.empty(stats.shape[0], dtype=np.int32)
    _classfit.hlm_fit_block(stats, out, status, tol, max_iter)
    return out, status


class HLMClassScan:
    """Exact HLM fits ``y ~ N(α0 + α1·x, exp(β0 + β1·x))`` of SNPs from class statistics.

    The fit is the MLE of :class:`hlmm.HLM` with ``X = V = [1, x]`` on the SNP's
    individuals with a call: Newton on the profile likelihood in β with α by weighted
    least squares, all sums over individuals collapsed onto the three classes (see
    ``hlmm._core._classfit``).  SEs as the original: ``cov(β) = 2(VᵀV)⁻¹``,
    ``cov(α) = (XᵀD⁻¹X)⁻¹``.

    Parameters
    ----------
    y : (m,) array, the analysis phenotype passed to ``_bed.class_stats``.  The class
        sums ``S2_k − 2μ_k·S1_k + n_k·μ_k²`` lose ``log10(mean(y)²/var(y))`` digits, so
        ``y`` should be roughly centred (the scan's projected phenotype is).
    """

    def __init__(self, y):
        self.y = as_vector(y, "y")

    def fit_block(self, stats, tol=1e-10, max_iter=100):
        """Fit every SNP of ``stats`` (n_snps × 9 from ``_bed.class_stats``).

        Returns a dict of arrays (one entry per SNP): ``n`` (calls), ``freq`` (f of the
        counted allele), ``likelihood`` (maximised L), ``add``, ``add_se`` (α1),
        ``var``, ``var_se`` (β1), ``ok`` (bool) and ``reason`` ('' when ok, else e.g.
        'monomorphic', 'not converged').  Values are NaN where not ok.
        """
        out, status = _hlm_raw(stats, tol, max_iter)
        res = {k: out[:, _COL[k]].copy() for k in ("n", "freq", "likelihood", "alpha0", "add",
                                                   "add_se", "beta0", "var", "var_se")}
        res["ok"] = status == 0
        # (a lookup, not a Python loop over the SNPs: many-phenotype scans call this a lot)
        res["reason"] = _REASON_LUT[np.where((status >= 0) & (status < len(_REASONS)),
                                             status, len(_REASONS))]
        return res

    def fit_block_robust(self, moments, kind=True, tol=1e-10, max_iter=100):
        """:meth:`fit_block` with sandwich SEs (:func:`hlmm.models.robust.class_sandwich`).

        ``moments``: n_snps × 15 class power sums ``Σ_{i∈k} y_i^j`` (k = 0, 1, 2;
        j = 0…4) from ``_bed.class_moments_tabled``.  ``add_se``/``var_se`` are the robust
        SEs and ``av_cov`` the robust covariance of (add, var), for the joint test.
        """
        P = np.ascontiguousarray(moments, dtype=np.float64).reshape(-1, 3, 5)
        res = self.fit_block(np.ascontiguousarray(P[:, :, :3]).reshape(-1, 9), tol, max_iter)
        x = np.arange(3.0)[None, :] - 2.0 * res["freq"][:, None]
        return with_robust_ses(res, P, x, kind)


def with_robust_ses(res, P, x, kind):
    """Replace ``add_se``/``var_se`` of class-engine results by the sandwich SEs of
    :func:`hlmm.models.robust.class_sandwich` (class power sums ``P``, centred genotypes ``x``)
    and add ``av_cov``; SNPs whose robust SEs are undefined become failures."""
    se_a, se_b, c_ab = _robust.class_sandwich(P, x, res["alpha0"], res["add"],
                                              res["beta0"], res["var"], kind)
    bad = res["ok"] & ~(np.isfinite(se_a) & np.isfinite(se_b) & (se_a > 0) & (se_b > 0))
    res["ok"] &= ~bad
    res["reason"][bad] = "robust standard errors undefined"
    for k, v in (("add_se", se_a), ("var_se", se_b), ("av_cov", c_ab)):
        res[k] = np.where(res["ok"], v, np.nan)
    return res


class HLMMClassScan:
    """Exact per-SNP HLMM fits ``y ~ N(α0 + α1·x, D + h2·GGᵀ)``, ``d_k = exp(β0 + β1·x_k)``,
    from genotype-class statistics.

    Precomputes ``M_all = GᵀG``, ``u_all = Σ g_i``, ``s_all = Gᵀy`` once.  Per SNP, forms
    ``M_k, u_k, s_k`` only for the classes other than the largest one and for the missing
    calls (one syrk over those rows, their sums u_k, s_k from the same gathered chunks);
    the largest class gets ``all − others − missing``.  Each likelihood/gradient
    evaluation is then O(l³) (:class:`ClassStatsHLMM`: a Cholesky and an inverse of
    the l×l A), and so is the exact Hessian (:meth:`ClassStatsHLMM.hessian`: one more
    l×l product).

    The MLE over (β0, β1, h2 ≥ ``h2_min``) with α profiled out is found by projected
    Newton with that Hessian (``_newton_exact``), started from the SNP's HLM estimates
    and ``h2_init``.  SEs are the square roots of the diagonal of the inverse observed
    information ``−∂²L`` over (α0, α1, β0, β1, h2), the exact Hessian at the last point
    evaluated.  Beyond its syrk a SNP costs two or three evaluations (each a Cholesky
    and inverse of A, ~l³ flops) and as many exact Hessians (one l×l gemm, 2l³), one
    fewer where a middle iterate can keep the last one (``_newton_exact``'s chord rule).

    **Boundary:** when h2 ends at ``h2_min`` with ∂L/∂h2 < 0, the fixed effects are still
    reported, with SEs from the information of (α, β) alone (h2 held fixed), ``h2_se`` is
    NaN and ``boundary`` is True.

    **Linkage disequilibrium** (``ld``, the default): the other classes' ``M_k, u_k, s_k``
    come from this thread's :class:`hlmm.scan.ld_grams.LDGrams`, which starts each SNP
    from the recent SNP with the fewest individuals in another class (either allele
    orientation) and adds and removes the rows that moved, falling back to the syrk
    when that is cheaper, after 32 chained updates or when the diagonal check drifts;
    Newton then starts at that SNP's optimum, moved by the change in the HLM estimates.
    The statistics are the same sums in another order: fits agree with ``ld=False``
    to rounding (tested: log-likelihood 1e-7 relative, estimates 1e-6).

    Parameters
    ----------
    y : (n,) analysis phenotype; G : (n, l) standardised random-effects design;
    h2_init : start for h2 (the null model's estimate); h2_min : lower bound (1e-5, as
    the original); ld : use the LD cache; ld_snps : its capacity in SNPs (None: 32 MB).
    """

    def __init__(self, y, G, h2_init, h2_min=H2_MIN, robust=False, M_all=None, ld=True,
                 ld_snps=None):
        # M_all = GᵀG may be passed in: phenotypes with the same G share it
        self.ld, self.ld_snps = bool(ld), ld_snps
        self._local = threading.local()     # per thread: its LDGrams, by Y
        self.robust = robust is not False and robust is not None
        if self.robust and _robust.check_kind(robust) != "pooled":
            raise ValueError("only the pooled robust estimator is defined for the HLMM")
        self.y = as_vector(y, "y")
        self.G = np.ascontiguousarray(G, dtype=np.float64)
        if self.G.ndim != 2 or self.G.shape[0] != self.y.shape[0]:
            raise ValueError(f"G must be n × l with n = {self.y.shape[0]}, got {self.G.shape}")
        if not all_finite(self.G):
            raise ValueError("G contains NaN or infinite values")
        self.n, self.l = self.G.shape
        self.h2_init = float(h2_init)
        self.h2_min = float(h2_min)
        if not (np.isfinite(self.h2_init) and self.h2_init >= 0 and self.h2_min >= 0):
            raise ValueError(f"h2_init and h2_min must be finite and non-negative, "
                             f"got {h2_init}, {h2_min}")
        if M_all is None:
            M_all = np.empty((self.l, self.l))
            _gram.weighted_gram(self.G, np.ones(self.n), M_all)
        self.M_all = M_all
        self.u_all = self.G.sum(axis=0)
        self.s_all = blas.dgemv(1.0, self.G.T, self.y)  # G.T is Fortran-ordered: no copy
        # [1, y] and [u_all; s_all]: the inputs of class_parts_many for this y alone
        self._Y1 = np.column_stack([np.ones(self.n), self.y])
        self._S1 = np.vstack([self.u_all, self.s_all])

    def __getstate__(self):      # (a Dask scan ships the engine: caches stay behind)
        state = self.__dict__.copy()
        state.pop("_local", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local = threading.local()

    def _codes(self, codes):
        codes = np.asarray(codes)
        if codes.ndim != 1 or codes.shape[0] != self.n:
            raise ValueError(f"codes must be a 1-D array of length {self.n}")
        if codes.size and (codes.min() < -1 or codes.max() > 2):
            raise ValueError("codes must be 0, 1, 2 or -1 (missing)")
        return codes.astype(np.intp) + 1  # bins: missing, 0, 1, 2

    def class_stats(self, codes):
        """The 9 HLM class statistics ``n_k, S1_k, S2_k`` (k = 0, 1, 2) of one SNP."""
        codes = np.asarray(codes)
        if codes.dtype != np.int8:                  # checked before narrowing
            codes = (self._codes(codes) - 1).astype(np.int8)
        elif codes.ndim != 1 or codes.shape[0] != self.n:
            raise ValueError(f"codes must be a 1-D array of length {self.n}")
        st = np.empty((3, 3))
        _classfit.code_sums(np.ascontiguousarray(codes), self.y, st)
        return st.reshape(-1)

    def class_model(self, codes, freq=None, parts=None):
        """:class:`ClassStatsHLMM` of one SNP (present classes only), with
        ``x_k = k − 2f``; ``freq`` (f) defaults to the SNP's counted-allele frequency.
        ``parts`` (from :meth:`class_parts`, or built for several phenotypes at once by
        :mod:`hlmm.scan.many_phenotypes`) gives each present class's ``(M_k, u_k, s_k)``."""
        st = self.class_stats(codes).reshape(3, 3)
        nk = st[:, 0]
        if freq is None:
            freq = (nk[1] + 2 * nk[2]) / (2 * nk.sum())
        present = [k for k in range(3) if nk[k] > 0]
        if parts is None:
            parts = self.class_parts(codes)
        return ClassStatsHLMM(nk[present], st[present, 1], st[present, 2],
                              np.array([parts[k][1] for k in present]),
                              np.array([parts[k][2] for k in present]),
                              [parts[k][0] for k in present],
                              np.array(present, float) - 2.0 * freq)

    def class_parts(self, codes):
        """``{k: (M_k, u_k, s_k)}`` of the present classes (:meth:`class_parts_many`
        for this scan's y alone)."""
        return self.class_parts_many(codes, self._Y1, self._S1)[0]

    def class_parts_many(self, codes, Y, S_all):
        """Per phenotype sharing this G, ``{k: (M_k, u_k, s_k)}`` of the present classes.

        ``Y`` is n × (1 + P): ones, then the P phenotypes' y; ``S_all`` stacks ``u_all``
        and their ``s_all``.  The classes but the largest (and the missing calls) take one
        syrk each of their gathered rows ``[g_i, 1, y_i…]``
        (:func:`hlmm._core._gram.gram_products_rows`), whose last rows are ``u_k`` and
        every ``s_k``; the largest class is ``M_all, u_all, s_all`` minus the others."""
        bins = self._codes(codes)
        nk = np.bincount(bins, minlength=4)
        present = [k for k in range(3) if nk[k + 1] > 0]
        largest = max(present, key=lambda k: nk[k + 1])
        c8 = (bins - 1).astype(np.int8)
        if self.ld:
            others = self._ld_cache(Y, S_all).parts(c8, largest, self.n - int(nk[largest + 1]))
        else:
            others = direct_parts(self.G, c8, largest, Y)
        M_rest, S_rest = self.M_all.copy(), np.array(S_all, dtype=float)
        Ms, Ss = {}, {}
        for k, (Mk, Sk) in others.items():   # k = −1: missing calls (not in the model)
            M_rest -= Mk
            S_rest -= Sk
            Ms[k], Ss[k] = Mk, Sk
        Ms[largest], Ss[largest] = M_rest, S_rest
        return [{k: (Ms[k], Ss[k][0], Ss[k][1 + q]) for k in present}
                for q in range(Y.shape[1] - 1)]

    def _ld_cache(self, Y, S_all):
        """This thread's :class:`LDGrams` for the columns ``Y`` (a thread's SNPs are
        consecutive blocks, so its recent SNPs are the neighbours)."""
        caches = getattr(self._local, "caches", None)
        if caches is None:
            caches = self._local.caches = {}
        key = id(Y)
        cache = caches.get(key)
        if cache is None or cache.Y is not Y:
            if len(caches) >= 4:             # bound the memory: drop the oldest
                caches.pop(next(iter(caches)))
            cache = caches[key] = LDGrams(self.G, self.M_all, Y, S_all,
                                          capacity=self.ld_snps)
        return cache

    def ld_counts(self):
        """This thread's counts of SNPs whose class Grams were formed directly (``direct``),
        ``updated`` from an earlier SNP's, or recomputed after the ``drift`` check."""
        out = {"direct": 0, "updated": 0, "drift": 0}
        for cache in getattr(self._local, "caches", {}).values():
            for k, v in cache.counts.items():
                out[k] += v
        return out

    def fit_snp(self, codes, tol=1e-10, max_iter=50, parts=None, ld_start=None):
        """Fit one SNP; ``codes`` are its genotype classes (0, 1, 2, −1 missing) over the
        analysis individuals (``_bed.decode_codes``).

        Returns a dict of scalars: ``n``, ``freq``, ``likelihood`` (maximised L),
        ``add``, ``add_se`` (α1), ``var``, ``var_se`` (β1), ``h2``, ``h2_se``,
        ``boundary`` (h2 at its lower bound), ``ok`` and ``reason`` ('' when ok).
        Every value but n and freq is NaN when not ok.
        """
        st = self.class_stats(codes)
        out, status = _hlm_raw(st[None, :])
        out, status = out[0], int(status[0])
        res = {"n": out[_COL["n"]], "freq": out[_COL["freq"]], "likelihood": np.nan,
               "add": np.nan, "add_se": np.nan, "var": np.nan, "var_se": np.nan,
               "h2": np.nan, "h2_se": np.nan, "boundary": False, "ok": False, "reason": ""}
        if status != 0:
            res["reason"] = "HLM start: " + _REASONS.get(status, "failed") \
                if status in (3, 4, 5) else _REASONS.get(status, "failed")
            return res
        model = self.class_model(codes, res["freq"], parts)
        beta0 = np.array([out[_COL["beta0"]], out[_COL["var"]]])
        # Newton starts at the optimum of the SNP whose class Grams this one's were
        # updated from (LDGrams.start): alone, this thread's cache for y; with
        # ``parts``, ``ld_start = (cache, q)`` names the cache and phenotype q
        cache, q = (self._ld_cache(self._Y1, self._S1), 0) if self.ld and parts is None \
            else (ld_start if ld_start is not None else (None, 0))
        start = cache.start(q, res["freq"], beta0) if cache is not None else None

        def rows(w, mu):     # per called individual: (x_i, w_i, μ_i) from its class
            c = np.asarray(codes)
            called = c >= 0
            lookup = np.full(3, -1, dtype=np.intp)
            classes = np.unique(c[called])
            lookup[classes] = np.arange(len(classes))
            pos = lookup[c[called]]
            return called, model.x[pos], w[pos], mu[pos]

        res = self._fit_model(model, beta0, res, rows, tol, max_iter, start)
        theta = res.pop("theta", None)
        if cache is not None and theta is not None:
            cache.keep(q, theta, res["freq"], beta0)
        return res

    def _fit_model(self, model, beta0, res, rows, tol, max_iter, start=None):
        """Newton from (β0, h2_init), SEs (robust ones with ``rows``), into ``res``.

        With the exact Hessian, the start's β0 (an HLM's, fitting the total variance
        ``d_i + h2·‖g_i‖²``) is first lowered by ``h2_init`` times the mean ``‖g_i‖²``:
        ``β0 ← β0 + log(1 − h2_init·m̄·e^{−β0})``, which saves about one Newton step.
        ``start`` (β0, β1, h2), from the LD cache, is tried first where given."""
        exact = getattr(model, "hessian", None) is not None
        fit = None
        if start is not None and exact:
            # from a start near the optimum the steps are tiny: the SEs' Hessian is
            # taken at the last point evaluated (as from a far start), not reused
            fit = _newton_exact(model, np.array(start, dtype=float), self.h2_min, tol,
                                max_iter, se_moved=0.0)
        if fit is None or isinstance(fit, str):  # (a failed LD start: the usual one)
            theta0 = np.r_[beta0, self.h2_init]
            if exact:
                shrink = 1.0 - self.h2_init * model.mean_gg() * np.exp(-theta0[0])
                if shrink > 0.1:
                    theta0[0] += np.log(shrink)
            fit = (_newton_exact if exact else _newton_hlmm)(
                model, theta0, self.h2_min, tol, max_iter)
        if isinstance(fit, str):
            res["reason"] = fit
            return res
        theta, f, grad, alpha, XSX = fit[:5]
        boundary = bool(theta[2] <= self.h2_min and grad[4] > 0)
        if exact:
            n_par = 4 if boundary else 5
            info = 0.5 * fit[7][:n_par, :n_par]       # f = −2L − const
        else:
            info = _observed_information(model, theta, alpha, XSX, boundary)
        try:
            cov = linalg.inv(info) if info is not None else None
        except linalg.LinAlgError:
            cov = None
        if cov is None or not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
            res["reason"] = "observed information not positive definite"
            return res
        if self.robust:
            cov = self._robust_cov(model, rows, theta, alpha, cov)
            res["av_cov"] = cov[1, 3]
            if not (cov[1, 1] > 0 and cov[3, 3] > 0):
                res["reason"] = "robust standard errors undefined"
                return res
        se = np.sqrt(np.diag(cov))
        res.update(likelihood=-0.5 * (f + model.n * LOG2PI), add=alpha[1], add_se=se[1],
                   var=theta[1], var_se=se[3], h2=theta[2],
                   h2_se=np.nan if boundary else se[4], boundary=boundary, ok=True,
                   theta=theta)
        return res

    def _robust_cov(self, model, rows, theta, alpha, cov):
        """The pooled sandwich of :func:`hlmm.models.robust.hlmm_robust_cov` from the model's
        statistics: per individual only ``t = Gz`` (one gemv, O(n·l)) and
        ``ẽ_i = √w_i(y_i − μ_i − h2·t_i)``; ``c̄ = (N − h2·Σ_i w_i g_iᵀA⁻¹g_i)/N`` with the
        sum from the model (``Σ_k w_k tr(A⁻¹M_k)`` for classes)."""
        h2 = float(theta[2])
        model.evaluate(theta[:2], h2, alpha)          # terms at the optimum
        w, mu, z, wtrk = model.last_terms
        called, x, wi, mui = rows(w, mu)
        t = blas.dgemv(1.0, self.G.T, z, trans=1)[called]
        swi = np.sqrt(wi)
        et = swi * (self.y[called] - mui - h2 * t)
        N = model.n
        cbar = (N - h2 * wtrk) / N
        m2, m3, m4 = _robust.pooled_moments(et / np.sqrt(cbar))
        V = np.column_stack([np.ones_like(x), x])
        D = _robust.pooled_excess(m2, m3, m4, cbar, (V.T * wi) @ V, (V.T * swi) @ V, V.T @ V)
        return _robust.with_excess(cov, D)

    def fit_snp_dosage(self, g, tol=1e-10, max_iter=50):
        """Fit one dosage SNP (``g``: counted-allele dosages over the analysis
        individuals, NaN missing) exactly, as :meth:`fit_snp` fits hard calls.

        The most frequent stored value is one class (its ``M, u, s`` are the totals minus
        the other individuals'); every other individual with a call (a *carrier*) keeps
        its own row: one syrk over the carriers and the missing calls per SNP, then per
        evaluation a weighted syrk and a triangular multiply over the carriers' rows
        (:class:`CarrierStatsHLMM`), since their weights ``exp(−β1·x_i)`` differ, and per
        exact Hessian one more weighted syrk.  Newton and SEs as :meth:`fit_snp`'s (about
        4 evaluations per SNP from the HLM start; differencing the gradient took 24);
        with ``ld``, Newton starts from the fit of the nearest of this thread's recent
        dosage SNPs (:class:`hlmm.scan.ld_grams.LDStarts`, by best-guess classes): 3.

        The LD cache's class Grams are not used: they would only replace the modal
        class's ``M`` (the one syrk per SNP above), about 1.5 % of a dosage SNP's time
        before the exact Hessian and ~9 % after it, against the memory of keeping
        carriers' Grams (SNPs whose dosages are all hard calls are fitted by
        :meth:`fit_snp`, cache included).
        """
        g = np.asarray(g, dtype=np.float64)
        called = ~np.isnan(g)
        n_l = int(called.sum())
        res = {"n": float(n_l), "freq": np.nan, "likelihood": np.nan, "add": np.nan,
               "add_se": np.nan, "var": np.nan, "var_se": np.nan, "h2": np.nan,
               "h2_se": np.nan, "boundary": False, "ok": False, "reason": ""}
        if n_l == 0:
            res["reason"] = "no calls"
            return res
        gc = g[called]
        f = gc.mean() / 2.0
        res["freq"] = f
        vals, counts = np.unique(gc, return_counts=True)
        if len(vals) < 2:
            res["reason"] = "monomorphic"
            return res
        mode = vals[np.argmax(counts)]
        carriers = np.flatnonzero(called & (g != mode)).astype(np.intp)
        others = np.flatnonzero(~called | (g != mode)).astype(np.intp)
        M0 = self.M_all.copy()
        u0, s0 = self.u_all.copy(), self.s_all.copy()
        if others.size:
            Mk, uk, sk = np.empty((self.l, self.l)), np.empty(self.l), np.empty(self.l)
            _gram.gram_rows(self.G, others, Mk)
            _classfit.gather_sums(self.G, others, self.y, uk, sk)
            M0 -= Mk
            u0 -= uk
            s0 -= sk
        in_mode = called & (g == mode)
        y0 = self.y[in_mode]
        x = g - 2.0 * f
        model = CarrierStatsHLMM(float(in_mode.sum()), y0.sum(), y0 @ y0, u0, s0, M0,
                                 mode - 2.0 * f, np.ascontiguousarray(self.G[carriers]),
                                 self.y[carriers], x[carriers])
        from ..models.hlm import HLM

        X = np.column_stack([np.ones(n_l), x[called]])
        try:
            start = HLM(self.y[called], X, X).fit()
        except (ValueError, FloatingPointError) as exc:
            res["reason"] = f"HLM start: {exc}"
            return res
        if not start.converged:
            res["reason"] = f"HLM start: {start.message}"
            return res

        def rows(w, mu):
            xi = x[called]
            is_c = g[called] != mode
            wi = np.where(is_c, 0.0, w[0])
            mui = np.where(is_c, 0.0, mu[0])
            wi[is_c] = w[1:]
            mui[is_c] = mu[1:]
            return called, xi, wi, mui

        # Newton from the fit of a recent dosage SNP in LD (best-guess classes), if any
        starts = None
        if self.ld:
            starts = getattr(self._local, "dosage_starts", None)
            if starts is None:
                starts = self._local.dosage_starts = LDStarts(self.n)
            c8 = np.where(called, np.rint(g), -1).astype(np.int8)
            warm = starts.start(c8, int(np.rint(mode)), f, start.beta)
        res = self._fit_model(model, start.beta, res, rows, tol, max_iter,
                              warm if starts is not None else None)
        theta = res.pop("theta", None)
        if starts is not None and theta is not None:
            starts.keep(c8, theta, f, start.beta)
        return res
