"""The per-SNP filters and PLINK's sample filter ``--mind``.

A SNP is fitted when, over the analysis individuals,

* its missing-call percentage is below ``--max-missing`` (``--geno F`` is
  ``--max-missing 100F``),
* its minor allele frequency is above ``--min-maf`` (alias ``--maf``),
* its minor allele count ``2·n_called·MAF`` (dosages: their sum) is at least ``--mac``,
* the Hardy–Weinberg exact test of its hard calls (:func:`hwe_exact_p`) has p at least
  ``--hwe``;

checked in this order; the first that fails is its status (``filtered_missing``,
``filtered_maf``, ``filtered_mac``, ``filtered_hwe``).  Every engine goes through
:func:`filter_codes`, so they all filter alike.  Hard calls of dosages: a dosage within
0.1 of 0, 1 or 2 (plink2's default ``--hard-call-threshold``), else missing for the test.

``--mind F`` drops, before anything is matched or fitted, the individuals with a
missing-call rate above F over the test SNPs selected (START END, --chr, --extract …):
one extra pass over those SNPs' genotypes, as plink2 applies --mind before its variant
filters.  The SNP filters then see the individuals left.
"""
import math

import numpy as np

from ..errors import InputError

# status codes of hlmm.scan.block_fits (_CODES)
OK, MISSING, MAF, MAC, HWE = 0, 1, 2, 5, 6


def check_options(cfg):
    """One-line errors for filter thresholds out of range."""
    mac, hwe, mind = (getattr(cfg, k, None) for k in ("mac", "hwe", "mind"))
    if mac is not None and not mac >= 0:
        raise InputError(f"--mac {mac}: must be a count >= 0")
    if hwe is not None and not 0 <= hwe <= 1:
        raise InputError(f"--hwe {hwe}: must be a p-value in [0, 1]")
    if mind is not None and not 0 <= mind <= 1:
        raise InputError(f"--mind {mind}: must be a fraction in [0, 1] (0.1 means 10 %)")


def hwe_exact_p(n_het, n_hom1, n_hom2):
    """The two-sided Hardy–Weinberg exact test p-value (Wigginton, Cutler and Abecasis,
    Am J Hum Genet 2005, as PLINK's): given the allele counts, the probability of the
    heterozygote counts no more likely than the one observed."""
    from scipy.special import gammaln

    n_het, n_hom1, n_hom2 = int(n_het), int(n_hom1), int(n_hom2)
    n = n_het + n_hom1 + n_hom2
    rare = 2 * min(n_hom1, n_hom2) + n_het       # copies of the rarer allele
    if n == 0 or rare == 0:
        return 1.0
    # the het counts possible have rare's parity; their probabilities, up to a constant,
    # are 2^h / (h! homr! homc!).  They fall off like a normal's of SD < sqrt(rare) away
    # from the mode: beyond 40 SDs a term is below e^-800 of the mode's and cannot
    # change a sum in double precision, so only that window is summed (biobank n).
    mode = rare * (2 * n - rare) // (2 * n)
    width = int(40 * math.sqrt(rare)) + 4
    lo = max(rare % 2, mode - width)
    lo += (lo - rare) % 2
    h = np.arange(lo, min(rare, mode + width) + 1, 2, dtype=np.float64)
    homr = (rare - h) / 2
    homc = n - h - homr
    logp = h * math.log(2.0) - gammaln(h + 1) - gammaln(homr + 1) - gammaln(homc + 1)
    top = logp.max()
    obs_r = (rare - n_het) / 2
    obs = (n_het * math.log(2.0) - gammaln(n_het + 1) - gammaln(obs_r + 1)
           - gammaln(n - n_het - obs_r + 1))
    p = np.exp(logp - top)
    # ties within rounding count as "no more likely"
    tail = p[logp <= obs + 1e-7].sum()
    return float(min(1.0, tail / p.sum()))


def class_counts(v):
    """Hard-call counts ``[n0, n1, n2]`` of one SNP's values over the analysis individuals
    (genotype classes with −1 missing, or dosages with NaN missing)."""
    v = np.asarray(v, dtype=np.float64)
    r = np.rint(v)
    hard = (np.abs(v - r) <= 0.1) & (r >= 0) & (r <= 2)     # (NaN compares False)
    return np.bincount(r[hard].astype(np.intp), minlength=3)[:3]


def filter_codes(cfg, n, n_l, f, counts_of=None, allele_total=None):
    """``(freq, code)`` per SNP: folded frequency (NaN when the missingness filter fails)
    and filter status (``OK`` …) from the call counts ``n_l`` over ``n`` analysis
    individuals and counted-allele frequencies ``f``.  ``counts_of(j)`` gives the hard-call
    class counts of SNPs ``j`` (an index array), asked only with ``--hwe`` and only for
    the SNPs still passing.  ``allele_total``: the alleles the calls carry, for --mac
    (default 2·n_l; chrX counts a male's one allele)."""
    n_l = np.asarray(n_l, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        missing = ~(100.0 * (1.0 - n_l / n) < cfg.max_missing)
        freq = np.where(missing, np.nan, np.minimum(f, 1.0 - f))
        maf = ~missing & ~(freq > cfg.min_maf)
    code = np.where(missing, MISSING, np.where(maf, MAF, OK)).astype(np.int8)
    mac = getattr(cfg, "mac", None)
    if mac:
        # (hard calls: an integer up to rounding)
        total = 2.0 * n_l if allele_total is None else np.asarray(allele_total, float)
        low = (code == OK) & ~(total * freq + 1e-6 >= mac)
        code[low] = MAC
    hwe = getattr(cfg, "hwe", None)
    if hwe is not None and counts_of is not None:
        todo = np.flatnonzero(code == OK)
        if todo.size:
            counts = np.asarray(counts_of(todo)).reshape(todo.size, 3)
            p = np.array([hwe_exact_p(c[1], c[0], c[2]) for c in counts.tolist()])
            code[todo[p < hwe]] = HWE
    return freq, code


def mind_filter(geno, snps, positions, threshold, block=1024):
    """``(keep, rates)`` of the individuals at genotype-file ``positions``: their
    missing-call rate over the test variants ``snps`` (unusable variants left out), kept
    when it is at most ``threshold``."""
    from .._core import _bed
    from ..io import runs

    positions = np.ascontiguousarray(positions, dtype=np.intp)
    missing = np.zeros(positions.size, dtype=np.int64)
    counted = 0
    snps = np.asarray(snps, dtype=np.intp)
    for i in range(0, snps.size, block):
        for a, b in runs(snps[i:i + block]):
            bad = {v for v, _ in geno.unusable(a, b)}
            use = np.array([v not in bad for v in range(a, b)], dtype=bool)
            if geno.format == "bed":
                codes = np.empty((b - a, positions.size), dtype=np.int8)
                _bed.decode_codes(np.ascontiguousarray(geno.read_packed(a, b)), positions,
                                  True, codes)
                miss = codes[use] < 0
            else:
                rows = geno.read_rows(a, b)[use][:, positions]
                miss = rows < 0 if rows.dtype == np.int8 else np.isnan(rows)
            missing += miss.sum(axis=0)
            counted += int(use.sum())
    rates = missing / counted if counted else np.zeros(positions.size)
    return rates <= threshold, rates
