"""BGEN genotype source (a genotype source: see :mod:`hlmm.io`), read with the ``bgen``
package (jeremymcrae/bgen: C++ decoder behind Cython); the common genotype blocks are
decoded by :mod:`hlmm.io.bgen_blocks` instead, to the same dosages (see Threads).

Why that library: on an 8-bit zlib BGEN v1.2 of 100,000 samples × 2,000 variants it
reads counted-allele dosages at ~7 ns per genotype, against ~70 for ``cbgen`` and ~85
for ``bgen-reader`` (``bench/bench_bgen_readers.py``); it is released often, depends on
numpy only, and writes BGEN files too (the tests use its ``BgenWriter``).

Conventions (checked against plink2 v2.00a3.5):

- **Counted allele**: by default the *second* allele of each variant; dosage = P(het) +
  2·P(hom second), or for phased data the sum over both haplotypes of P(second allele).
  This is plink2's ``--bgen FILE ref-first`` (first allele REF, second ALT; plink2
  counts ALT). plink2's ``ref-last``/``ref-unknown`` (and REGENIE's default) make the
  *last* allele REF instead, i.e. they count the first allele: ``count_first=True``
  (``--ref-last``) gives 2 − the second-allele dosage. Note that ``plink2 --export
  bgen-1.x`` writes ALT *first* unless given ``ref-first`` (PLINK 1.9 order), so on
  such a file the default counts REF, and ``--ref-last`` counts what the .bed's A1 was.
  ``counted_alleles()`` returns ``(allele 2, allele 1)``, or the reverse.
- **Dosage values**: the library decodes to float32; a b-bit dosage is a multiple of
  1/(2^b − 1), so for b = 1, 2, 4, 8, 16 (plink2 writes 8 or 16, UK Biobank 8) the
  values are snapped back to exact multiples of 1/65535 (``dosage_scale``; checked per
  variant: every value must lie within float32 rounding of the grid), which lets the
  scan fit them by dosage-value classes. Other depths keep float32 precision (the scan
  then uses its general path).
- **Missing**: a sample flagged missing in the variant's genotype block (layout 2), or
  with all-zero probabilities (layout 1), reads as NaN.
- **Unusable variants**, returned by :meth:`BgenSource.unusable` with all-NaN columns:
  more than two alleles ("multi-allelic"), one allele ("monoallelic"), or any sample
  whose ploidy is not 2 ("ploidy != 2"; e.g. haploid chrX males — the whole variant is
  set aside rather than silently dropping those samples). The ploidy is known only once
  the variant is decoded: :meth:`~BgenSource.read_dosages` records it, and
  :meth:`~BgenSource.unusable` decodes variants not read yet.
- **Variant ID** (``sid``): the rsID when present (not empty or "."), else the variant
  ID field, else ``CHR:POS:A1:A2``.
- **Sample IDs**: an explicit ``sample_file`` (``--sample``) wins, as in plink2 (which
  uses the .sample even when the BGEN embeds IDs); else the IDs embedded in the BGEN;
  else the ``.sample`` beside the file (``X.sample`` for ``X.bgen``). Embedded IDs are
  IIDs (plink2 reads them as IIDs without --id-delim): ``match_by_iid`` is True and
  ``fid`` repeats ``iid``; :func:`hlmm.io.sample_ids.resolve_sample_ids` may then
  replace them by the ``.sample`` beside the file or by the IDs split into FID and IID,
  whichever matches the phenotype file (``embedded_ids`` keeps them). In an Oxford
  .sample (header ``ID_1 ID_2 missing …``, type line ``0 0 0 …``, one row per
  sample), ID_2 is the IID and ID_1 the FID; when every
  ID_1 is ``0`` (plink2 then writes a ``#IID``-only .psam) or every ID_1 equals its ID_2
  (``--double-id`` style), the file carries no family information and
  ``match_by_iid`` is True; otherwise individuals are matched by (ID_1, ID_2).
- **Index**: nothing is written. Opening walks the variant headers once (~5 µs per
  variant) for IDs, positions, alleles and file offsets. The library reads a bgenix
  ``X.bgen.bgi`` index beside the file when there is one (as UK Biobank ships); without
  it, the library keeps its own list of parsed variant headers in memory (~0.5 kB per
  variant) for random access — make a .bgi with ``bgenix -g X.bgen -index`` for files of
  millions of variants. A .bgi that does not match the file is an error.
- **Damage**: a file that is not BGEN, a truncated file, a broken variant header, a
  broken zlib header or a wrong stored length is an :class:`InputError` at opening or
  reading. Scrambled bytes inside a compressed block that still inflate to the stored
  length are not detected (the library skips zlib's checksum; it logs a warning when
  the decoded probabilities exceed their maximum).
- **Threads**: the library decodes while holding the GIL, so one reader behind a lock
  serves every thread (per-thread readers measured slower: ~13 against ~7 ns per
  genotype with 2 threads). So the common blocks (layout 2, zlib or uncompressed, two
  alleles, diploid, 8 or 16 bits) are read and decoded by :mod:`hlmm.io.bgen_blocks`
  in the calling thread without the GIL, to the same dosages; the library gets only the
  rest. ``num_threads`` is accepted and unused.
"""
import logging
import os
import threading

