"""PLINK 2 .pgen/.pvar/.psam genotype source (a genotype source: see :mod:`hlmm.io`),
read with ``pgenlib`` (plink2's own reader behind Cython).

Conventions (each as plink2 2.00a3 does, checked against it where it applies):

- **Files**: ``X.pgen`` with ``X.pvar`` (or ``X.pvar.zst``, which pgenlib's
  ``PvarReader`` reads natively; a headerless .bim-style file is read as plink2 does,
  ALT = column 5) and ``X.psam`` beside it.
- **Counted allele**: ALT, as plink2 ``--glm`` (``counted_alleles()`` → ``(ALT, REF)``);
  REF with ``count_first`` (every read returns 2 − the ALT dosage). A .pgen made by
  ``plink2 --bfile X --make-pgen`` keeps A1 as ALT and A2 as REF, so its default
  dosages equal the .bed's with ``count_a1=True``.
- **Dosages**: ``read_dosages`` gives the stored dosage where there is one and the hard
  call elsewhere (pgenlib ``read_dosages_range``); .pgen dosages are multiples of
  1/16384 (``dosage_scale``). Missing → NaN.
- **Variant ID** (``sid``): the .pvar ID, or where it is ``.``, ``CHROM:POS:REF:ALT`` as
  ``plink2 --set-missing-var-ids @:#:$r:$a`` makes it (CHROM as written in the .pvar;
  for a multi-allelic variant ALT is the first ALT allele, as plink2 does).
- **Unusable variants** (:meth:`PgenSource.unusable`, all-NaN columns): more than one
  ALT allele ("multi-allelic").
- **Samples** (.psam): a header ``#FID IID …`` (individuals matched by FID and IID) or
  ``#IID …`` (``match_by_iid``: matched by IID alone, ``fid`` repeats ``iid``), after any
  ``##`` lines; or no header, a .fam-style ``FID IID PAT MAT SEX PHENO`` table. A repeated
  individual is an error.
- **Checks on opening**: the .pgen header (storage mode, counts, dosage presence) is read
  here, and the file size checked against the variant records it announces, so a
  truncated file fails at once; pgenlib's own errors then (opening) or later (reading)
  are :class:`~hlmm.errors.InputError` ``"<path>: cannot read: …"`` on one line.
- **Threads**: every thread reading gets its own ``PgenReader`` (``threading.local``;
  pgenlib readers hold buffers and a file position, and release the GIL while
  decoding), so reads in several threads run in parallel. On 100,000 samples × 2,000
  variants in blocks of 1,000 (2-core machine), ``read_dosages`` of every sample costs
  1.8 ns per genotype on one thread and 1.1 on two (hard calls), 3.6 and 1.9 (dosages);
  one reader behind a lock measured no faster on two threads than on one. A reader
  costs ~9 bytes per variant plus up to ~150 per sample. ``num_threads`` is accepted
  and unused.
- **Pickling**: readers are dropped and reopened lazily (Dask workers reopen by path).
"""
import os
import threading

import numpy as np

from ..errors import InputError
from .pgen_files import _first_line, pgen_prefix, read_pgen_header, read_psam
from .pvar_text import check_pvar_text
from .tokens import check_columns, text_array
from . import first_duplicate

__all__ = ["PgenSource", "read_psam", "pgen_prefix"]

DOSAGE_SCALE = 16384.0   # .pgen dosages are multiples of 1/16384
_DOSAGE_CHUNK = 64       # variants decoded per call in the dosage path (cache-sized)

# int8 ALT count (as uint8) → float64 dosage of the counted allele, indexed by
# count_first: ALT 0, 1, 2 or REF 2, 1, 0; anything else (-9 = missing) NaN
_HARDCALL_LUT = np.full((2, 256), np.nan)
_HARDCALL_LUT[0, :3] = (0.0, 1.0, 2.0)
_HARDCALL_LUT[1, :3] = (2.0, 1.0, 0.0)


