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
        self.moments = None         # the exact class engine (MomentEngine), when it applies
        self.exact_kernel = False   # the compiled exact fit (_core._gxe), when it applies
        self._kernel_left = []      # one entry per SNP it left to HLM.fit (not converged
                                    # there; appended: SNPs are fitted in threads)

    def start(self, null, G=None, h2_start=None, robust=False):
        """The null model's fit (the start of every SNP's), random effects, SE kind."""
        self.null, self.G, self.h2_start, self.robust = null, G, h2_start, robust

    def fit_block(self, host, idx, packed, rows, hard):
        """SnpFits of a block through the exact class engine (``host``: the GenomeScan,
        for its filters and the per-SNP path of the SNPs the engine leaves)."""
        return self.moments.fit_block(host, self, packed, rows, hard)

    def _class_cells(self, res):
        """The table's values of a block's fits (:mod:`hlmm.scan.moment_engine`),
        the tests vectorised: ``res`` holds ``alpha`` (m, p), ``alpha_cov`` (m, p, p),
        ``b`` (m, 2; the SNP's variance effect second), ``var_se``, ``loglik`` and
        ``converged``."""
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
        out["extra"] = np.array([self._cells({kk: np.asarray(v)[i] for kk, v in t.items()})
                                 for i in range(a.shape[0])]).reshape(a.shape[0], -1)
        return out

    def engine_note(self, engine):
        if self.moments is not None:
            return self.moments.note()
        if self.exact_kernel:
            return (" (GxE: each SNP's full HLM, exact MLE by the compiled exact fit"
                    + (", per genotype class for hard calls" if self._ecol is not None
                       else "") + "; SNPs where it does not converge are fitted by HLM.fit)")
        return " (GxE: each SNP's full HLM, exact MLE)"

    @property
    def kernel_fallbacks(self):
        """SNPs the compiled exact fit left to HLM.fit so far."""
        return len(self._kernel_left)

    @property
    def columns(self):
        """The table's columns this engine appends (after every earlier column)."""
        return _columns(self.levels, self.interaction_var)

    def use_kernel(self, X0, V0, y=None, memory=1 << 30):
        """The exact compiled fit (HLM, model-based SEs): without random effects or
        --robust.  Its genotype-class passes for hard calls need the null designs
        ``X0``, ``V0`` to begin with the intercept and to hold E's columns (found here).
        Given the trait ``y``, hard calls go to the exact class engine
        (:mod:`hlmm.scan.moment_engine`) when its moments fit (g·E in the mean
        only, few variance covariates, features within ``memory`` bytes)."""
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
            from .moment_engine import MomentEngine

            mom = MomentEngine(y, X0, V0, self.null, self.e_cols, memory)
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
            self._kernel_left.append(1)
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
