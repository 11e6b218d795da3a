"""BGEN layout-2 genotype blocks read and decoded outside the ``bgen`` library, in the
calling thread, without holding the GIL (for :class:`hlmm.io.bgen.BgenSource`).

The library decodes holding the GIL, so however many threads a scan runs, one decodes
at a time (it bounded the BGEN scan: ``docs/performance.md``). Here a run of consecutive
variants is read with one ``os.pread``, each variant's header is skipped, its genotype
block inflated by ``isal`` (zlib format, releases the GIL; ~2× zlib's speed), and
:func:`hlmm._core._bgen.alt_dosage_layout2` turns it into dosages. Only blocks that
decoder takes (two alleles, diploid, 8 or 16 bits, well-formed sums) are done here:
:func:`decode_run` reports which, and the others go to the library as before, so every
dosage equals the library's (snapped to the 1/65535 grid). zstd-compressed files and
layout 1 are left to the library entirely.
"""
import os
import struct

import numpy as np

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


def available(layout, compression):
    """Whether blocks of a file with this layout and compression can be decoded here."""
    if layout != 2 or compression not in (None, "zlib"):
        return False
    try:
        from isal import isal_zlib  # noqa: F401  (a dependency; the library otherwise)
    except ImportError:
        return False
    return True


def _genotype_block(buf, pos, compressed):
    """The genotype data of the layout-2 variant at ``buf[pos:]``, decompressed, or
    None when it cannot be located or inflated here (the library then reads it)."""
    try:
        for _ in range(3):                      # variant ID, rsID, chromosome
            pos += 2 + _U16.unpack_from(buf, pos)[0]
        pos += 4                                # position
        k = _U16.unpack_from(buf, pos)[0]
        pos += 2
        for _ in range(k):
            pos += 4 + _U32.unpack_from(buf, pos)[0]
        c = _U32.unpack_from(buf, pos)[0]
        pos += 4
        if not compressed:
            data = buf[pos:pos + c]
            return data if len(data) == c else None
        if c < 4:
            return None
        d = _U32.unpack_from(buf, pos)[0]
        comp = buf[pos + 4:pos + c]
        if len(comp) != c - 4:
            return None
        from isal import isal_zlib

        data = isal_zlib.decompress(comp, bufsize=max(d, 1))
    except Exception:       # struct.error (cut short), isal_zlib.error (corrupt stream)
        return None
    return data if len(data) == d else None


def decode_run(path, offsets, ends, start, stop, skip, compressed, row_for):
    """Decode what can be decoded here of variants ``start..stop-1`` (file offsets
    ``offsets``, ``ends`` the byte after each; ``skip[k]`` set: variant ``start + k``
    is not wanted), yielding ``k`` once ``row_for(k)`` (a float64 array, one value per
    file sample) holds the dosages of variant ``start + k``.  Variants not yielded are
    the library's to decode."""
    from .._core import _bgen

    if stop <= start:
        return
    lo, hi = int(offsets[start]), int(ends[stop - 1])
    fd = os.open(path, os.O_RDONLY)
    try:
        raw = os.pread(fd, hi - lo, lo)
    finally:
        os.close(fd)
    view = memoryview(raw)
    for k in range(stop - start):
        if skip[k]:
            continue
        data = _genotype_block(view, int(offsets[start + k]) - lo, compressed)
        if data is None:
            continue
        row = row_for(k)
        if _bgen.alt_dosage_layout2(np.frombuffer(data, dtype=np.uint8), row) == 0:
            yield k
