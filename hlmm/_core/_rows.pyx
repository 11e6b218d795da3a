"""The bytes of a scan's partial results and tables: splitting ``status<TAB>row`` lines
(:func:`split_status`, :func:`split_keys`) and combining the CRC-32s of compressed blocks
(:func:`crc32_combine`), for :mod:`hlmm.io.output` and :mod:`hlmm.scan.checkpoint`."""
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_FromStringAndSize


cdef inline Py_ssize_t _past_line(const unsigned char* s, Py_ssize_t j,
                                  Py_ssize_t m) noexcept nogil:
    """The index after the newline that ends the line at ``j`` (``m`` if none)."""
    while j < m and s[j] != 10:
        j += 1
    return j + 1 if j < m else m


def split_status(const unsigned char[::1] lines):
    """Partial-file ``lines`` (bytes of whole ``status<TAB>row`` lines) split into
    ``(rows, n_ok, others)``: the rows without their status column, the number of
    ``ok`` lines and, in order, ``(status, first field of the row)`` of the others (a
    line without a tab is kept whole and not counted)."""
    cdef Py_ssize_t m = lines.shape[0], i = 0, p = 0, j, k, n_ok = 0
    cdef char* out
    cdef list others = []
    if m == 0:
        return b"", 0, others
    out = <char*>malloc(m)
    if out == NULL:
        raise MemoryError()
    try:
        while i < m:
            j = i       # the line's first tab, or its end
            while j < m and lines[j] != 9 and lines[j] != 10:
                j += 1
            if j < m and lines[j] == 9:
                if j - i == 2 and lines[i] == 111 and lines[i + 1] == 107:      # "ok"
                    n_ok += 1
                else:
                    k = j + 1       # a rare status: note its SNP (the next field)
                    while k < m and lines[k] != 9 and lines[k] != 10:
                        k += 1
                    others.append((bytes(lines[i:j]), bytes(lines[j + 1:k])))
                i = j + 1
            j = _past_line(&lines[0], i, m)     # the rest of the line and its newline
            memcpy(out + p, &lines[i], j - i)
            p += j - i
            i = j
        return PyBytes_FromStringAndSize(out, p), n_ok, others
    finally:
        free(out)


def split_keys(const unsigned char[::1] lines):
    """Partial-file ``lines`` (bytes of whole ``status<TAB>row`` lines, each with a tab)
    split into ``(rows, keys)``: the rows without their status column, and per line
    ``status<TAB>SNP`` (the row's first field) and a newline, as a checkpoint keeps
    them (:class:`hlmm.scan.checkpoint.Partial`)."""
    cdef Py_ssize_t m = lines.shape[0], i = 0, p = 0, q = 0, j, k
    cdef char* rows
    cdef char* keys
    if m == 0:
        return b"", b""
    rows = <char*>malloc(m)
    keys = <char*>malloc(m + 1)
    if rows == NULL or keys == NULL:
        free(rows)
        free(keys)
        raise MemoryError()
    try:
        with nogil:
            while i < m:
                j = i       # the status: up to the line's first tab
                while j < m and lines[j] != 9 and lines[j] != 10:
                    j += 1
                if j == m or lines[j] != 9:
                    break
                k = j + 1   # the SNP: the row's first field
                while k < m and lines[k] != 9 and lines[k] != 10:
                    k += 1
                memcpy(keys + q, &lines[i], k - i)
                q += k - i
                keys[q] = 10
                q += 1
                i = j + 1   # the row, its newline included
                j = _past_line(&lines[0], k, m)
                memcpy(rows + p, &lines[i], j - i)
                p += j - i
                i = j
        if i < m:
            raise ValueError("split_keys: a line without a status column")
        return PyBytes_FromStringAndSize(rows, p), PyBytes_FromStringAndSize(keys, q)
    finally:
        free(rows)
        free(keys)


cdef unsigned int _multmodp(unsigned int a, unsigned int b) noexcept nogil:
    """``a·b`` modulo the CRC-32 polynomial (bit-reflected, as zlib's ``multmodp``)."""
    cdef unsigned int m = 1u << 31, p = 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                break
        m >>= 1
        b = (b >> 1) ^ 0xEDB88320u if b & 1 else b >> 1
    return p


cdef unsigned int _X2N[32]          # x^(2^k) modulo the polynomial
_X2N[0] = 1u << 30                  # x
for _k in range(1, 32):
    _X2N[_k] = _multmodp(_X2N[_k - 1], _X2N[_k - 1])


def crc32_combine(unsigned int crc1, unsigned int crc2, long long len2):
    """The CRC-32 (zlib's) of ``A + B`` from ``crc1 = crc32(A)``, ``crc2 = crc32(B)`` and
    ``len2 = len(B)``: ``crc1`` times ``x^(8·len2)`` modulo the polynomial (the powers
    ``x^(2^k)`` tabulated, one product per bit of ``len2``, as zlib's
    ``crc32_combine``), xor ``crc2``."""
    cdef unsigned int p = 1u << 31       # x^0
    cdef int k = 3                       # 8·len2 = len2·2^3
    if len2 <= 0:
        return crc1
    with nogil:
        while len2:
            if len2 & 1:
                p = _multmodp(_X2N[k & 31], p)
            len2 >>= 1
            k += 1
        p = _multmodp(p, crc1) ^ crc2
    return p
