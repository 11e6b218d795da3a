"""Phenotype and covariate tables: whitespace-separated ``FID IID v1 v2 …`` or ``IID v1 …``.

The file may be gzip-compressed (recognised by its magic bytes 1f 8b, whatever its name).

Header line: the first non-blank line is a header when its first token is

- ``#FID`` (PLINK 2; the second token must be ``IID``) or ``FID``: columns FID, IID, values;
- ``#IID`` or ``IID`` (PLINK 2): a single ID column (IID), then values — the file has no
  family IDs and its individuals are matched by IID alone (:attr:`Table.match_by_iid`);

or, as before, when none of the first line's value columns (after FID and IID) is a
number or the missing-value string (a header names the columns; a first line mixing
numbers and text is data with a typo, reported as an error, not a header that would
drop that individual).  A file without a header always has FID and IID columns.

Missing values become NaN: the missing-value string (``NA`` by default) and, as in PLINK,
any value equal to ``missing_number`` (−9 by default; PLINK's
``--input-missing-phenotype``).  Analysing −9 as a number gives silently wrong results
(one −9 is an extreme outlier of the variance), so it is missing unless switched off.

Speed: an ASCII file is split and its values parsed in one compiled pass
(:func:`hlmm._core._text.parse_fields`, correctly rounded as ``float()``); other files by
numpy's C reader (:func:`numpy.loadtxt`) after the whole-token missing strings are
rewritten to ``nan``.  Anything unusual (a bad token, a wrong column count, a repeated
individual, a literal nan/inf) sends the file to the exact token-by-token reader, which
decides and names the file and line of an error.
"""
import contextlib
import gc
import gzip
import locale
import os
import re
import warnings
import zlib
from dataclasses import dataclass
from operator import itemgetter

import numpy as np

from ..errors import InputError
from .tokens import parse_number, show

GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Table:
    """A table read by :func:`read_table`.

    ``ids`` holds one ``(FID, IID)`` pair per row in file order; in a file without a FID
    column (``#IID``/``IID`` header, :attr:`match_by_iid` True) FID is ``None``.  Match
    rows to other files with :meth:`keys` / :meth:`row_index`: by ``(FID, IID)``, or by IID
    alone when any file involved has no FIDs (``by_iid=True``).
    ``line_numbers`` gives the 1-based line of each row (for messages).
    """

    path: str
    ids: list            # [(FID, IID), …] in file order; FID None when match_by_iid
    names: list          # column names (header, or v1, v2, … when there is none)
    values: np.ndarray   # (rows, columns) float, NaN = missing
    n_missing: np.ndarray = None   # per column: missing values (string or missing_number)
    match_by_iid: bool = False     # the file has no FID column (#IID / IID header)
    line_numbers: np.ndarray = None  # 1-based file line of each row
    has_header: bool = True        # False: the names are v1, v2, … made up

    @property
    def fids(self):
        """FIDs in file order (``None`` each when the file has no FID column)."""
        return [f for f, _ in self.ids]

    @property
    def iids(self):
        return list(map(itemgetter(1), self.ids))

    def keys(self, by_iid=None):
        """Matching keys in file order: IID strings when ``by_iid`` (default: the file has no
        FIDs), else ``(FID, IID)`` pairs."""
        if by_iid is None:
            by_iid = self.match_by_iid
        if by_iid:
            return self.iids
        if self.match_by_iid:
            raise ValueError(f"{self.path} has no FID column: match it with by_iid=True")
        return list(self.ids)

    def row_index(self, by_iid=None):
        """``{key: row}`` with the keys of :meth:`keys`.  Matching a file that has FIDs by
        IID alone needs each IID once: a repeated IID (under two FIDs) is an InputError."""
        if by_iid is None:
            by_iid = self.match_by_iid
        cached = getattr(self, "_index", None)    # built by read_table, for these ids
        if cached is not None and cached[0] == by_iid and cached[1] is self.ids \
                and cached[2] == len(self.ids):
            return dict(cached[3])
        keys = self.keys(by_iid)
        index = dict(zip(keys, range(len(keys))))
        if len(index) != len(keys):
            first = {}
            for i, k in enumerate(keys):
                if k in first:
                    j = first[k]
                    raise InputError(
                        f"{self.path} line {self._line(i)}: IID {k} is also on line "
                        f"{self._line(j)} (FIDs {self.ids[j][0]} and {self.ids[i][0]}): "
                        "individuals are matched by IID alone (a file without FIDs is "
                        "involved), so each IID must appear once")
                first[k] = i
        return index

    def _line(self, row):
        return int(self.line_numbers[row]) if self.line_numbers is not None else row + 1

    def column(self, index=None, name=None, option="--phen-index"):
        """One column as a float vector, by 1-based index or by name."""
        if name is not None:
            if name not in self.names:
                raise InputError(
                    f"{self.path}: no column named '{name}' (columns: {', '.join(self.names)})"
                )
            return self.values[:, self.names.index(name)]
        k = self.values.shape[1]
        if index is None:
            index = 1
        if not 1 <= index <= k:
            raise InputError(f"{option} {index} is out of range: {self.path} has {k} value column(s)")
        return self.values[:, index - 1]


