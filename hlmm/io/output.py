"""Output files of the scan and of single fits: the original's formats, written atomically.

Every file is written to a temporary name beside its target and renamed into place only
when the whole run has succeeded, so a failed run leaves no half-written output.
"""
import math
import os
import shutil
import struct
import tempfile
import zlib

try:        # ISA-L's deflate: ~3× zlib's speed at level 1, and smaller output
    from isal import isal_zlib as _deflate
except ImportError:         # pragma: no cover (a platform without its wheel)
    _deflate = zlib

import numpy as np
from scipy.special import chdtrc, log_ndtr

_LN10 = math.log(10.0)
_LOG2 = math.log(2.0)

MODELS_COLUMNS = ["SNP", "n", "frequency", "likelihood", "add", "add_se", "add_t", "add_pval",
                  "var", "var_se", "var_t", "var_pval", "av_pval", "chrom", "pos", "a1", "a2"]


def neglog10_pval(stat, df):
    """``−log10 P(χ²_df > stat)`` (scalar or array), accurate far into the tail.

    Closed forms (scipy.stats' generic logsf costs ~1 ms a call, too slow per SNP):
    χ²₁: ``P = 2Φ(−√stat)``, so ``log P = log 2 + log Φ(−√stat)``;
    χ²₂: ``P = exp(−stat/2)``; other df through ``chdtrc``.  NaN stays NaN.
    """
    stat = np.maximum(np.asarray(stat, dtype=float), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if df == 1:
            out = -(_LOG2 + log_ndtr(-np.sqrt(stat))) / _LN10
        elif df == 2:
            out = stat / 2.0 / _LN10
        else:
            out = -np.log(chdtrc(df, stat)) / _LN10
    return out if out.ndim else float(out)


BF_COLUMNS = ["bf_f", "bf_pval"]
# Appended after every earlier column (the Brown–Forsythe ones too), so that parsers of
# the former tables by position keep reading the same columns.
NEW_COLUMNS = ["a1_freq", "status"]


def models_columns(brown_forsythe=False, extra=()):
    """The header of ``OUTPREFIX.models.gz`` (``extra``: the GxE columns, last)."""
    return MODELS_COLUMNS + (BF_COLUMNS if brown_forsythe else []) + NEW_COLUMNS + list(extra)


def append_cells(lines, values, k):
    """The partial-file ``lines`` (bytes, one per row) with ``k`` further tab-led cells
    each: ``values`` (rows × k, or None: all NA) with 6 significant digits, NaN as NA."""
    rows = lines.split(b"\n")
    if rows and rows[-1] == b"":
        rows.pop()
    if values is None:
        tail = ("\tNA" * k).encode()
        return b"".join(r + tail + b"\n" for r in rows)
    out = []
    for r, v in zip(rows, values.tolist()):
        out.append(r + "".join("\t" + (f"{x:.6g}" if math.isfinite(x) else "NA")
                               for x in v).encode() + b"\n")
    return b"".join(out)


def row_labels(snps, chrom, pos, a1, a2):
    """Per SNP of a block, the table's text around its numbers, packed for
    :func:`models_block_lines`: ``(heads, head_off, tails, tail_off)``, the SNP IDs and the
    tab-led ``chrom<TAB>pos<TAB>a1<TAB>a2`` (UTF-8) concatenated, with offsets."""
    def _list(a):
        return a.tolist() if hasattr(a, "tolist") else list(a)

    heads = [str(s).encode() for s in _list(snps)]
    tails = [f"\t{c}\t{p}\t{x}\t{y}".encode()
             for c, p, x, y in zip(_list(chrom), _list(pos), _list(a1), _list(a2))]

    def _offsets(parts):
        off = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in parts], out=off[1:])
        return off

    return b"".join(heads), _offsets(heads), b"".join(tails), _offsets(tails)


