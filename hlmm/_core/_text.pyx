"""Whitespace-separated text tables (phenotypes, covariates, .fam, .bim) in one C pass.

:func:`parse_fields` splits an ASCII buffer into lines (``\\n``; a ``\\r`` just before it
is whitespace) and tokens (runs of spaces and tabs), skips blank lines, and per line
keeps each column as a Python string, parses it as a number, or skips it.  It is the fast
path only: anything it does not handle exactly as Python's ``str.split`` /
``str.splitlines`` / ``float`` would (another control character, a non-ASCII byte, a
number outside the strict grammar ``[+-]? (d+ [. d*] | . d+) ([eE] [+-]? d+)?``) is
reported, and the caller decides (a slower exact reader, or an error naming the line).

Numbers are correctly rounded, as ``float()``: a token with at most 19 significant
digits is read into an integer mantissa ``m`` and a decimal exponent ``e``; when
``m ≤ 2⁵³`` and ``|e| ≤ 22`` both ``m`` and ``10^|e|`` are exact doubles, so one IEEE
multiplication or division gives the correctly rounded value (Clinger's fast path).
Other tokens go to the C library's ``strtod`` (correctly rounded in glibc, musl and
macOS), which the caller allows only when the locale's decimal point is ``.``.
"""
import numpy as np

cimport numpy as cnp
from cpython.unicode cimport PyUnicode_DecodeASCII
from libc.math cimport NAN, isfinite
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport strtod
from libc.string cimport memchr, memcmp, memcpy, memmove

cnp.import_array()

# status codes (the first item of parse_fields' result)
cdef enum:
    S_OK = 0
    S_BAD_COUNT = 1       # a line without the expected number of tokens
    S_BAD_NUMBER = 2      # a token that is not a number in the strict grammar
    S_NOT_FINITE = 3      # a number that overflows to ±inf
    S_UNSUPPORTED = 4     # a byte the fast path does not handle: use an exact reader
    S_NEEDS_STRTOD = 5    # a number beyond the fast path while strtod is not allowed
    S_BAD_INTEGER = 6     # an integer column token outside [0-9]+ or above 2³¹ − 1

OK, BAD_COUNT, BAD_NUMBER, NOT_FINITE, UNSUPPORTED, NEEDS_STRTOD, BAD_INTEGER = range(7)
INT_MAX = 2147483647

# A string column as a numpy bytes array costs rows × its longest token: one long token
# (a structural-variant allele) made that gigabytes.  Past this width, and when the fixed
# width costs more than twice the text, the column is a numpy object array of str.
FIXED_WIDTH_FREE = 16

cdef double POW10[23]
POW10[:] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
            1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]

cdef uint64_t TWO53 = 9007199254740992ULL


cdef inline bint _integer(const char* s, Py_ssize_t a, Py_ssize_t b, double* out) noexcept nogil:
    """``s[a:b]`` as a whole number in 0 … 2³¹ − 1 (ASCII digits only, as PLINK's
    positions); False otherwise."""
    cdef long long v = 0
    cdef unsigned char c
    if a >= b:
        return False
    while a < b:
        c = s[a]
        if not _is_digit(c):
            return False
        v = v * 10 + (c - 48)
        if v > 2147483647:
            return False
        a += 1
    out[0] = <double>v
    return True


cdef inline bint _is_digit(unsigned char c) noexcept nogil:
    return c >= 48 and c <= 57


cdef inline bint _clinger(uint64_t mant, long exp10, bint neg, double* out) noexcept nogil:
    """``±mant·10^exp10`` correctly rounded when ``mant ≤ 2⁵³`` and ``|exp10| ≤ 22`` (both
    exact doubles: one IEEE operation); False otherwise."""
    cdef double v
    if mant == 0:
        v = 0.0
    elif mant <= TWO53 and -22 <= exp10 <= 22:
        v = <double>mant
        if exp10 >= 0:
            v = v * POW10[exp10]
        else:
            v = v / POW10[-exp10]
    else:
        return False
    out[0] = -v if neg else v
    return True