def match_keys(ids, by_iid):
    """Keys for ``[(FID, IID), …]`` (any source's ``ids``): IIDs when ``by_iid``."""
    if by_iid:
        return list(map(itemgetter(1), ids))
    return list(map(tuple, ids))      # the same pairs (tuple() returns a tuple as it is)


def read_text(path, label=None):
    """The text of a plain or gzip-compressed file (gzip recognised by its magic bytes).

    Errors are InputErrors starting with ``label`` (default: the path).
    """
    label = str(path) if label is None else label
    return _decode(read_bytes(path, label), label)


def read_bytes(path, label=None):
    """The bytes of a plain or gzip-compressed file, decompressed (see :func:`read_text`)."""
    label = str(path) if label is None else label
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise InputError(f"{label}: file not found") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read ({exc})") from None
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{label}: cannot read (corrupt or truncated gzip data: {exc})") \
                from None
    return data


def _decode(data, label):
    try:
        text = data.decode(locale.getpreferredencoding(False))   # what open(path, "r") uses
    except (UnicodeDecodeError, LookupError) as exc:
        raise InputError(f"{label}: cannot read ({exc})") from None
    return text[1:] if text[:1] == "\ufeff" else text


def _is_number(token, missing):
    return token == missing or parse_number(token) is not None


def _replace_missing(text, missing):
    """``text`` with every whole-token ``missing`` replaced by ``nan``, and their count."""
    if not missing or any(c.isspace() for c in missing) or missing not in text:
        return text, 0
    m = re.escape(missing)
    # the literal first lets re search fast; then: not preceded / followed by a non-space
    return re.compile(m + r"(?<!\S" + m + r")(?!\S)").subn("nan", text)


def _first_line(text):
    """(line index, tokens, offset where it starts, offset after it) of the first non-blank
    line, found without splitting the whole text; None when every line is blank."""
    size = 1 << 16
    while True:
        whole = size >= len(text)
        parts = text[:size].splitlines(keepends=True)
        if not whole:
            parts = parts[:-1]          # the last part may be cut short
        offset = 0
        for i, part in enumerate(parts):
            if part.strip():
                return i, part.split(), offset, offset + len(part)
            offset += len(part)
        if whole:
            return None
        size *= 4


def _first_line_of(data, is_ascii, label):
    """(:func:`_first_line` of the file, its whole text or None): an ASCII file's first
    line is found in a decoded prefix (the compiled parser needs no text)."""
    if is_ascii:
        size = 1 << 16
        while size < len(data):
            found = _first_line(data[:size].decode("ascii"))
            # complete only when it ends before the prefix does (a \r\n not cut in two)
            if found is not None and found[3] < size - 1:
                return found, None
            size *= 16
    text = _decode(data, label)
    return _first_line(text), text


