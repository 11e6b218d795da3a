"""Kernels over raw PLINK .bed bytes: genotype-class sufficient statistics and decoding.

A .bed file is SNP-major: after the 3 magic bytes, each SNP takes ``bps = ceil(n_fam/4)``
bytes, and .fam sample ``j`` has the 2-bit code ``(byte[j//4] >> 2·(j%4)) & 3``:
``0b00`` homozygous A1, ``0b01`` missing, ``0b10`` heterozygous, ``0b11`` homozygous A2.
The genotype (class) is the count of the counted allele: with ``count_a1`` the codes map
to ``2, −1, 1, 0``, otherwise to ``0, −1, 1, 2`` (−1 = missing).

Both kernels read the packed bytes directly (no float genotype matrix) and release the
GIL, so a scan can run SNP blocks in threads.
"""
cimport numpy as cnp
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memset

cnp.import_array()

# code -> class, for count_a1 = False / True
cdef signed char CLASS_A2[4]
cdef signed char CLASS_A1[4]
CLASS_A2[:] = [0, -1, 1, 2]
CLASS_A1[:] = [2, -1, 1, 0]


cdef bint _check(const unsigned char[:, ::1] packed, const Py_ssize_t[::1] sample_index):
    """Validate ``sample_index`` against the row width; return True when it is the identity."""
    cdef Py_ssize_t i, m = sample_index.shape[0], limit = 4 * packed.shape[1]
    cdef bint identity = True
    for i in range(m):
        if sample_index[i] < 0 or sample_index[i] >= limit:
            raise IndexError(f"sample_index[{i}] = {sample_index[i]} outside a .bed row "
                             f"of {packed.shape[1]} bytes")
        if sample_index[i] != i:
            identity = False
    return identity


def class_stats(const unsigned char[:, ::1] packed, const Py_ssize_t[::1] sample_index,
                const double[::1] y, bint count_a1, double[:, ::1] out):
    """Per-SNP genotype-class sufficient statistics of ``y``.

    For SNP row ``s`` of ``packed`` (n_snps × bps raw .bed bytes) and analysis individual
    ``i`` (.fam position ``sample_index[i]``, phenotype ``y[i]``) with class ``k``:
    ``out[s, 3k] = n_k``, ``out[s, 3k+1] = S1_k = Σ_{i∈k} y_i``,
    ``out[s, 3k+2] = S2_k = Σ_{i∈k} y_i²``, k = 0, 1, 2; missing calls are skipped.

    One pass over the bytes.  Identity ``sample_index`` walks the bytes sequentially;
    otherwise each individual's byte is gathered.  The accumulators are split by the
    position of the sample within its byte so consecutive updates never touch the same
    memory (no store-to-load dependency chain).
    """
    cdef Py_ssize_t n_snps = packed.shape[0], m = sample_index.shape[0]
    cdef Py_ssize_t s, i, j, b, nb, lane
    cdef int c, k
    cdef unsigned char byte
    cdef double yi, yq
    cdef double acc[4][4][3]        # [lane][code][n, S1, S2]
    cdef signed char* cls = &CLASS_A2[0]
    if count_a1:
        cls = &CLASS_A1[0]
    if y.shape[0] != m:
        raise ValueError("class_stats: y and sample_index differ in length")
    if out.shape[0] != n_snps or out.shape[1] != 9:
        raise ValueError("class_stats: out must be n_snps × 9")
    cdef bint identity = _check(packed, sample_index)
    with nogil:
        for s in range(n_snps):
            memset(&acc[0][0][0], 0, sizeof(acc))
            if identity:
                nb = m // 4
                for b in range(nb):
                    byte = packed[s, b]
                    i = 4 * b
                    for lane in range(4):
                        c = (byte >> (2 * lane)) & 3
                        yi = y[i + lane]
                        acc[lane][c][0] += 1.0
                        acc[lane][c][1] += yi
                        acc[lane][c][2] += yi * yi
                for i in range(4 * nb, m):
                    c = (packed[s, i >> 2] >> (2 * (i & 3))) & 3
                    yi = y[i]
                    acc[0][c][0] += 1.0
                    acc[0][c][1] += yi
                    acc[0][c][2] += yi * yi
            else:
                for i in range(m):
                    j = sample_index[i]
                    c = (packed[s, j >> 2] >> (2 * (j & 3))) & 3
                    yi = y[i]
                    lane = i & 3
                    acc[lane][c][0] += 1.0
                    acc[lane][c][1] += yi
                    acc[lane][c][2] += yi * yi
            for k in range(9):
                out[s, k] = 0.0
            for c in range(4):
                k = cls[c]
                if k < 0:
                    continue
                for lane in range(4):
                    out[s, 3 * k] += acc[lane][c][0]
                    out[s, 3 * k + 1] += acc[lane][c][1]
                    out[s, 3 * k + 2] += acc[lane][c][2]


