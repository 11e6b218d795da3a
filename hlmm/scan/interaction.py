"""The GxE scan (``hlmm chr --interaction NAME``): per SNP the full HLM of
:mod:`hlmm.models.interaction`, covariates and E fitted in every SNP's model.

Setup (:func:`prepare_interaction`): E is a column of ``--mean-covar`` (z-scored there,
as every covariate); it is appended to the variance design unless ``--var-covar``
already holds it, so the null model is ``mean = [1, C, E]``, ``log-variance =
[1, D, E]``, fitted once.  Each SNP's model appends ``x, x·E`` to the mean design and
``x`` (and ``x·E`` with ``--interaction-var``) to the variance design: the null model is
nested in it with the SNP's columns last, so the fit starts from the null estimates and
Hessian (:meth:`hlmm.models.hlm.HLM.fit` ``start``), falling back to Newton from scratch.
This is the exact MLE of the full model for every SNP: no class statistics (the weights
``exp(−v_i)`` change with the covariates' variance effects, so exact class sums would
need an O(n) pass per iteration anyway).  With random effects the SNP's model is the
HLMM of the same designs (:class:`hlmm.models.hlmm.HLMM`, from the null h2).

``int``/``vint`` are reported per unit of E on its own scale (the z-scored design's
estimate divided by E's SD); ``add`` and ``var`` are the SNP's effects at the mean of E.
"""
import numpy as np

from ..errors import InputError
from ..models.hlm import HLM
from ..models.interaction import InteractionDesign, interaction_tests, snp_columns
from .block_fits import SnpFit


