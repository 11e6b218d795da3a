"""Text of the scan's table, formatted in C.

A many-phenotype scan writes millions of rows; Python's ``'%.6g' % v`` per value, and
then per-row lists and joins, cost more than the fits.  Here a whole block of rows is
written into one buffer: the ``%.6g`` cells by a fast exact path (with ``snprintf`` for
the cases it cannot decide), the full-precision columns as Python's ``repr`` (computed
exactly in C where it can, else by CPython's own routine), so the text is the same, byte
for byte, as the Python formatting's.  A missing value is written ``NA`` in every column
(as PLINK and R read it).
"""
from libc.stdio cimport snprintf
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from libc.math cimport isnan, isinf, fabs, floor, frexp, ldexp, log10
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE

cdef extern from "Python.h":
    # float.__repr__ is exactly PyOS_double_to_string(v, 'r', 0, Py_DTSF_ADD_DOT_0)
    char* PyOS_double_to_string(double val, char format_code, int precision, int flags,
                                int* ptype) except NULL
    void PyMem_Free(void* p)
    int Py_DTSF_ADD_DOT_0

cdef extern from *:
    """
    typedef unsigned __int128 hlmm_u128;
    """
    ctypedef unsigned long long u128 "hlmm_u128"    # 128 bits in C (gcc, clang)

DEF SLOT = 24      # "%.6g" needs at most 13 characters ("-1.23457e-308")
DEF REPR = 32      # repr of a double: at most 24 characters ("-2.2250738585072014e-308")
DEF FIXED = 400    # per row, beyond its statuses and labels: a repr, n, 13 cells, tabs

# exact powers of ten (10**k is a double exactly for k <= 22)
cdef double _POW10[23]
for _k in range(23):
    _POW10[_k] = 10.0 ** _k


cdef char _DIGITS2[201]
for _k in range(100):
    _DIGITS2[2 * _k] = 48 + _k // 10
    _DIGITS2[2 * _k + 1] = 48 + _k % 10


