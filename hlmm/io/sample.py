"""The analysis sample: phenotype and covariates matched across files by (FID, IID).

Individuals are kept in the order of the reference list (the test .fam for a scan, the
phenotype file for a single fit) when they have a non-missing phenotype, every
covariate, and a row in every genotype file; the others are dropped and counted.
Covariate columns are z-scored (population SD) and an intercept column is put first;
the SDs are kept to put effects back on the covariates' own scale.
"""
import itertools
import threading
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .tables import match_keys, read_table

_SHARED_LOCK = threading.Lock()     # SampleFrame._shared, shared by threads


def missing_summary(counts):
    """One log line: the missing values found in each input table."""
    parts = ", ".join(f"{what}: {k}" for what, k in counts["missing_values"])
    return f"Missing values ({counts['missing_strings']}): {parts}"


class _IdsAt:
    """``[order_ids[i] for i in pos]``, built on first use and kept: only random-effects
    designs read a sample's IDs, and with many phenotypes, each with its own missing
    values, building the lists cost more than the rest of their setup."""

    __slots__ = ("_order_ids", "_pos", "_list")

    def __init__(self, order_ids, pos):
        self._order_ids, self._pos, self._list = order_ids, pos, None

    def __len__(self):
        return self._pos.size

    def get(self):
        if self._list is None:
            ids, pos = self._order_ids, self._pos
            self._list = (list(ids) if pos.size == len(ids)
                          else list(map(ids.__getitem__, pos.tolist())))
        return self._list


@dataclass
class Sample:
    _ids: object              # [(FID, IID)] analysis order (or an _IdsAt): see .ids
    y: np.ndarray
    X: np.ndarray             # [1, z-scored mean covariates]
    V: np.ndarray             # [1, z-scored variance covariates]
    X_names: list
    V_names: list
    X_sd: np.ndarray          # SD of each covariate column (1 for the intercept)
    V_sd: np.ndarray
    counts: dict = field(default_factory=dict)   # what was dropped, for the log
    by_iid: bool = False      # individuals matched by IID alone
    X_mean: np.ndarray = None  # mean of each covariate column (0 for the intercept)
    V_mean: np.ndarray = None

    def own_scale(self, which, est, cov):
        """Effects of the z-scored design ``which`` ("mean": X, "variance": V) on the
        covariates' own scale: ``(names, estimates, SEs)``.

        With ``z_j = (c_j − m_j)/s_j``, ``θ0 + Σ θ_j z_j = (θ0 − Σ θ_j m_j/s_j) + Σ (θ_j/s_j) c_j``,
        so the own-scale parameters are ``Tθ`` (``T``: first row ``[1, −m/s]``, then
        ``diag(1/s)``) with covariance ``T C Tᵀ``.  A linear reparametrisation: these are
        the estimates and SEs of the same model fitted on the raw covariates.
        """
        names, sd, mean = ((self.X_names, self.X_sd, self.X_mean) if which == "mean"
                           else (self.V_names, self.V_sd, self.V_mean))
        return (names,) + covariate_scale(est, cov, mean, sd)

    @property
    def ids(self):
        return self._ids.get() if isinstance(self._ids, _IdsAt) else self._ids

    @property
    def n(self):
        return len(self._ids)


def covariate_scale(est, cov, mean, sd):
    """``(T·est, √diag(T·cov·Tᵀ))`` for the design ``[1, (c − mean)/sd]`` (see
    :meth:`Sample.own_scale`; ``mean``, ``sd`` include the intercept's 0 and 1)."""
    est = np.asarray(est, dtype=float)
    k = est.size
    T = np.diag(1.0 / np.asarray(sd, dtype=float))
    if mean is not None:
        T[0, 1:] = -np.asarray(mean, dtype=float)[1:] / np.asarray(sd, dtype=float)[1:]
    out_cov = T @ np.asarray(cov, dtype=float).reshape(k, k) @ T.T
    return T @ est, np.sqrt(np.maximum(np.diag(out_cov), 0.0))


