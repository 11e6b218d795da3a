"""Genotype-class sums of many columns at once: the statistics of a many-phenotype scan.

For SNP ``j`` and individual ``u`` of the union sample (.bed position ``index[u]``), let
``g_ju`` be the genotype class (count of the counted allele, −1 missing; the .bed codes
as in :mod:`hlmm._core._bed`).  For a matrix ``B`` (union individuals × columns: each
phenotype's y, y², … with zeros where it is missing, and 0/1 columns marking who is in
each phenotype's sample) :func:`class_column_sums` returns

    out[j, k, c] = Σ_{u: g_ju = k} B[u, c]   (k = 0, 1, 2),
    out[j, 3, c] = Σ_{u: g_ju = −1} B[u, c].

Every class is summed directly, except where the caller passes ``derive``: then each
SNP's commonest class of B's first ``derive`` columns is their total minus the other
classes' sums.  That is exact for integer columns (bit-field counts) and, for floats, a
difference of whole-sample sums with rounding of the order of the direct sum's
(eps·Σ|B|): a many-phenotype scan derives its standardised y and y² columns, whose
model-based fits use them as they are, and not the third and fourth powers of
``--robust``, whose robust SEs subtract large moments and would magnify it.

How (``tablesums.h``): individuals in groups of eight, each group's 256 subset sums of
B's rows tabulated (8 columns at a time) once per block of SNPs, and a SNP's class sum
the sum of one table row per group where the class occurs: about 2.4 vector adds per
group of eight and SNP, against 16 multiply-adds of a dense product of the two
commonest classes' indicators.
"""
import mmap

import numpy as np

cimport numpy as cnp
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from libc.stdint cimport int64_t, uint8_t, uint16_t

cnp.import_array()

cdef extern from "tablesums.h" nogil:
    void hlmm_ts_init()
    int hlmm_code_sums(const uint8_t* codes, Py_ssize_t ld, Py_ssize_t m, Py_ssize_t n,
                       const double* Bt, Py_ssize_t npad, Py_ssize_t C, Py_ssize_t derive,
                       double* out,
                       int64_t* ncode, const int* slot, Py_ssize_t chunk,
                       size_t list_bytes, uint16_t* scratch, size_t scratch_len)
    Py_ssize_t hlmm_part_snps(Py_ssize_t m, Py_ssize_t n, size_t list_bytes)

hlmm_ts_init()


# bound on the lists of table rows of a part of a block (8 bytes per SNP and group of
# eight): 1024 SNPs at n = 100,000, twice 512's SNPs per table built (7% faster in all)
LIST_BYTES = 128 << 20