class InteractionScan:
    """One phenotype's GxE SNP fits (built by :func:`prepare_interaction`)."""

    def __init__(self, name, E, E_scale, interaction_var=False, levels=None, e_cols=None):
        self.name = name
        self.e_cols = e_cols        # E's columns in the null mean design
        self.E = np.ascontiguousarray(E.reshape(E.shape[0], -1))
        self.E_scale = np.asarray(E_scale, dtype=float).reshape(-1)
        self.interaction_var = interaction_var
        self.levels = levels
        self.null = self.G = self.h2_start = None
        self.robust = False
        self.classes = None         # the fast engine (InteractionClasses), when it applies
        self.moments = None         # the exact class engine (InteractionMoments), when it applies
        self.exact_kernel = False   # the compiled exact fit (_core._gxe), when it applies
        self.kernel_fallbacks = 0   # SNPs it left to HLM.fit (not converged there)

    def start(self, null, G=None, h2_start=None, robust=False):
        """The null model's fit (the start of every SNP's), random effects, SE kind."""
        self.null, self.G, self.h2_start, self.robust = null, G, h2_start, robust

    def use_classes(self, y, X0, V0):
        """Hard-call SNPs by class sums (variance covariates held at the null model's)."""
        self.classes = InteractionClasses(y, X0, V0, self.null, self.e_cols)

    def fit_block(self, host, idx, packed, rows, hard):
        """SnpFits of a block through the class engine (``host``: the GenomeScan, for
        its filters and the exact per-SNP path of the SNPs this engine leaves)."""
        from .._core import _bed
        from .block_fits import _CODES
        from .snp_filters import filter_codes

        if self.moments is not None:
            return self.moments.fit_block(host, self, packed, rows, hard)
        m = len(idx)
        fits = [None] * m
        hj = np.flatnonzero(hard)
        for j in np.flatnonzero(~hard):
            fits[j] = host._fit_one(host._analysis(rows, j))
        if not hj.size:
            return fits
        codes = np.empty((hj.size, host.sample.n), dtype=np.int8)
        _bed.decode_codes(np.ascontiguousarray(packed[hj]), host.sample_index,
                          host._count_a1, codes)
        n_l, f, nk, fitter = self.classes.fit(codes)
        _, code = filter_codes(host.cfg, host.sample.n, n_l, f, lambda j: nk[j])
        todo = np.flatnonzero((code == 0) & ((nk > 0).sum(axis=1) >= 2))
        res = fitter(todo) if todo.size else None
        cells = self._class_cells(res) if todo.size else None
        where = {int(r): i for i, r in enumerate(todo)}
        for r, j in enumerate(hj):
            nl, fr = int(n_l[r]), float(f[r])
            if code[r] != 0:
                fits[j] = SnpFit(nl, fr, None, _CODES[code[r]])
                continue
            i = where.get(r)
            if i is None or not cells["ok"][i] or cells["hit"][i]:
                fits[j] = host._fit_one(host._hard_dosages(packed, j))   # exact path
                continue
            fits[j] = SnpFit(nl, fr, {k: float(cells[k][i]) for k in
                                      ("likelihood", "add", "add_se", "var", "var_se")}
                             | {"extra": cells["extra"][i]})
        return fits

    def _class_cells(self, res, refit_hits=True):
        """The table's values from :func:`fit_classes` results (vectorised tests);
        ``refit_hits``: mark the strong effects for the exact refit (the fast engine's
        fits are not the full model's MLE)."""
        from ..io.output import neglog10_pval

        a, cov = res["alpha"], res["alpha_cov"]
        k = self.E.shape[1]
        g = a.shape[1] - 1 - k
        ii = list(range(g + 1, g + 1 + k))
        se = np.sqrt(np.maximum(np.einsum("mii->mi", cov), 0.0))

        def chi2(idx):
            th = a[:, idx]
            Sm = cov[:, idx][:, :, idx]
            return np.einsum("mi,mi->m", th, np.linalg.solve(Sm, th[..., None])[..., 0])

        t = {"int": a[:, ii] / self.E_scale, "int_se": se[:, ii] / self.E_scale,
             "int_pval": neglog10_pval(chi2(ii), k) if k > 1 else
             neglog10_pval((a[:, ii[0]] / se[:, ii[0]]) ** 2, 1),
             "gxe_pval": neglog10_pval(chi2([g] + ii), k + 1)}
        out = {"likelihood": res["loglik"], "add": a[:, g], "add_se": se[:, g],
               "var": res["b"][:, 1], "var_se": res["var_se"]}
        ok = res["converged"] & np.isfinite(se[:, g]) & (se[:, g] > 0)
        for kk in ii:
            ok &= np.isfinite(se[:, kk]) & (se[:, kk] > 0)
        out["ok"] = ok
        # p < 1e-3 for g·E, the joint test or the variance effect: refitted exactly
        # (with a strong effect the null's variance effects are off by more than noise)
        with np.errstate(invalid="ignore", divide="ignore"):
            var_t = out["var"] / out["var_se"]
        out["hit"] = refit_hits & ((t["int_pval"] > EXACT_ABOVE) | (t["gxe_pval"] > EXACT_ABOVE)
                      | (neglog10_pval(var_t * var_t, 1) > EXACT_ABOVE))
        out["extra"] = np.array([self._cells({kk: np.asarray(v)[i] for kk, v in t.items()})
                                 for i in range(a.shape[0])]).reshape(a.shape[0], -1)
        return out

    def engine_note(self, engine):
        if self.moments is not None:
            return self.moments.note()
        if engine == "general" and self.exact_kernel:
            return (" (GxE: each SNP's full HLM, exact MLE by the compiled exact fit"
                    + (", per genotype class for hard calls" if self._ecol is not None
                       else "") + "; SNPs where it does not converge are fitted by HLM.fit)")
        return (" (GxE: each SNP's full HLM, exact MLE; --engine fast for the quicker "
                "class engine)" if engine == "general" else
                " (GxE, --engine fast: every mean effect fitted per SNP, the variance "
                "covariates' and E's variance effects held at the null model's; SNPs with "
                "p < 1e-3 for int, gxe or var refitted by the exact full model; the "
                "default engine gives the exact full-model MLE of every SNP)")

    @property
    def columns(self):
        """The table's columns this engine appends (after every earlier column)."""
        return _columns(self.levels, self.interaction_var)

    def use_kernel(self, X0, V0, y=None):
        """The exact compiled fit (HLM, model-based SEs): without random effects or
        --robust.  Its genotype-class passes for hard calls need the null designs
        ``X0``, ``V0`` to begin with the intercept and to hold E's columns (found here).
        Given the trait ``y``, hard calls go to the exact class engine
        (:mod:`hlmm.scan.interaction_exact`) when its moments fit (g·E in the mean
        only, few variance covariates)."""
        self.exact_kernel = self.G is None and not self.robust
        self._ecol = self._vecol = None
        if not (self.exact_kernel and np.all(X0[:, 0] == 1.0) and np.all(V0[:, 0] == 1.0)
                and np.array_equal(X0[:, self.e_cols], self.E)):
            return
        vecol = []
        for j in range(self.E.shape[1]):
            hit = [c for c in range(1, V0.shape[1])
                   if np.array_equal(V0[:, c], self.E[:, j])]
            if not hit:
                return
            vecol.append(hit[0])
        self._ecol = np.asarray(self.e_cols, dtype=np.int32)
        self._vecol = np.asarray(vecol, dtype=np.int32)
        if y is not None and not self.interaction_var:
            from .interaction_exact import InteractionMoments

            mom = InteractionMoments(y, X0, V0, self.null, self.e_cols)
            self.moments = mom if mom.supported else None

    def _fit_kernel(self, y, X0, V0, x, E, g=None):
        """The full model's MLE by :func:`hlmm._core._gxe.fit_snp` (the same MLE and SEs
        as :meth:`hlmm.models.hlm.HLM.fit`: ``cov(α) = (XᵀWX)⁻¹``, ``cov(β) = 2(VᵀV)⁻¹``);
        None when it did not converge (the caller takes HLM.fit)."""
        from .._core import _gxe
        from ..models.results import FitResults

        k = E.shape[1]
        p0, q0 = X0.shape[1], V0.shape[1]
        p, q = p0 + 1 + k, q0 + 1 + (k if self.interaction_var else 0)
        theta = np.zeros(p + q)
        theta[:p0], theta[p:p + q0] = self.null.alpha, self.null.beta
        XtWX = np.empty((p, p))
        cls = {}
        if g is not None and self._ecol is not None:
            codes = g.astype(np.int8)
            if np.array_equal(codes, g) and codes.min() >= 0 and codes.max() <= 2:
                # hard calls: x = g − 2f takes these three values, bit for bit
                cls = dict(codes=codes, xk=np.arange(3.0) - (g - x)[0],
                           ecol=self._ecol, vecol=self._vecol)
        status, f, it = _gxe.fit_snp(y, np.ascontiguousarray(X0), np.ascontiguousarray(V0),
                                     np.ascontiguousarray(x), np.ascontiguousarray(E),
                                     self.interaction_var, theta, XtWX, **cls)
        if status != 0:
            return None
        xE = x[:, None] * E
        Vx = [x, xE] if self.interaction_var else [x]
        # VᵀV of V = [V0, x (, x·E)] by blocks: V0ᵀV0 over these rows is one Gram
        W = np.column_stack(Vx)
        if V0.shape[0] == self.E.shape[0]:        # every individual called: the null's
            if getattr(self, "_V0tV0", None) is None:
                self._V0tV0 = V0.T @ V0
            V0tV0 = self._V0tV0
        else:
            V0tV0 = V0.T @ V0
        VtV = np.block([[V0tV0, V0.T @ W], [W.T @ V0, W.T @ W]])
        try:
            cov = np.zeros((p + q, p + q))
            cov[:p, :p] = np.linalg.inv(XtWX)
            cov[p:, p:] = 2.0 * np.linalg.inv(VtV)
        except np.linalg.LinAlgError:
            return None
        loglik = -0.5 * (f + y.shape[0] * np.log(2.0 * np.pi))
        return FitResults(theta[:p], theta[p:], cov, loglik, bool(np.isfinite(loglik)), it,
                          y.shape[0], message="converged")

    def fit(self, y, X0, V0, x, rows, n_l, freq, g=None):
        """One SNP: ``y, X0, V0`` the null model's data over its called individuals
        ``rows``, ``x`` its centred genotype there (``g``: its dosages there)."""
        if self.exact_kernel:
            E = self.E[rows]
            res = self._fit_kernel(y, X0, V0, x, E, g)
            if res is not None:
                k, p0, q0 = E.shape[1], X0.shape[1], V0.shape[1]
                d = InteractionDesign(None, None, p0, list(range(p0 + 1, p0 + 1 + k)), q0,
                                      list(range(q0 + 1, q0 + 1 + k))
                                      if self.interaction_var else [], [], [])
                return self._table_fit(res, d, n_l, freq)
            self.kernel_fallbacks += 1
        d = snp_columns(x, self.E[rows], X0, V0, self.interaction_var)
        try:
            if self.G is None:
                res = HLM(y, d.X, d.V).fit(start=self.null, robust=self.robust)
            else:
                from ..models.hlmm import HLMM

                res = HLMM(y, d.X, d.V, self.G[rows]).fit(h2_init=self.h2_start,
                                                          robust=self.robust)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
            return SnpFit(n_l, freq, None, f"failed: {str(exc).splitlines()[0]}")
        if not res.converged:
            return SnpFit(n_l, freq, None, f"failed: {res.message}")
        return self._table_fit(res, d, n_l, freq)

    def _table_fit(self, res, d, n_l, freq):
        t = interaction_tests(res, d, self.E_scale)
        ses = np.r_[t["add_se"], t["var_se"], t["int_se"], t.get("vint_se", [])]
        if not (np.all(np.isfinite(ses)) and np.all(ses > 0)):
            return SnpFit(n_l, freq, None, "failed: standard errors undefined")
        fit = {"likelihood": res.loglik, "add": t["add"], "add_se": t["add_se"],
               "var": t["var"], "var_se": t["var_se"], "extra": self._cells(t)}
        if self.robust:
            fit["av_cov"] = t["av_cov"]
        return SnpFit(n_l, freq, fit)

    def _cells(self, t):
        out = []
        for kind in ("int", "vint") if self.interaction_var else ("int",):
            est, se = np.atleast_1d(t[kind]), np.atleast_1d(t[kind + "_se"])
            if self.levels is None:
                out += [est[0], se[0], est[0] / se[0]]
            else:
                for e, s in zip(est, se):
                    out += [e, s]
            out.append(t[kind + "_pval"])
            if kind == "int":
                out.append(t["gxe_pval"])
        return np.asarray(out, dtype=float)


