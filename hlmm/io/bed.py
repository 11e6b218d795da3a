"""PLINK .bed/.bim/.fam access, streamed in SNP blocks.

The .bed is never read whole: dosages come a block of SNPs at a time (bed-reader,
imported on first use), and the raw packed bytes of a block can be read for the
compiled class-statistics kernels.  The .fam and .bim are read by the compiled text
parser (:mod:`hlmm._core._text`), or token by token when it declines (non-ASCII text,
unusual whitespace): the same columns either way.
"""
import locale
import os
import sys

import numpy as np

from ..errors import InputError
from .tables import gc_paused
from .tokens import as_text, check_ids, parse_number, parse_position, show, text_array, INT_MAX
from . import first_duplicate

BED_MAGIC = bytes([0x6C, 0x1B, 0x01])

FAM_COLUMNS = "FID IID father mother sex phenotype"
BIM_COLUMNS = "chromosome ID cM position A1 A2"


def bed_prefix(path):
    return path[:-4] if path.endswith(".bed") else path


def read_columns(path, columns, kinds):
    """``(strings, numbers)`` of a whitespace-separated file without header.

    ``columns`` names the columns (for messages); ``kinds`` per column: 0 skip, 1 str
    (a list of str), 2 number, 3 str as a numpy array (bytes, or object when one long
    token would make a fixed width costly: :func:`hlmm.io.tokens.as_text` makes it
    str), 4 whole number in 0 … 2³¹ − 1 (a position).  Every non-blank line must have
    ``len(kinds)`` tokens.  ``numbers`` is float64 ``(rows, number and integer columns)``.
    """
    from .._core import _text

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if data.isascii():
        out = _text.parse_fields(data, 0, 0, kinds, None,
                                 use_strtod=locale.localeconv()["decimal_point"] == ".",
                                 threads=os.cpu_count() or 1)
        status = out[0]
        if status == _text.OK:
            return out[1], out[2]
        if status == _text.BAD_COUNT:
            _bad_count(path, out[1], len(kinds), out[3], columns)
        if status == _text.BAD_INTEGER:
            _bad_integer(path, out[1], columns.split()[out[2]], out[4])
    # anything else (a number outside the compiled grammar, unusual whitespace, non-ASCII
    # text): the exact reader decides
    return _read_columns_exact(path, data, columns, kinds)


def _bad_count(path, line, expected, found, columns):
    raise InputError(f"{path} line {line}: expected {expected} columns ({columns}), "
                     f"found {found}")


def _bad_integer(path, line, name, token):
    raise InputError(f"{path} line {line}: {name} {show(token)} is not a whole number in "
                     f"0..{INT_MAX}")


def _read_columns_exact(path, data, columns, kinds):
    """:func:`read_columns` token by token (``str.split``; numbers in PLINK's ASCII
    grammar, :func:`hlmm.io.tokens.parse_number`)."""
    from .tables import _decode

    names = columns.split()
    text = _decode(data, str(path))
    strings = [[] for k in kinds if k in (1, 3)]
    numbers = []
    for line_no, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != len(kinds):
            _bad_count(path, line_no, len(kinds), len(tokens), columns)
        js, row = 0, []
        for j, (k, tok) in enumerate(zip(kinds, tokens)):
            if k in (1, 3):
                strings[js].append(tok)
                js += 1
            elif k == 2:
                v = parse_number(tok)
                if v is None or not np.isfinite(v):
                    raise InputError(f"{path} line {line_no}: {names[j]} {show(tok)} is not "
                                     "a finite number")
                row.append(v)
            elif k == 4:
                v = parse_position(tok)
                if v is None:
                    _bad_integer(path, line_no, names[j], tok)
                row.append(float(v))
        numbers.append(row)
    n_num = sum(k in (2, 4) for k in kinds)
    # the compiled parser refuses control bytes; str.split keeps some (NUL, \x01, …)
    str_names = [nm for nm, k in zip(names, kinds) if k in (1, 3)]
    for nm, col in zip(str_names, strings):
        check_ids(col, f"{nm} of row", path)
    strings = [text_array(x) if k == 3 else x
               for k, x in zip([k for k in kinds if k in (1, 3)], strings)]
    return strings, np.array(numbers, dtype=np.float64).reshape(len(numbers), n_num)


