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
from .tables import match_keys, read_table


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
    by_iid: bool = False      # individuals matched by IID alone

    @property
    def n(self):
        return len(self.ids)


def _design(table, ids, option, by_iid=False):
    """[1, z-scored columns] for the matching keys ``ids``; a column constant over the
    sample is an error."""
    if table is None:
        return np.ones((len(ids), 1)), ["Intercept"], np.ones(1)
    pos = table.row_index(by_iid)
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
                 var_covar=None, order_ids=None, other_ids=(), missing_number=-9.0,
                 by_iid=False):
    """Read and match everything that defines the analysis sample.

    ``order_ids`` gives the order (and restricts to those IDs; default: the phenotype
    file's order); ``other_ids`` are ``(description, ids)`` of further files every
    individual must appear in (random-effects genotypes).  Values equal to
    ``missing_number`` (PLINK's −9) are missing besides the string ``missing``.
    Individuals are matched by (FID, IID), or by IID alone when ``by_iid`` (a genotype
    file without family IDs) or when any table has no FID column, as PLINK 2 does.
    """
    pheno = read_table(phenofile, missing, missing_number)
    y_all = pheno.column(phen_index, pheno_name)
    counts = {"phenotype_rows": len(pheno.ids),
              "missing_values": [(f"phenotype {phenofile}", int(np.isnan(y_all).sum()))]}
    tables = []
    for option, path in (("--mean-covar", mean_covar), ("--var-covar", var_covar)):
        t = read_table(path, missing, missing_number) if path is not None else None
        tables.append(t)
        if t is not None:
            counts["missing_values"].append((f"{option} {path}", int(t.n_missing.sum())))
    by_iid = bool(by_iid or pheno.match_by_iid or any(t.match_by_iid for t in tables if t))
    counts["by_iid"] = by_iid
    if order_ids is None:
        order_ids = pheno.ids
    order_keys = match_keys(order_ids, by_iid)
    if by_iid and len(set(order_keys)) != len(order_keys):
        seen = set()
        dup = next(k for k in order_keys if k in seen or seen.add(k))
        raise InputError(f"IID {dup} appears twice among the genotyped individuals: they "
                         "cannot be matched by IID alone (the phenotype file or the "
                         "genotype file has no FID column)")
    prow = pheno.row_index(by_iid)
    keep = []
    dropped = {"not_in_phenotype": 0, "missing_phenotype": 0, "missing_covariate": 0,
               "not_in_random_gts": 0}
    covar_sets = []
    for t in tables:
        if t is not None:
            complete = ~np.isnan(t.values).any(axis=1)
            covar_sets.append({k for k, ok in zip(t.keys(by_iid), complete) if ok})
    others = [set(match_keys(ids, by_iid)) for _, ids in other_ids]
    rows = []
    for k, kk in zip(order_ids, order_keys):
        r = prow.get(kk)
        if r is None:
            dropped["not_in_phenotype"] += 1
        elif y_all[r] != y_all[r]:
            dropped["missing_phenotype"] += 1
        elif covar_sets and not all(kk in ok for ok in covar_sets):
            dropped["missing_covariate"] += 1
        elif others and not all(kk in o for o in others):
            dropped["not_in_random_gts"] += 1
        else:
            keep.append(k)
            rows.append(r)
    counts.update(dropped)
    counts["missing_strings"] = (f"'{missing}' or {missing_number:g}" if missing_number is not None
                                 else f"'{missing}'")
    if not keep:
        raise InputError(f"no individuals in common with a non-missing phenotype in {phenofile}"
                         + (" and complete covariates" if any(tables) else "")
                         + (" and random-effects genotypes" if other_ids else "")
                         + (" (matched by IID)" if by_iid else " (matched by FID and IID)"))
    y = y_all[rows]
    keep_keys = match_keys(keep, by_iid)
    X, X_names, X_sd = _design(tables[0], keep_keys, "--mean-covar", by_iid)
    V, V_names, V_sd = _design(tables[1], keep_keys, "--var-covar", by_iid)
    return Sample(keep, y, X, V, X_names, V_names, X_sd, V_sd, counts, by_iid)
