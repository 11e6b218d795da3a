"""Counted-allele dosages of one decompressed BGEN layout-2 genotype block, without the
GIL (the ``bgen`` library decodes holding it, so one thread at a time).

Only the common case is decoded here: two alleles, every sample diploid (the block's
minimum and maximum ploidy both 2), 8- or 16-bit probabilities, phased or not, every
sample's stored probabilities summing to at most ``2^b − 1``.  Anything else returns
a non-zero status and :mod:`hlmm.io.bgen` hands the variant to the library, so those
variants keep exactly the library's semantics (haploid samples, malformed sums, other
bit depths, layout 1, zstd).
"""
from libc.math cimport NAN
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

cdef enum:
    OK = 0
    UNSUPPORTED = 1     # a layout this decoder leaves to the library
    MALFORMED = 2       # probabilities above the maximum: the library warns about them
    SHORT = 3           # the block is shorter than its header says: the library raises


cdef inline uint32_t _u32(const uint8_t* p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline uint32_t _u16(const uint8_t* p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8)


cdef int _fill(const uint8_t* p, const uint8_t* ploidy, Py_ssize_t n, uint32_t bits,
               uint32_t phased, double[::1] out) noexcept nogil:
    # branch-free loops (the compiler vectorises them); k/M as a division, as in
    # snap_to_grid's rint(t)/65535: k·(65535/M)/65535 and k/M are the same real number,
    # so the same correctly rounded double
    cdef int32_t M = (1 << bits) - 1, twoM = 2 * M, a, b
    cdef uint32_t bad = 0
    cdef double denom = <double>M
    cdef Py_ssize_t i
    cdef uint64_t w, flags = 0
    if bits == 8:
        if phased:                  # each haplotype's value is at most M
            for i in range(n):
                out[i] = <double>(twoM - <int32_t>p[2 * i] - <int32_t>p[2 * i + 1]) / denom
        else:
            for i in range(n):
                a = p[2 * i]
                b = p[2 * i + 1]
                bad |= <uint32_t>(a + b > M)
                out[i] = <double>(twoM - 2 * a - b) / denom
    else:
        if phased:
            for i in range(n):
                out[i] = <double>(twoM - <int32_t>_u16(p + 4 * i)
                                  - <int32_t>_u16(p + 4 * i + 2)) / denom
        else:
            for i in range(n):
                a = _u16(p + 4 * i)
                b = _u16(p + 4 * i + 2)
                bad |= <uint32_t>(a + b > M)
                out[i] = <double>(twoM - 2 * a - b) / denom
    if bad:
        return MALFORMED
    # missing samples (bit 7 of their ploidy byte): found eight at a time
    for i in range(0, n - 7, 8):
        memcpy(&w, ploidy + i, 8)
        flags |= w
    for i in range(n - n % 8, n):
        flags |= ploidy[i]
    if flags & 0x8080808080808080ULL:
        for i in range(n):
            if ploidy[i] & 0x80:
                out[i] = NAN
    return OK


def alt_dosage_layout2(const uint8_t[::1] block, double[::1] out):
    """Second-allele dosages of a decompressed layout-2 block into ``out`` (one per
    sample, NaN for a sample flagged missing); returns 0, or a non-zero status when the
    block is not one this decoder handles (``out`` then undefined).

    With ``M = 2^b − 1`` and a sample's stored values ``p, q``: unphased, ``p`` and
    ``q`` are P(11)·M and P(12)·M, so the dosage is ``(2M − 2p − q)/M``; phased, they
    are P(allele 1)·M of each haplotype, and the dosage is ``(2M − p − q)/M``.  The value
    written is ``key/65535`` with ``key = (2M − 2p − q)·65535/M`` (an integer for b = 8,
    16): bit for bit what :func:`hlmm._core._dosage.snap_to_grid` makes of the library's
    float32 dosage, which lies within 0.03 grid steps of it.
    """
    cdef Py_ssize_t size = block.shape[0], n = out.shape[0]
    cdef const uint8_t* d = &block[0] if size else NULL
    cdef const uint8_t* ploidy
    cdef const uint8_t* p
    cdef uint32_t bits, phased
    cdef int status
    if size < 10 + n + 2:
        return SHORT
    if _u32(d) != <uint32_t>n or _u16(d + 4) != 2 or d[6] != 2 or d[7] != 2:
        return UNSUPPORTED
    ploidy = d + 8
    phased = d[8 + n]
    bits = d[9 + n]
    if phased > 1 or (bits != 8 and bits != 16):
        return UNSUPPORTED
    if size < 10 + n + 2 * n * (bits // 8):
        return SHORT
    p = d + 10 + n
    with nogil:
        status = _fill(p, ploidy, n, bits, phased, out)
    return status
