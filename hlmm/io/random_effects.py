"""The random-effects design G from .bed files (or a text table), as the original built it.

For the analysis sample: missing calls are mean-imputed per SNP, SNPs with no calls (or
with no variation, which cannot be standardised) are dropped, each column is z-scored
with the population SD, and the matrix is multiplied by ``l^-½``, so that
``h2·GGᵀ`` has average diagonal h2.  Several .bed files are joined column-wise into one
design (e.g. one file per chromosome).

With ``m`` non-missing values in a column, ``mean = Σx/m``,
``SS = Σ_{non-missing}(x − mean)²`` and ``sd = √(SS/n)`` (an imputed value adds 0), the
entry is ``((x − mean)/sd)·l^-½``, 0 where missing.  Hard-call columns (every value 0, 1
or 2) take Σx and SS from their class counts (:mod:`hlmm._core._standardise`): a .bed is
then standardised straight from its packed 2-bit codes (one n × l float64 array, no
intermediate), and the same calls from a .pgen, .bgen or text table give the same G to
the bit.
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import InputError
from .tables import match_keys

BLOCK = 64  # SNPs read at a time from non-.bed sources: a transient n × 64 float64 block


def _ranges(total, threads, minimum=1):
    """Split ``0..total`` into up to ``threads`` contiguous ``(lo, hi)`` ranges."""
    k = max(1, min(threads, total // max(minimum, 1)))
    cuts = np.linspace(0, total, k + 1).astype(np.intp)
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


def _in_threads(fn, total, threads, minimum=1):
    """``fn(lo, hi)`` over :func:`_ranges`, in threads (the kernels release the GIL)."""
    parts = _ranges(total, threads, minimum)
    if len(parts) <= 1:
        for lo, hi in parts:
            fn(lo, hi)
        return
    with ThreadPoolExecutor(len(parts)) as ex:
        list(ex.map(lambda r: fn(*r), parts))


def _threads(num_threads):
    return max(1, int(num_threads or os.cpu_count() or 1))


def _keep_columns(n, m, mean, ss, source):
    """(sd, keep, n_no_calls, n_constant) from the column statistics."""
    no_calls = m == 0
    sd = np.sqrt(ss / n)
    constant = (~no_calls) & (sd <= 1e-12 * np.maximum(1.0, np.abs(mean)))
    keep = ~(no_calls | constant)
    if not keep.any():
        raise InputError(f"{source}: no SNP with variation among the analysis sample")
    return sd, keep, int(no_calls.sum()), int(constant.sum())


def _class_moments(c0, c1, c2):
    """(m, mean, SS) of hard-call columns from their class counts (mean NaN without calls)."""
    m = c0 + c1 + c2
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c1 + 2.0 * c2) / m
    ss = c0 * (0.0 - mean) ** 2 + c1 * (1.0 - mean) ** 2 + c2 * (2.0 - mean) ** 2
    return m, mean, np.where(m > 0, ss, 0.0)


def _standardise_inplace(G, source, num_threads=None):
    """Impute, drop unusable columns, z-score, scale by ``l^-½`` (see the module
    docstring); returns (G_kept, n_no_calls, n_constant)."""
    from .._core import _standardise

    n, L = G.shape
    threads = _threads(num_threads)
    m = np.zeros(L, dtype=np.int64)
    total = np.zeros(L)
    counts = np.zeros((L, 3), dtype=np.int64)
    hard = np.zeros(L, dtype=np.int8)
    _in_threads(lambda lo, hi: _standardise.column_sums(G, lo, hi, m, total, counts, hard),
                L, threads, 8)
    hard = hard.astype(bool)
    _, mean, ss = _class_moments(counts[:, 0], counts[:, 1], counts[:, 2])
    soft = ~hard & (m > 0)
    if soft.any():
        mean[soft] = total[soft] / m[soft]
        ss_soft = np.zeros(L)
        _in_threads(lambda lo, hi: _standardise.column_ss(G, lo, hi, mean, ss_soft),
                    L, threads, 8)
        ss[soft] = ss_soft[soft]
    sd, keep, n_no_calls, n_constant = _keep_columns(n, m, mean, ss, source)
    sd_kept = np.where(keep, sd, 0.0)
    scale = int(keep.sum()) ** -0.5
    _in_threads(lambda lo, hi: _standardise.standardise_rows(G, lo, hi, mean, sd_kept, scale),
                n, threads, 1024)
    if not keep.all():
        G = G[:, keep]
    return np.ascontiguousarray(G), n_no_calls, n_constant


class RandomEffectsInput:
    """The ``--random-gts`` files, opened and checked before the sample is matched.

    ``paths`` are genotype files (.bed, .pgen, .bgen; joined column-wise) or, with
    ``as_text``, one table ``FID IID x1 …``; ``sample_file`` is ``--sample``, the
    Oxford .sample of the .bgen files.  ``ids`` lists, per file, the individuals it has
    (see :meth:`match_ids`).
    """

    def __init__(self, paths, as_text=False, missing="NA", num_threads=None,
                 sample_file=None):
        from . import bgen_only, open_genotypes
        from .tables import read_table

        self.paths = tuple(paths)
        self.num_threads = num_threads
        if as_text:
            if len(self.paths) != 1:
                raise InputError("--random-gts-txt takes exactly one --random-gts file")
            self.table, self.beds = read_table(self.paths[0], missing), []
            self.ids = [self.table.ids]
        else:
            self.table = None
            self.beds = [open_genotypes(p, "--random-gts", num_threads=num_threads,
                                        sample_file=bgen_only(p, sample_file))
                         for p in self.paths]
            self.ids = [b.ids for b in self.beds]

    def match_ids(self, pheno, id_delim="_"):
        """Give each genotype file the sample IDs that match the phenotype table
        ``pheno`` (:func:`hlmm.io.sample_ids.resolve_sample_ids`); returns log lines."""
        from .sample_ids import resolve_sample_ids

        notes = [resolve_sample_ids(b, pheno, id_delim) for b in self.beds]
        self.ids = [b.ids for b in self.beds] if self.beds else self.ids
        return [n for n in notes if n]

    @property
    def match_by_iid(self):
        """True when a random-effects file has no family IDs."""
        if self.table is not None:
            return self.table.match_by_iid
        return any(b.match_by_iid for b in self.beds)

    def design(self, sample_ids, log=None, by_iid=False):
        """G for the analysis sample (see the module docstring); logs what was dropped."""
        if self.table is not None:
            G, info = random_effects_from_table(self.table, sample_ids, by_iid,
                                                self.num_threads)
        else:
            G, info = random_effects_from_beds(self.beds, sample_ids, by_iid,
                                               self.num_threads)
        if log is not None:
            log(f"Random effects: {', '.join(self.paths)}: {info['snps_read']} SNPs read, "
                f"{info['no_calls']} without calls and {info['constant']} without variation "
                f"dropped, l = {info['l']}")
        return G


def random_effects_from_beds(beds, sample_ids, by_iid=False, num_threads=None):
    """G (n × l, C order) for the individuals ``sample_ids`` [(FID, IID)] from genotype
    sources (:mod:`hlmm.io`); all of them must contain every sample ID."""
    indices = []
    for bed in beds:
        keys = match_keys(bed.ids, by_iid)
        pos = dict(zip(keys, range(len(keys))))
        indices.append(np.fromiter(map(pos.__getitem__, match_keys(sample_ids, by_iid)),
                                   dtype=np.intp, count=len(sample_ids)))
    names = ", ".join(b.path for b in beds)
    total = sum(b.n_snps for b in beds)
    if all(b.format == "bed" for b in beds):
        G, n_no_calls, n_constant = _design_from_packed(beds, indices, names, num_threads)
    else:
        G = np.empty((len(sample_ids), total))
        col = 0
        for bed, index in zip(beds, indices):
            for s in range(0, bed.n_snps, BLOCK):
                e = min(bed.n_snps, s + BLOCK)
                G[:, col + s: col + e] = bed.read_dosages(s, e, index)
            col += bed.n_snps
        G, n_no_calls, n_constant = _standardise_inplace(G, names, num_threads)
    return G, {"snps_read": total, "no_calls": n_no_calls, "constant": n_constant,
               "l": G.shape[1]}


# dosage of the counted allele per 2-bit .bed code (code 1 = missing)
_CODE_DOSAGE = {True: np.array([2.0, np.nan, 1.0, 0.0]),
                False: np.array([0.0, np.nan, 1.0, 2.0])}


def _design_from_packed(beds, indices, names, num_threads):
    """G from the packed codes of .bed files: class counts per SNP, then one fill."""
    from .._core import _standardise

    threads = _threads(num_threads)
    packed, class_counts = [], []
    for bed, index in zip(beds, indices):
        p = bed.read_packed(0, bed.n_snps) if bed.n_snps else \
            np.zeros((0, bed.bytes_per_snp), dtype=np.uint8)
        codes = np.zeros((bed.n_snps, 4), dtype=np.int64)
        _in_threads(lambda lo, hi: _standardise.bed_code_counts(p, index, lo, hi, codes),
                    bed.n_snps, threads, 4)
        packed.append(p)
        # columns: dosage 0, 1, 2 of the counted allele
        class_counts.append(codes[:, [3, 2, 0]] if bed.count_a1 else codes[:, [0, 2, 3]])
    c = np.concatenate(class_counts)
    n = len(indices[0])
    m, mean, ss = _class_moments(c[:, 0], c[:, 1], c[:, 2])
    sd, keep, n_no_calls, n_constant = _keep_columns(n, m, mean, ss, names)
    scale = int(keep.sum()) ** -0.5
    G = np.empty((n, int(keep.sum())))
    first, col = 0, 0
    for bed, index, p in zip(beds, indices, packed):
        rows = np.flatnonzero(keep[first:first + bed.n_snps]).astype(np.intp)
        j = first + rows
        with np.errstate(invalid="ignore"):
            table = ((_CODE_DOSAGE[bool(bed.count_a1)][None, :] - mean[j, None])
                     / sd[j, None]) * scale
        table[:, 1] = 0.0
        table = np.ascontiguousarray(table)
        _in_threads(lambda lo, hi: _standardise.fill_bed(p, index, rows, table, G, col,
                                                         lo, hi), n, threads, 1024)
        first += bed.n_snps
        col += len(rows)
    return G, n_no_calls, n_constant


def random_effects_from_table(table, sample_ids, by_iid=False, num_threads=None):
    """G from a text table ``FID IID x1 …`` (already read); missing values imputed."""
    pos = table.row_index(by_iid)
    G = np.array(table.values[[pos[k] for k in match_keys(sample_ids, by_iid)]],
                 dtype=np.float64)
    G, n_no_calls, n_constant = _standardise_inplace(G, table.path, num_threads)
    return G, {"snps_read": table.values.shape[1], "no_calls": n_no_calls,
               "constant": n_constant, "l": G.shape[1]}