# ---------------------------------------------------------------------------- source
class PgenSource:
    """A PLINK 2 fileset ``X.pgen`` + ``X.pvar[.zst]`` + ``X.psam``, checked on opening
    (a genotype source: see :mod:`hlmm.io`; conventions in the module docstring).

    ``option`` names where the path came from, for error messages. Besides the
    interface: ``ref``, ``alt`` (str arrays; ``alt`` comma-separated when multi-allelic),
    ``n_alleles``, ``dosage_scale`` (16384: dosages are multiples of its inverse) and
    :meth:`read_hardcalls` (int8 counted-allele counts, −1 missing).
    """

    format = "pgen"
    dosage_scale = DOSAGE_SCALE

    def __init__(self, path, option="GENOFILE", num_threads=None, count_first=False):
        import pgenlib  # noqa: F401  (fail here, not in a worker, when it is missing)

        self.count_first = bool(count_first)

        prefix = pgen_prefix(path)
        self.path = prefix + ".pgen"
        self.abspath = os.path.abspath(self.path)  # for workers with another cwd
        self.option = option
        self.num_threads = num_threads
        where = f"{option} {self.path}"
        if not os.path.isfile(self.path):
            raise InputError(f"{self.path}: file not found ({where})")
        pvar = prefix + ".pvar"
        if not os.path.isfile(pvar):
            if os.path.isfile(pvar + ".zst"):
                pvar += ".zst"
            else:
                raise InputError(f"{pvar}: file not found (nor {pvar}.zst; {where})")
        psam = prefix + ".psam"
        if not os.path.isfile(psam):
            raise InputError(f"{psam}: file not found ({where})")
        self.pvar_path, self.psam_path = pvar, psam
        self.abspvar = os.path.abspath(pvar)

        header = read_pgen_header(self.path)
        self.has_dosages = bool(header["dosage"])
        self.fid, self.iid, self.match_by_iid, lines = read_psam(psam, where)
        self.n_samples = len(self.iid)
        self._check_unique_ids(psam, lines)
        if header["sample_ct"] is not None and header["sample_ct"] != self.n_samples:
            raise InputError(f"{psam}: {self.n_samples} individuals, but {self.path} has "
                             f"{header['sample_ct']} samples")
        self._read_pvar(pvar)
        if header["variant_ct"] is not None and header["variant_ct"] != self.n_snps:
            raise InputError(f"{pvar}: {self.n_snps} variants, but {self.path} has "
                             f"{header['variant_ct']}")
        self._file_size = os.path.getsize(self.path)
        if header["size"] is not None and self._file_size < header["size"]:
            raise InputError(f"{self.path}: cannot read: truncated: the header announces "
                             f"{header['size']} bytes, the file has {self._file_size}")
        self._local = threading.local()
        self._local.reader = self._open_reader()   # pgenlib's own checks, now
        self._local.subset = None

    # ------------------------------------------------------------------ opening
    def _read_pvar(self, pvar):
        import pgenlib

        try:
            pr = pgenlib.PvarReader(os.fsencode(pvar))
        except Exception as exc:
            raise InputError(f"{pvar}: cannot read: {_first_line(exc)}") from None
        try:
            m = pr.get_variant_ct()
            offsets = np.asarray(pr.get_allele_idx_offsets(), dtype=np.int64)
            n_alleles = np.diff(offsets)
            dec = bytes.decode
            chrom = [dec(pr.get_variant_chrom(i)) for i in range(m)]
            pos = np.fromiter((pr.get_variant_pos(i) for i in range(m)), np.int64, m)
            ids = [dec(pr.get_variant_id(i)) for i in range(m)]
            ref = [dec(pr.get_allele_code(i, 0)) for i in range(m)]
            alt1 = [dec(pr.get_allele_code(i, 1)) for i in range(m)]
            alt = list(alt1)
            for i in np.flatnonzero(n_alleles > 2):
                alt[i] = ",".join(dec(pr.get_allele_code(int(i), a))
                                  for a in range(1, int(n_alleles[i])))
            max_allele_ct = pr.get_max_allele_ct()
        except Exception as exc:
            raise InputError(f"{pvar}: cannot read: {_first_line(exc)}") from None
        finally:
            pr.close()
        check_pvar_text(pvar, pos)
        check_columns((("chromosome of variant", chrom), ("ID of variant", ids),
                       ("REF allele of variant", ref), ("ALT allele of variant", alt)), pvar)
        for i, name in enumerate(ids):
            if name == ".":   # plink2 --set-missing-var-ids @:#:$r:$a
                ids[i] = f"{chrom[i]}:{pos[i]}:{ref[i]}:{alt1[i]}"
        self.n_snps = m
        self.sid = text_array(ids)
        self.chromosome = text_array(chrom)
        self.bp_position = pos
        self.ref = text_array(ref)
        self.alt = text_array(alt)
        self.n_alleles = n_alleles
        self._multi = np.flatnonzero(n_alleles > 2)
        # pgenlib needs the allele counts to walk multi-allelic records
        self._allele_idx_offsets = (offsets.astype(np.uintp) if max_allele_ct > 2
                                    else None)

    def _check_unique_ids(self, psam, lines):
        """Individuals are matched by (FID, IID), or by IID for a ``#IID`` .psam: a
        repeated key would be ambiguous."""
        dup = first_duplicate(self.fid, self.iid, self.match_by_iid)
        if dup is not None:
            k, later = dup
            who = self.iid[k] if self.match_by_iid else f"{self.fid[k]} {self.iid[k]}"
            raise InputError(f"{psam} line {lines[later]}: duplicate individual {who} "
                             f"(first on line {lines[k]}; {self.option} {self.path})")

    def _open_reader(self, subset=None):
        import pgenlib

        kwargs = {"raw_sample_ct": self.n_samples, "variant_ct": self.n_snps}
        if self._allele_idx_offsets is not None:
            kwargs["allele_idx_offsets"] = self._allele_idx_offsets
        if subset is not None:
            kwargs["sample_subset"] = subset
        try:
            return pgenlib.PgenReader(os.fsencode(self.abspath), **kwargs)
        except Exception as exc:
            raise InputError(f"{self.path}: cannot read: {_first_line(exc)}") from None

    def _reader(self, subset):
        """This thread's reader, set to the sorted sample subset ``subset`` (None: all)."""
        local = self._local
        reader = getattr(local, "reader", None)
        if reader is None:
            reader = local.reader = self._open_reader(subset)
            local.subset = subset
            return reader
        cur = local.subset
        if not (cur is None and subset is None) and not (
                cur is not None and subset is not None and np.array_equal(cur, subset)):
            try:
                reader.change_sample_subset(subset)
            except Exception as exc:
                raise InputError(f"{self.path}: cannot read: {_first_line(exc)}") from None
            local.subset = subset
        return reader

    def _selection(self, sample_index):
        """``(subset, order, idx)``: the sorted distinct samples to decode (uint32, or
        None for all), the rows of the decoded block giving ``sample_index`` (None when
        already in order) and ``sample_index`` as an int64 array."""
        if isinstance(sample_index, slice):
            sample_index = np.arange(self.n_samples)[sample_index]
        idx = np.asarray(sample_index)
        if idx.ndim != 1:
            raise ValueError("sample_index must be one-dimensional")
        ns = len(idx)
        idx = idx.astype(np.int64, copy=False)
        if ns == 0:
            return None, None, idx
        if idx.min() < 0 or idx.max() >= self.n_samples:
            raise IndexError(f"sample_index outside 0..{self.n_samples - 1}")
        if ns == 1 or np.all(idx[1:] > idx[:-1]):
            subset, order = idx, None
        else:
            subset, order = np.unique(idx, return_inverse=True)
            order = order.reshape(-1)
        if len(subset) == self.n_samples:
            subset = None
        else:
            subset = subset.astype(np.uint32)
        return subset, order, idx

    def _check_range(self, start, stop):
        if not 0 <= start <= stop <= self.n_snps:
            raise IndexError(f"variants {start}..{stop} outside 0..{self.n_snps}")

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        # pgenlib readers do not pickle; Dask workers reopen the file by path
        state = self.__dict__.copy()
        state["_local"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local = threading.local()   # readers reopen lazily, one per thread
        if os.path.getsize(self.abspath) != self._file_size:
            raise InputError(f"{self.path}: the file changed since it was opened "
                             f"({self.option} {self.path})")

    # ------------------------------------------------------------------ interface
    @property
    def ids(self):
        return list(zip(self.fid.tolist(), self.iid.tolist()))

    def counted_alleles(self):
        """(counted, other) allele arrays: ALT, as plink2 --glm, or REF (count_first)."""
        return (self.ref, self.alt) if self.count_first else (self.alt, self.ref)

    def unusable(self, start, stop):
        """``[(variant index, "multi-allelic"), …]`` in ``start..stop-1``."""
        lo, hi = np.searchsorted(self._multi, [start, stop])
        return [(int(j), "multi-allelic") for j in self._multi[lo:hi]]

    def _multi_cols(self, start, stop):
        lo, hi = np.searchsorted(self._multi, [start, stop])
        return self._multi[lo:hi] - start

    def _read_hardcalls_raw(self, start, stop, subset, ns_sub):
        """pgenlib's sample-major int8 hard calls (−9 missing) of the subset."""
        g = np.empty((ns_sub, stop - start), dtype=np.int8)
        if stop > start:
            reader = self._reader(subset)
            try:
                reader.read_range(start, stop, g, sample_maj=True)
            except Exception as exc:
                raise InputError(f"{self.path}: cannot read variants {start}..{stop - 1}: "
                                 f"{_first_line(exc)}") from None
        return g

    def read_hardcalls(self, start, stop, sample_index):
        """Counted-allele hard-call counts, ``len(sample_index) × (stop−start)`` int8
        C-order, −1 = missing (and for multi-allelic variants). For a file with dosages
        these are plink2's hard calls (a dosage within 0.1 of an integer, else missing)."""
        self._check_range(start, stop)
        subset, order, idx = self._selection(sample_index)
        if len(idx) == 0:
            return np.empty((0, stop - start), dtype=np.int8)
        g = self._read_hardcalls_raw(start, stop, subset,
                                     self.n_samples if subset is None else len(subset))
        if order is not None:
            g = g[order]
        g[g < 0] = -1
        if self.count_first:
            np.subtract(2, g, out=g, where=g >= 0)
        multi = self._multi_cols(start, stop)
        if multi.size:
            g[:, multi] = -1
        return g

    def read_rows(self, start, stop):
        """Variant-major counted-allele dosages of every sample, ``(stop−start) ×
        n_samples``: int8 counts (−9 missing) for a hard-call file, else float32 (exact on the
        1/16384 grid, NaN missing); multi-allelic variants all missing.  The scan's
        fast path: no transpose and no gather."""
        self._check_range(start, stop)
        m = stop - start
        reader = self._reader(None)
        try:
            if not self.has_dosages:
                rows = np.empty((m, self.n_samples), dtype=np.int8)
                if m:
                    reader.read_range(start, stop, rows)
            else:
                rows = np.empty((m, self.n_samples), dtype=np.float32)
                if m:
                    reader.read_dosages_range(start, stop, rows)
                    from .._core import _dosage

                    _dosage.negative_to_nan(rows)      # pgenlib's missing is −9
        except Exception as exc:
            raise InputError(f"{self.path}: cannot read variants {start}..{stop - 1}: "
                             f"{_first_line(exc)}") from None
        if self.count_first:
            np.subtract(2, rows, out=rows, where=rows >= 0)     # NaN and −9 stay missing
        multi = self._multi_cols(start, stop)
        if multi.size:
            rows[multi] = -9 if rows.dtype == np.int8 else np.nan
        return rows

    def read_dosages(self, start, stop, sample_index):
        """Counted-allele dosages, ``len(sample_index) × (stop−start)`` float64 C-order
        in [0, 2], NaN = missing, all-NaN columns for multi-allelic variants (thread-safe).

        Hard-call files: pgenlib decodes the requested samples (its sample subsetting
        of 2-bit codes is cheap) straight to samples × variants int8, and a table lookup
        makes the float64 block. Dosage files: pgenlib decodes every sample, variant-
        major, ``_DOSAGE_CHUNK`` variants at a time, and the requested samples are
        gathered from that (pgenlib's dosage subsetting costs more than decoding every
        sample), then transposed into the output."""
        self._check_range(start, stop)
        subset, order, idx = self._selection(sample_index)
        ns, m = len(idx), stop - start
        if ns == 0 or m == 0:
            return np.empty((ns, m), dtype=np.float64)
        if not self.has_dosages:
            g = self._read_hardcalls_raw(start, stop, subset,
                                         self.n_samples if subset is None else len(subset))
            if order is not None:
                g = g[order]
            out = np.take(_HARDCALL_LUT[int(self.count_first)], g.view(np.uint8))
        else:
            gather = None if (subset is None and order is None) else idx
            out = np.empty((ns, m), dtype=np.float64)
            reader = self._reader(None)
            chunk = min(_DOSAGE_CHUNK, m)
            # float32 holds every k/16384 in [0, 2] exactly: half the bandwidth
            buf = np.empty((chunk, self.n_samples), dtype=np.float32)
            for a in range(start, stop, chunk):
                b = min(stop, a + chunk)
                blk = buf[:b - a]
                try:
                    reader.read_dosages_range(a, b, blk)
                except Exception as exc:
                    raise InputError(f"{self.path}: cannot read variants {a}..{b - 1}: "
                                     f"{_first_line(exc)}") from None
                if gather is not None:
                    blk = np.take(blk, gather, axis=1)
                blk[blk < 0] = np.nan   # pgenlib's missing is -9
                if self.count_first:
                    np.subtract(2.0, blk, out=blk)
                out[:, a - start:b - start] = blk.T
        multi = self._multi_cols(start, stop)
        if multi.size:
            out[:, multi] = np.nan
        return out