def _columns(levels, interaction_var):
    cols = []
    for kind in ("int", "vint") if interaction_var else ("int",):
        if levels is None:
            cols += [kind, f"{kind}_se", f"{kind}_t"]
        else:
            for lv in levels:
                cols += [f"{kind}_{lv}", f"{kind}_{lv}_se"]
        cols.append(f"{kind}_pval")
        if kind == "int":
            cols.append("gxe_pval")
    return cols


def sample_options(cfg, s, log, frame):
    """What --cat-covar, --rint and --interaction do to one phenotype's sample ``s``
    before its null model (in place): the categorical levels logged, the phenotype
    rank-inverse-normal transformed, E put in the variance design.  Returns the
    :class:`InteractionScan` or None."""
    for t in frame.tables:
        for cat in getattr(t, "categories", {}).values():
            log(cat.note(t.path))
    if cfg.rint:
        from ..io.sample import rank_inverse_normal

        s.y = rank_inverse_normal(s.y)
        log(f"--rint: phenotype rank-inverse-normal transformed over the {s.n} "
            "individuals analysed (Blom's offset, ties at their average rank)")
    if cfg.interaction:
        return prepare_interaction(cfg.interaction, s, log, cfg.mean_covar,
                                   cfg.interaction_var, frame.tables[0])
    if cfg.interaction_var:
        raise InputError("--interaction-var needs --interaction NAME")
    return None


