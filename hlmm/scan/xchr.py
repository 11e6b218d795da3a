"""Chromosome X (outside the pseudo-autosomal regions: a ``X``/``23`` variant; PLINK's
``XY``/``25`` is diploid and scanned as an autosome).

Males carry one X.  As plink2's ``--xchr-model``:

- ``2`` (default): a male's genotype is coded 0/2 (a .bed stores haploid calls as
  homozygous, so its codes are used as they are; a haploid BGEN male's dosage is doubled
  by the reader); a heterozygous male call is an error of the data and is missing;
- ``1``: 0/1 (the counted homozygote becomes one copy);
- ``0``: chrX is skipped.

Sex enters the null model's mean and variance designs as a covariate (plink2 adds it to
the mean; the sexes' trait variances may differ too, and a variance scan would otherwise
read that as a variance effect of every SNP whose coding differs by sex), unless
``--no-x-sex``; individuals of unknown sex are dropped on chrX.  The reported frequency
counts a male once and a female twice: ``f = (Σ_female g + Σ_male g/2) / (2·n_female +
n_male)`` with males coded 0/2 (model 1: ``Σ_male g``); so do ``--maf``/``--mac``, and
``--hwe`` tests the females' calls, as PLINK.
"""
import numpy as np

from ..errors import InputError
from ..io.tables import Table

# .bed 2-bit codes: 0 = two A1, 1 = missing, 2 = heterozygous, 3 = two A2
_MISSING, _HET = 1, 2


def male_code_table(model, count_a1):
    """The .bed code each male code becomes under ``--xchr-model`` ``model``."""
    lut = np.array([0, 1, _MISSING, 3], dtype=np.uint8)    # a het male: missing
    if model == 1:
        lut[0 if count_a1 else 3] = _HET                     # two counted copies → one
    return lut


def recode_males(packed, male_pos, lut):
    """A copy of the packed rows with the 2-bit codes of the individuals at file
    positions ``male_pos`` mapped through ``lut``."""
    out = np.array(packed, copy=True)
    byte = male_pos >> 2
    shift = (male_pos & 3) * 2
    for s in range(4):
        b = byte[shift == 2 * s]
        if b.size == 0:
            continue
        v = out[:, b]
        codes = (v >> (2 * s)) & 3
        out[:, b] = (v & np.uint8(~(3 << (2 * s)) & 0xFF)) | (lut[codes] << (2 * s))
    return out


class XCoding:
    """The male recoding of chrX blocks, attached to a
    :class:`~hlmm.scan.genome_scan.GenomeScan` of chrX SNPs (applied by
    :meth:`hlmm.scan.blocks.BlockLoop._read_block`)."""

    def __init__(self, male_file_pos, model, count_a1):
        self.male_pos = np.asarray(male_file_pos, dtype=np.intp)
        self.model = model
        self.lut = male_code_table(model, count_a1)

    def __call__(self, packed, rows):
        packed = recode_males(packed, self.male_pos, self.lut)
        if rows is not None and self.model == 1:
            rows = np.array(rows, dtype=np.float64, copy=True)
            if rows.ndim == 2:
                rows[:, self.male_pos] /= 2.0
        return packed, rows


class MaleOnceFrequency:
    """chrX's counted-allele frequency and allele total with a male counted once,
    ``f = (Σ_female g + Σ_male g/2) / (2·n_female + n_male)`` (model 1: ``Σ_male g``),
    over the called individuals of a scan's sample (``is_male`` over its analysed
    individuals); the scan's filters and its frequency columns use them
    (``GenomeScan._x_freq``).  A class, not a closure, so the scan pickles for Dask."""

    def __init__(self, scan, is_male, model):
        self.scan = scan
        self.male = np.asarray(is_male, dtype=bool)
        self.model = model

    def of_values(self, g):
        """``(f, total)`` of one SNP's values (classes with −1 missing, or dosages with
        NaN missing) over the analysed individuals."""
        g = np.asarray(g, dtype=np.float64)
        ok = ~np.isnan(g) & (g >= 0)
        fem, mal = ok & ~self.male, ok & self.male
        alleles = g[fem].sum() + (g[mal].sum() / 2.0 if self.model == 2 else g[mal].sum())
        total = 2.0 * fem.sum() + mal.sum()
        return (alleles / total if total > 0 else np.nan), total

    def females(self, g):
        """The females' values of ``g``: PLINK tests Hardy–Weinberg on chrX in females."""
        return np.asarray(g)[~self.male]

    def of_block(self, packed, rows, hard, cols):
        """``(f, total, female class counts)`` arrays of the block's SNPs ``cols`` (as
        read by the scan)."""
        from .._core import _bed
        from .snp_filters import class_counts

        scan = self.scan
        cols = np.asarray(cols, dtype=np.intp)
        f, total = np.empty(cols.size), np.empty(cols.size)
        counts = np.empty((cols.size, 3), dtype=np.int64)
        codes = np.empty((1, scan.sample.n), dtype=np.int8)
        for k, j in enumerate(cols.tolist()):
            if hard is None or hard[j]:
                _bed.decode_codes(packed[j:j + 1], scan.sample_index, scan._count_a1, codes)
                g = codes[0]
            else:
                g = scan._analysis(rows, j)
            f[k], total[k] = self.of_values(g)
            counts[k] = class_counts(self.females(g))
        return f, total, counts


def x_frame(frame, sex_order, no_x_sex, log):
    """The phenotype frame of the chrX scans: individuals of unknown sex out, and sex (1
    male, 2 female) appended to the mean and variance covariates unless ``no_x_sex``.
    ``sex_order``: sex per individual of ``frame``'s reference list."""
    from ..io.sample import SampleFrame

    known = sex_order > 0
    ids = frame.order_ids
    tables = list(frame.tables)
    if not no_x_sex:
        for k, t in enumerate(tables):
            n = len(ids)
            if t is None:
                vals, names = np.empty((n, 0)), []
            else:
                r = frame.covar_rows[k]
                vals = np.full((n, t.values.shape[1]), np.nan)
                vals[r >= 0] = t.values[r[r >= 0]]
                names = list(t.names)
            sexcol = np.where(known, sex_order, np.nan).astype(float)[:, None]
            tables[k] = Table(path=(t.path if t is not None else "sex"), ids=list(ids),
                              names=names + ["sex"],
                              values=np.hstack([vals, sexcol]),
                              n_missing=np.zeros(len(names) + 1, dtype=np.int64))
    others = list(frame.other_ids) + [("sex", [i for i, k in zip(ids, known.tolist()) if k])]
    x = SampleFrame(frame.pheno, tables, ids, others, frame.missing, frame.missing_number,
                    frame.by_iid)
    log(f"Chromosome X: {int((~known).sum())} individual(s) of unknown sex left out"
        + ("" if no_x_sex else "; sex is a covariate of the mean and the variance "
           "(--no-x-sex: not)"))
    return x


def check_sex(sex, geno, n_x):
    """A scan of ``n_x`` chrX SNPs needs the sex of some individuals."""
    if sex is None or not (sex > 0).any():
        raise InputError(f"{n_x} test SNP(s) on chromosome X of {geno.path}, and no "
                         "individual's sex is known (.fam column 5, .psam SEX, .sample "
                         "sex): give it with --sex FILE (FID IID SEX), or skip chrX with "
                         "--xchr-model 0")