def stat_cells(est):
    """Per row of ``est`` (as :func:`models_block_lines`), the table's 6-digit columns:
    add, add_se, add_t, add_pval, var, var_se, var_t, var_pval, av_pval (C-contiguous)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        add_t = est[:, 1] / est[:, 2]
        var_t = est[:, 3] / est[:, 4]
        add_p = neglog10_pval(add_t * add_t, 1)
        var_p = neglog10_pval(var_t * var_t, 1)
        # Joint Wald test (t_a² − 2ρ·t_a·t_v + t_v²)/(1 − ρ²), ρ the correlation of the
        # two estimates: 0 for the model-based SEs, not for robust ones (skewness).
        rho = est[:, 5] / (est[:, 2] * est[:, 4])
        av_p = neglog10_pval((add_t * add_t - 2.0 * rho * add_t * var_t + var_t * var_t)
                             / (1.0 - rho * rho), 2)
    return np.ascontiguousarray(np.column_stack(
        [est[:, 1], est[:, 2], add_t, add_p, est[:, 3], est[:, 4], var_t, var_p, av_p]))


def models_block_lines(code, names, overrides, labels, ns, freqs, est, bf=None, cells=None):
    """Lines ``status<TAB>row`` (as in a partial file, bytes) of ``OUTPREFIX.models.gz``
    rows for a block of SNPs.

    A row's status is ``overrides[j]`` (bytes) if given, else ``names[code[j]]``; the
    ``status`` column is ``names[code[j]]``.  ``labels`` are the block's
    :func:`row_labels`; ``freqs`` the counted allele's frequency (``a1_freq``; folded
    into ``frequency``, which is NA where the missingness filter failed, code 1, as the
    original wrote it); ``est`` holds per SNP the likelihood, add, add_se, var, var_se
    and the covariance of add and var (NaN: no fit); ``bf`` the Brown–Forsythe F and
    −log10 p, or None for no such columns.  Frequencies, estimates, SEs, t statistics and
    p-values (−log10) are printed with 6 significant digits; the likelihood at full
    precision (Python's repr); NaN as ``NA``.  ``cells``: ``stat_cells(est)`` if already
    made (a many-phenotype block makes every phenotype's at once).
    """
    from .._core._format import partial_lines

    if cells is None:
        cells = stat_cells(est)
    a1_freq = np.ascontiguousarray(freqs, dtype=float)
    code = np.ascontiguousarray(code, dtype=np.int8)
    folded = np.where(code == 1, np.nan, np.minimum(a1_freq, 1.0 - a1_freq))
    heads, head_off, tails, tail_off = labels
    return partial_lines(code, names, overrides, heads, head_off, tails, tail_off,
                         np.ascontiguousarray(ns, dtype=np.int64), folded,
                         np.ascontiguousarray(est[:, 0]), cells,
                         None if bf is None else np.ascontiguousarray(bf, dtype=float),
                         a1_freq)


def effects_table(names, estimates, ses):
    """The original's ``name<TAB>estimate<TAB>SE`` covariate-effect table."""
    return "".join(f"{name}\t{repr(float(e))}\t{repr(float(s))}\n"
                   for name, e, s in zip(names, estimates, ses))


# A gzip member header as GzipFile(filename="", mtime=0, compresslevel=1) writes it: no
# name, no time stamp (equal tables give equal bytes), XFL 4 (fastest), OS 255 (unknown).
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"
_CHUNK = 1 << 24
_DEFLATE_CHUNK = 1 << 18


# A checkpoint's record of a block's rows: magic, rows, bytes, compressed bytes, CRC-32,
# then the rows as a raw deflate segment ending on a byte boundary (a sync flush, not
# final): the segments of a table, one after the other, are one deflate stream.
_RECORD = struct.Struct("<4sIQQI")
_RECORD_MAGIC = b"hlmr"
_LAST_BLOCK = b"\x03\x00"         # an empty final block: the end of a deflate stream


def deflate_segment(data):
    """``data`` (bytes) as raw deflate at level 1 (ISA-L's where installed, else zlib's;
    both release the GIL, so blocks compress in parallel threads) ending with a sync
    flush: segments concatenate into one stream.  Level 1: the table is numbers and
    compresses well anyway; higher levels cost more time than the scan's arithmetic."""
    co = _deflate.compressobj(1, _deflate.DEFLATED, -_deflate.MAX_WBITS,
                              _deflate.DEF_MEM_LEVEL, 0)
    view = memoryview(data)
    parts = [co.compress(view[i:i + _DEFLATE_CHUNK])     # (cache-sized pieces: faster)
             for i in range(0, len(data), _DEFLATE_CHUNK)]
    parts.append(co.flush(_deflate.Z_SYNC_FLUSH))
    return b"".join(parts)


def pack_block(lines):
    """A block's partial-file ``lines`` (bytes, ``status<TAB>row`` each) as a checkpoint
    keeps them (:class:`hlmm.scan.checkpoint.Partial`): ``(record, keys)``, the rows
    without their status column as a record (:func:`read_records`) and the lines
    ``status<TAB>SNP``.  Done where the block was fitted, so that the table's
    compression runs in the scan's threads and the end of the run only concatenates."""
    from .._core._rows import split_keys

    rows, keys = split_keys(lines)
    return rows_record(rows), keys


def rows_record(rows):
    """Table rows (bytes, whole lines) as a checkpoint's record: a header (magic, rows,
    bytes, compressed bytes, CRC-32) and the rows' :func:`deflate_segment`."""
    seg = deflate_segment(rows)
    return _RECORD.pack(_RECORD_MAGIC, rows.count(b"\n"), len(rows), len(seg),
                        _deflate.crc32(rows) & 0xFFFFFFFF) + seg


def read_records(fh):
    """The complete records of a checkpoint's rows file ``fh`` (open for reading, at a
    record), in order: ``(end, n_rows, raw_bytes, crc, segment)``, ``end`` the offset
    past the record; a record cut short (a kill while it was written) or not a record
    ends them."""
    while True:
        head = fh.read(_RECORD.size)
        if len(head) < _RECORD.size:
            return
        magic, n_rows, raw, size, crc = _RECORD.unpack(head)
        if magic != _RECORD_MAGIC:
            return
        seg = fh.read(size)
        if len(seg) < size:
            return
        yield fh.tell(), n_rows, raw, crc, seg


def inflate_segment(seg):
    """The bytes of one record's segment (:func:`deflate_segment`)."""
    return zlib.decompressobj(-zlib.MAX_WBITS).decompress(seg)


def _count_statuses(keys, counts, unusable, failures):
    """Count the ``status<TAB>SNP`` lines ``keys`` (bytes) into ``counts``, ``unusable``
    (per reason) and ``failures`` (``"SNP: reason"``, in order)."""
    from .._core._rows import split_status

    _, n_ok, others = split_status(keys)
    counts["ok"] += n_ok
    for status, sid in others:          # the few lines not fitted
        status = status.decode()
        if status.startswith("unusable"):
            unusable[status[9:]] = unusable.get(status[9:], 0) + 1
            continue
        key = "failed" if status.startswith("failed") else status
        counts[key] = counts.get(key, 0) + 1     # (filtered_mac, _hwe: when seen)
        if key == "failed":
            failures.append(f"{sid.decode()}: {status[7:]}")


def write_table(keys_path, rows_path, path, header=None, chunk=_CHUNK):
    """Append to ``path`` the table of a checkpoint as one gzip member (no name, time 0):
    ``header`` (bytes; None: none) and the rows of ``rows_path``, whose compressed
    segments are copied as they are (one deflate stream; the CRC-32 combined from theirs).
    Returns the statuses of ``keys_path`` (``status<TAB>SNP`` lines) as ``(counts,
    unusable, failures)``: counts of ok, filtered_missing, filtered_maf and failed rows,
    unusable rows per reason and the failures as ``"SNP: reason"``, in file order.
    Memory: a record, or a chunk of the keys."""
    from .._core._rows import crc32_combine

    counts = {"ok": 0, "filtered_missing": 0, "filtered_maf": 0, "failed": 0}
    unusable, failures = {}, []
    crc = size = 0
    with open(path, "ab") as out, open(rows_path, "rb") as src:
        out.write(_GZIP_HEADER)
        if header:
            out.write(deflate_segment(header))
            crc, size = _deflate.crc32(header) & 0xFFFFFFFF, len(header)
        for _, _, raw, seg_crc, seg in read_records(src):
            out.write(seg)
            crc = crc32_combine(crc, seg_crc, raw)
            size += raw
        if src.read(1):     # (a run's own records, trimmed on --resume: never)
            raise OSError(f"{rows_path}: not a checkpoint's rows past byte {src.tell() - 1}")
        out.write(_LAST_BLOCK)
        out.write(struct.pack("<LL", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    with open(keys_path, "rb") as src:
        rest = b""
        while True:
            block = src.read(chunk)
            data = rest + block
            cut = data.rfind(b"\n") + 1 if block else len(data)   # whole lines
            _count_statuses(data[:cut], counts, unusable, failures)
            rest = data[cut:]
            if not block:
                break
    return counts, unusable, failures


class AtomicOutputs:
    """Collects temporary files and renames them into place on :meth:`commit`.

    Use as a context manager: leaving the block with an exception deletes every
    temporary file, so no partial output survives.
    """

    def __init__(self):
        self._pending = []  # (tmp, final)

    def _tmp_for(self, final):
        d = os.path.dirname(os.path.abspath(final))
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(final) + ".", suffix=".tmp", dir=d)
        os.close(fd)
        self._pending.append((tmp, final))
        return tmp

    def temp_path(self, final, append=False):
        """A temporary path beside ``final`` for a writer of its own (e.g. savefig); with
        ``append`` it starts as a copy of ``final``, if that exists."""
        tmp = self._tmp_for(final)
        if append and os.path.exists(final):
            shutil.copyfile(final, tmp)
        return tmp

    def text(self, final, content):
        tmp = self._tmp_for(final)
        with open(tmp, "w") as fh:
            fh.write(content)

    def open_text(self, final):
        tmp = self._tmp_for(final)
        return open(tmp, "w")

    def commit(self):
        # mkstemp creates files readable by the owner only; give them the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        for tmp, final in self._pending:
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, final)
        self._pending = []

    def discard(self):
        for tmp, _ in self._pending:
            try:
                os.remove(tmp)
            except FileNotFoundError:
                pass
        self._pending = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.discard()
        return False


class Log:
    """Lines for ``OUTPREFIX.log``."""

    def __init__(self):
        self.lines = []

    def __call__(self, msg):
        self.lines.append(msg)

    def text(self):
        return "\n".join(self.lines) + "\n"