cdef int _number(const char* s, Py_ssize_t a, Py_ssize_t b, bint use_strtod,
                 double* out) noexcept nogil:
    """Parse ``s[a:b]``; returns S_OK, S_BAD_NUMBER, S_NOT_FINITE or S_NEEDS_STRTOD."""
    cdef Py_ssize_t i = a
    cdef bint neg = False, any_digit = False, exact = True, eneg = False, point = False
    cdef uint64_t mant = 0
    cdef int nd = 0
    cdef long exp10 = 0, ex = 0
    cdef unsigned char c
    cdef char* end
    cdef double v
    c = s[i]
    if c == 43 or c == 45:          # + -
        neg = c == 45
        i += 1
    while i < b:
        c = s[i]
        if _is_digit(c):
            any_digit = True
            if mant != 0 or c != 48:        # a significant digit
                if nd < 19:
                    mant = mant * 10 + (c - 48)
                    nd += 1
                    exp10 -= point
                else:                       # beyond 19 digits: strtod decides
                    exact = False
                    exp10 += not point
            else:                           # a leading zero
                exp10 -= point
        elif c == 46 and not point:         # .
            point = True
        else:
            break
        i += 1
    if not any_digit:
        return S_BAD_NUMBER
    if i < b and (s[i] == 101 or s[i] == 69):     # e E
        i += 1
        if i < b and (s[i] == 43 or s[i] == 45):
            eneg = s[i] == 45
            i += 1
        if i >= b or not _is_digit(s[i]):
            return S_BAD_NUMBER
        while i < b and _is_digit(s[i]):
            if ex < 100000:
                ex = ex * 10 + (s[i] - 48)
            i += 1
        exp10 += -ex if eneg else ex
    if i != b:
        return S_BAD_NUMBER
    if not (exact and _clinger(mant, exp10, neg, out)):
        if not use_strtod:
            return S_NEEDS_STRTOD
        # the token is followed by whitespace, a newline or the bytes object's final NUL
        v = strtod(s + a, &end)
        if end != s + b:
            return S_BAD_NUMBER
        out[0] = v
        return S_OK if isfinite(v) else S_NOT_FINITE
    return S_OK


cdef inline Py_ssize_t _digits(const char* s, Py_ssize_t i, Py_ssize_t size, uint64_t* mant,
                               int* nd) noexcept nogil:
    """The run of digits at ``s[i]`` appended to the mantissa ``mant`` of ``nd``
    significant digits (leading zeros are not); returns its length, or −1 beyond 19
    significant digits."""
    cdef Py_ssize_t a = i
    cdef unsigned int d
    while i < size:
        d = <unsigned char>s[i] - 48
        if d > 9:
            break
        if mant[0] != 0 or d != 0:
            if nd[0] == 19:
                return -1
            mant[0] = mant[0] * 10 + d
            nd[0] += 1
        i += 1
    return i - a


cdef inline Py_ssize_t _fast_number(const char* s, Py_ssize_t i, Py_ssize_t size,
                                    double* out) noexcept nogil:
    """The common number token at ``s[i]`` in one pass: ``[+-]? d* [. d*] ([eE] [+-]? d+)?``
    with at least one digit, ≤ 19 significant digits, ``m ≤ 2⁵³`` and ``|e| ≤ 22`` (Clinger's
    fast path of :func:`_number`, the same value), ended by a blank, a newline or
    ``size``.  Returns the offset after the token, or −1: then the token is split and
    :func:`_number` decides (another token, a longer number, an error), as before.
    Splitting the token first and parsing it again read every byte twice."""
    cdef bint neg = False, any_digit = False, eneg = False
    cdef Py_ssize_t k
    cdef uint64_t mant = 0
    cdef int nd = 0
    cdef long exp10 = 0, ex = 0
    cdef unsigned int d
    cdef unsigned char c
    if i < size and (s[i] == 43 or s[i] == 45):     # + -
        neg = s[i] == 45
        i += 1
    k = _digits(s, i, size, &mant, &nd)             # integer digits
    if k < 0:
        return -1
    any_digit = k > 0
    i += k
    if i < size and s[i] == 46:                     # .
        i += 1
        k = _digits(s, i, size, &mant, &nd)         # fraction digits
        if k < 0:
            return -1
        any_digit = any_digit or k > 0
        i += k
        exp10 = -k
    if not any_digit:
        return -1
    if i < size and (s[i] == 101 or s[i] == 69):    # e E
        i += 1
        if i < size and (s[i] == 43 or s[i] == 45):
            eneg = s[i] == 45
            i += 1
        if i >= size:
            return -1
        d = <unsigned char>s[i] - 48
        if d > 9:                                   # no exponent digit
            return -1
        while i < size:
            d = <unsigned char>s[i] - 48
            if d > 9:
                break
            if ex < 100000:
                ex = ex * 10 + d
            i += 1
        exp10 += -ex if eneg else ex
    if i < size:                                    # the token must end here
        c = s[i]
        if not (c == 32 or c == 9 or c == 10 or (c == 13 and (i + 1 == size or s[i + 1] == 10))):
            return -1
    return i if _clinger(mant, exp10, neg, out) else -1


