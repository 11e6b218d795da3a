"""Phenotype and covariate tables: whitespace-separated ``FID IID v1 v2 …``.

A header line is recognised when its first token is ``FID`` or when any value column
of the first line is neither a number nor the missing-value string (a header names the
columns).  Missing values become NaN: the missing-value string (``NA`` by default) and,
as in PLINK, any value equal to ``missing_number`` (−9 by default; PLINK's
``--input-missing-phenotype``).  Analysing −9 as a number gives silently wrong results
(one −9 is an extreme outlier of the variance), so it is missing unless switched off.
"""
from dataclasses import dataclass

import numpy as np

from .errors import InputError


@dataclass
class Table:
    path: str
    ids: list            # [(FID, IID), …] in file order
    names: list          # column names (header, or v1, v2, … when there is none)
    values: np.ndarray   # (rows, columns) float, NaN = missing
    n_missing: np.ndarray = None   # per column: missing values (string or missing_number)

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


def _is_number(token, missing):
    if token == missing:
        return True
    try:
        float(token)
        return True
    except ValueError:
        return False


def read_table(path, missing="NA", missing_number=-9.0):
    """Read a ``FID IID v1 …`` file (see module docstring); errors name the file and line.

    ``missing_number=None`` keeps values equal to −9 as numbers.
    """
    try:
        with open(path, "r") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    rows = [(i + 1, line.split()) for i, line in enumerate(lines) if line.strip()]
    if not rows:
        raise InputError(f"{path}: the file is empty")
    first_no, first = rows[0]
    if len(first) < 3:
        raise InputError(f"{path} line {first_no}: expected FID IID and at least one value column")
    header = first[0] == "FID" or not all(_is_number(t, missing) for t in first[2:])
    if header:
        names = list(first[2:])
        rows = rows[1:]
        if not rows:
            raise InputError(f"{path}: the file has a header but no data lines")
    else:
        names = [f"v{j + 1}" for j in range(len(first) - 2)]
    k = len(names)
    ids = []
    seen = {}
    flat = []
    for line_no, tokens in rows:
        if len(tokens) != k + 2:
            raise InputError(
                f"{path} line {line_no}: expected {k + 2} columns, found {len(tokens)}"
            )
        key = (tokens[0], tokens[1])
        if key in seen:
            raise InputError(
                f"{path} line {line_no}: duplicate individual {key[0]} {key[1]} "
                f"(first on line {seen[key]})"
            )
        seen[key] = line_no
        ids.append(key)
        flat.extend(tokens[2:])
    is_missing = np.array([t == missing for t in flat], dtype=bool)
    try:
        # One vectorised conversion; the slow per-token loop only runs to locate an error.
        values = np.array(["nan" if m else t for t, m in zip(flat, is_missing)], dtype=np.float64)
        bad = ~np.isfinite(values) & ~is_missing
    except ValueError:
        bad = None
    if bad is None or bad.any():
        for idx, tok in enumerate(flat):
            if is_missing[idx]:
                continue
            try:
                ok = np.isfinite(float(tok))
            except ValueError:
                ok = None
            if not ok:
                line_no = rows[idx // k][0]
                j = idx % k
                what = "non-numeric" if ok is None else "non-finite"
                raise InputError(f"{path} line {line_no}: {what} value '{tok}' in column "
                                 f"{j + 3} ({names[j]})")
    values = values.reshape(len(rows), k)
    if missing_number is not None:
        values[values == float(missing_number)] = np.nan
    return Table(str(path), ids, names, values, np.isnan(values).sum(axis=0))