def rank_inverse_normal(y):
    """Rank-inverse-normal transformation (REGENIE's ``--apply-rint``):
    ``Φ⁻¹((r_i − 3/8)/(n + 1/4))`` with ``r_i`` the rank of ``y_i`` among the n values
    (Blom's offset), tied values taking their average rank."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=float)
    return ndtri((rankdata(y, method="average") - 0.375) / (y.size + 0.25))


def _design(table, raw, n, option):
    """[1, z-scored columns] of the covariate rows ``raw`` of the ``n`` analysed
    individuals, their names, SDs and means; a column constant over the sample is an
    error."""
    if table is None:
        return np.ones((n, 1)), ["Intercept"], np.ones(1), np.zeros(1)
    mean = raw.mean(axis=0)
    sd = raw.std(axis=0)
    for j, name in enumerate(table.names):
        if not sd[j] > 1e-12 * max(1.0, abs(mean[j])):
            raise InputError(f"{option} {table.path}: covariate '{name}' is constant over the "
                             f"{n} individuals analysed")
    Z = np.ones((n, raw.shape[1] + 1))
    Z[:, 1:] = (raw - mean) / sd
    return (Z, ["Intercept"] + list(table.names), np.concatenate([[1.0], sd]),
            np.concatenate([[0.0], mean]))


def build_sample(phenofile, missing="NA", phen_index=1, pheno_name=None, mean_covar=None,
                 var_covar=None, order_ids=None, other_ids=(), missing_number=-9.0,
                 by_iid=False, pheno_table=None, categorical=None):
    """Read and match everything that defines the analysis sample.

    ``order_ids`` gives the order (and restricts to those IDs; default: the phenotype
    file's order); ``other_ids`` are ``(description, ids)`` of further files every
    individual must appear in (random-effects genotypes); ``pheno_table``: the
    phenotype file, when already read.  Values equal to
    ``missing_number`` (PLINK's −9) are missing besides the string ``missing``.
    Individuals are matched by (FID, IID), or by IID alone when ``by_iid`` (a genotype
    file without family IDs) or when any table has no FID column, as PLINK 2 does.
    """
    frame = SampleFrame.read(phenofile, missing, mean_covar, var_covar, order_ids,
                             other_ids, missing_number, by_iid, pheno_table, categorical)
    y_all = frame.pheno.column(phen_index, pheno_name)
    return frame.sample(y_all)


def _read_covariates(path, option, missing, missing_number, categorical):
    """A covariate table: label columns named in ``categorical`` dummy-coded
    (:mod:`hlmm.io.categorical`); a non-numeric value elsewhere is an error that
    suggests --cat-covar."""
    if categorical and categorical[0]:
        from .categorical import read_categorical

        return read_categorical(path, categorical[0], categorical[1], missing,
                                missing_number)
    try:
        return read_table(path, missing, missing_number)
    except InputError as exc:
        if "non-numeric value" in str(exc):
            raise InputError(f"{option} {exc}; a categorical covariate? name it in "
                             "--cat-covar") from None
        raise


def _lookup(index, keys):
    """``index[k]`` for each key (−1 when absent), as an array."""
    return np.fromiter(map(index.get, keys, itertools.repeat(-1)), dtype=np.intp,
                       count=len(keys))


class SampleFrame:
    """What every phenotype of one phenotype file shares: the individuals of the
    reference list (``order_ids``) matched once to the phenotype rows, the covariates and
    the other files.  :meth:`sample` then gives one phenotype's :class:`Sample` in O(n)
    array work, so many phenotypes cost little more than one."""

    def __init__(self, pheno, tables, order_ids, other_ids, missing, missing_number, by_iid):
        self.pheno = pheno
        self.tables = tables
        self.missing = missing
        self.missing_number = missing_number
        self.other_ids = other_ids
        by_iid = bool(by_iid or pheno.match_by_iid or any(t.match_by_iid for t in tables if t))
        self.by_iid = by_iid
        if order_ids is None:
            order_ids = pheno.ids
        order_keys = match_keys(order_ids, by_iid)
        if by_iid and len(set(order_keys)) != len(order_keys):
            seen = set()
            dup = next(k for k in order_keys if k in seen or seen.add(k))
            raise InputError(f"IID {dup} appears twice among the genotyped individuals: they "
                             "cannot be matched by IID alone (the phenotype file or the "
                             "genotype file has no FID column)")
        self.order_ids = list(order_ids)
        self.order_keys = order_keys
        prow = pheno.row_index(by_iid)
        # per individual of the reference list: its phenotype row (−1: none) and why an
        # individual with a phenotype row is dropped whatever the phenotype's value
        self.rows = _lookup(prow, order_keys)
        # each covariate table's row per individual (−1: none or incomplete)
        self.covar_rows = []
        self.covar_ok = np.ones(len(order_keys), bool)
        for t in tables:
            if t is None:
                self.covar_rows.append(None)
                continue
            trow = t.row_index(by_iid)
            complete = ~np.isnan(t.values).any(axis=1)
            r = _lookup(trow, order_keys)
            r[r >= 0] = np.where(complete[r[r >= 0]], r[r >= 0], -1)
            self.covar_rows.append(r)
            self.covar_ok &= r >= 0
        others = [set(match_keys(ids, by_iid)) for _, ids in other_ids]
        self.other_ok = np.ones(len(order_keys), bool)
        for o in others:
            self.other_ok &= np.fromiter(map(o.__contains__, order_keys), bool,
                                         count=len(order_keys))
        # what sample() needs of every phenotype, computed once
        self._has_row = self.rows >= 0
        self._n_no_row = int((~self._has_row).sum())
        # the list's individuals are the table's rows in order (the usual case): a
        # phenotype column is then its values as they are
        self._direct = (len(pheno.ids) == self.rows.size and bool(self._has_row.all())
                        and np.array_equal(self.rows, np.arange(self.rows.size)))
        self._row0 = np.where(self._has_row, self.rows, 0)
        self._shared = {}       # keep mask → its Sample parts (see _shared_parts)

    @classmethod
    def read(cls, phenofile, missing="NA", mean_covar=None, var_covar=None, order_ids=None,
             other_ids=(), missing_number=-9.0, by_iid=False, pheno_table=None,
             categorical=None):
        """``categorical``: ``(names, {name: base level})`` of --cat-covar/--cat-base."""
        pheno = (read_table(phenofile, missing, missing_number) if pheno_table is None
                 else pheno_table)
        tables = [_read_covariates(path, option, missing, missing_number, categorical)
                  if path is not None else None
                  for path, option in ((mean_covar, "--mean-covar"),
                                       (var_covar, "--var-covar"))]
        if categorical and categorical[0]:
            held = {n for t in tables if t is not None for n in getattr(t, "categories", {})}
            absent = [n for n in categorical[0] if n not in held]
            if absent:
                raise InputError(f"--cat-covar {absent[0]}: no such column in "
                                 + " or ".join(p for p in (mean_covar, var_covar) if p)
                                 if mean_covar or var_covar else
                                 f"--cat-covar {absent[0]}: needs --mean-covar or --var-covar")
        return cls(pheno, tables, order_ids, other_ids, missing, missing_number, by_iid)

    def sample(self, y_all, label=None):
        """The :class:`Sample` of one phenotype (``y_all``: a column of the phenotype
        table); ``Sample.order_pos`` holds each analysed individual's position in the
        reference list."""
        pheno, tables = self.pheno, self.tables
        counts = {"phenotype_rows": len(pheno.ids),
                  "missing_values": [(f"phenotype {pheno.path}"
                                      + (f" '{label}'" if label else ""),
                                      int(np.isnan(y_all).sum()))]}
        for option, t in zip(("--mean-covar", "--var-covar"), tables):
            if t is not None:
                counts["missing_values"].append((f"{option} {t.path}", int(t.n_missing.sum())))
        counts["by_iid"] = self.by_iid
        has_row = self._has_row
        if self._direct:
            yv = y_all
        else:
            yv = y_all[self._row0]
            yv[~has_row] = np.nan
        has_y = ~np.isnan(yv)     # (no row: NaN)
        covar = has_y & self.covar_ok
        keep = covar & self.other_ok
        n_has_y = int(has_y.sum())
        n_covar = int(covar.sum())
        counts.update(not_in_phenotype=self._n_no_row,
                      missing_phenotype=len(has_row) - self._n_no_row - n_has_y,
                      missing_covariate=n_has_y - n_covar,
                      not_in_random_gts=n_covar - int(keep.sum()))
        counts["missing_strings"] = (f"'{self.missing}' or {self.missing_number:g}"
                                     if self.missing_number is not None
                                     else f"'{self.missing}'")
        pos, kept, designs = self._shared_parts(keep, label)
        y = yv[pos]
        X, X_names, X_sd, X_mean, V, V_names, V_sd, V_mean = designs
        s = Sample(kept, y, X, V, X_names, V_names, X_sd, V_sd, counts, self.by_iid,
                   X_mean, V_mean)
        s.order_pos = pos
        return s

    def _shared_parts(self, keep, label):
        """``(positions, IDs, designs)`` of the individuals ``keep``: the same for every
        phenotype with the same missing values, so built once per distinct mask and
        shared by their Samples.  Only the last few masks are kept: phenotypes that each miss
        different individuals share nothing and should not hold their arrays."""
        key = np.packbits(keep).tobytes()
        with _SHARED_LOCK:      # (many phenotypes' Samples are made in threads)
            parts = self._shared.get(key)
        if parts is not None:
            return parts
        pos = np.flatnonzero(keep)
        if pos.size == 0:
            pheno, tables = self.pheno, self.tables
            raise InputError(f"no individuals in common with a non-missing phenotype in "
                             f"{pheno.path}" + (f" ('{label}')" if label else "")
                             + (" and complete covariates" if any(tables) else "")
                             + (" and random-effects genotypes" if self.other_ids else "")
                             + (" (matched by IID)" if self.by_iid
                                else " (matched by FID and IID)"))
        kept = _IdsAt(self.order_ids, pos)
        designs = tuple(
            part for t, r, option in zip(self.tables, self.covar_rows,
                                         ("--mean-covar", "--var-covar"))
            for part in _design(t, t.values[r[pos]] if t is not None else None, pos.size,
                                option))
        parts = (pos, kept, designs)
        with _SHARED_LOCK:
            if len(self._shared) >= 4:
                self._shared.pop(next(iter(self._shared)))
            self._shared[key] = parts
        return parts
