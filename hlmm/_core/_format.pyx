"""Text of the scan's table, formatted in C.

A many-phenotype scan writes millions of rows; Python's ``'%.6g' % v`` per value cost
more than the fits.  ``snprintf("%.6g")`` gives the same text (both round correctly;
NaN is written ``NaN`` as the table always did) and runs without the GIL.
"""
from libc.stdio cimport snprintf
from libc.stdlib cimport free, malloc
from libc.math cimport isnan

DEF SLOT = 24      # "%.6g" needs at most 13 characters ("-1.23457e-308")


def sig6_cells(const double[:, ::1] X):
    """Per row of ``X``, its values as ``%.6g`` text joined by tabs (NaN → ``NaN``)."""
    cdef Py_ssize_t m = X.shape[0], k = X.shape[1], i, j, p, w
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
                    if isnan(X[i, j]):
                        w = snprintf(line + p, SLOT, "NaN")
                    else:
                        w = snprintf(line + p, SLOT, "%.6g", X[i, j])
                    p += w
                line[p] = 0
        return [(buf + i * width).decode("ascii") for i in range(m)]
    finally:
        free(buf)
