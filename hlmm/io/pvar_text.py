"""The text of a .pvar, checked where pgenlib is lenient: it reads the digits it finds
in POS ("1e30" as 1, "12x" as 12), takes negative positions, and splits fields at spaces
too while ignoring extra fields (an ID "rs1 x" shifted REF and ALT silently)."""
import os
import re

import numpy as np

from ..errors import InputError
from .tokens import INT_MAX, show


def check_pvar_text(pvar, pos):
    """POS must be a whole number in 0 … 2³¹ − 1, as in a .bim.  pgenlib reads the digits
    it finds ("1e30" as 1, "12x" as 12) and takes negative numbers, so the text of a
    plain .pvar is checked here (a .pvar.zst only for negative values), with the field
    count of every line (pgenlib splits at spaces too and ignores extra fields)."""
    neg = np.flatnonzero(pos < 0)
    where = None if not neg.size else f"variant {neg[0] + 1}"
    token = None if not neg.size else str(pos[neg[0]])
    if not pvar.endswith(".zst") and where is None:
        with open(pvar, "rb") as fh:
            data = fh.read()
        k = None
        for m in re.finditer(rb"(?m)^#[^\n]*", data):
            if m.group().startswith(b"#CHROM"):
                header = m.group().rstrip(b"\r")
                header_end = min(m.end() + 1, len(data))
                header_line = data.count(b"\n", 0, m.start()) + 1
                k = m.group().rstrip(b"\r").split(b"\t").index(b"POS") \
                    if b"POS" in m.group().split(b"\t") else None
                break
            if not m.group().startswith(b"##"):
                break
        if k is not None and data.isascii():
            # the compiled parser (hlmm._core._text): the field count of every line and
            # POS as a whole number in 0 … 2³¹ − 1, in C
            from .._core import _text

            n_cols = len(header.split())
            kinds = [0] * n_cols
            kinds[k] = 4
            out = _text.parse_fields(data, header_end, header_line, kinds,
                                     threads=os.cpu_count() or 1)
            if out[0] == _text.OK:
                return
            if out[0] == _text.BAD_COUNT:
                raise InputError(f"{pvar} line {out[1]}: expected {n_cols} fields "
                                 f"({header.decode('ascii')}), found {out[3]}")
            if out[0] == _text.BAD_INTEGER:
                raise InputError(f"{pvar} line {out[1]}: POS {show(out[4])} is not a whole "
                                 f"number in 0..{INT_MAX}")
            # another control character: the regular expressions below decide
        # the POS field of a data line that is not 1 to 10 ASCII digits
        if k is not None:
            bad = re.compile(rb"(?m)^(?!#)(?:[^\t\n]*\t){%d}(?![0-9]{1,10}(?:[\t\r\n]|\Z))" % k)
        else:      # a headerless .bim-style .pvar: CHROM ID CM POS, any blanks
            bad = re.compile(rb"(?m)^[ \t]*(?:[^\s]+[ \t]+){3}(?![0-9]{1,10}(?:\s|\Z))")
        hit = bad.search(data)
        if hit is None and k is not None:
            # pgenlib splits fields at spaces too, and ignores extra fields: "rs1 x" as an
            # ID shifted REF and ALT silently.  Lines with a space keep the header's count.
            n_cols = len(header.split())
            for m in re.finditer(rb"(?m)^(?!#)[^\n]* [^\n]*$", data):
                if len(m.group().split()) != n_cols:
                    line = data.count(b"\n", 0, m.start()) + 1
                    raise InputError(f"{pvar} line {line}: expected {n_cols} fields "
                                     f"({header.decode('utf-8', 'replace')}), found "
                                     f"{len(m.group().split())}")
        if hit is not None:
            line = data.count(b"\n", 0, hit.start()) + 1
            token = re.match(rb"[^\s]*", data[hit.end():]).group().decode("utf-8", "replace")
            where = f"line {line}"
    if where is not None:
        raise InputError(f"{pvar} {where}: POS {show(token)} is not a whole number in "
                         f"0..{INT_MAX}")