@contextlib.contextmanager
def gc_paused():
    """Millions of new objects would trigger needless garbage-collection passes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_fast(body, n_id, k, missing):
    """(id columns, values, data lines) by numpy's C reader; None to use the exact reader."""
    text, n_replaced = _replace_missing(body, missing)
    lines = text.splitlines()
    fields = [(f"id{j}", object) for j in range(n_id)] + [("v", np.float64, (k,))]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.loadtxt(lines, dtype=np.dtype(fields), comments=None, ndmin=1)
    except Exception:   # a bad token or column count: the exact reader names it
        return None
    id_cols = [arr[f"id{j}"].tolist() for j in range(n_id)]
    if n_replaced and any("nan" in col for col in id_cols):
        return None    # an ID equal to the missing string was rewritten
    values = np.ascontiguousarray(arr["v"]).reshape(len(arr), k)
    if np.count_nonzero(~np.isfinite(values)) != n_replaced:
        return None    # a literal nan/inf in the file: an error the exact reader names
    return id_cols, values, lines


def _rows(ids, values, line_numbers, n_id):
    """The parsed rows and their row index (:meth:`Table.row_index`, built once here as
    the check for a repeated individual), or None when the exact reader must decide (no
    rows, a repeated individual)."""
    n = values.shape[0]
    if n == 0 or len(line_numbers) != n:
        return None
    keys = ids if n_id == 2 else [i for _, i in ids]
    index = dict(zip(keys, range(n)))
    return (ids, values, line_numbers, index) if len(index) == n else None


def _parse_compiled(data, offset, start, n_id, k, missing):
    """(rows or None, whether numpy's reader may still try) from the compiled parser."""
    from .._core import _text

    miss = None
    if missing:
        try:
            miss = missing.encode("ascii")
        except UnicodeEncodeError:
            pass    # it cannot equal a token of an ASCII file
    out = _text.parse_fields(data, offset, start, [1] * n_id + [2] * k, miss,
                             use_strtod=locale.localeconv()["decimal_point"] == ".",
                             threads=os.cpu_count() or 1)
    if out[0] != _text.OK:
        # A bad token or column count goes to the exact reader (which may still accept a
        # number outside the compiled grammar, e.g. 1_000); a byte or number the compiled
        # parser does not handle, to numpy's reader first.
        return None, out[0] in (_text.UNSUPPORTED, _text.NEEDS_STRTOD)
    _, strings, values, line_numbers = out
    ids = list(zip(*strings)) if n_id == 2 else [(None, i) for i in strings[0]]
    return _rows(ids, values, line_numbers, n_id), False


def _parse_numpy(body, start, n_id, k, missing):
    """The rows by numpy's reader (:func:`_parse_fast`), or None."""
    parsed = _parse_fast(body, n_id, k, missing) if body and not body.isspace() else None
    if parsed is None:
        return None
    id_cols, values, lines = parsed
    n = values.shape[0]
    if n == len(lines):
        line_numbers = np.arange(start + 1, start + 1 + n)
    else:   # blank lines in between
        line_numbers = np.array([start + 1 + i for i, line in enumerate(lines)
                                 if line.strip()], dtype=np.int64)
    ids = list(zip(*id_cols)) if n_id == 2 else [(None, i) for i in id_cols[-1]]
    return _rows(ids, values, line_numbers, n_id)


