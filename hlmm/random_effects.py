"""The random-effects design G from .bed files (or a text table), as the original built it.

For the analysis sample: missing calls are mean-imputed per SNP, SNPs with no calls (or
with no variation, which cannot be standardised) are dropped, each column is z-scored
with the population SD, and the matrix is multiplied by ``l^-½``, so that
``h2·GGᵀ`` has average diagonal h2.  Several .bed files are joined column-wise into one
design (e.g. one file per chromosome).
"""
import numpy as np

from .errors import InputError
from .tables import match_keys

BLOCK = 64  # SNPs read at a time: a transient n × 64 float64 block


def _standardise_inplace(G, source):
    """Impute, drop unusable columns, z-score; returns (G_kept, n_no_calls, n_constant)."""
    n = G.shape[0]
    missing = np.isnan(G)
    n_missing = missing.sum(axis=0)
    no_calls = n_missing == n
    if missing.any():
        col_sum = np.where(missing, 0.0, G).sum(axis=0)
        counts = n - n_missing
        with np.errstate(invalid="ignore", divide="ignore"):
            means = col_sum / counts
        rows, cols = np.nonzero(missing)
        G[rows, cols] = means[cols]
    mean = G.mean(axis=0)
    G -= mean
    sd = np.sqrt(np.einsum("ij,ij->j", G, G) / n)
    constant = (~no_calls) & (sd <= 1e-12 * np.maximum(1.0, np.abs(mean)))
    keep = ~(no_calls | constant)
    if not keep.any():
        raise InputError(f"{source}: no SNP with variation among the analysis sample")
    if not keep.all():
        G = G[:, keep]
        sd = sd[keep]
    G /= sd
    return np.ascontiguousarray(G), int(no_calls.sum()), int(constant.sum())


class RandomEffectsInput:
    """The ``--random-gts`` files, opened and checked before the sample is matched.

    ``paths`` are .bed files (joined column-wise) or, with ``as_text``, one table
    ``FID IID x1 …``.  ``ids`` lists, per file, the individuals it has.
    """

    def __init__(self, paths, as_text=False, missing="NA", num_threads=None):
        from .io import open_genotypes
        from .tables import read_table

        self.paths = tuple(paths)
        if as_text:
            if len(self.paths) != 1:
                raise InputError("--random-gts-txt takes exactly one --random-gts file")
            self.table, self.beds = read_table(self.paths[0], missing), []
            self.ids = [self.table.ids]
        else:
            self.table = None
            self.beds = [open_genotypes(p, "--random-gts", num_threads=num_threads)
                         for p in self.paths]
            self.ids = [b.ids for b in self.beds]

    @property
    def match_by_iid(self):
        """True when a random-effects file has no family IDs."""
        if self.table is not None:
            return self.table.match_by_iid
        return any(b.match_by_iid for b in self.beds)

    def design(self, sample_ids, log=None, by_iid=False):
        """G for the analysis sample (see the module docstring); logs what was dropped."""
        if self.table is not None:
            G, info = random_effects_from_table(self.table, sample_ids, by_iid)
        else:
            G, info = random_effects_from_beds(self.beds, sample_ids, by_iid)
        if log is not None:
            log(f"Random effects: {', '.join(self.paths)}: {info['snps_read']} SNPs read, "
                f"{info['no_calls']} without calls and {info['constant']} without variation "
                f"dropped, l = {info['l']}")
        return G


def random_effects_from_beds(beds, sample_ids, by_iid=False):
    """G (n × l, C order) for the individuals ``sample_ids`` [(FID, IID)] from
    :class:`BedFile` objects; all of them must contain every sample ID."""
    n = len(sample_ids)
    total = sum(b.n_snps for b in beds)
    G = np.empty((n, total))
    col = 0
    for bed in beds:
        pos = {k: i for i, k in enumerate(match_keys(bed.ids, by_iid))}
        index = np.array([pos[k] for k in match_keys(sample_ids, by_iid)], dtype=np.intp)
        for s in range(0, bed.n_snps, BLOCK):
            e = min(bed.n_snps, s + BLOCK)
            G[:, col + s: col + e] = bed.read_dosages(s, e, index)
        col += bed.n_snps
    names = ", ".join(b.path for b in beds)
    G, n_no_calls, n_constant = _standardise_inplace(G, names)
    G *= G.shape[1] ** -0.5
    return G, {"snps_read": total, "no_calls": n_no_calls, "constant": n_constant,
               "l": G.shape[1]}


def random_effects_from_table(table, sample_ids, by_iid=False):
    """G from a text table ``FID IID x1 …`` (already read); missing values imputed."""
    pos = table.row_index(by_iid)
    G = np.array(table.values[[pos[k] for k in match_keys(sample_ids, by_iid)]],
                 dtype=np.float64)
    G, n_no_calls, n_constant = _standardise_inplace(G, table.path)
    G *= G.shape[1] ** -0.5
    return G, {"snps_read": table.values.shape[1], "no_calls": n_no_calls,
               "constant": n_constant, "l": G.shape[1]}
