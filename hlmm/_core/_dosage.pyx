"""Genotype-class sums of one SNP's dosages: one class per distinct stored dosage value.

Dosages in .pgen and BGEN files are quantized (DESIGN §8): .pgen stores multiples of
1/16384, b-bit BGEN probabilities give ``(a + 2b)/(2^b − 1)``.  With ``scale`` the
inverse of the grid step, ``key = rint(g·scale)`` is an integer in ``[0, 2·scale]`` that
identifies the value, so the classes are found by direct indexing (no sort, no hash):
one pass over the individuals, a few additions each.
"""
from libc.math cimport NAN, fabs, rint
from libc.stdlib cimport calloc, free
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset


cdef extern from *:
    int __builtin_ctzll(unsigned long long) nogil


ctypedef signed char int8

ctypedef fused row_t:
    int8
    float
    double


ctypedef fused real_t:
    float
    double


def dosage_classes(const real_t[::1] row, const Py_ssize_t[::1] sample_index,
                   const double[::1] y, double scale, double[:, ::1] acc,
                   double[::1] g_out, double[:, ::1] sums_out):
    """One SNP's dosage-value classes, sorted by value, with per class ``n`` and
    ``Σ y^j`` (j = 1…P), from its float32 (.pgen) or float64 dosages.

    ``row``: the SNP's dosages over all file samples (NaN = missing); analysis individual
    ``i`` is sample ``sample_index[i]`` with phenotype ``y[i]``; class ``key`` (an
    integer in ``[0, 2·scale]``) holds the individuals with ``g·scale`` within 1e-6 of
    ``key``, i.e. ``g = key/scale``.

    ``acc``: ``(2·scale + 1) × (1 + P)`` scratch, all zero on entry and on return;
    ``g_out``, ``sums_out`` ((1 + P) × room): room for ``min(len(y), 2·scale + 1)``
    classes.  Writes the K distinct dosage values ``g_out[:K]`` in increasing order and
    their ``n, Σy, …, Σy^P`` to ``sums_out[0, :K], …, sums_out[P, :K]`` (contiguous per
    power, as ``_classfit.hlm_fit_classes`` takes them); returns K, or −1 when a dosage is off the
    grid (|g·scale − key| > 1e-6; the caller fits that SNP by the general path).
    A bitmap of the keys seen (2·scale/8 bytes, in L1 cache) is walked in increasing
    order, so only the K rows of ``acc`` in use are read back (no sort; 8-bit BGEN on
    the 1/65535 grid uses ≤ 511 of 131071 rows).
    """
    cdef Py_ssize_t i, j, m = sample_index.shape[0], nrow = row.shape[0], K = 0, key
    cdef Py_ssize_t nkeys = acc.shape[0], P = acc.shape[1] - 1, wi, nwords
    cdef unsigned long long bits
    cdef unsigned long long* seen
    cdef double g, t, yi, yp, d
    cdef bint off_grid = False
    if y.shape[0] != m or g_out.shape[0] < min(m, nkeys) or sums_out.shape[1] < min(m, nkeys) \
            or sums_out.shape[0] != P + 1:
        raise ValueError("dosage_classes: shape mismatch")
    if nkeys != <Py_ssize_t>(2 * scale + 1.5) or P < 2:
        raise ValueError("dosage_classes: acc must be (2·scale + 1) × (1 + powers)")
    cdef bint bad_index = False
    cdef double* a = &acc[0, 0]
    cdef double* c
    cdef const real_t* r = &row[0]
    cdef const double* yv = &y[0]
    cdef const Py_ssize_t* si = &sample_index[0] if m else NULL
    cdef Py_ssize_t stride = P + 1
    nwords = (nkeys + 63) // 64
    seen = <unsigned long long*>calloc(nwords, sizeof(unsigned long long))
    if seen == NULL:
        raise MemoryError()
    with nogil:
        for i in range(m):
            # (sample_index checked here, without the GIL: a separate pass holding it
            # serialised the scan's threads)
            if <size_t>si[i] >= <size_t>nrow:
                bad_index = True
                break
            g = <double>r[si[i]]
            if g != g:
                continue
            t = g * scale
            key = <Py_ssize_t>(t + 0.5)       # t ≥ −0.5 here: rounds like rint but inline
            d = t - key
            if t < -0.5 or key >= nkeys or d > 1e-6 or d < -1e-6:
                off_grid = True
                break
            seen[key >> 6] |= 1ULL << (key & 63)
            c = a + key * stride
            yi = yv[i]
            c[0] += 1.0
            c[1] += yi
            yp = yi * yi
            c[2] += yp
            if P > 2:
                yp *= yi
                c[3] += yp
                for j in range(4, P + 1):
                    yp *= yi
                    c[j] += yp
        for wi in range(nwords):
            bits = seen[wi]
            while bits:
                key = 64 * wi + __builtin_ctzll(bits)
                bits &= bits - 1
                c = a + key * stride
                if not off_grid and not bad_index:
                    g_out[K] = key / scale
                    for j in range(P + 1):
                        sums_out[j, K] = c[j]
                    K += 1
                for j in range(P + 1):
                    c[j] = 0.0
    free(seen)
    if bad_index:
        raise IndexError("dosage_classes: sample_index out of range")
    return -1 if off_grid else K


