"""Simulators for the tutorial: genotypes like ``plink --simulate`` and the Gamma phenotype.

Genotypes (:func:`simulate_genotypes`)
    SNP j gets an allele frequency ``p_j ~ Uniform(f_min, f_max)`` for its allele ``D``;
    every individual's genotype is an independent ``Binomial(2, p_j)`` count of ``D``
    alleles (Hardy–Weinberg equilibrium, no linkage disequilibrium, no missing calls), as
    ``plink --simulate`` does for a ``null`` SNP set. As with ``plink --make-bed``, the
    minor allele of the realised sample is A1 (``D`` on a tie) and the .bed stores A1
    counts. IDs are ``per0 per0``, ``per1 per1``, …; SNP IDs ``null_0``, ``null_1``, … on
    chromosome 1 at base-pair positions 1, 2, ….

Phenotype (:func:`simulate_phenotype`; the original's ``phenotype_simulation.R``)
    G = the A1 dosages of all SNPs of the given .bed files side by side (n × m), its first
    column g = the SNP with a dispersion effect. With effects ``a_j ~ N(0, 1)`` for the
    other m − 1 columns:

    * ``add = √0.995 · scale(G[:, 1:] a) + √0.01 · g`` (scale: centre, divide by the SD);
    * ``gamma_mean = ⌈|min(add)|⌉``, ``s = (1 − h2) / (gamma_mean · h2)``;
    * ``y_i ~ Gamma(shape = e^{−v·g̃_i} (gamma_mean + add_i) / s, scale = s·e^{v·g̃_i})``
      with ``g̃ = g − mean(g)`` and v the dispersion effect.

    So ``E[y_i] = gamma_mean + add_i`` and ``Var[y_i] = s·e^{v·g̃_i}(gamma_mean + add_i)``:
    the variance explained by ``add`` is about h2 (``Var(add) ≈ 1`` against a noise
    variance of about ``s·gamma_mean = (1 − h2)/h2``), every SNP has a mean effect and,
    through the Gamma mean–variance relation, a variance effect, and the first SNP has
    in addition a dispersion effect of v on the log-variance per A1 allele. Finally the
    inverse-normal transform ``y ← Φ⁻¹(F̂(y) · n/(n + 1))``, with ``F̂`` the empirical
    CDF (``rank/n``, ties given the largest rank, as R's ``ecdf``).

    Random numbers come from ``numpy.random.default_rng(seed)``: first the m − 1 effects,
    then the n Gamma draws in individual order. (The original used R's generator, so the
    same seed gives a different, equally distributed, phenotype.)
"""
import math
import os
import tempfile
from dataclasses import dataclass

import numpy as np
from scipy import stats


# --------------------------------------------------------------------------- genotypes

@dataclass
class SimulatedGenotypes:
    """What :func:`simulate_genotypes` wrote."""

    bed: str
    n: int
    frequencies: np.ndarray  # the drawn frequencies of allele D
    realised: np.ndarray  # the sample frequencies of allele D
    a1: list  # A1 allele ('D' or 'd') per SNP


def _ids(n):
    return np.array([f"per{i}" for i in range(n)])