class BedFile:
    """A PLINK 1 binary fileset, checked on opening (a genotype source: see
    :mod:`hlmm.io`).

    ``option`` names where the path came from, for error messages.
    """

    format = "bed"
    match_by_iid = False
    has_dosages = False

    def __init__(self, path, option="GENOFILE", count_a1=True, num_threads=None):
        prefix = bed_prefix(str(path))
        self.path = prefix + ".bed"
        self.abspath = os.path.abspath(self.path)  # for workers with another cwd
        self.option = option
        for ext in (".bed", ".bim", ".fam"):
            if not os.path.isfile(prefix + ext):
                raise InputError(f"{prefix + ext}: file not found ({option} {self.path})")
        with open(self.path, "rb") as fh:
            magic = fh.read(3)
        if len(magic) < 3 or magic[:2] != BED_MAGIC[:2]:
            raise InputError(f"{self.path}: not a PLINK .bed file (wrong magic number)")
        if magic[2] == 0x00:
            raise InputError(f"{self.path}: individual-major .bed files are not supported; "
                             "convert with plink --make-bed")
        if magic[2] != 0x01:
            raise InputError(f"{self.path}: not a PLINK .bed file (unknown mode byte "
                             f"0x{magic[2]:02x} after the magic number)")
        with gc_paused():
            (self._fids, self._iids), _ = read_columns(prefix + ".fam", FAM_COLUMNS,
                                                       [1, 1, 0, 0, 0, 0])
            self._ids = list(zip(self._fids, self._iids))
            unique = (len(set(self._iids)) == len(self._iids)
                      or len(set(self._ids)) == len(self._ids))
        # .bim columns as numpy arrays (no Python str per variant, unless one long
        # token would make a fixed width cost more than the text); positions integers
        (chrom, sid, a1, a2), bp = read_columns(prefix + ".bim", BIM_COLUMNS,
                                                [3, 3, 0, 4, 3, 3])
        self.sid = as_text(sid)
        self.chromosome = as_text(chrom)
        self.bp_position = (bp[:, 0] if bp.size else np.zeros(0)).astype(np.int64)
        self.allele_1 = as_text(a1)
        self.allele_2 = as_text(a2)
        self.count_a1 = count_a1
        self.num_threads = num_threads
        self._bed = None
        self._fid = self._iid = None
        self.n_samples = len(self._iids)
        self.n_snps = len(self.sid)
        if self.n_samples == 0:
            raise InputError(f"{prefix}.fam: no individuals")
        if not unique:
            self._check_unique_ids(prefix + ".fam")
        self.bytes_per_snp = (self.n_samples + 3) // 4
        expected = 3 + self.n_snps * self.bytes_per_snp
        actual = os.path.getsize(self.path)
        if actual != expected:
            what = "truncated" if actual < expected else "longer than expected"
            raise InputError(
                f"{self.path}: {what}: {self.n_snps} SNPs × {self.n_samples} individuals "
                f"need {expected} bytes, the file has {actual}"
            )
        self._check_padding_on_open(prefix + ".fam")

    @property
    def fid(self):
        """FIDs (str array, .fam order); built on first use."""
        if self._fid is None:
            self._fid = text_array(self._fids)
        return self._fid

    @property
    def iid(self):
        if self._iid is None:
            self._iid = text_array(self._iids)
        return self._iid

    # PLINK writes the unused 2-bit slots of each SNP's last byte as 0.  A .fam one line
    # short (6 individuals in the .bed, 5 in the .fam) keeps the byte count, so the size
    # check passes and every later individual would get a neighbour's genotypes; the
    # padding then holds the missing individual's codes.
    def _padding_mask(self):
        used = self.n_samples - 4 * (self.bytes_per_snp - 1)     # 1..4 slots in use
        return (0xFF << (2 * used)) & 0xFF

    def _check_padding(self, last_bytes, start):
        """Raise when a SNP's last byte has non-zero padding (``last_bytes``: those bytes
        of SNPs ``start``, ``start + 1``, …)."""
        mask = self._padding_mask()
        if not mask:
            return
        bad = np.flatnonzero(np.asarray(last_bytes) & mask)
        if bad.size:
            j = start + int(bad[0])
            raise InputError(f"{bed_prefix(self.path)}.fam has fewer individuals than the "
                             f".bed: SNP {j + 1} ({self.sid[j]}) has genotypes past the "
                             f"{self.n_samples} individuals of the .fam")

    def _check_padding_on_open(self, fam, k=4096):
        """The padding of the first ``k`` SNPs (their last bytes only), and whether the
        last .fam individual is code 00 (homozygous A1) at every one of them, as a .fam
        longer than the .bed reads (then a warning: at least 20 SNPs, all 00)."""
        k = min(k, self.n_snps)
        if k == 0:
            return
        last = np.memmap(self.path, dtype=np.uint8, mode="r", offset=3,
                         shape=(self.n_snps, self.bytes_per_snp))[:k, -1].copy()
        self._check_padding(last, 0)
        used = self.n_samples - 4 * (self.bytes_per_snp - 1)
        if used > 1 and k >= 20 and not np.any((last >> (2 * (used - 1))) & 3):
            print(f"hlmm: warning: {fam}: the last individual ({self._fids[-1]} "
                  f"{self._iids[-1]}) has genotype code 00 (homozygous A1) at all of the "
                  f"first {k} SNPs of {self.path}: is the .fam longer than the .bed?",
                  file=sys.stderr)

    def _check_unique_ids(self, fam):
        """Individuals are matched by (FID, IID): a repeated pair would be ambiguous."""
        dup = first_duplicate(self.fid, self.iid)
        if dup is not None:
            k, later = dup
            raise InputError(f"{fam} line {later + 1}: duplicate individual {self.fid[k]} "
                             f"{self.iid[k]} (first on line {k + 1}; {self.option} "
                             f"{self.path})")

    @property
    def reader(self):
        """bed-reader's handle, opened (and bed-reader imported) on first use."""
        if self._bed is None:
            import bed_reader

            self._bed = bed_reader.open_bed(
                self.abspath, count_A1=self.count_a1, num_threads=self.num_threads,
                skip_format_check=True,
                properties={"fid": self.fid, "iid": self.iid, "sid": self.sid})
        return self._bed

    def __getstate__(self):
        # bed-reader's handle does not pickle; Dask workers reopen the file by path.  The
        # derived ID containers are rebuilt there rather than shipped.
        state = self.__dict__.copy()
        state.update(_bed=None, _fid=None, _iid=None, _ids=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._ids = list(zip(self._fids, self._iids))

    @property
    def ids(self):
        return list(self._ids)

    @property
    def count_first(self):
        """A1, the first allele of a .bim line, is counted (see :mod:`hlmm.io`)."""
        return bool(self.count_a1)

    def counted_alleles(self):
        """(counted, other) allele arrays: A1 is counted unless ``count_a1=False``."""
        if self.count_a1:
            return self.allele_1, self.allele_2
        return self.allele_2, self.allele_1

    def read_dosages(self, start, stop, sample_index):
        """Counted-allele dosages, ``len(sample_index) × (stop−start)`` float64, NaN = missing."""
        if self._padding_mask() and stop > start:
            with open(self.abspath, "rb") as fh:
                last = np.memmap(fh, dtype=np.uint8, mode="r", offset=3,
                                 shape=(self.n_snps, self.bytes_per_snp))[start:stop, -1]
                self._check_padding(last, start)
        return self.reader.read(index=np.s_[sample_index, start:stop], dtype=np.float64,
                                order="C")

    def unusable(self, start, stop):
        """Every .bed variant is biallelic and diploid."""
        return []

    @staticmethod
    def _mapped(fh, offset, count):
        """``count`` bytes of ``fh`` from ``offset``, mapped read-only (None if the
        file cannot be mapped)."""
        import mmap

        base = offset - offset % mmap.ALLOCATIONGRANULARITY
        try:
            mm = mmap.mmap(fh.fileno(), offset + count - base, offset=base,
                           access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None
        return np.frombuffer(mm, dtype=np.uint8, count=count, offset=offset - base)

    def read_packed(self, start, stop):
        """The raw .bed bytes of SNPs ``start..stop-1``: ``(stop−start) × bytes_per_snp`` uint8
        (read-only).

        The bytes are mapped from the file, not copied: the kernels read the page cache
        itself (a read() costs a copy and a fault per page of a fresh buffer, ~30 % of
        an HLM scan's reading).  The mapping covers only these SNPs and goes with the
        array, so memory holds only the blocks in flight."""
        count = (stop - start) * self.bytes_per_snp
        offset = 3 + start * self.bytes_per_snp
        with open(self.abspath, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < offset + count:
                raise InputError(f"{self.path}: truncated while reading SNPs "
                                 f"{start}..{stop - 1}")
            buf = self._mapped(fh, offset, count) if count else np.empty(0, np.uint8)
            if buf is None:         # (a file system that cannot map files)
                fh.seek(offset)
                buf = np.frombuffer(fh.read(count), dtype=np.uint8)
                if buf.size != count:
                    raise InputError(f"{self.path}: truncated while reading SNPs "
                                     f"{start}..{stop - 1}")
        buf = buf.reshape(stop - start, self.bytes_per_snp)
        self._check_padding(buf[:, -1], start)
        return buf
