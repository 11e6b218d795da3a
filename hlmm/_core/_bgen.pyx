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
from libc.stdint cimport uint8_t, uint16_t, uint32_t

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
    cdef uint32_t M = (<uint32_t>1 << bits) - 1
    cdef uint32_t scale = 65535 // M, a, b, k
    cdef Py_ssize_t i
    cdef double lut8[511]
    if bits == 8:
        for k in range(511):        # a division, as snap_to_grid's rint(t)/65535
            lut8[k] = <double>(k * scale) / 65535.0
        for i in range(n):
            a = p[2 * i]
            b = p[2 * i + 1]
            if phased:              # each haplotype's value is at most M
                out[i] = lut8[2 * M - a - b]
            elif a + b > M:
                return MALFORMED
            else:
                out[i] = lut8[2 * M - 2 * a - b]
    else:
        for i in range(n):
            a = _u16(p + 4 * i)
            b = _u16(p + 4 * i + 2)
            if phased:
                out[i] = <double>(2 * M - a - b) / 65535.0
            elif a + b > M:
                return MALFORMED
            else:
                out[i] = <double>(2 * M - 2 * a - b) / 65535.0
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