def read_table(path, missing="NA", missing_number=-9.0):
    """Read a ``FID IID v1 …`` or ``IID v1 …`` file, plain or gzip (see the module
    docstring); errors name the file and line.

    ``missing_number=None`` keeps values equal to −9 as numbers.
    """
    data = read_bytes(path)
    is_ascii = data.isascii()      # then offsets in the text are offsets in the bytes
    found, text = _first_line_of(data, is_ascii, str(path))
    if found is None:
        raise InputError(f"{path}: the file is empty")
    h, first, line_start, line_end = found
    if first[0] == "#FID":
        if len(first) < 2 or first[1] != "IID":
            raise InputError(f"{path} line {h + 1}: a '#FID' header must continue with 'IID'")
        n_id, header = 2, True
    elif first[0] in ("#IID", "IID"):
        n_id, header = 1, True
    else:
        n_id = 2
        header = None
    if len(first) < n_id + 1:
        what = "FID IID" if n_id == 2 else "IID"
        raise InputError(f"{path} line {h + 1}: expected {what} and at least one value column")
    if header is None:
        # A header names its columns: no value token of it is a number.  A first line
        # mixing numbers and text is data with a typo (an error below), not a header that
        # would silently drop that individual.
        header = first[0] == "FID" or not any(_is_number(t, missing) for t in first[2:])
    if header:
        names = list(first[n_id:])
        seen = set()     # a set: 200,000 columns checked against the earlier ones
        dup = next((nm for nm in names if nm in seen or seen.add(nm)), None)
        if dup is not None:
            raise InputError(f"{path} line {h + 1}: the column name {show(dup)} appears "
                             "twice")
        if names[0] == "SID":
            raise InputError(f"{path} line {h + 1}: a SID column (PLINK 2 source IDs) is not "
                             "supported")
        start, offset = h + 1, line_end
    else:
        names = [f"v{j + 1}" for j in range(len(first) - n_id)]
        start, offset = h, line_start
    k = len(names)

    result, try_numpy = None, True
    with gc_paused():
        if is_ascii:
            result, try_numpy = _parse_compiled(data, offset, start, n_id, k, missing)
        if result is None:
            if text is None:
                text = _decode(data, str(path))
            del data
            body = text[offset:]
            del text
            if try_numpy:
                result = _parse_numpy(body, start, n_id, k, missing)
            if result is None:
                result = _parse_exact(path, body.splitlines(), start, n_id, names, missing,
                                      header)
    ids, values, line_numbers = result[:3]
    if missing_number is not None:
        values[values == float(missing_number)] = np.nan
    table = Table(str(path), ids, names, values, np.isnan(values).sum(axis=0),
                  match_by_iid=n_id == 1, line_numbers=line_numbers,
                  has_header=bool(header))
    if len(result) > 3:
        table._index = (n_id == 1, ids, len(ids), result[3])
    return table


def _parse_exact(path, data_lines, start, n_id, names, missing, header):
    """The token-by-token reader: the reference behaviour, and the error messages."""
    rows = [(start + i + 1, line.split()) for i, line in enumerate(data_lines) if line.strip()]
    if not rows:
        if header:
            raise InputError(f"{path}: the file has a header but no data lines")
        raise InputError(f"{path}: the file is empty")
    k = len(names)
    ids = []
    seen = {}
    flat = []
    for line_no, tokens in rows:
        if len(tokens) != k + n_id:
            raise InputError(
                f"{path} line {line_no}: expected {k + n_id} columns, found {len(tokens)}"
            )
        if n_id == 2:
            key, ident = (tokens[0], tokens[1]), f"{tokens[0]} {tokens[1]}"
        else:
            key, ident = tokens[0], tokens[0]
        if key in seen:
            raise InputError(
                f"{path} line {line_no}: duplicate individual {ident} "
                f"(first on line {seen[key]})"
            )
        seen[key] = line_no
        ids.append(key if n_id == 2 else (None, key))
        flat.extend(tokens[n_id:])
    # numbers in PLINK's ASCII grammar (hlmm.io.tokens.parse_number): numpy and float()
    # would also read "1_5" and other scripts' digits
    values = np.empty(len(flat))
    for idx, tok in enumerate(flat):
        if tok == missing:
            values[idx] = np.nan
            continue
        v = parse_number(tok)
        if v is None or not np.isfinite(v):
            line_no = rows[idx // k][0]
            j = idx % k
            what = "non-numeric" if v is None else "non-finite"
            raise InputError(f"{path} line {line_no}: {what} value {show(tok)} in column "
                             f"{j + n_id + 1} ({names[j]})")
        values[idx] = v
    values = values.reshape(len(rows), k)
    return ids, values, np.array([r[0] for r in rows], dtype=np.int64)