def prepare_interaction(name, sample, log, mean_covar, interaction_var=False, table=None):
    """Check ``--interaction name`` against the analysis ``sample``, put E in its
    variance design (in place) and return the :class:`InteractionScan`.  ``table``: the
    --mean-covar table, to count the individuals dropped for a missing E."""
    if mean_covar is None:
        raise InputError(f"--interaction {name}: needs --mean-covar (E is a column of the "
                         "mean covariates file)")
    names = list(sample.X_names)
    cat = getattr(table, "categories", {}).get(name) if table is not None else None
    cols = cat.columns if cat is not None else [name]
    if not all(c in names[1:] for c in cols):
        raise InputError(f"--interaction {name}: no column '{name}' in --mean-covar "
                         f"{mean_covar} (its columns: {', '.join(names[1:])})")
    js = [names.index(c) for c in cols]
    E = np.ascontiguousarray(sample.X[:, js])
    if table is not None:
        col = list(table.names).index(cols[0])
        n_miss = int(np.isnan(table.values[:, col]).sum())
        log(f"Interaction: {n_miss} row(s) of {mean_covar} with '{name}' missing "
            "(those individuals are dropped)")
    new = [k for k, c in zip(js, cols) if c not in sample.V_names[1:]]
    if not new:
        where = "already a --var-covar column"
    else:
        sample.V = np.column_stack([sample.V, sample.X[:, new]])
        sample.V_names = list(sample.V_names) + [names[k] for k in new]
        sample.V_sd = np.r_[sample.V_sd, sample.X_sd[new]]
        sample.V_mean = (None if sample.V_mean is None
                         else np.r_[sample.V_mean, sample.X_mean[new]])
        where = "added to the variance model although not in --var-covar"
    if cat is None:
        at = (f"int is per unit of {name}, add and var at its mean "
              f"({float(sample.X_mean[js[0]]) if sample.X_mean is not None else 0.0:.6g})")
    else:
        at = (f"categorical, baseline {cat.base}: int_<level> is the SNP's effect at that "
              f"level less at the baseline, int_pval the {len(cols)}-df test, add and var "
              "at the sample's mix of levels")
    log(f"Interaction: g x {name}; per SNP mean = covariates + {name} + g + g.{name}, "
        f"log-variance = variance covariates + {name} + g"
        + (f" + g.{name}" if interaction_var else "")
        + f", all fitted in every SNP's model; {name} enters the variance model "
        f"({where}); {at}")
    return InteractionScan(name, E, sample.X_sd[js], interaction_var,
                           None if cat is None else [c[len(name) + 1:] for c in cols], js)