cdef struct Fail:
    int status
    Py_ssize_t line          # 1-based
    Py_ssize_t column        # 0-based token index
    Py_ssize_t n_tokens      # on S_BAD_COUNT: the tokens found on the line
    Py_ssize_t a, b          # the offending token


cdef Py_ssize_t _scan(const char* s, Py_ssize_t size, Py_ssize_t pos, Py_ssize_t line0,
                      const signed char* kinds, Py_ssize_t ncols, const char* miss,
                      Py_ssize_t miss_len, bint use_strtod, int64_t* offsets,
                      Py_ssize_t n_str, double* values, Py_ssize_t n_num,
                      int64_t* lines, Fail* fail) noexcept nogil:
    """The parsing loop; returns the number of data rows, or −1 with ``fail`` set."""
    cdef Py_ssize_t row = 0, line = line0, col, a, js, jn
    cdef long long iv
    cdef unsigned char c
    cdef int st
    cdef double v
    while pos < size:
        line += 1
        col = 0
        js = 0
        jn = 0
        while True:
            # skip blanks up to a token or the end of the line
            while pos < size:
                c = s[pos]
                if c == 32 or c == 9:
                    pos += 1
                elif c == 13 and (pos + 1 == size or s[pos + 1] == 10):
                    pos += 1
                else:
                    break
            if pos >= size or s[pos] == 10:
                break
            if (col < ncols and kinds[col] == 2
                    and not (miss_len > 0 and pos + miss_len <= size
                             and memcmp(s + pos, miss, miss_len) == 0)):
                a = _fast_number(s, pos, size, &v)
                if a >= 0:
                    values[row * n_num + jn] = v
                    jn += 1
                    col += 1
                    pos = a
                    continue
            if col < ncols and kinds[col] == 4:
                # a position in one pass: digits up to a blank or the line's end
                a = pos
                iv = 0
                while pos < size and _is_digit(s[pos]) and iv <= 2147483647:
                    iv = iv * 10 + (s[pos] - 48)
                    pos += 1
                if pos > a and iv <= 2147483647 and (pos == size or s[pos] == 32
                        or s[pos] == 9 or s[pos] == 10
                        or (s[pos] == 13 and (pos + 1 == size or s[pos + 1] == 10))):
                    values[row * n_num + jn] = <double>iv
                    jn += 1
                    col += 1
                    continue
                pos = a         # not a plain position: the token path decides
            a = pos
            while pos < size:
                c = s[pos]
                if c <= 32 or c >= 127:
                    if c == 32 or c == 9 or c == 10:
                        break
                    if c == 13 and (pos + 1 == size or s[pos + 1] == 10):
                        break
                    fail.status = S_UNSUPPORTED
                    fail.line = line
                    return -1
                pos += 1
            if col < ncols:
                if kinds[col] == 4:
                    if not _integer(s, a, pos, &v):
                        fail.status = S_BAD_INTEGER
                        fail.line = line
                        fail.column = col
                        fail.a = a
                        fail.b = pos
                        return -1
                    values[row * n_num + jn] = v
                    jn += 1
                elif kinds[col] == 1 or kinds[col] == 3:
                    offsets[2 * (row * n_str + js)] = a
                    offsets[2 * (row * n_str + js) + 1] = pos
                    js += 1
                elif kinds[col] == 2:
                    if miss_len > 0 and pos - a == miss_len and memcmp(s + a, miss, miss_len) == 0:
                        v = NAN
                    else:
                        st = _number(s, a, pos, use_strtod, &v)
                        if st != S_OK:
                            fail.status = st
                            fail.line = line
                            fail.column = col
                            fail.a = a
                            fail.b = pos
                            return -1
                    values[row * n_num + jn] = v
                    jn += 1
            col += 1
        if pos < size:
            pos += 1                # the newline
        if col == 0:
            continue                # a blank line: no row
        if col != ncols:
            fail.status = S_BAD_COUNT
            fail.line = line
            fail.n_tokens = col
            return -1
        else:
            lines[row] = line
            row += 1
    return row


cdef class _Chunk:
    """One range of lines, parsed by :func:`_scan` without the GIL (in a thread)."""
    cdef const char* s
    cdef Py_ssize_t start, end, line0, ncols, miss_len, n_str, n_num, rows
    cdef const signed char* kinds
    cdef const char* miss
    cdef bint use_strtod
    cdef int64_t* offsets
    cdef double* values
    cdef int64_t* lines
    cdef Fail fail

    def run(self):
        self.fail.status = S_OK
        self.fail.line = 0
        self.fail.column = -1
        self.fail.n_tokens = -1
        self.fail.a = 0
        self.fail.b = 0
        with nogil:
            self.rows = _scan(self.s, self.end, self.start, self.line0, self.kinds,
                              self.ncols, self.miss, self.miss_len, self.use_strtod,
                              self.offsets, self.n_str, self.values, self.n_num,
                              self.lines, &self.fail)


