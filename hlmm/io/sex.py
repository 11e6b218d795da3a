"""Individuals' sex, for chromosome X: 1 = male, 2 = female, 0 = unknown (PLINK's codes).

Sources, the first that applies:

- ``--sex FILE``: ``FID IID SEX`` lines (PLINK's ``--update-sex`` layout; a header line
  ``#FID IID SEX``/``FID IID SEX`` or ``#IID SEX`` is allowed), matched to the genotype
  file's individuals as phenotypes are; individuals it does not list have unknown sex;
- a .bed's ``.fam``: column 5;
- a .pgen's ``.psam``: the ``SEX`` column (a headerless .fam-style .psam: column 5);
- a .bgen's Oxford ``.sample`` (``--sample``, or the one beside the file): the ``sex``
  column, by row.

Codes: 1/M/male, 2/F/female; anything else (0, −9, NA) is unknown.
"""
import os

import numpy as np

from ..errors import InputError
from .tables import read_text

_CODES = {"1": 1, "m": 1, "male": 1, "2": 2, "f": 2, "female": 2}


def _code(token):
    return _CODES.get(token.strip().lower(), 0)


def read_sex(geno, sex_file=None, sample_file=None, by_iid=None):
    """Per individual of the genotype source ``geno`` (file order): 1, 2 or 0 (int8);
    None when no source gives sex (see the module docstring).  ``sample_file``: the
    ``--sample`` of a .bgen."""
    if sex_file is not None:
        return _from_sex_file(geno, sex_file, geno.match_by_iid if by_iid is None else by_iid)
    if geno.format == "bed":
        return _fam_sex(geno.path[:-4] + ".fam")
    if geno.format == "pgen":
        return _psam_sex(geno.psam_path)
    sample = sample_file or getattr(geno, "sample_file", None)
    if sample is None:
        beside = os.path.splitext(geno.path)[0] + ".sample"
        sample = beside if os.path.exists(beside) else None
    return None if sample is None else _oxford_sex(sample, geno.n_samples)


def _lines(path, what):
    return [ln.split() for ln in read_text(path, f"{what} {path}").splitlines() if ln.strip()]


def _fam_sex(path):
    rows = _lines(path, "sex from")
    return np.array([_code(r[4]) if len(r) > 4 else 0 for r in rows], dtype=np.int8)


def _psam_sex(path):
    rows = [r for r in _lines(path, "sex from") if not r[0].startswith("##")]
    if rows and rows[0][0].startswith("#"):
        header = [h.upper() for h in rows[0]]
        if "SEX" not in header:
            return None
        j = header.index("SEX")
        return np.array([_code(r[j]) if len(r) > j else 0 for r in rows[1:]], dtype=np.int8)
    return np.array([_code(r[4]) if len(r) > 4 else 0 for r in rows], dtype=np.int8)


def _oxford_sex(path, n):
    rows = _lines(path, "sex from")
    if len(rows) < 2:
        return None
    header = [h.lower() for h in rows[0]]
    if "sex" not in header:
        return None
    j = header.index("sex")
    body = rows[2:]
    if len(body) != n:
        return None
    return np.array([_code(r[j]) if len(r) > j else 0 for r in body], dtype=np.int8)


def _from_sex_file(geno, path, by_iid):
    rows = _lines(path, "--sex")
    if not rows:
        raise InputError(f"--sex {path}: empty file")
    first = rows[0]
    no_fid = False
    skip = 0
    if first[0].lstrip("#").upper() in ("FID", "IID"):
        no_fid = first[0].lstrip("#").upper() == "IID"
        rows, skip = rows[1:], 1
    width = 2 if no_fid else 3
    sex = {}
    for k, r in enumerate(rows):
        if len(r) < width:
            raise InputError(f"--sex {path}: row {k + 1 + skip}: expected "
                             f"{'IID SEX' if no_fid else 'FID IID SEX'}")
        key = r[0] if no_fid else (r[1] if by_iid else (r[0], r[1]))
        sex[key] = _code(r[width - 1])
    by_iid = by_iid or no_fid
    keys = (geno.iid.tolist() if by_iid
            else list(zip(np.asarray(geno.fid).tolist(), np.asarray(geno.iid).tolist())))
    return np.array([sex.get(k, 0) for k in keys], dtype=np.int8)