# −log10 p above which the class engine's SNP is refitted by the exact full model
EXACT_ABOVE = 3.0


class InteractionClasses:
    """The fast GxE engine for hard calls (:mod:`hlmm.models.interaction_classes`): per
    block one decode of the packed genotypes and three matrix products of class
    indicators (classes 1, 2 and missing) with the fixed per-individual features
    ``[w0·z⊗z, v0, 1, V0, V0⊗V0]``; class 0 is the total less those.  The variance
    covariates' effects are held at the null model's; ``--engine general`` gives the
    full model's exact MLE.  SNPs whose fit does not converge, or is singular, and
    those with p < 10^−EXACT_ABOVE for int, gxe or var go to the exact per-SNP path:
    a strong effect biases the null model's variance effects (a g·E effect makes the
    variance grow with E), so the hits get the exact full model."""

    def __init__(self, y, X0, V0, null, e_cols):
        n = y.shape[0]
        self.e_cols = list(e_cols)
        v0 = V0 @ null.beta
        w0 = np.exp(-v0)
        z = np.column_stack([X0, y])
        d = z.shape[1]
        self.d, self.q0 = d, V0.shape[1]
        iu = np.triu_indices(d)
        ju = np.triu_indices(self.q0)
        self._iu, self._ju = iu, ju
        # V0's first column is the intercept: its class sums are the class counts
        F = np.column_stack([w0[:, None] * z[:, iu[0]] * z[:, iu[1]], v0, V0])
        self.F = np.ascontiguousarray(F)
        self.total = self.F.sum(axis=0)
        self.VV = np.ascontiguousarray(V0[:, ju[0]] * V0[:, ju[1]])
        self.total_vv = self.VV.sum(axis=0)

    def class_sums(self, codes):
        """``(sums, miss_vv)``: (m, 4, K) per SNP the feature sums of classes 0, 1, 2 and
        missing, and (m, ·) the missing individuals' sums of V0⊗V0.  Two matrix
        products: the codes themselves (Σ c_i F_i = S1 + 2·S2 − S_miss) and the class-2
        indicator; the missing class only for the SNPs that have one."""
        m = codes.shape[0]
        out = np.zeros((m, 4, self.F.shape[1]))
        miss_vv = np.zeros((m, self.VV.shape[1]))
        a = np.zeros((m, self.F.shape[1]))
        # in pieces of individuals: the float copies of the codes stay in cache
        step = max(256, (1 << 19) // max(m, 1))
        for i in range(0, codes.shape[1], step):
            c, F = codes[:, i:i + step], self.F[i:i + step]
            a += c.astype(np.float64) @ F
            out[:, 2] += (c == 2).astype(np.float64) @ F
        rows = np.flatnonzero(codes.min(axis=1) < 0)
        if rows.size:
            ind = (codes[rows] < 0).astype(np.float64)
            out[rows, 3] = ind @ self.F
            miss_vv[rows] = ind @ self.VV
        out[:, 1] = a - 2.0 * out[:, 2] + out[:, 3]
        out[:, 0] = self.total - out[:, 1:].sum(axis=1)
        return out, miss_vv

    def fit(self, codes):
        """Per SNP (rows of ``codes``): n, freq, and the fit dict of
        :func:`hlmm.models.interaction_classes.fit_classes` (NaN/False where the call
        counts leave nothing to fit)."""
        from ..models.interaction_classes import fit_classes

        sums, miss_vv = self.class_sums(codes)
        d, q0 = self.d, self.q0
        nf = len(self._iu[0])
        o = nf + 1                      # V0's columns; the first (intercept): counts
        nk = sums[:, :3, o]
        n_l = nk.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = (nk[:, 1] + 2.0 * nk[:, 2]) / (2.0 * n_l)
        xk = np.arange(3.0)[None, :] - 2.0 * f[:, None]
        S = np.zeros((codes.shape[0], 3, d, d))
        S[:, :, self._iu[0], self._iu[1]] = sums[:, :3, :nf]
        S[:, :, self._iu[1], self._iu[0]] = sums[:, :3, :nf]
        vsum = sums[:, :3, nf].sum(axis=1)
        # (VᵀV)⁻¹'s (x, x) element of V = [V0, x] over the called individuals
        sV = (sums[:, :3, o:o + q0] * xk[:, :, None]).sum(axis=1)           # Σ x V0
        VV = np.zeros((codes.shape[0], q0, q0))
        called_vv = self.total_vv - miss_vv
        VV[:, self._ju[0], self._ju[1]] = called_vv
        VV[:, self._ju[1], self._ju[0]] = called_vv
        xx = (nk * xk * xk).sum(axis=1)
        return n_l, f, nk, lambda rows: _schur_fit(
            fit_classes, S[rows], nk[rows], xk[rows], vsum[rows], VV[rows], sV[rows],
            xx[rows], self.e_cols)


def _schur_fit(fit_classes, S, nk, xk, vsum, VV, sV, xx, e_cols):
    # (x, x) element of the inverse of [[VV, sV], [sVᵀ, xx]]: 1/(xx − sVᵀVV⁻¹sV)
    schur = xx - np.einsum("mi,mi->m", sV, np.linalg.solve(VV, sV[..., None])[..., 0])
    return fit_classes(S, nk, xk, vsum, 1.0 / schur, e_cols)