def decode_codes(const unsigned char[:, ::1] packed, const Py_ssize_t[::1] sample_index,
                 bint count_a1, signed char[:, ::1] out):
    """``out[s, i]`` = genotype class (0, 1, 2, or −1 missing) of analysis individual
    ``i`` (.fam position ``sample_index[i]``) at SNP row ``s`` of ``packed``."""
    cdef Py_ssize_t n_snps = packed.shape[0], m = sample_index.shape[0]
    cdef Py_ssize_t s, i, j, b, nb
    cdef unsigned char byte
    cdef signed char* cls = &CLASS_A2[0]
    if count_a1:
        cls = &CLASS_A1[0]
    if out.shape[0] != n_snps or out.shape[1] != m:
        raise ValueError("decode_codes: out must be n_snps × len(sample_index)")
    cdef bint identity = _check(packed, sample_index)
    with nogil:
        for s in range(n_snps):
            if identity:
                nb = m // 4
                for b in range(nb):
                    byte = packed[s, b]
                    out[s, 4 * b] = cls[byte & 3]
                    out[s, 4 * b + 1] = cls[(byte >> 2) & 3]
                    out[s, 4 * b + 2] = cls[(byte >> 4) & 3]
                    out[s, 4 * b + 3] = cls[(byte >> 6) & 3]
                for i in range(4 * nb, m):
                    out[s, i] = cls[(packed[s, i >> 2] >> (2 * (i & 3))) & 3]
            else:
                for i in range(m):
                    j = sample_index[i]
                    out[s, i] = cls[(packed[s, j >> 2] >> (2 * (j & 3))) & 3]


# --- subset-sum tables: the scan's fast path ----------------------------------------
# SNPs are processed in chunks of this many bytes, so that the chunk's tables
# (256 B per byte with two powers, 512 B with four) stay in L1 cache while every SNP of
# the block passes over it.
cdef Py_ssize_t TABLE_CHUNK = 64


def subset_tables(const Py_ssize_t[::1] sample_index, const double[::1] y, Py_ssize_t n_fam,
                  int n_powers=2):
    """Per-byte subset sums of ``y, y², …, y^n_powers`` for :func:`class_stats_tabled`
    (``n_powers = 2``) and :func:`class_moments_tabled` (``n_powers = 4``).

    The .fam samples ``4b … 4b+3`` share byte ``b`` of every SNP row.  For each byte and
    each of the 16 subsets ``S`` of its 4 samples, ``tables[b, S, j−1] = Σ_{i∈S} y_i^j``
    over the analysis individuals (others count 0), and ``members[b]`` is the 4-bit
    mask of the byte's analysis individuals.
    Returns ``(tables (bps × 16 × n_powers), members (bps,) uint8)``; O(n) memory, built once.
    """
    cdef Py_ssize_t bps = (n_fam + 3) // 4, m = sample_index.shape[0], i, j, b, S, lane
    cdef int pw
    cdef double yl, yp
    if y.shape[0] != m:
        raise ValueError("subset_tables: y and sample_index differ in length")
    if n_powers < 1 or n_powers > 8:
        raise ValueError("subset_tables: n_powers must be in 1..8")
    tables = cnp.PyArray_ZEROS(3, [bps, 16, n_powers], cnp.NPY_DOUBLE, 0)
    members = cnp.PyArray_ZEROS(1, [bps], cnp.NPY_UINT8, 0)
    cdef double[:, :, ::1] T = tables
    cdef unsigned char[::1] inc = members
    cdef double[::1] yf
    yf_arr = cnp.PyArray_ZEROS(1, [4 * bps], cnp.NPY_DOUBLE, 0)
    yf = yf_arr
    for i in range(m):
        j = sample_index[i]
        if j < 0 or j >= n_fam:
            raise IndexError(f"sample_index[{i}] = {j} outside the {n_fam} .fam samples")
        if inc[j >> 2] & (1 << (j & 3)):
            raise ValueError(f"sample_index repeats .fam sample {j}")
        inc[j >> 2] |= <unsigned char>(1 << (j & 3))
        yf[j] = y[i]
    with nogil:
        for b in range(bps):
            for S in range(16):
                for lane in range(4):
                    if S & (1 << lane):
                        yl = yf[4 * b + lane]
                        yp = yl
                        for pw in range(n_powers):
                            T[b, S, pw] += yp
                            yp *= yl
    return tables, members


cdef extern from "bedsums.h" nogil:
    void bs_class_sums(int P, const unsigned char* packed, Py_ssize_t n_snps, Py_ssize_t bps,
                       Py_ssize_t stride, const double* T, const uint64_t* memw,
                       const int64_t* chunk_n, const double* chunk_tot, Py_ssize_t chunk,
                       const int* code_class, double* out, double* Tc)


