"""Categorical covariates (``--cat-covar NAMES``, ``--cat-base NAME=LEVEL``): label
columns of a covariate file dummy-coded into numeric columns.

A covariate file naming a ``--cat-covar`` column is read here (token by token; the
fast numeric reader of :mod:`hlmm.io.tables` reads every other file).  Column NAME with
levels L1 < L2 < … (sorted numerically when every label is a number, else as text)
becomes the 0/1 columns ``NAME_L`` of every level but the baseline (the first, or
``--cat-base NAME=LEVEL``); a missing label makes all of them missing.  A level held
by fewer than :data:`MIN_LEVEL_COUNT` individuals (a near-singular design) and a column
with more than :data:`MAX_LEVELS` levels (a numeric column named by mistake) are errors.
"""
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .tables import Table, read_text

MIN_LEVEL_COUNT = 10
MAX_LEVELS = 100


@dataclass
class Category:
    name: str
    levels: list        # every level, sorted
    base: str
    counts: dict        # level → rows holding it
    columns: list       # the dummy columns' names, one per non-base level

    def note(self, path):
        return (f"Categorical covariate {self.name} ({path}): levels "
                + ", ".join(f"{lv} ({self.counts[lv]})" for lv in self.levels)
                + f"; baseline {self.base}")


def parse_options(cat_covar, cat_base):
    """``(names, {name: base level})`` from the option values (comma-separated names;
    ``NAME=LEVEL`` items, repeatable or comma-separated)."""
    names = [t.strip() for t in (cat_covar or "").split(",") if t.strip()]
    base = {}
    for item in cat_base or ():
        for part in str(item).split(","):
            if not part.strip():
                continue
            name, eq, level = part.partition("=")
            if not eq or not name.strip() or not level.strip():
                raise InputError(f"--cat-base {part}: expected NAME=LEVEL")
            if name.strip() not in names:
                raise InputError(f"--cat-base {part}: {name.strip()} is not a --cat-covar "
                                 "column")
            base[name.strip()] = level.strip()
    return names, base


def _sort_levels(levels):
    try:
        return sorted(levels, key=float)
    except ValueError:
        return sorted(levels)


def read_categorical(path, names, base, missing="NA", missing_number=-9.0):
    """The covariate file ``path`` as a numeric :class:`Table`, the columns ``names``
    that it holds dummy-coded; ``table.categories``: their :class:`Category`."""
    text = read_text(path)
    rows = [(i + 1, line.split()) for i, line in enumerate(text.splitlines()) if line.strip()]
    if not rows:
        raise InputError(f"{path}: the file is empty")
    head = rows[0][1]
    if head[0] in ("#FID", "FID"):
        n_id = 2
    elif head[0] in ("#IID", "IID"):
        n_id = 1
    else:
        raise InputError(f"{path} line {rows[0][0]}: --cat-covar needs a header line "
                         "(FID IID NAME …) naming the columns")
    cols = head[n_id:]
    data = rows[1:]
    ids, seen = [], {}
    for line_no, tok in data:
        if len(tok) != len(head):
            raise InputError(f"{path} line {line_no}: expected {len(head)} columns, found "
                             f"{len(tok)}")
        key = (tok[0], tok[1]) if n_id == 2 else (None, tok[0])
        if key in seen:
            raise InputError(f"{path} line {line_no}: duplicate individual "
                             f"{' '.join(t for t in key if t)} (first on line {seen[key]})")
        seen[key] = line_no
        ids.append(key)
    out_names, out_cols, cats = [], [], {}
    for j, col in enumerate(cols):
        tokens = [tok[n_id + j] for _, tok in data]
        if col in names:
            cat, values = _dummies(path, col, tokens, base.get(col), missing, missing_number)
            cats[col] = cat
            out_names += cat.columns
            out_cols += values
            continue
        vals = np.empty(len(tokens))
        for i, t in enumerate(tokens):
            if t == missing:
                vals[i] = np.nan
                continue
            try:
                vals[i] = float(t)
            except ValueError:
                raise InputError(f"{path} line {data[i][0]}: non-numeric value '{t}' in "
                                 f"column {n_id + j + 1} ({col}); a categorical covariate? "
                                 "name it in --cat-covar") from None
            if not np.isfinite(vals[i]):
                raise InputError(f"{path} line {data[i][0]}: non-finite value '{t}' in "
                                 f"column {n_id + j + 1} ({col})")
        if missing_number is not None:
            vals[vals == float(missing_number)] = np.nan
        out_names.append(col)
        out_cols.append(vals)
    values = (np.column_stack(out_cols) if out_cols else np.empty((len(ids), 0)))
    table = Table(str(path), ids, out_names, values, np.isnan(values).sum(axis=0),
                  match_by_iid=n_id == 1,
                  line_numbers=np.array([r[0] for r in data], dtype=np.int64))
    table.categories = cats
    return table


def _dummies(path, col, tokens, base, missing, missing_number):
    def is_missing(t):
        if t == missing:
            return True
        try:
            return missing_number is not None and float(t) == float(missing_number)
        except ValueError:
            return False

    miss = np.array([is_missing(t) for t in tokens], dtype=bool)
    labels = np.array(tokens, dtype=object)
    levels, counts = np.unique(labels[~miss].astype(str), return_counts=True)
    if levels.size > MAX_LEVELS:
        raise InputError(f"--cat-covar {col}: {path} column {col} has {levels.size} levels "
                         f"(at most {MAX_LEVELS}): is it numeric? leave it out of --cat-covar")
    if levels.size < 2:
        raise InputError(f"--cat-covar {col}: {path} column {col} has "
                         f"{levels.size} level(s): nothing to compare")
    count = dict(zip(levels.tolist(), counts.tolist()))
    few = [lv for lv in levels.tolist() if count[lv] < MIN_LEVEL_COUNT]
    if few:
        raise InputError(f"--cat-covar {col}: level '{few[0]}' of {path} column {col} has "
                         f"{count[few[0]]} individual(s), fewer than {MIN_LEVEL_COUNT} (merge "
                         "rare levels)")
    order = _sort_levels(levels.tolist())
    if base is None:
        base = order[0]
    elif base not in count:
        raise InputError(f"--cat-base {col}={base}: no level '{base}' in {path} column {col} "
                         f"(levels: {', '.join(order)})")
    others = [lv for lv in order if lv != base]
    values = []
    for lv in others:
        v = (labels == lv).astype(float)
        v[miss] = np.nan
        values.append(v)
    return Category(col, order, base, count, [f"{col}_{lv}" for lv in others]), values
