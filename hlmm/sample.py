"""The analysis sample: phenotype and covariates matched across files by (FID, IID).

Individuals are kept in the order of the reference list (the test .fam for a scan, the
phenotype file for a single fit) when they have a non-missing phenotype, every
covariate, and a row in every genotype file; the others are dropped and counted.
Covariate columns are z-scored (population SD) and an intercept column is put first;
the SDs are kept to put effects back on the covariates' own scale.
"""
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .tables import read_table


def missing_summary(counts):
    """One log line: the missing values found in each input table."""
    parts = ", ".join(f"{what}: {k}" for what, k in counts["missing_values"])
    return f"Missing values ({counts['missing_strings']}): {parts}"


@dataclass
class Sample:
    ids: list                 # [(FID, IID)] analysis order
    y: np.ndarray
    X: np.ndarray             # [1, z-scored mean covariates]
    V: np.ndarray             # [1, z-scored variance covariates]
    X_names: list
    V_names: list
    X_sd: np.ndarray          # SD of each covariate column (1 for the intercept)
    V_sd: np.ndarray
    counts: dict = field(default_factory=dict)   # what was dropped, for the log

    @property
    def n(self):
        return len(self.ids)


def _design(table, ids, option):
    """[1, z-scored columns] for ``ids``; a column constant over the sample is an error."""
    if table is None:
        return np.ones((len(ids), 1)), ["Intercept"], np.ones(1)
    pos = {k: i for i, k in enumerate(table.ids)}
    raw = table.values[[pos[k] for k in ids]]
    mean = raw.mean(axis=0)
    sd = raw.std(axis=0)
    for j, name in enumerate(table.names):
        if not sd[j] > 1e-12 * max(1.0, abs(mean[j])):
            raise InputError(f"{option} {table.path}: covariate '{name}' is constant over the "
                             f"{len(ids)} individuals analysed")
    Z = np.ones((len(ids), raw.shape[1] + 1))
    Z[:, 1:] = (raw - mean) / sd
    return Z, ["Intercept"] + list(table.names), np.concatenate([[1.0], sd])


def build_sample(phenofile, missing="NA", phen_index=1, pheno_name=None, mean_covar=None,
                 var_covar=None, order_ids=None, other_ids=(), missing_number=-9.0):
    """Read and match everything that defines the analysis sample.

    ``order_ids`` gives the order (and restricts to those IDs; default: the phenotype
    file's order); ``other_ids`` are ``(description, ids)`` of further files every
    individual must appear in (random-effects genotypes).  Values equal to
    ``missing_number`` (PLINK's −9) are missing besides the string ``missing``.
    """
    pheno = read_table(phenofile, missing, missing_number)
    y_all = pheno.column(phen_index, pheno_name)
    counts = {"phenotype_rows": len(pheno.ids),
              "missing_values": [(f"phenotype {phenofile}", int(np.isnan(y_all).sum()))]}
    y_of = {k: v for k, v in zip(pheno.ids, y_all)}
    tables = []
    for option, path in (("--mean-covar", mean_covar), ("--var-covar", var_covar)):
        t = read_table(path, missing, missing_number) if path is not None else None
        tables.append(t)
        if t is not None:
            counts["missing_values"].append((f"{option} {path}", int(t.n_missing.sum())))
    if order_ids is None:
        order_ids = pheno.ids
    keep = []
    dropped = {"not_in_phenotype": 0, "missing_phenotype": 0, "missing_covariate": 0,
               "not_in_random_gts": 0}
    covar_ok = []
    for t in tables:
        if t is None:
            covar_ok.append(None)
        else:
            complete = ~np.isnan(t.values).any(axis=1)
            covar_ok.append({k for k, ok in zip(t.ids, complete) if ok})
    others = [set(ids) for _, ids in other_ids]
    covar_sets = [ok for ok in covar_ok if ok is not None]
    for k in order_ids:
        y_k = y_of.get(k)
        if y_k is None:
            dropped["not_in_phenotype"] += 1
        elif y_k != y_k:
            dropped["missing_phenotype"] += 1
        elif covar_sets and not all(k in ok for ok in covar_sets):
            dropped["missing_covariate"] += 1
        elif others and not all(k in o for o in others):
            dropped["not_in_random_gts"] += 1
        else:
            keep.append(k)
    counts.update(dropped)
    counts["missing_strings"] = (f"'{missing}' or {missing_number:g}" if missing_number is not None
                                 else f"'{missing}'")
    if not keep:
        raise InputError(f"no individuals in common with a non-missing phenotype in {phenofile}"
                         + (" and complete covariates" if any(tables) else "")
                         + (" and random-effects genotypes" if other_ids else ""))
    y = np.array([y_of[k] for k in keep])
    X, X_names, X_sd = _design(tables[0], keep, "--mean-covar")
    V, V_names, V_sd = _design(tables[1], keep, "--var-covar")
    return Sample(keep, y, X, V, X_names, V_names, X_sd, V_sd, counts)
