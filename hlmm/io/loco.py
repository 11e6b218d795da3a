"""REGENIE's leave-one-chromosome-out (LOCO) predictions: ``PREFIX_pred.list`` and the
``PREFIX_K.loco`` / ``.loco.gz`` files it names.

The formats, as REGENIE writes them (``src/Data.cpp``: ``write_predictions``,
``write_ID_header``, ``write_chr_row``) and reads them (``src/Step2_Models.cpp``:
``blup_read_chr``):

- ``PREFIX_pred.list``: one line per phenotype, ``NAME PATH`` (whitespace separated);
- a ``.loco`` file (gzip when the name ends ``.gz``; recognised here by its magic bytes):
  a header line ``FID_IID`` followed by one token per individual, its FID and IID joined
  by ``_``; then one line per chromosome (1–22, and 23 for X: REGENIE writes every row
  from 1 to its ``--nChrom``, 23 by default), the chromosome number followed by each
  individual's prediction, ``NA`` for individuals step 1 left out of that phenotype.

A header token is not split back into FID and IID (both may hold ``_``): individuals are
matched by their ``FID_IID`` (:meth:`LocoPredictions.column_of`), as REGENIE does.

The predictions are on the scale of REGENIE's step-1 phenotype, the phenotype residualised
on the covariates and divided by the residuals' SD (``Data::residualize_res``,
``scale_Y``); :mod:`hlmm.scan.loco_scan` puts them back on the trait's scale.
"""
import os

import numpy as np

from ..errors import InputError
from .tables import read_text

# REGENIE's chrStrToInt with --nChrom 23: X, XY, Y, PAR1 and PAR2 share row 23
_CHROM23 = {"X", "XY", "Y", "PAR1", "PAR2", "23", "24", "25"}


def loco_row(chrom):
    """The row number of chromosome ``chrom`` (a genotype file's chromosome name) in a
    .loco file, as REGENIE maps it (``chr`` prefix dropped; X, Y, XY, PAR1/2 → 23), or
    None (e.g. MT: REGENIE has no row for it)."""
    s = str(chrom).strip()
    if s[:3].lower() == "chr" and len(s) > 3:
        s = s[3:]
    if s.upper() in _CHROM23:
        return 23
    if s.isascii() and s.isdigit() and 1 <= int(s) <= 22:
        return int(s)
    return None


def read_pred_list(path, option="--pred"):
    """``{phenotype name: .loco path}`` of a ``PREFIX_pred.list``; a relative path is
    taken as written (REGENIE writes them relative to its working directory) or, when no
    such file exists, relative to the list's directory."""
    text = read_text(path, f"{option} {path}")
    out = {}
    base = os.path.dirname(os.path.abspath(path))
    for line_no, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise InputError(f"{option} {path} line {line_no}: expected 'NAME PATH' (2 "
                             f"fields), found {len(parts)}")
        name, loco = parts
        if name in out:
            raise InputError(f"{option} {path} line {line_no}: phenotype '{name}' listed "
                             "twice")
        if not os.path.isabs(loco) and not os.path.exists(loco):
            alt = os.path.join(base, loco)
            if os.path.exists(alt):
                loco = alt
        out[name] = loco
    if not out:
        raise InputError(f"{option} {path}: no 'NAME PATH' line")
    return out


class LocoPredictions:
    """One phenotype's LOCO predictions (:func:`read_loco`): ``ids`` (the header's
    ``FID_IID`` tokens), ``rows`` ({chromosome number: its values over ``ids``, NaN for
    ``NA``}), ``path``."""

    def __init__(self, path, ids, rows):
        self.path, self.ids, self.rows = path, ids, rows
        self._index = {k: j for j, k in enumerate(ids)}

    def column_of(self, fid_iids):
        """Per ``FID_IID`` key: its position among :attr:`ids`, −1 when absent."""
        get = self._index.get
        return np.fromiter((get(k, -1) for k in fid_iids), dtype=np.intp,
                           count=len(fid_iids))

    def values(self, chrom_row, name="", option="--pred"):
        """The predictions of row ``chrom_row`` (:func:`loco_row`); a chromosome the file
        has no row for is an error naming it."""
        v = self.rows.get(chrom_row)
        if v is None:
            raise InputError(f"{option}: {self.path}" + (f" (phenotype '{name}')" if name else "")
                             + f" has no row for chromosome {chrom_row} (rows: "
                             + ", ".join(map(str, sorted(self.rows))) + ")")
        return v


def read_loco(path, option="--pred"):
    """Read a ``.loco``/``.loco.gz`` file (see the module docstring) into
    :class:`LocoPredictions`; a wrong header, a row of the wrong length, a chromosome
    given twice or a value neither a number nor ``NA`` is a one-line error naming the
    file and line."""
    label = f"{option}: {path}"
    lines = read_text(path, label).splitlines()
    k = 0
    while k < len(lines) and not lines[k].strip():
        k += 1
    if k == len(lines):
        raise InputError(f"{label}: empty file")
    header = lines[k].split()
    if header[0] != "FID_IID":
        raise InputError(f"{label} line {k + 1}: the header must start with FID_IID (a "
                         f"REGENIE .loco file), found '{header[0][:40]}'")
    ids = header[1:]
    if not ids:
        raise InputError(f"{label} line {k + 1}: the header names no individual")
    seen = set()
    for t in ids:
        if t in seen:
            raise InputError(f"{label} line {k + 1}: individual {t} appears twice")
        seen.add(t)
    rows = {}
    for line_no in range(k + 2, len(lines) + 1):
        parts = lines[line_no - 1].split()
        if not parts:
            continue
        if len(parts) != len(ids) + 1:
            raise InputError(f"{label} line {line_no}: {len(parts)} fields, the header has "
                             f"{len(ids) + 1}")
        chrom = loco_row(parts[0])
        if chrom is None:
            raise InputError(f"{label} line {line_no}: '{parts[0][:40]}' is not a "
                             "chromosome number (1-23)")
        if chrom in rows:
            raise InputError(f"{label} line {line_no}: chromosome {chrom} appears twice")
        rows[chrom] = _floats(parts[1:], label, line_no)
    if not rows:
        raise InputError(f"{label}: no chromosome row after the header")
    return LocoPredictions(path, ids, rows)


def _floats(tokens, label, line_no):
    arr = np.array(tokens, dtype=object)
    na = arr == "NA"
    arr[na] = "nan"
    try:
        v = arr.astype(np.float64)
    except ValueError:
        bad = next(t for t in tokens if t != "NA" and not _is_float(t))
        raise InputError(f"{label} line {line_no}: '{bad[:40]}' is neither a number nor "
                         "NA") from None
    if not np.isfinite(v[~na]).all():
        bad = next(t for t, x, m in zip(tokens, v, na) if not m and not np.isfinite(x))
        raise InputError(f"{label} line {line_no}: '{bad[:40]}' is not a finite number "
                         "(a missing prediction is NA)")
    return v


def _is_float(t):
    try:
        float(t)
        return True
    except ValueError:
        return False