cdef inline void _pack8(const signed char* src, unsigned char* dst) noexcept nogil:
    """Eight int8 counts → two .bed bytes, bitwise in one 64-bit word.

    Only the low two bits ``x1 x0`` of each count matter (0 → 00, 1 → 01, 2 → 10,
    −9 or −1 → 11), and the code is ``hi = ¬x1``, ``lo = ¬(x0 ⊕ x1)`` (00 → 11,
    01 → 10, 10 → 00, 11 → 01, the table ``LUT`` of :func:`pack_rows`); the eight
    2-bit codes, one per byte, are then gathered into 16 bits by three shift-or steps.
    """
    cdef uint64_t v, x0, x1, c
    cdef uint64_t ONES = 0x0101010101010101ULL
    memcpy(&v, src, 8)
    x0 = v & ONES
    x1 = (v >> 1) & ONES
    c = ((x0 ^ x1) ^ ONES) | ((x1 ^ ONES) << 1)     # byte k: code of sample k
    c = (c | (c >> 6)) & 0x000F000F000F000FULL
    c = (c | (c >> 12)) & 0x000000FF000000FFULL
    c = c | (c >> 24)
    dst[0] = <unsigned char>(c & 0xFF)
    dst[1] = <unsigned char>((c >> 8) & 0xFF)


