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
from ..models.interaction import interaction_tests, snp_columns
from .block_fits import SnpFit


class InteractionScan:
    """One phenotype's GxE SNP fits (built by :func:`prepare_interaction`)."""

    def __init__(self, name, E, E_scale, interaction_var=False, levels=None):
        self.name = name
        self.E = np.ascontiguousarray(E.reshape(E.shape[0], -1))
        self.E_scale = np.asarray(E_scale, dtype=float).reshape(-1)
        self.interaction_var = interaction_var
        self.levels = levels
        self.null = self.G = self.h2_start = None
        self.robust = False

    def start(self, null, G=None, h2_start=None, robust=False):
        """The null model's fit (the start of every SNP's), random effects, SE kind."""
        self.null, self.G, self.h2_start, self.robust = null, G, h2_start, robust

    @property
    def columns(self):
        """The table's columns this engine appends (after every earlier column)."""
        return _columns(self.levels, self.interaction_var)

    def fit(self, y, X0, V0, x, rows, n_l, freq):
        """One SNP: ``y, X0, V0`` the null model's data over its called individuals
        ``rows``, ``x`` its centred genotype there."""
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


def prepare_interaction(name, sample, log, mean_covar, interaction_var=False, table=None):
    """Check ``--interaction name`` against the analysis ``sample``, put E in its
    variance design (in place) and return the :class:`InteractionScan`.  ``table``: the
    --mean-covar table, to count the individuals dropped for a missing E."""
    if mean_covar is None:
        raise InputError(f"--interaction {name}: needs --mean-covar (E is a column of the "
                         "mean covariates file)")
    names = list(sample.X_names)
    if name not in names[1:]:
        raise InputError(f"--interaction {name}: no column '{name}' in --mean-covar "
                         f"{mean_covar} (its columns: {', '.join(names[1:])})")
    j = names.index(name)
    E = np.ascontiguousarray(sample.X[:, j])
    if table is not None:
        col = list(table.names).index(name)
        n_miss = int(np.isnan(table.values[:, col]).sum())
        log(f"Interaction: {n_miss} row(s) of {mean_covar} with '{name}' missing "
            "(those individuals are dropped)")
    if name in sample.V_names[1:]:
        where = "already a --var-covar column"
    else:
        sample.V = np.column_stack([sample.V, E])
        sample.V_names = list(sample.V_names) + [name]
        sample.V_sd = np.r_[sample.V_sd, sample.X_sd[j]]
        sample.V_mean = (None if sample.V_mean is None
                         else np.r_[sample.V_mean, sample.X_mean[j]])
        where = "added to the variance model although not in --var-covar"
    log(f"Interaction: g x {name}; per SNP mean = covariates + {name} + g + g.{name}, "
        f"log-variance = variance covariates + {name} + g"
        + (f" + g.{name}" if interaction_var else "")
        + f", all fitted in every SNP's model; {name} enters the variance model "
        f"({where}); int is per unit of {name}, add and var at its mean "
        f"({float(sample.X_mean[j]) if sample.X_mean is not None else 0.0:.6g})")
    return InteractionScan(name, E, [sample.X_sd[j]], interaction_var)