def simulate_genotypes(outprefix, n, n_snps, freq_min=0.05, freq_max=0.95, seed=None,
                       block_snps=256):
    """Write ``outprefix.bed/.bim/.fam`` with ``n`` individuals and ``n_snps`` null SNPs.

    See the module docstring for the model. Random numbers: ``default_rng(seed)`` draws
    the ``n_snps`` frequencies first, then each SNP's n genotypes in SNP order, so the
    output depends only on the seed (not on ``block_snps``). Genotypes are drawn and
    written ``block_snps`` SNPs at a time as int8 (peak memory ≈ n·block_snps bytes plus
    the Binomial draws), with bed_reader's streaming writer ``create_bed``. The three files
    are written under temporary names and renamed at the end, so a failure leaves no
    partial output.
    """
    n = int(n)
    n_snps = int(n_snps)
    if n < 1:
        raise ValueError("n must be at least 1")
    if n_snps < 1:
        raise ValueError("the number of SNPs must be at least 1")
    if not (0.0 <= freq_min <= freq_max <= 1.0):
        raise ValueError(f"need 0 <= freq_min <= freq_max <= 1, got {freq_min}, {freq_max}")
    if block_snps < 1:
        raise ValueError("block_snps must be at least 1")
    import bed_reader

    rng = np.random.default_rng(seed)
    freqs = rng.uniform(freq_min, freq_max, n_snps)
    realised = np.empty(n_snps)
    a1 = []

    outprefix = os.fspath(outprefix)
    directory = os.path.dirname(os.path.abspath(outprefix))
    tmpdir = tempfile.mkdtemp(prefix=".tmp-gensim-", dir=directory)
    tmp = {ext: os.path.join(tmpdir, "out." + ext) for ext in ("bed", "bim", "fam")}
    try:
        ids = _ids(n)
        props = {"fid": ids, "iid": ids, "sex": np.full(n, 2), "pheno": ["1"] * n}
        with bed_reader.create_bed(tmp["bed"], n, n_snps, properties=props,
                                   count_A1=True, fam_location=tmp["fam"],
                                   bim_location=os.path.join(tmpdir, "ignored.bim")) as w:
            block = np.empty((n, min(block_snps, n_snps)), dtype=np.int8)
            for start in range(0, n_snps, block_snps):
                stop = min(start + block_snps, n_snps)
                for j in range(start, stop):
                    block[:, j - start] = rng.binomial(2, freqs[j], n)
                counts = block[:, : stop - start].sum(axis=0, dtype=np.int64)
                for j in range(start, stop):
                    c = counts[j - start]
                    realised[j] = c / (2.0 * n)
                    col = block[:, j - start]
                    if c <= 2 * n - c:  # D is the minor allele (or a tie)
                        a1.append("D")
                        w.write(col)
                    else:
                        a1.append("d")
                        w.write((2 - col).astype(np.int8))
        with open(tmp["bim"], "w") as fh:
            for j in range(n_snps):
                other = "d" if a1[j] == "D" else "D"
                fh.write(f"1\tnull_{j}\t0\t{j + 1}\t{a1[j]}\t{other}\n")
        _publish(tmp, outprefix)
    finally:
        _rmtree(tmpdir)
    return SimulatedGenotypes(bed=outprefix + ".bed", n=n, frequencies=freqs,
                              realised=realised, a1=a1)


def _publish(tmp, outprefix):
    """Rename temporary files to ``outprefix.<ext>`` with the default permissions."""
    umask = os.umask(0)
    os.umask(umask)
    for ext, path in tmp.items():
        os.chmod(path, 0o666 & ~umask)
        os.replace(path, f"{outprefix}.{ext}")