cdef Py_ssize_t MIN_CHUNK = 1 << 20     # bytes: smaller files are parsed in one thread


def parse_fields(bytes data, Py_ssize_t offset, Py_ssize_t first_line, kinds,
                 missing=None, bint use_strtod=True, int threads=1):
    """Parse ``data[offset:]``, whose first line is line ``first_line + 1`` of the file.

    ``kinds`` gives, per column, ``0`` skip, ``1`` string (a list of str), ``2`` number,
    ``3`` string as a numpy bytes array (or, when one long token would make the fixed
    width cost more than twice the text, a numpy object array of str: see
    ``FIXED_WIDTH_FREE``), ``4`` whole number in 0 … 2³¹ − 1 (stored with the numbers);
    every non-blank line must have exactly
    ``len(kinds)`` tokens.  A number column token equal to ``missing`` (bytes) is NaN.
    Returns ``(OK, strings, values, lines)`` — per string column a list of str or a bytes
    array, float64 ``(rows, number columns)``, the 1-based line of each row (int64) — or
    ``(status, line, column, n_tokens, token)`` for the first problem (see the status
    codes above).  A large buffer is split at line starts into up to
    ``threads`` ranges parsed in parallel; the result does not depend on ``threads``.
    """
    cdef const signed char[::1] kv = np.asarray(kinds, dtype=np.int8)
    cdef Py_ssize_t ncols = kv.shape[0], n_str = 0, n_num = 0, j, r, rows, cap, k, i, c, js
    for j in range(ncols):
        if not 0 <= kv[j] <= 4:
            raise ValueError(f"parse_fields: unknown column kind {kv[j]}")
        n_str += kv[j] == 1 or kv[j] == 3
        n_num += kv[j] == 2 or kv[j] == 4
    cdef const char* s = data
    cdef Py_ssize_t size = len(data)
    if offset < 0 or offset > size:
        raise ValueError("parse_fields: offset outside the data")
    cdef const char* miss = b""
    cdef Py_ssize_t miss_len = 0
    if missing is not None:
        miss = missing
        miss_len = len(missing)
    # ranges starting at line starts, their newline counts and row capacities
    k = max(1, min(threads, (size - offset) // MIN_CHUNK))
    bounds = [offset]
    for i in range(1, k):
        j = max(bounds[len(bounds) - 1], offset + i * (size - offset) // k)
        found = data.find(b"\n", j)
        bounds.append(size if found < 0 else found + 1)
    bounds.append(size)
    cdef Py_ssize_t[::1] nl = np.zeros(k, dtype=np.intp)
    cdef Py_ssize_t[::1] bnd = np.array(bounds, dtype=np.intp)
    cdef const char* hit
    with nogil:
        for i in range(k):
            # memchr's vector scan: a byte-by-byte count took a tenth of the parse
            j = bnd[i]
            while j < bnd[i + 1]:
                hit = <const char*>memchr(s + j, 10, bnd[i + 1] - j)
                if hit == NULL:
                    break
                nl[i] += 1
                j = hit - s + 1
    cap = 0
    for i in range(k):
        cap += nl[i] + 1
    cdef int64_t[::1] offsets = np.empty(max(2 * cap * n_str, 1), dtype=np.int64)
    vals = np.empty((cap, max(n_num, 1)), dtype=np.float64)
    cdef double[:, ::1] vv = vals
    lines_arr = np.empty(cap, dtype=np.int64)
    cdef int64_t[::1] lv = lines_arr
    chunks = []
    cdef _Chunk ch
    cdef Py_ssize_t base = 0, line0 = first_line
    for i in range(k):
        ch = _Chunk()
        ch.s = s
        ch.start = bnd[i]
        ch.end = bnd[i + 1]
        ch.line0 = line0
        ch.kinds = &kv[0]
        ch.ncols = ncols
        ch.miss = miss
        ch.miss_len = miss_len
        ch.use_strtod = use_strtod
        ch.offsets = &offsets[2 * base * n_str] if n_str > 0 else &offsets[0]
        ch.n_str = n_str
        ch.values = &vv[base, 0]
        ch.n_num = n_num
        ch.lines = &lv[base]
        chunks.append(ch)
        base += nl[i] + 1
        line0 += nl[i]
    if k == 1:
        chunks[0].run()
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(k) as ex:
            list(ex.map(lambda c: c.run(), chunks))
    # the first problem in file order; else the ranges' rows made contiguous
    rows = 0
    base = 0
    for i in range(k):
        ch = chunks[i]
        if ch.fail.status != S_OK:
            token = (data[ch.fail.a:ch.fail.b].decode("ascii", "replace")
                     if ch.fail.b > ch.fail.a else None)
            return ch.fail.status, ch.fail.line, ch.fail.column, ch.fail.n_tokens, token
        if base != rows and ch.rows > 0:
            memmove(&lv[rows], &lv[base], ch.rows * sizeof(int64_t))
            if n_num > 0:
                memmove(&vv[rows, 0], &vv[base, 0], ch.rows * n_num * sizeof(double))
            if n_str > 0:
                memmove(&offsets[2 * rows * n_str], &offsets[2 * base * n_str],
                        2 * ch.rows * n_str * sizeof(int64_t))
        rows += ch.rows
        base += nl[i] + 1
    # A token equal to the one above it (a constant FID) or to its left neighbour (FID =
    # IID) reuses that str: fewer objects, and their hashes are computed once.
    strings = []
    cdef Py_ssize_t a, b, pa, pb, w, total
    cdef char* dst
    js = 0
    for c in range(ncols):
        if kv[c] == 3:     # a numpy bytes array: no Python object per token
            j = js
            w = 1
            total = 0
            for r in range(rows):
                b = offsets[2 * (r * n_str + j) + 1] - offsets[2 * (r * n_str + j)]
                total += b
                w = max(w, b)
            if w > FIXED_WIDTH_FREE and w * rows > 2 * total:
                strings.append(_object_column(s, offsets, rows, n_str, j))
                js += 1
                continue
            arr = np.zeros(rows, dtype=f"S{w}")
            if rows:
                dst = cnp.PyArray_BYTES(arr)
                for r in range(rows):
                    a = offsets[2 * (r * n_str + j)]
                    memcpy(dst + r * w, s + a, offsets[2 * (r * n_str + j) + 1] - a)
            strings.append(arr)
            js += 1
            continue
        if kv[c] != 1:
            continue
        j = js
        js += 1
        col = [None] * rows
        for r in range(rows):
            a = offsets[2 * (r * n_str + j)]
            b = offsets[2 * (r * n_str + j) + 1]
            if r > 0:
                pa = offsets[2 * ((r - 1) * n_str + j)]
                pb = offsets[2 * ((r - 1) * n_str + j) + 1]
                if pb - pa == b - a and memcmp(s + a, s + pa, b - a) == 0:
                    col[r] = col[r - 1]
                    continue
            if j > 0 and isinstance(strings[j - 1], list):
                pa = offsets[2 * (r * n_str + j - 1)]
                pb = offsets[2 * (r * n_str + j - 1) + 1]
                if pb - pa == b - a and memcmp(s + a, s + pa, b - a) == 0:
                    col[r] = strings[j - 1][r]
                    continue
            col[r] = PyUnicode_DecodeASCII(s + a, b - a, NULL)
        strings.append(col)
    return S_OK, strings, vals[:rows, :n_num], lines_arr[:rows]



cdef object _object_column(const char* s, const int64_t[::1] offsets, Py_ssize_t rows,
                           Py_ssize_t n_str, Py_ssize_t j):
    """String column ``j`` as a numpy object array of str: memory ∝ the text.  A
    one-byte token (a SNP allele) and a token equal to the one above share one str."""
    cdef Py_ssize_t r, a, b, pa = 0, pb = 0
    cdef list single = [None] * 128
    out = np.empty(rows, dtype=object)
    cdef object[:] ov = out
    cdef object prev = None, tok
    for r in range(rows):
        a = offsets[2 * (r * n_str + j)]
        b = offsets[2 * (r * n_str + j) + 1]
        if b - a == 1 and <unsigned char>s[a] < 128:
            tok = single[<unsigned char>s[a]]
            if tok is None:
                tok = single[<unsigned char>s[a]] = PyUnicode_DecodeASCII(s + a, 1, NULL)
        elif prev is not None and pb - pa == b - a and memcmp(s + a, s + pa, b - a) == 0:
            tok = prev
        else:
            tok = PyUnicode_DecodeASCII(s + a, b - a, NULL)
        ov[r] = tok
        prev, pa, pb = tok, a, b
    return out