def pack_rows(const row_t[:, ::1] rows, unsigned char[:, ::1] out, unsigned char[::1] hard,
              bint pack_dosages=True):
    """Variant-major counted-allele dosages (all samples of the file) as .bed rows.

    ``rows``: m × n, int8 counts (0, 1, 2; −9 or −1 = missing: any value with low bits
    11) or float dosages (NaN or negative = missing); ``out``: m × ceil(n/4) bytes in the ``count_a1`` convention (count 2 → 00,
    1 → 10, 0 → 11, missing → 01), dosages rounded to the nearest count (the best-guess
    genotype); ``hard[j]`` = 1 when every call of variant j is exactly 0, 1 or 2.
    With ``pack_dosages`` False a variant is abandoned at its first value that is not a
    hard call and its row set to all-missing bytes (0x55): the scan fits such variants
    from their dosages and needs their best-guess bytes only for Brown–Forsythe.
    """
    cdef Py_ssize_t m = rows.shape[0], n = rows.shape[1], bps = (n + 3) // 4
    cdef Py_ssize_t j, i, b
    cdef double v, r
    cdef unsigned char code, byte
    cdef bint is_hard
    cdef double TWO52 = 4503599627370496.0
    cdef unsigned char CODE[3]
    CODE[0] = 3
    CODE[1] = 2
    CODE[2] = 0
    cdef unsigned char LUT[4]       # int8 count & 3 → code (−9 & 3 = 3: missing)
    LUT[0] = 3
    LUT[1] = 2
    LUT[2] = 0
    LUT[3] = 1
    cdef Py_ssize_t full = n // 4
    cdef const signed char* r8
    if out.shape[0] != m or out.shape[1] != bps or hard.shape[0] != m:
        raise ValueError("pack_rows: shape mismatch")
    if row_t is int8:
        # hard calls (0, 1, 2; negative = missing, as pgenlib's −9): a branch-free lookup
        with nogil:
            for j in range(m):
                r8 = &rows[j, 0]
                # eight counts a word: the table lookup costs ~1 ns a sample, more than
                # pgenlib's decoding (see _pack8)
                for b in range(0, full - 1, 2):
                    _pack8(r8 + 4 * b, &out[j, b])
                for b in range(full - full % 2, full):
                    out[j, b] = (LUT[r8[4 * b] & 3] | (LUT[r8[4 * b + 1] & 3] << 2)
                                 | (LUT[r8[4 * b + 2] & 3] << 4) | (LUT[r8[4 * b + 3] & 3] << 6))
                if full < bps:
                    byte = 0x55
                    for i in range(4 * full, n):
                        byte = (byte & ~(3 << (2 * (i - 4 * full)))) | (LUT[r8[i] & 3] << (2 * (i - 4 * full)))
                    out[j, full] = byte
                hard[j] = 1
        return
    with nogil:
        for j in range(m):
            is_hard = True
            for b in range(bps):
                byte = 0
                for i in range(4):
                    if 4 * b + i < n:
                        v = <double>rows[j, 4 * b + i]
                        if v != v or v < 0:
                            code = 1
                        else:
                            # round half to even, as rint, without a libm call: below
                            # 2^52 the sum's rounding is the rounding to an integer
                            r = (v + TWO52) - TWO52 if v < TWO52 else v
                            if r > 2:
                                r = 2
                            is_hard = is_hard and r == v
                            code = CODE[<int>r]
                            if not is_hard and not pack_dosages:
                                break
                    else:
                        code = 1
                    byte |= code << (2 * i)
                if not is_hard and not pack_dosages:
                    memset(&out[j, 0], 0x55, bps)
                    break
                out[j, b] = byte
            hard[j] = is_hard


def negative_to_nan(float[:, ::1] rows):
    """Set every negative value of ``rows`` to NaN, in place (pgenlib writes −9 for a
    missing dosage): one pass, no boolean temporary."""
    cdef Py_ssize_t i, total = rows.shape[0] * rows.shape[1]
    cdef float nan = <float>NAN
    cdef float v
    cdef float* p = &rows[0, 0] if total else NULL
    with nogil:
        for i in range(total):
            v = p[i]
            # a select, not a branch: the compiler vectorises it
            p[i] = nan if v < 0 else v


def snap_to_grid(const real_t[::1] dose, double scale, double tol, double[::1] out):
    """``out`` = ``dose`` as float64, snapped to the multiples of ``1/scale`` when every
    value is within ``tol`` grid steps of one (NaN ignored and kept); otherwise just
    widened.  Returns whether it snapped.  One pass for ``rint(dose·scale)/scale`` and
    the largest deviation (the BGEN library's float32 dosages of b-bit probabilities,
    b = 1, 2, 4, 8, 16, are within float32 rounding of the 1/65535 grid)."""
    cdef Py_ssize_t i, n = dose.shape[0]
    cdef double t, r, dev = 0.0
    if out.shape[0] != n:
        raise ValueError("snap_to_grid: shape mismatch")
    with nogil:
        for i in range(n):
            t = <double>dose[i] * scale
            r = rint(t)
            if fabs(t - r) > dev:        # false for NaN: ignored, as np.fmax.reduce
                dev = fabs(t - r)
            out[i] = r / scale
        if not dev <= tol:
            for i in range(n):
                out[i] = <double>dose[i]
    return dev <= tol