def _rmtree(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- phenotype

@dataclass
class SimulatedPhenotype:
    """The phenotype of :func:`simulate_phenotype` and the quantities behind it."""

    fid: np.ndarray
    iid: np.ndarray
    y: np.ndarray  # inverse-normal transformed phenotype
    y_raw: np.ndarray  # the Gamma draws before the transform
    add: np.ndarray  # the additive (mean) component, gamma_mean + add = E[y_raw]
    g: np.ndarray  # A1 dosage of the SNP with the dispersion effect
    effects: np.ndarray  # N(0,1) effects of the other SNPs
    gamma_mean: float
    s: float


def read_fam_ids(fam):
    """(FID, IID) arrays of a .fam file."""
    fids, iids = [], []
    with open(fam) as fh:
        for lineno, line in enumerate(fh, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise ValueError(f"{fam}: line {lineno} has fewer than 2 fields")
            fids.append(parts[0])
            iids.append(parts[1])
    return np.array(fids), np.array(iids)


def _bed_dosages(bed, block_snps):
    """Yield ``(start, block)``: float64 A1 dosages of ``block_snps`` SNPs at a time,
    missing calls replaced by the SNP's mean dosage."""
    import bed_reader

    with bed_reader.open_bed(bed, count_A1=True) as b:
        m = b.sid_count
        for start in range(0, m, block_snps):
            stop = min(start + block_snps, m)
            block = b.read(index=np.s_[:, start:stop], dtype="float64")
            miss = np.isnan(block)
            if miss.any():
                means = np.nanmean(block, axis=0)
                means = np.where(np.isnan(means), 0.0, means)
                block[miss] = np.take(means, np.nonzero(miss)[1])
            yield start, block


def simulate_phenotype(bed_files, h2=0.10, dispersion=0.05, seed=None, block_snps=256):
    """Simulate the tutorial's phenotype from the SNPs of ``bed_files`` (see module doc).

    ``bed_files``: .bed paths whose .fam files list the same individuals in the same order;
    the first SNP of the first file carries the dispersion effect. Missing calls are
    replaced by the SNP's mean dosage. Genotypes are read ``block_snps`` SNPs at a time.
    Returns a :class:`SimulatedPhenotype`.
    """
    if not 0 < h2 < 1:
        raise ValueError(f"h2 must be in (0, 1), got {h2}")
    if not math.isfinite(dispersion):
        raise ValueError("the dispersion effect must be finite")
    import bed_reader

    bed_files = [os.fspath(b) for b in bed_files]
    if not bed_files:
        raise ValueError("no .bed file given")
    fid = iid = None
    counts = []
    for bed in bed_files:
        try:
            with bed_reader.open_bed(bed, count_A1=True) as b:
                f, i, m = np.asarray(b.fid), np.asarray(b.iid), b.sid_count
        except OSError:
            raise
        except Exception as exc:  # bed_reader's errors do not name the file
            raise ValueError(f"{bed}: cannot read genotypes ({exc})") from None
        if fid is None:
            fid, iid = f, i
        elif f.shape != fid.shape or np.any(f != fid) or np.any(i != iid):
            raise ValueError(f"{bed}: its individuals differ from those of {bed_files[0]} "
                             "(the .fam files must list the same IDs in the same order)")
        counts.append(m)
    n = fid.shape[0]
    m_total = sum(counts)
    if n < 3:
        raise ValueError(f"{bed_files[0]}: {n} individuals are too few")
    if m_total < 2:
        raise ValueError("need at least 2 SNPs: one with the dispersion effect and one "
                         "more with a mean effect")

    rng = np.random.default_rng(seed)
    effects = rng.standard_normal(m_total - 1)
    raw = np.zeros(n)
    g = None
    offset = 0  # index of the file's first SNP in G
    for bed, m in zip(bed_files, counts):
        try:
            for start, block in _bed_dosages(bed, block_snps):
                cols = offset + start + np.arange(block.shape[1])
                if cols[0] == 0:
                    g = block[:, 0].copy()
                    block, cols = block[:, 1:], cols[1:]
                if cols.size:
                    raw += block @ effects[cols - 1]
        except (OSError, MemoryError):
            raise
        except Exception as exc:
            raise ValueError(f"{bed}: cannot read genotypes ({exc})") from None
        offset += m
    sd = raw.std(ddof=1)
    if not sd > 0:
        raise ValueError("the additive component is constant (monomorphic SNPs?)")
    add = math.sqrt(0.995) * (raw - raw.mean()) / sd + math.sqrt(0.01) * g
    gamma_mean = float(math.ceil(abs(add.min())))
    if gamma_mean + add.min() <= 0:  # min(add) a negative integer: keep the shape positive
        gamma_mean += 1.0
    s = (1.0 - h2) / (gamma_mean * h2)
    gc = g - g.mean()
    shape = np.exp(-dispersion * gc) * (gamma_mean + add) / s
    scale = s * np.exp(dispersion * gc)
    y_raw = rng.gamma(shape, scale)
    y = inverse_normal(y_raw)
    return SimulatedPhenotype(fid=fid, iid=iid, y=y, y_raw=y_raw, add=add, g=g,
                              effects=effects, gamma_mean=gamma_mean, s=s)


def inverse_normal(y):
    """``Φ⁻¹(F̂(y)·n/(n+1))``: ``F̂(y_i)`` = (number of y_j ≤ y_i)/n, as R's ecdf."""
    y = np.asarray(y, dtype=np.float64)
    ranks = stats.rankdata(y, method="max")
    return stats.norm.ppf(ranks / (y.shape[0] + 1.0))


def write_phenotype(path, fid, iid, y):
    """Write ``FID IID y`` lines (space-separated, no header, 15 significant digits),
    through a temporary file renamed at the end."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            for f, i, v in zip(fid, iid, y):
                fh.write(f"{f} {i} {v:.15g}\n")
        _publish_file(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _publish_file(tmp, path):
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