def list_entries(Py_ssize_t m, Py_ssize_t n, size_t list_bytes=LIST_BYTES):
    """Length of the uint16 ``scratch`` that holds the lists of a part of a block of m
    SNPs over n individuals (:func:`class_column_sums`)."""
    return hlmm_part_snps(m, n, list_bytes) * 4 * ((n + 7) // 8) if m > 0 else 0


def tile_column(Bt, Py_ssize_t c):
    """The view of column c of B in its tiles (:func:`tiled_zeros`), ``npad`` long."""
    return Bt[c // 8, :, c % 8]


# arrays from this size up are mapped with transparent huge pages where Linux offers
# them: on a virtual machine each first touch of a 4 KB page costs microseconds, and
# a 100-phenotype scan's B (~190 MB) and lists (~100 MB a thread) are touched once
_HUGE_FROM = 16 << 20


def huge_zeros(shape, dtype=np.float64):
    """``np.zeros(shape, dtype)``, mapped with transparent huge pages
    (``MADV_HUGEPAGE``) when at least 16 MB and the system allows it; page-aligned."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    nbytes = count * dtype.itemsize
    advise = getattr(mmap, "MADV_HUGEPAGE", None)
    if nbytes < _HUGE_FROM or advise is None:
        return np.zeros(shape, dtype)
    try:
        buf = mmap.mmap(-1, nbytes)
        buf.madvise(advise)
    except (OSError, ValueError):
        return np.zeros(shape, dtype)
    return np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)


def tiled_size(n, C):
    """The doubles :func:`tiled_zeros` takes for n rows and C columns."""
    return (C + 7) // 8 * ((n + 7) // 8 * 8) * 8 + 8


def touch_pages(double[::1] buf):
    """Write a zero into every 4 KB page of ``buf`` (zeros already), without the GIL: a
    fresh mapping's pages are faulted in, by a thread of their own while the caller
    does other work (a first write to a page costs more here than the scan's use of it)."""
    cdef Py_ssize_t i, n = buf.shape[0]
    with nogil:
        for i in range(0, n, 512):
            buf[i] = 0.0


def tiled_zeros(n, C, raw=None):
    """Zeros in the layout :func:`class_column_sums` takes B in: tiles of 8 columns,
    each ``npad × 8`` with ``npad`` = n rounded up to 8, shape (tiles, npad, 8), 64-byte
    aligned (each 8 columns of a row one cache line; the kernel also takes an unaligned
    copy, e.g. an unpickled one).  Column c of B goes to ``[c // 8, :n, c % 8]``.
    ``raw``: zeros (float64, at least :func:`tiled_size` of them) to carve it from."""
    npad, nt = (n + 7) // 8 * 8, (C + 7) // 8
    if raw is None or raw.shape[0] < tiled_size(n, C):
        raw = huge_zeros(tiled_size(n, C))
    off = (-raw.ctypes.data % 64) // 8
    return raw[off:off + nt * npad * 8].reshape(nt, npad, 8)


def tile_columns(B):
    """``B`` (n × C) as :func:`class_column_sums` takes it (:func:`tiled_zeros`)."""
    B = np.asarray(B, dtype=np.float64)
    n, C = B.shape
    Bt = tiled_zeros(n, C)
    for t in range(Bt.shape[0]):
        w = min(8, C - 8 * t)
        Bt[t, :n, :w] = B[:, 8 * t:8 * t + w]
    return Bt


def class_column_sums(const unsigned char[:, ::1] packed, const Py_ssize_t[::1] index,
                      bint count_a1, const double[:, :, ::1] Bt, double[:, :, ::1] out,
                      int64_t[:, ::1] counts=None, Py_ssize_t tile=32,
                      size_t list_bytes=LIST_BYTES, uint16_t[::1] scratch=None,
                      Py_ssize_t derive=0):
    """Fill ``out`` (SNPs × 4 × C) with the sums of the C columns of B (union individuals
    × columns, given tiled as :func:`tile_columns` returns it) over classes 0, 1, 2 and
    the missing calls of the SNP rows of ``packed`` (.bed bytes); ``index[u]`` is
    individual ``u``'s .bed position; ``counts`` (SNPs × 4), if given, the number of
    union individuals in each class.  ``tile``: groups of eight individuals whose
    tables are built at a time (1..256; only speed depends on it).  ``list_bytes``
    bounds the per-SNP lists of table rows (8 bytes per SNP and group): SNPs go in
    parts that keep within it; ``scratch`` (uint16), if long enough for a part's lists,
    holds them (a buffer reused from call to call saves the page faults of a fresh
    one).  ``derive`` (a multiple of 8): for B's first ``derive`` columns each SNP's sum
    over its commonest class is their total minus the other classes' sums, which saves
    about 40 % of their work; exact for integer columns whose sums, over all of B's rows
    too, stay below 2^53 (bit fields of counts), for float columns rounded as a
    difference of whole-sample sums (see the module's docstring)."""
    cdef Py_ssize_t m = packed.shape[0], n = index.shape[0], C = out.shape[2]
    cdef Py_ssize_t j, u, pos, nbu = (n + 3) // 4, limit = 4 * packed.shape[1]
    cdef Py_ssize_t npad = Bt.shape[1]
    cdef bint identity = True
    cdef int rc
    cdef int slot[4]
    cdef unsigned char* gathered = NULL
    cdef const unsigned char* codes
    cdef const unsigned char* row
    cdef unsigned char* dst
    cdef Py_ssize_t ld
    cdef int64_t* ncode = NULL
    cdef uint16_t* scr = NULL
    cdef size_t scr_len = 0
    cdef const double* bt = NULL
    cdef double* o = NULL
    # out's slot of each 2-bit code (0b01 missing: slot 3)
    if count_a1:
        slot[:] = [2, 3, 1, 0]
    else:
        slot[:] = [0, 3, 1, 2]
    if (Bt.shape[0] != (C + 7) // 8 or Bt.shape[2] != 8 or npad % 8 or npad < n
            or npad >= n + 8):
        raise ValueError(f"Bt must be tile_columns(B) of a B with {n} rows and {C} columns")
    if out.shape[0] != m or out.shape[1] != 4:
        raise ValueError(f"out must be {m} × 4 × C")
    if counts is not None and (counts.shape[0] != m or counts.shape[1] != 4):
        raise ValueError(f"counts must be {m} × 4")
    if derive < 0 or derive % 8 or derive > Bt.shape[0] * 8:
        raise ValueError("derive must be a multiple of 8 within B's tiles")
    if tile < 1 or tile > 256:
        raise ValueError("tile must be in 1..256")
    for u in range(n):
        if index[u] < 0 or index[u] >= limit:
            raise IndexError(f"index[{u}] = {index[u]} outside a .bed row of {limit} samples")
        if index[u] != u:
            identity = False
    if m == 0 or (C == 0 and counts is None):
        return
    if counts is not None:
        ncode = &counts[0, 0]
    if scratch is not None and scratch.shape[0] > 0:
        scr, scr_len = &scratch[0], scratch.shape[0]
    if C > 0:
        bt, o = &Bt[0, 0, 0], &out[0, 0, 0]
    with nogil:
        if C > 0:
            memset(o, 0, m * 4 * C * sizeof(double))
        if ncode != NULL:
            memset(ncode, 0, m * 4 * sizeof(int64_t))
        if identity:
            # the union is the .bed sample's first n individuals: the bytes as they are
            codes = &packed[0, 0]
            ld = packed.shape[1]
        else:
            # repack the block in union order (4 individuals to a byte)
            gathered = <unsigned char*> malloc(m * nbu + 1)
            if gathered != NULL:
                memset(gathered, 0, m * nbu + 1)
                for j in range(m):
                    row = &packed[j, 0]
                    dst = gathered + j * nbu
                    for u in range(n):
                        pos = index[u]
                        dst[u >> 2] |= ((row[pos >> 2] >> (2 * (pos & 3))) & 3) << (2 * (u & 3))
            codes = gathered
            ld = nbu
        if n == 0:
            rc = 0
        elif identity or gathered != NULL:
            rc = hlmm_code_sums(<const uint8_t*> codes, ld, m, n, bt, npad, C, derive, o,
                                ncode, slot,
                                tile, list_bytes, scr, scr_len)
        else:
            rc = -1
        free(gathered)
    if rc != 0:
        raise MemoryError()
