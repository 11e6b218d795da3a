"""Files in and out: genotype readers (``bed``, ``pgen`` with ``pgen_files``, ``bgen`` with
``bgen_blocks`` and ``oxford_sample``, ``sample_ids``), text tables (``tables``),
phenotype columns (``phenotypes``), the analysis sample (``sample``), PLINK selections
(``selection``), the random-effects design (``random_effects``), outputs and the run log
(``output``) and results tables (``results_table``); the tokens of users' files
(``tokens``: numbers, IDs, string columns, how a bad token is shown) and the .pvar text
checks (``pvar_text``). Imports ``hlmm.models`` (never ``hlmm.scan``) and below.

Genotype readers sit behind one small interface, chosen by the file's extension.

Every reader (``.bed`` :class:`~hlmm.io.bed.BedFile`, ``.pgen``
:class:`~hlmm.io.pgen.PgenSource`, ``.bgen`` :class:`~hlmm.io.bgen.BgenSource`) is a
*genotype source* with:

- ``path`` (the genotype file), ``option`` (the command-line option or argument it came
  from, for error messages), ``format`` ("bed", "pgen", "bgen");
- ``n_samples``, ``n_snps``; ``fid``, ``iid`` (str arrays, file order) and
  ``match_by_iid`` (True when the file has no family IDs, e.g. a ``#IID`` .psam or BGEN
  sample IDs: individuals are then matched to phenotypes by IID alone, as PLINK 2 does;
  ``fid`` then repeats ``iid``);
- per variant: ``sid``, ``chromosome``, ``bp_position``, and ``counted_alleles()`` →
  ``(counted, other)`` arrays; ``count_first``: whether the *first* allele of the file's
  order is counted (.bim A1, .pvar REF, BGEN's first allele).  Default
  (:data:`COUNTS_FIRST`): .bed A1, as PLINK; .pgen ALT, as plink2; .bgen the second
  allele, as plink2's ``ref-first`` import.  ``open_genotypes(count_first=…)`` chooses
  (``--ref-last`` / ``--ref-first``);
- ``has_dosages``: the file may hold non-integer dosages, and then ``dosage_scale``: the
  inverse of the grid step its dosages are stored on (``rint(g·scale)`` is exact for
  every stored value; .pgen 16384, BGEN 65535 after snapping b-bit values), which the
  scan's dosage-class engine uses;
- ``read_dosages(start, stop, sample_index)`` → float64 C-order array
  ``len(sample_index) × (stop − start)`` of counted-allele dosages in [0, 2], NaN where
  missing; streamed: memory O(n × block);
- ``unusable(start, stop)`` → list of ``(variant index, reason)`` for variants the model
  cannot use (e.g. "multi-allelic", "ploidy != 2"); their columns of ``read_dosages`` are
  all NaN and the scan writes a NaN row with the reason counted in the log;
- picklable (Dask workers reopen the file by path).

Only ``.bed`` sources have ``read_packed`` (raw 2-bit codes for the compiled
class-statistics kernels); the scan reads other formats through ``read_dosages``.
"""
import os

from ..errors import InputError

FORMATS = {".bed": "bed", ".pgen": "pgen", ".bgen": "bgen"}
# whether each format counts the first allele of its variant lines by default
COUNTS_FIRST = {"bed": True, "pgen": False, "bgen": False}
# the names of the (first, second) alleles in each format, for the log
ALLELE_NAMES = {"bed": ("A1", "A2"), "pgen": ("REF", "ALT"), "bgen": ("first", "second")}


def genotype_format(path):
    """'bed', 'pgen' or 'bgen' from the extension (a bare PLINK prefix means .bed)."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext in FORMATS:
        return FORMATS[ext]
    if ext == "" or os.path.exists(str(path) + ".bed"):
        return "bed"
    raise InputError(f"{path}: unknown genotype format '{ext}' (expected .bed, .pgen or .bgen)")


def open_genotypes(path, option="GENOFILE", count_first=None, sample_file=None,
                   num_threads=None):
    """The genotype source for ``path`` (see the module docstring); ``count_first``:
    count the first allele (True), the second (False), or the format's default (None)."""
    fmt = genotype_format(path)
    if fmt != "bgen" and sample_file is not None:
        raise InputError(f"--sample {sample_file}: only for .bgen files ({option} {path})")
    if count_first is None:
        count_first = COUNTS_FIRST[fmt]
    if fmt == "bed":
        from .bed import BedFile

        return BedFile(path, option, count_a1=count_first, num_threads=num_threads)
    if fmt == "pgen":
        from .pgen import PgenSource

        return PgenSource(path, option, num_threads=num_threads, count_first=count_first)
    from .bgen import BgenSource

    return BgenSource(path, option, sample_file=sample_file, num_threads=num_threads,
                      count_first=count_first)


def bgen_only(path, sample_file):
    """``--sample`` applies to the .bgen inputs only: ``sample_file`` for a .bgen
    ``path``, else None."""
    return sample_file if genotype_format(path) == "bgen" else None


def check_sample_option(sample_file, paths):
    """``--sample`` given without any .bgen among the genotype files ``paths`` is an
    error (it would be silently unused)."""
    if sample_file is not None and not any(genotype_format(p) == "bgen" for p in paths):
        raise InputError(f"--sample {sample_file}: only for .bgen files, and no genotype "
                         f"file is one ({', '.join(map(str, paths)) or 'none given'})")


def count_first_option(ref_first=False, ref_last=False, count_a2=False):
    """``count_first`` for :func:`open_genotypes` from the command-line flags: True
    (``--ref-last``: the last allele is the reference, the first is counted), False
    (``--ref-first`` or ``--count-a2``: the second is counted) or None (the format's
    default)."""
    if ref_first and ref_last:
        raise InputError("--ref-first and --ref-last: give one of them")
    if count_a2 and ref_last:
        raise InputError("--count-a2 counts the second allele, --ref-last the first: "
                         "give one of them")
    if ref_last:
        return True
    return False if (ref_first or count_a2) else None


def counted_allele_text(source):
    """How the log names the counted allele of ``source``, e.g. "first (A1)"."""
    names = ALLELE_NAMES[source.format]
    which = "first" if source.count_first else "second"
    label = names[0] if source.count_first else names[1]
    return which if label == which else f"{which} ({label})"


def first_duplicate(fid, iid, by_iid=False):
    """``(first, later)``: the positions of the first repeat of an individual's matching
    key (IID, or FID and IID) in file order and of that key's first occurrence, or
    None.  A dict, not numpy's string functions: the ID arrays may be object arrays
    (:func:`hlmm.io.tokens.text_array`)."""
    iid = iid.tolist() if hasattr(iid, "tolist") else list(iid)
    keys = iid if by_iid else list(zip(fid.tolist() if hasattr(fid, "tolist") else fid, iid))
    if len(set(keys)) == len(keys):
        return None
    seen = {}
    for later, key in enumerate(keys):
        k = seen.setdefault(key, later)
        if k != later:
            return k, later
    return None


def runs(idx):
    """``[(start, stop), …]``: the runs of consecutive values of a sorted index array."""
    import numpy as np

    idx = np.asarray(idx)
    if idx.size == 0:
        return []
    cut = np.flatnonzero(np.diff(idx) != 1) + 1
    starts = np.concatenate([[0], cut])
    stops = np.concatenate([cut, [idx.size]])
    return [(int(idx[a]), int(idx[b - 1]) + 1) for a, b in zip(starts, stops)]