import numpy as np

from ..errors import InputError
from .tokens import INT_MAX, check_columns, check_ids, text_array
from . import bgen_blocks
from .oxford_sample import _first_line, read_sample_file
from . import first_duplicate

__all__ = ["BgenSource", "read_sample_file"]


class _LibraryWarnings(logging.Handler):
    """Collects the bgen library's warnings (it logs a malformed variant through the root
    logger and goes on) while decoding; hlmm reports such a variant itself, as unusable."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def __enter__(self):
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger().removeHandler(self)
        return False


DOSAGE_SCALE = 65535.0  # 2^16 − 1, a multiple of 2^b − 1 for b = 1, 2, 4, 8, 16
_GRID_TOL = 0.05        # in grid steps; the library's float32 dosages are off by < 0.02


def _variant_id(rsid, varid, chrom, pos, alleles):
    for name in (rsid, varid):
        if name and name != ".":
            return name
    return ":".join([chrom, str(pos)] + list(alleles))


class BgenSource:
    """A BGEN v1.2/v1.3 file (layout 2; also layout 1 v1.1; any bit depth; zlib, zstd or
    no compression), checked on opening (a genotype source: see :mod:`hlmm.io`).

    ``option`` names where the path came from, for error messages; ``sample_file`` is
    the ``--sample`` Oxford .sample file, if given. See the module docstring for the
    conventions (counted allele, sample IDs, unusable variants, index, threads).
    """

    format = "bgen"
    has_dosages = True
    # the dosages of 1-, 2-, 4-, 8- and 16-bit variants are multiples of 1/65535 exactly
    # (other depths are not, and the scan fits them by its general path)
    dosage_scale = DOSAGE_SCALE

    def __init__(self, path, option="GENOFILE", sample_file=None, num_threads=None,
                 count_first=False):
        self.path = str(path)
        self.count_first = bool(count_first)
        self.abspath = os.path.abspath(self.path)  # for workers with another cwd
        self.option = option
        self.sample_file = None if sample_file is None else str(sample_file)
        self.num_threads = num_threads
        if not os.path.isfile(self.path):
            raise InputError(f"{self.path}: file not found ({option} {self.path})")
        self._file_size = os.path.getsize(self.abspath)
        self._lock = threading.Lock()
        walker = self._open_reader()
        try:
            header = walker.header
            self.n_samples = int(header.nsamples)
            self.layout = int(header.layout)
            self.compression = header.compression
            if self.n_samples == 0:
                raise InputError(f"{self.path}: no samples ({option} {self.path})")
            self._read_samples(walker, header.has_sample_ids)
            self._read_variants(walker, int(header.nvariants))
        finally:
            # a reader iterated to the end of the file cannot seek back: random access
            # gets a fresh one
            self._close(walker)
        reader = self._open_reader()
        try:
            self._start_random_access(reader)
        except InputError:
            self._close(reader)
            raise
        self._reader = reader

    # ------------------------------------------------------------------ opening
    def _open_reader(self):
        from bgen import BgenReader

        try:
            return BgenReader(self.abspath, delay_parsing=True)
        except Exception as exc:  # the library raises ValueError/RuntimeError/OSError
            raise InputError(f"{self.path}: not a readable BGEN file ({_first_line(exc)}; "
                             f"{self.option} {self.path})") from None

    @staticmethod
    def _close(reader):
        try:
            reader.close()
        except Exception:
            pass

    def _read_samples(self, reader, embedded):
        n = self.n_samples
        self.embedded_ids = None
        if self.sample_file is not None:
            where = f"--sample {self.sample_file}"
            self.fid, self.iid, self.match_by_iid, lines = read_sample_file(
                self.sample_file, n, where)
            self.sample_source = self.sample_file
        elif embedded:
            try:
                ids = reader.samples
            except Exception as exc:
                raise InputError(f"{self.path}: cannot read the sample identifiers "
                                 f"({_first_line(exc)})") from None
            if len(ids) != n:
                raise InputError(f"{self.path}: {len(ids)} sample identifiers for "
                                 f"{n} samples")
            self.iid = text_array(ids)
            check_ids(self.iid, "sample ID", f"{self.path} ({self.option} {self.path})")
            self.fid = self.iid.copy()
            self.embedded_ids = self.iid.copy()
            self.match_by_iid = True
            self.sample_source = self.path
            lines = where = None
        else:
            beside = os.path.splitext(self.path)[0] + ".sample"
            if not os.path.isfile(beside):
                raise InputError(f"{self.path}: the BGEN file stores no sample IDs and "
                                 f"there is no {beside} beside it; give the sample file "
                                 f"with --sample FILE")
            where = beside
            self.fid, self.iid, self.match_by_iid, lines = read_sample_file(beside, n, where)
            self.sample_source = beside
        self._check_unique_ids(lines, where)

    def _check_unique_ids(self, lines, where):
        """Individuals are matched by IID (or (FID, IID)): a repeat would be ambiguous."""
        dup = first_duplicate(self.fid, self.iid, self.match_by_iid)
        if dup is None:
            return
        k, later = dup
        who = self.iid[k] if self.match_by_iid else f"{self.fid[k]} {self.iid[k]}"
        if lines is None:
            msg = f"{self.path}: duplicate sample ID {who} (samples {k + 1} and {later + 1})"
        else:
            msg = (f"{where} line {lines[later]}: duplicate individual {who} "
                   f"(first on line {lines[k]})")
        raise InputError(f"{msg} ({self.option} {self.path})")

    def _read_variants(self, reader, n_header):
        """One walk over the variant headers: IDs, positions, alleles, file offsets."""
        sid, chrom, pos, a1, a2, nall, offs, ends = [], [], [], [], [], [], [], []
        try:
            for var in reader:
                alleles = var.alleles
                c, p = var.chrom, var.pos
                sid.append(_variant_id(var.rsid, var.varid, c, p, alleles))
                chrom.append(c)
                pos.append(p)
                nall.append(len(alleles))
                a1.append(alleles[0] if alleles else ".")
                a2.append(alleles[1] if len(alleles) > 1 else ".")
                offs.append(var.fileoffset)
                ends.append(var.next_variant_offset)
        except Exception as exc:
            raise InputError(f"{self.path}: corrupt or truncated BGEN file "
                             f"({_first_line(exc)}; {self.option} {self.path})") from None
        if len(sid) != n_header:
            raise InputError(f"{self.path}: the header lists {n_header} variants, but "
                             f"{len(sid)} could be read ({self.option} {self.path})")
        # BGEN stores IDs and alleles as length-prefixed bytes: a tab or newline in one
        # would forge columns and rows of the tables
        where = f"{self.path} ({self.option} {self.path})"
        check_columns((("ID of variant", sid), ("chromosome of variant", chrom),
                       ("first allele of variant", a1), ("second allele of variant", a2)),
                      where)
        self.n_snps = len(sid)
        self.sid = text_array(sid)
        self.chromosome = text_array(chrom)
        self.bp_position = np.array(pos, dtype=np.int64)
        big = np.flatnonzero((self.bp_position < 0) | (self.bp_position > INT_MAX))
        if big.size:
            raise InputError(f"{where}: the position of variant {big[0] + 1} "
                             f"({self.bp_position[big[0]]}) is not in 0..{INT_MAX}")
        self.allele_1 = text_array(a1)
        self.allele_2 = text_array(a2)
        self._n_alleles = np.array(nall, dtype=np.int64)
        self._offsets = np.array(offs, dtype=np.uint64)
        self._ends = np.array(ends, dtype=np.uint64)
        # the common blocks are decoded outside the library, in parallel (bgen_blocks)
        self._fast = bgen_blocks.available(self.layout, self.compression)
        self._ploidy_checked = np.zeros(self.n_snps, dtype=bool)
        self._ploidy_bad = set()
        self._malformed = set()     # variants whose decoded probabilities the library
                                    # reported as malformed (sum above the bit depth)

    def _start_random_access(self, reader):
        """Have the library set up random access now, in this thread: it parses every
        variant header (no .bgi) or loads the .bgi's offsets, whose sqlite connection
        only this thread may use."""
        if self.n_snps == 0:
            return
        bgi = self.abspath + ".bgi"
        try:
            n_index = len(reader) if os.path.exists(bgi) else self.n_snps
            first = reader[0]
        except Exception as exc:
            raise InputError(f"{self.path}: cannot index the BGEN file "
                             f"({_first_line(exc)}; {self.option} {self.path})") from None
        if n_index != self.n_snps or first.fileoffset != int(self._offsets[0]):
            raise InputError(f"{self.path}.bgi: the index does not match {self.path} "
                             f"({n_index} variants indexed, {self.n_snps} in the file); "
                             f"remake it with bgenix -g {self.path} -index -clobber")

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        # the library's reader does not pickle; Dask workers reopen the file by path
        state = self.__dict__.copy()
        state["_reader"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
        if os.path.getsize(self.abspath) != self._file_size:
            raise InputError(f"{self.path}: the file changed since it was opened "
                             f"({self.option} {self.path})")
        reader = self._open_reader()
        self._start_random_access(reader)
        self._reader = reader

    # ------------------------------------------------------------------ interface
    @property
    def ids(self):
        return list(zip(self.fid.tolist(), self.iid.tolist()))

    def counted_alleles(self):
        """(counted, other) allele arrays: the second allele (plink2's ``ref-first``
        ALT), or the first with ``count_first``."""
        if self.count_first:
            return self.allele_1, self.allele_2
        return self.allele_2, self.allele_1

    def _allele_reason(self, j):
        k = self._n_alleles[j]
        if k == 2:
            return None
        return "multi-allelic" if k > 2 else "monoallelic"

    def _variant(self, j):
        """The library's variant ``j`` (call under the lock)."""
        try:
            var = self._reader[j]
        except Exception as exc:
            raise InputError(f"{self.path}: cannot read variant {j} "
                             f"({_first_line(exc)})") from None
        if var.fileoffset != int(self._offsets[j]):
            raise InputError(f"{self.path}.bgi: the index does not match {self.path} "
                             f"(variant {j}); remake it with bgenix -g {self.path} "
                             f"-index -clobber")
        return var

    def _ploidy_ok(self, j, var):
        """Record and return whether every sample of variant ``j`` is diploid or haploid
        (haploid: chrX males, chrY, MT; read as 0/2, :meth:`_decode`)."""
        ok = bool(np.all((var.ploidy == 2) | (var.ploidy == 1)))
        if not ok:
            self._ploidy_bad.add(j)
        self._ploidy_checked[j] = True
        return ok

    def read_rows(self, start, stop):
        """Variant-major counted-allele dosages of every sample, ``(stop−start) ×
        n_samples`` float64 (on the 1/65535 grid where the bit depth allows), NaN
        missing, unusable variants all NaN.  The scan's fast path (no transpose)."""
        if not 0 <= start <= stop <= self.n_snps:
            raise IndexError(f"variants {start}..{stop} outside 0..{self.n_snps}")
        return self._decode(start, stop, np.arange(self.n_samples, dtype=np.intp), True)

    def read_dosages(self, start, stop, sample_index):
        """Counted-allele dosages, ``len(sample_index) × (stop−start)`` float64 C-order,
        NaN = missing, all-NaN columns for unusable variants (thread-safe)."""
        if not 0 <= start <= stop <= self.n_snps:
            raise IndexError(f"variants {start}..{stop} outside 0..{self.n_snps}")
        if isinstance(sample_index, slice):
            sample_index = np.arange(self.n_samples)[sample_index]
        sample_index = np.asarray(sample_index, dtype=np.intp)
        if sample_index.ndim != 1:
            raise ValueError("sample_index must be one-dimensional")
        every = len(sample_index) == self.n_samples and np.array_equal(
            sample_index, np.arange(self.n_samples))
        buf = self._decode(start, stop, sample_index, every)
        ns, m = len(sample_index), stop - start
        out = np.empty((ns, m), dtype=np.float64)
        step = 8192  # transpose in slabs of samples, cache-friendly
        for i in range(0, ns, step):
            out[i:i + step] = buf[:, i:i + step].T
        return out

    def _decode(self, start, stop, sample_index, every):
        """Variant-major dosages of ``sample_index`` (all samples when ``every``)."""
        ns, m = len(sample_index), stop - start
        buf = np.empty((m, ns), dtype=np.float64)  # variant-major while decoding
        from .._core import _dosage

        scratch = np.empty(self.n_samples)
        skip = np.array([self._allele_reason(j) is not None for j in range(start, stop)],
                        dtype=bool)
        done = skip.copy()
        if self._fast:
            for k in bgen_blocks.decode_run(self.abspath, self._offsets, self._ends, start,
                                            stop, skip, self.compression is not None,
                                            lambda k: buf[k] if every else scratch):
                if not every:
                    np.take(scratch, sample_index, out=buf[k])
                if self.count_first:
                    np.subtract(2.0, buf[k], out=buf[k])
                self._ploidy_checked[start + k] = True      # all diploid
                done[k] = True
        for k, j in enumerate(range(start, stop)):
            if skip[k]:
                buf[k] = np.nan
                continue
            if done[k]:
                continue
            with self._lock, _LibraryWarnings() as warned:
                var = self._variant(j)
                try:
                    dose = var.alt_dosage if self._ploidy_ok(j, var) else None
                    if dose is not None:
                        haploid = var.ploidy == 1
                        if haploid.any():
                            # a haploid call's dosage is its P(alt): coded 0/2 as PLINK
                            # codes haploid calls (hlmm.scan.xchr halves it for model 1)
                            dose = np.where(haploid, 2.0 * dose, dose)
                except Exception as exc:
                    raise InputError(f"{self.path}: cannot decode variant {j} "
                                     f"({self.sid[j]}): {_first_line(exc)}") from None
            if warned.records:          # the library found the probabilities malformed
                self._malformed.add(j)
                dose = None
            if dose is None:
                buf[k] = np.nan
                continue
            # as float64, snapped to the exact multiples of 1/65535 when every value is
            # within float32 rounding of one (b-bit BGEN dosages are multiples of
            # 1/(2^b − 1): true for b = 1, 2, 4, 8, 16); otherwise just widened
            if every:
                _dosage.snap_to_grid(dose, DOSAGE_SCALE, _GRID_TOL, buf[k])
            else:
                _dosage.snap_to_grid(dose, DOSAGE_SCALE, _GRID_TOL, scratch)
                np.take(scratch, sample_index, out=buf[k])
            if self.count_first:
                np.subtract(2.0, buf[k], out=buf[k])
        return buf

    def unusable(self, start, stop):
        """``[(variant index, reason), …]`` in ``start..stop-1``: "multi-allelic",
        "monoallelic", "ploidy not 1 or 2" (decodes variants whose ploidy is not known
        yet)."""
        found = []
        for j in range(start, stop):
            reason = self._allele_reason(j)
            if reason is None:
                if not self._ploidy_checked[j]:
                    with self._lock, _LibraryWarnings() as warned:
                        var = self._variant(j)
                        try:
                            if self._ploidy_ok(j, var):
                                var.alt_dosage     # decoded once: malformed data warns
                        except Exception as exc:
                            raise InputError(f"{self.path}: cannot decode variant {j} "
                                             f"({self.sid[j]}): {_first_line(exc)}") from None
                    if warned.records:
                        self._malformed.add(j)
                if j in self._ploidy_bad:
                    reason = "ploidy not 1 or 2"
                elif j in self._malformed:
                    reason = "malformed probabilities"
            if reason is not None:
                found.append((j, reason))
        return found
