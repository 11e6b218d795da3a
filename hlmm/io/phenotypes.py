"""Which phenotype columns a scan analyses: ``--phen-index``, ``--pheno-name``, ``--all-pheno``.

PLINK 2's conventions: ``--pheno-name`` takes a comma list of header names,
``--phen-index`` a list of 1-based column numbers with ranges (``1-5,8``), and
``--all-pheno`` every value column.  Each selected phenotype is labelled by its header
name (``PHENO1``, ``PHENO2``, … by column number when the file has no header line);
with more than one phenotype the outputs of phenotype P are ``OUTPREFIX.P.*``.
"""
import re

from ..errors import InputError

_LABEL = re.compile(r"^[A-Za-z0-9_.+\-@]+$")


def parse_index_list(text, option="--phen-index", limit=None):
    """``"1-5,8"`` → ``[1, 2, 3, 4, 5, 8]`` (1-based; an int passes through).  With
    ``limit`` (the number of columns) a number beyond it is an error before any range
    is expanded."""
    if isinstance(text, int):
        parts = [(text, text, str(text))]
    else:
        parts = []
        for part in str(text).split(","):
            part = part.strip()
            m = re.fullmatch(r"([0-9]+)(?:\s*-\s*([0-9]+))?", part)
            if not m:
                raise InputError(f"{option} {text}: '{part}' is not a column number or a "
                                 "range such as 1-5")
            a = int(m.group(1))
            b = int(m.group(2)) if m.group(2) else a
            if b < a:
                raise InputError(f"{option} {text}: the range {part} is reversed")
            parts.append((a, b, part))
    if not parts:
        raise InputError(f"{option}: no column given")
    out = []
    for a, b, part in parts:
        if limit is not None and not (1 <= a and b <= limit):
            bad = a if a < 1 else b
            raise InputError(f"{option} {bad} is out of range"
                             + (f" (in {part})" if part != str(bad) else "")
                             + f": the file has {limit} value column(s)")
        out.extend(range(a, b + 1))
    return out


def _auto_names(names):
    return list(names) == [f"v{i + 1}" for i in range(len(names))]


def select_phenotypes(table, phen_index=None, pheno_name=None, all_pheno=False):
    """The selected columns as ``[(column, label), …]`` (column 0-based into
    ``table.values``), in the order asked for.  One-line errors for unknown or repeated
    names, out-of-range or repeated numbers, options that exclude each other and labels
    that cannot be part of a file name."""
    k = table.values.shape[1]
    header = getattr(table, "has_header", not _auto_names(table.names))
    # without a header line the columns are PHENO1, PHENO2, … (as PLINK names them)
    names = list(table.names) if header else [f"PHENO{j + 1}" for j in range(k)]
    given = [o for o, v in (("--all-pheno", all_pheno), ("--pheno-name", pheno_name),
                            ("--phen-index", phen_index)) if v not in (None, False)]
    if len(given) > 1:
        raise InputError(f"{' and '.join(given)} exclude each other")
    if k == 0:
        raise InputError(f"{table.path}: no phenotype columns")
    if pheno_name is not None:
        wanted = [w.strip() for w in str(pheno_name).split(",")]
        if any(not w for w in wanted):
            raise InputError(f"--pheno-name {pheno_name}: an empty name in the list")
        seen = set()
        cols = []
        for w in wanted:
            if w in seen:
                raise InputError(f"--pheno-name {pheno_name}: '{w}' is named twice")
            seen.add(w)
            if w not in names:
                shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
                raise InputError(f"--pheno-name: {table.path} has no column named '{w}' "
                                 f"(columns: {shown})")
            cols.append(names.index(w))
    elif all_pheno:
        cols = list(range(k))
    else:
        idx = parse_index_list(1 if phen_index is None else phen_index, limit=k)
        seen = set()
        cols = []
        for i in idx:
            if i in seen:
                raise InputError(f"--phen-index {phen_index}: column {i} is selected twice")
            seen.add(i)
            cols.append(i - 1)
    out = []
    for c in cols:
        label = names[c]
        if len(cols) > 1 and not _LABEL.match(label):
            raise InputError(f"{table.path}: phenotype name '{label}' cannot be part of an "
                             "output file name (letters, digits and _ . + - @ only)")
        out.append((c, label))
    return out


def binary_trait_warning(y, who=""):
    """The warning for a phenotype with exactly two values (``None`` otherwise).

    A binary trait's variance p(1 − p) is fixed by its mean, so any SNP with a mean
    effect also shows a 'variance effect' through the Bernoulli mean–variance link:
    the HLM's var test is then no test of a variance QTL.
    """
    import numpy as np

    y = np.asarray(y, dtype=float)
    if y.size == 0 or np.all(y == y[0]):
        return None
    lo = y.min()
    hi = y.max()
    if not np.all((y == lo) | (y == hi)):
        return None
    return (f"warning: the phenotype{who} is binary (two values, {lo:g} and {hi:g}): its "
            "variance p(1 − p) is fixed by its mean, so var and av p-values reflect the "
            "Bernoulli mean–variance link, not variance effects; hlmm's models are for "
            "quantitative traits")