def _class_sums(const unsigned char[:, ::1] packed, const double[:, :, ::1] tables,
                const unsigned char[::1] members, bint count_a1, double[:, ::1] out, int P,
                str name):
    """Shared body of :func:`class_stats_tabled` (P = 2) and :func:`class_moments_tabled`
    (P = 4): per-chunk member counts and totals, then the kernel of ``bedsums.h``."""
    cdef Py_ssize_t n_snps = packed.shape[0], bps = packed.shape[1]
    cdef Py_ssize_t b, j, ci, lane, nchunks
    cdef Py_ssize_t chunk = TABLE_CHUNK
    if tables.shape[0] != bps or tables.shape[1] != 16 or tables.shape[2] != P:
        raise ValueError(f"{name}: tables must be bps × 16 × {P} (subset_tables of this "
                         f".bed row width with n_powers={P}): tables do not match the .bed "
                         "row width or the powers")
    if members.shape[0] != bps or out.shape[0] != n_snps or out.shape[1] != 3 * (P + 1):
        raise ValueError(f"{name}: shape mismatch")
    if n_snps == 0 or bps == 0:
        out[:, :] = 0.0
        return
    nchunks = (bps + chunk - 1) // chunk
    memw_arr = cnp.PyArray_ZEROS(1, [(bps + 7) // 8], cnp.NPY_UINT64, 0)
    cn_arr = cnp.PyArray_ZEROS(1, [nchunks], cnp.NPY_INT64, 0)
    ct_arr = cnp.PyArray_ZEROS(1, [nchunks * P], cnp.NPY_DOUBLE, 0)
    cdef uint64_t[::1] memw = memw_arr
    cdef int64_t[::1] cn = cn_arr
    cdef double[::1] ct = ct_arr
    # the current chunk's tables, permuted for the kernel's index (bedsums.h)
    tc_arr = cnp.PyArray_EMPTY(1, [chunk * 16 * P], cnp.NPY_DOUBLE, 0)
    cdef double[::1] tc = tc_arr
    cdef int cls[4]
    cls[0] = 2 if count_a1 else 0
    cls[1] = -1
    cls[2] = 1
    cls[3] = 0 if count_a1 else 2
    with nogil:
        for b in range(bps):
            ci = b // chunk
            for lane in range(4):
                if members[b] & (1 << lane):
                    memw[b >> 3] |= (<uint64_t>1) << (8 * (b & 7) + 2 * lane)
                    cn[ci] += 1
            # subset 15 = the whole byte: the sums over its analysis samples
            for j in range(P):
                ct[ci * P + j] += tables[b, 15, j]
        bs_class_sums(P, &packed[0, 0], n_snps, bps, bps, &tables[0, 0, 0], &memw[0],
                      &cn[0], &ct[0], chunk, cls, &out[0, 0], &tc[0])


def class_stats_tabled(const unsigned char[:, ::1] packed, const double[:, :, ::1] tables,
                       const unsigned char[::1] members, bint count_a1, double[:, ::1] out):
    """The output of :func:`class_stats`, from the tables of :func:`subset_tables`.

    ``out[s, 3k + j] = Σ_{i∈k} y_i^j`` (j = 0: ``n_k``; 1: ``S1_k``; 2: ``S2_k``) over
    the analysis samples of class k = 0, 1, 2 at SNP row ``s``.  Per byte of a row and
    looked-up genotype code, the byte's subset of samples with that code indexes
    ``tables[b]`` (one pair load, one 2-wide add); counts are popcounts.  Chunks of
    bytes are shared by all SNPs of the block so the tables stay in L1 cache.  Within a
    chunk whose analysis samples have no missing call, the largest class's sums are
    the chunk total ``Σ_b tables[b, 15]`` minus the two other classes' (two lookups per
    byte instead of three); see ``bedsums.h``.  Sums are exact up to rounding; classes
    with fewer than 8 members in every chunk are plain sums of their y's.
    """
    _class_sums(packed, tables, members, count_a1, out, 2, "class_stats_tabled")


def class_moments_tabled(const unsigned char[:, ::1] packed, const double[:, :, ::1] tables,
                         const unsigned char[::1] members, bint count_a1, double[:, ::1] out):
    """Class power sums for the robust (sandwich) SEs, from 4-power subset tables.

    ``out[s, 5k + j] = Σ_{i∈k} y_i^j`` for class k = 0, 1, 2 and j = 0…4 (j = 0 is
    ``n_k``) of SNP row ``s``; ``tables`` from ``subset_tables(…, n_powers=4)``.  The
    same pass as :func:`class_stats_tabled` with two pair loads per lookup.
    """
    _class_sums(packed, tables, members, count_a1, out, 4, "class_moments_tabled")
