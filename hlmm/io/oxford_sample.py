"""The Oxford .sample file beside (or given for) a BGEN file: a header ``ID_1 ID_2 …``,
a column-type line ``0 0 …``, then one sample per line, checked against the number of
samples the BGEN file holds.  Read by :class:`hlmm.io.bgen.BgenSource` and weighed
against the BGEN's embedded IDs by :mod:`hlmm.io.sample_ids`.
"""
import numpy as np

from ..errors import InputError
from .tokens import check_ids, read_lines, text_array


def _first_line(exc):
    """An exception's message, first line only (also the BGEN reader's)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_sample_file(path, n_expected, where):
    """``(fid, iid, match_by_iid, line_numbers)`` from an Oxford .sample file of
    ``n_expected`` rows (``line_numbers``: the 1-based line of each sample).

    ``where`` names the file in messages (e.g. ``"--sample X.sample"`` or the path)."""
    id1, iid, lines = read_sample_columns(path, n_expected, where)
    match_by_iid = bool(len(id1) == 0 or np.all(id1 == "0") or np.all(id1 == iid))
    return (iid.copy() if match_by_iid else id1), iid, match_by_iid, lines


def read_sample_columns(path, n_expected, where):
    """``(ID_1, ID_2, line_numbers)`` of an Oxford .sample file, as written (see
    :func:`read_sample_file`)."""
    lines = read_lines(path, where)
    rows = [(k + 1, line.split()) for k, line in enumerate(lines) if line.strip()]
    if not rows or [t.upper() for t in rows[0][1][:2]] != ["ID_1", "ID_2"]:
        found = " ".join(rows[0][1][:4]) if rows else "an empty file"
        raise InputError(f"{where} line 1: expected an Oxford .sample header "
                         f"'ID_1 ID_2 missing …', found '{found}'")
    if len(rows) < 2 or rows[1][1][:2] != ["0", "0"]:
        found = " ".join(rows[1][1][:4]) if len(rows) > 1 else "the end of the file"
        line = rows[1][0] if len(rows) > 1 else 2
        raise InputError(f"{where} line {line}: expected the Oxford .sample column-type "
                         f"line '0 0 0 …', found '{found}'")
    body = rows[2:]
    for line, tok in body:
        if len(tok) < 2:
            raise InputError(f"{where} line {line}: expected at least 2 columns "
                             f"(ID_1 ID_2), found {len(tok)}")
    if len(body) != n_expected:
        raise InputError(f"{where}: {len(body)} samples, but the BGEN file has "
                         f"{n_expected}")
    id1 = text_array([tok[0] for _, tok in body])
    id2 = text_array([tok[1] for _, tok in body])
    check_ids(id1, "ID_1 of sample", where)
    check_ids(id2, "ID_2 of sample", where)
    return id1, id2, [line for line, _ in body]