cdef inline int _sig6_fast(double v, char* out) noexcept nogil:
    """``%.6g`` of a finite nonzero ``v`` when one rounding decides it, else -1.

    ``v·10^s`` (s = 5 − decimal exponent, |s| ≤ 22 so 10^|s| is exact) is within
    ~1e-10 of the exact product; its rounding to 6 digits is correct unless the
    fraction is that close to one half, which is left to snprintf.  The decimal
    exponent is first guessed from the binary one (``a = f·2^b``, f in [½, 1):
    ``⌊(b − 1)·log10 2⌋`` is the exponent or one less) and then checked on ``x``.
    """
    cdef double a = fabs(v), x, fr
    cdef int e, s, p = 0, i, nd, lead, be
    cdef long long q, r
    cdef char d[8]
    if a < 1e-300 or a > 1e300:
        return -1
    frexp(a, &be)
    e = <int>floor((be - 1) * 0.30102999566398120)
    s = 5 - e
    if s > 22 or s < -22:
        return -1
    x = a * _POW10[s] if s >= 0 else a / _POW10[-s]
    # the guess may be one too low (or, by rounding, off the other way): move once
    if x < 100000.0 or x >= 1000000.0:
        e += -1 if x < 100000.0 else 1
        s = 5 - e
        if s > 22 or s < -22:
            return -1
        x = a * _POW10[s] if s >= 0 else a / _POW10[-s]
        if x < 100000.0 or x >= 1000000.0:
            return -1
    q = <long long>floor(x)
    fr = x - <double>q
    if fabs(fr - 0.5) < 1e-6:
        return -1
    if fr > 0.5:
        q += 1
    if q >= 1000000:            # 999999.5 and above round to 1e6: one more digit
        q = 100000
        e += 1
    # six digits, two at a time
    r = q // 10000
    memcpy(d, &_DIGITS2[2 * r], 2)
    q -= r * 10000
    r = q // 100
    memcpy(d + 2, &_DIGITS2[2 * r], 2)
    memcpy(d + 4, &_DIGITS2[2 * (q - r * 100)], 2)
    nd = 6
    while nd > 1 and d[nd - 1] == 48:
        nd -= 1
    if v < 0:
        out[p] = 45
        p += 1
    if e < -4 or e >= 6:        # %g's exponent form: d.ddddde±XX
        out[p] = d[0]
        p += 1
        if nd > 1:
            out[p] = 46
            p += 1
            for i in range(1, nd):
                out[p] = d[i]
                p += 1
        out[p] = 101
        out[p + 1] = 45 if e < 0 else 43
        p += 2
        if e < 0:
            e = -e
        if e >= 100:
            out[p] = <char>(48 + e // 100)
            p += 1
        out[p] = <char>(48 + (e // 10) % 10)
        out[p + 1] = <char>(48 + e % 10)
        p += 2
    elif e < 0:                 # 0.000ddd
        out[p] = 48
        out[p + 1] = 46
        p += 2
        for i in range(-e - 1):
            out[p] = 48
            p += 1
        for i in range(nd):
            out[p] = d[i]
            p += 1
    else:                       # ddd.ddd (point after e + 1 digits)
        lead = e + 1
        for i in range(lead):
            out[p] = d[i] if i < nd else 48
            p += 1
        if nd > lead:
            out[p] = 46
            p += 1
            for i in range(lead, nd):
                out[p] = d[i]
                p += 1
    out[p] = 0
    return p


cdef inline int _sig6(double v, char* out) noexcept nogil:
    """``%.6g`` of ``v`` (NaN written ``NA``), NUL-terminated; returns its length."""
    cdef int w
    if isnan(v):
        return snprintf(out, SLOT, "NA")
    if v != 0.0 and not isinf(v):
        w = _sig6_fast(v, out)
        if w >= 0:
            return w
    return snprintf(out, SLOT, "%.6g", v)


def sig6_cells(const double[:, ::1] X):
    """Per row of ``X``, its values as ``%.6g`` text joined by tabs (NaN → ``NA``)."""
    cdef Py_ssize_t m = X.shape[0], k = X.shape[1], i, j, p
    cdef char* buf
    cdef char* line
    cdef int width
    if m == 0:
        return []
    width = <int>(k * SLOT)
    buf = <char*> malloc(m * width)
    if buf == NULL:
        raise MemoryError()
    try:
        with nogil:
            for i in range(m):
                line = buf + i * width
                p = 0
                for j in range(k):
                    if j:
                        line[p] = b'\t'
                        p += 1
                    p += _sig6(X[i, j], line + p)
                line[p] = 0
        return [(buf + i * width).decode("ascii") for i in range(m)]
    finally:
        free(buf)


cdef int _repr_fast(double v, char* out) noexcept nogil:
    """Python's ``repr(v)`` of ``1e-4 ≤ |v| < 9e15`` (the table's likelihoods and
    frequencies), NUL-terminated, or -1 where it leaves the answer to CPython.

    repr is the shortest decimal that rounds back to ``v`` and, of several, the nearest.
    With ``v = M·2^E`` exactly and ``x = v·10^s`` scaled to 17 digits, everything is an
    integer over ``D = 2^(1−E)`` (128 bits suffice in this range): ``x``, and the half
    ulp ``P = 10^s``.  For 15, 16 and 17 digits, the nearest multiple of 100, 10, 1 to
    ``x`` is tried; the first strictly within the half ulp is repr's digits (15 digits
    always suffice when anything shorter does; in a symmetric interval the nearest
    candidate fits whenever one does).  Ties, the boundary itself and the asymmetric
    interval of a power of two (M = 2^52) are left to CPython.
    """
    cdef double a = fabs(v)
    cdef int ex, E, sh, s, k, L, nd, i, p = 0, decpt
    cdef unsigned long long M, N, G
    cdef u128 P, V, D, q, r, dlo, dhi, dist
    cdef char d[24]
    if not (a >= 1e-4 and a < 9e15):
        return -1
    M = <unsigned long long>ldexp(frexp(a, &ex), 53)
    E = ex - 53
    if M == (<unsigned long long>1) << 52:
        return -1
    sh = 1 - E                  # 1 ≤ sh ≤ 67 in this range
    D = (<u128>1) << sh
    s = 16 - <int>floor(log10(a))
    for k in range(2):          # log10 may round across a power of ten: correct s
        P = 1
        for i in range(s):
            P *= 10
        V = <u128>(2 * M) * P
        if V < <u128>10000000000000000 * D:
            s += 1
        elif V >= <u128>100000000000000000 * D:
            s -= 1
        else:
            break
    else:
        return -1
    q = V >> sh
    r = V - (q << sh)
    N = 0
    G = 1000
    for k in range(3):          # 15, 16, 17 digits
        G //= 10
        dlo = <u128>(q % G) * D + r
        dhi = <u128>G * D - dlo
        if dlo < dhi:
            N, dist = <unsigned long long>(q - q % G), dlo
        elif dhi < dlo:
            N, dist = <unsigned long long>(q - q % G + G), dhi
        else:
            return -1
        if dist < P:
            break
        if dist == P:
            return -1
    else:
        return -1
    L = 0
    while N:                    # digits, least significant first
        d[L] = <char>(48 + N % 10)
        N //= 10
        L += 1
    nd = 0
    while d[nd] == 48:          # trailing zeros dropped
        nd += 1
    decpt = L - s               # value = 0.d₁d₂… × 10^decpt (−3 ≤ decpt ≤ 16: no exponent)
    if v < 0:
        out[p] = 45
        p += 1
    if decpt <= 0:
        out[p] = 48
        out[p + 1] = 46
        p += 2
        for i in range(-decpt):
            out[p] = 48
            p += 1
        for i in range(L - 1, nd - 1, -1):
            out[p] = d[i]
            p += 1
    else:
        for i in range(decpt):
            out[p] = d[L - 1 - i] if L - 1 - i >= nd else 48
            p += 1
        out[p] = 46
        p += 1
        if L - decpt > nd:
            for i in range(L - 1 - decpt, nd - 1, -1):
                out[p] = d[i]
                p += 1
        else:
            out[p] = 48             # an integer: '.0'
            p += 1
    out[p] = 0
    return p


cdef inline int _repr_nogil(double v, char* out) noexcept nogil:
    """:func:`_repr_fast`, NaN written ``NA``; where it gives up, ``out`` is left
    empty and -1 returned."""
    cdef int w
    if isnan(v):
        memcpy(out, b"NA", 3)
        return 2
    w = _repr_fast(v, out)
    if w < 0:
        out[0] = 0
    return w


cdef int _repr_into(double v, char* out) except -1:
    """Python's ``repr(v)`` (NaN written ``NA``) into ``out``; returns its length."""
    cdef char* r
    cdef int w = _repr_nogil(v, out)
    if w >= 0:
        return w
    w = 0
    r = PyOS_double_to_string(v, b'r', 0, Py_DTSF_ADD_DOT_0, NULL)
    while r[w] != 0 and w < REPR - 1:
        out[w] = r[w]
        w += 1
    out[w] = 0
    PyMem_Free(r)
    return w


cdef inline Py_ssize_t _put(char* out, const char* s, Py_ssize_t w) noexcept nogil:
    memcpy(out, s, w)
    return w


cdef inline int _itoa(long long n, char* out) noexcept nogil:
    cdef char d[24]
    cdef int k = 0, p = 0
    cdef unsigned long long u = <unsigned long long>(-n) if n < 0 else <unsigned long long>n
    if n < 0:
        out[p] = 45
        p += 1
    while True:
        d[k] = <char>(48 + u % 10)
        k += 1
        u //= 10
        if u == 0:
            break
    while k:
        k -= 1
        out[p] = d[k]
        p += 1
    return p


def partial_lines(const signed char[::1] code, list names, dict overrides,
                  bytes heads, const long long[::1] head_off,
                  bytes tails, const long long[::1] tail_off,
                  const long long[::1] n, const double[::1] freq, const double[::1] like,
                  const double[:, ::1] cells, bf=None, a1_freq=None):
    """The lines ``status<TAB>row`` of a block of the table, as one bytes object.

    Row i: its status (``overrides[i]`` if present, else ``names[code[i]]``), then
    ``heads[head_off[i]:head_off[i+1]]`` (the SNP ID), ``n[i]``, the ``%.6g``
    ``freq[i]``, ``repr(like[i])``, the ``%.6g`` ``cells[i]``,
    ``tails[tail_off[i]:tail_off[i+1]]`` (its tab-led chrom, pos and alleles), with
    ``bf`` the ``%.6g`` ``bf[i]``, and with ``a1_freq`` the ``%.6g`` ``a1_freq[i]`` and
    ``names[code[i]]`` (the status without its reason).  NaN is written ``NA``.
    Fields are tab-separated, lines end with a newline.
    """
    cdef Py_ssize_t m = code.shape[0], k = cells.shape[1], i, j, cap, p = 0, w
    cdef const double[:, ::1] bfv
    cdef const double[::1] a1v
    cdef int kb = 0, with_a1 = 0
    cdef char* buf = NULL
    cdef char* reprs = NULL
    cdef const char** st = NULL
    cdef Py_ssize_t* stlen = NULL
    cdef const char** code_st = NULL
    cdef Py_ssize_t* code_len = NULL
    cdef Py_ssize_t n_names = len(names)
    cdef const char* hb = PyBytes_AS_STRING(heads)
    cdef const char* tb = PyBytes_AS_STRING(tails)
    cdef list keep = []
    cdef object s
    if m == 0:
        return b""
    if (head_off.shape[0] != m + 1 or tail_off.shape[0] != m + 1 or n.shape[0] != m
            or freq.shape[0] != m or like.shape[0] != m or cells.shape[0] != m
            or head_off[m] > PyBytes_GET_SIZE(heads) or tail_off[m] > PyBytes_GET_SIZE(tails)):
        raise ValueError("partial_lines: arrays of different lengths")
    # the copies below trust the offsets: they must run forward inside the bytes
    if head_off[0] < 0 or tail_off[0] < 0:
        raise ValueError("partial_lines: negative offsets")
    for i in range(m):
        if head_off[i + 1] < head_off[i] or tail_off[i + 1] < tail_off[i]:
            raise ValueError("partial_lines: offsets that run backwards")
    if bf is not None:
        bfv = bf
        kb = <int>bfv.shape[1]
        if bfv.shape[0] != m:
            raise ValueError("partial_lines: bf of another length")
    if a1_freq is not None:
        a1v = a1_freq
        with_a1 = 1
        if a1v.shape[0] != m:
            raise ValueError("partial_lines: a1_freq of another length")
    try:
        st = <const char**>malloc(m * sizeof(char*))
        stlen = <Py_ssize_t*>malloc(m * sizeof(Py_ssize_t))
        reprs = <char*>malloc(m * REPR)
        code_st = <const char**>malloc(n_names * sizeof(char*))
        code_len = <Py_ssize_t*>malloc(n_names * sizeof(Py_ssize_t))
        if st == NULL or stlen == NULL or reprs == NULL or code_st == NULL or code_len == NULL:
            raise MemoryError()
        # FIXED covers 13 cells; a wider block gets 16 bytes (a tab and "%.6g") per cell
        cap = (m * (FIXED + 16 * (k + kb + with_a1))
               + (head_off[m] - head_off[0]) + (tail_off[m] - tail_off[0]))
        for j in range(n_names):
            if type(names[j]) is not bytes:
                raise TypeError("partial_lines: status names must be bytes")
            code_st[j] = PyBytes_AS_STRING(names[j])
            code_len[j] = PyBytes_GET_SIZE(names[j])
        for i in range(m):
            if code[i] < 0 or code[i] >= n_names:
                raise ValueError("partial_lines: a status code without a name")
            s = overrides.get(i) if overrides else None
            if s is None:
                s = names[code[i]]
            elif type(s) is not bytes:
                raise TypeError("partial_lines: status overrides must be bytes")
            keep.append(s)
            st[i] = PyBytes_AS_STRING(s)
            stlen[i] = PyBytes_GET_SIZE(s)
            cap += stlen[i] + code_len[code[i]]
        with nogil:
            for i in range(m):
                _repr_nogil(like[i], reprs + i * REPR)
        for i in range(m):      # the few the C path leaves to CPython (needs the GIL)
            if reprs[i * REPR] == 0:
                _repr_into(like[i], reprs + i * REPR)
        buf = <char*>malloc(cap)
        if buf == NULL:
            raise MemoryError()
        with nogil:
            for i in range(m):
                p += _put(buf + p, st[i], stlen[i])
                buf[p] = 9
                p += 1
                p += _put(buf + p, hb + head_off[i], head_off[i + 1] - head_off[i])
                buf[p] = 9
                p += 1
                p += _itoa(n[i], buf + p)
                buf[p] = 9
                p += 1
                p += _sig6(freq[i], buf + p)
                buf[p] = 9
                p += 1
                w = 0
                while w < REPR and reprs[i * REPR + w] != 0:
                    w += 1
                p += _put(buf + p, reprs + i * REPR, w)
                for j in range(k):
                    buf[p] = 9
                    p += 1
                    p += _sig6(cells[i, j], buf + p)
                p += _put(buf + p, tb + tail_off[i], tail_off[i + 1] - tail_off[i])
                for j in range(kb):
                    buf[p] = 9
                    p += 1
                    p += _sig6(bfv[i, j], buf + p)
                if with_a1:
                    buf[p] = 9
                    p += 1
                    p += _sig6(a1v[i], buf + p)
                    buf[p] = 9
                    p += 1
                    p += _put(buf + p, code_st[code[i]], code_len[code[i]])
                buf[p] = 10
                p += 1
        return PyBytes_FromStringAndSize(buf, p)
    finally:
        free(buf)
        free(reprs)
        free(st)
        free(stlen)
        free(code_st)
        free(code_len)



def repr_cells(const double[::1] x):
    """Per value of ``x``, its text in the table's full-precision column: Python's
    repr, NaN written ``NA`` (a test hook of the C routine)."""
    cdef char buf[REPR]
    cdef Py_ssize_t i
    out = []
    for i in range(x.shape[0]):
        _repr_into(x[i], buf)
        out.append(buf.decode("ascii"))
    return out
