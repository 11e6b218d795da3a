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
