"""Choosing variants and individuals with PLINK's options and semantics.

- ``--keep`` / ``--remove`` FILE (:func:`read_sample_list`, :func:`select_samples`): one
  individual a line, ``FID IID`` or ``IID`` (extra columns are ignored, as in PLINK); an
  optional header line ``#FID IID`` / ``FID IID`` or ``#IID`` / ``IID``.  Without a header
  a first line of one column makes the whole file IID-only.  An IID-only list matches
  individuals by IID alone, whatever their FIDs.
- ``--extract`` / ``--exclude`` FILE (:func:`read_variant_list`): one variant ID a line
  (its first whitespace-separated token; PLINK ignores the rest); blank lines ignored.
- ``--chr`` LIST (:func:`parse_chr_list`): comma- or space-separated chromosomes and ranges
  of chromosome numbers (``1-3,X,22``); ``chr`` prefixes allowed; PLINK's codes 23 = X,
  24 = Y, 25 = XY, 26 = MT (and M = MT).  :func:`normalise_chrom` puts a genotype file's
  chromosome names in the same form.
- ``--from-bp`` / ``--to-bp`` (inclusive, one chromosome in ``--chr``).

Files may be gzip-compressed.  Every error is an :class:`~hlmm.errors.InputError` of one
line naming the option, the file and, where it applies, the line.
"""
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .tables import read_text

CHROM_CODES = {"23": "X", "24": "Y", "25": "XY", "26": "MT"}
_NAMED = {"X": "X", "Y": "Y", "XY": "XY", "MT": "MT", "M": "MT"}


@dataclass(frozen=True)
class SampleList:
    """A ``--keep`` / ``--remove`` file.  ``keys`` holds IIDs when ``iid_only``, else
    ``(FID, IID)`` pairs; ``n_listed`` counts the ID lines read (repeats included)."""

    path: str
    option: str
    iid_only: bool
    keys: frozenset
    n_listed: int

    @property
    def label(self):
        return f"{self.option} {self.path}"

    @property
    def iids(self):
        """The IIDs listed (for matching by IID alone)."""
        return self.keys if self.iid_only else frozenset(i for _, i in self.keys)


@dataclass(frozen=True)
class VariantList:
    """An ``--extract`` / ``--exclude`` file: the set of variant IDs it lists."""

    path: str
    option: str
    ids: frozenset
    n_listed: int

    @property
    def label(self):
        return f"{self.option} {self.path}"


def _lines(path, option):
    text = read_text(path, f"{option} {path}")
    return [(i + 1, line.split()) for i, line in enumerate(text.splitlines()) if line.strip()]


def read_sample_list(path, option="--keep"):
    """Read a ``--keep`` / ``--remove`` file (see the module docstring) → :class:`SampleList`."""
    rows = _lines(path, option)
    where = f"{option} {path}"
    iid_only = None
    header_cols = False
    if rows:
        line_no, first = rows[0]
        if first[0] in ("#FID", "FID"):
            if len(first) < 2 or first[1] != "IID":
                raise InputError(f"{where} line {line_no}: a '{first[0]}' header must continue "
                                 "with 'IID'")
            iid_only, rows = False, rows[1:]
        elif first[0] in ("#IID", "IID"):
            iid_only, rows, header_cols = True, rows[1:], True
        else:
            iid_only = len(first) == 1
    keys = set()
    first_line = rows[0][0] if rows else None
    for line_no, tokens in rows:
        if iid_only:
            if len(tokens) > 1 and not header_cols:
                raise InputError(f"{where} line {line_no}: expected one IID per line (as on line "
                                 f"{first_line}), found {len(tokens)} columns")
            keys.add(tokens[0])
        else:
            if len(tokens) < 2:
                raise InputError(f"{where} line {line_no}: expected FID and IID, found 1 column")
            keys.add((tokens[0], tokens[1]))
    if not rows:
        raise InputError(f"{where}: the file lists no individuals")
    return SampleList(str(path), option, bool(iid_only), frozenset(keys), len(rows))


def read_variant_list(path, option="--extract"):
    """Read an ``--extract`` / ``--exclude`` file → :class:`VariantList`."""
    rows = _lines(path, option)
    if not rows:
        raise InputError(f"{option} {path}: the file lists no variants")
    return VariantList(str(path), option, frozenset(t[0] for _, t in rows), len(rows))


def normalise_chrom(name):
    """A chromosome name in one form: no ``chr`` prefix, no leading zeros, PLINK's numeric
    codes 23–26 as X, Y, XY, MT, and M as MT (other contig names are kept)."""
    s = str(name).strip()
    if s[:3].lower() == "chr" and len(s) > 3:
        s = s[3:]
    if s.isascii() and s.isdigit():
        s = str(int(s))
        return CHROM_CODES.get(s, s)
    return _NAMED.get(s.upper(), s)


def chrom_sort_key(name):
    """Numeric chromosomes in order, then X, Y, XY, MT, then other names."""
    if name.isascii() and name.isdigit():
        return (0, int(name), "")
    order = {"X": 23, "Y": 24, "XY": 25, "MT": 26}
    return (1, order.get(name, 99), name)


def _chrom_number(part):
    s = part.strip()
    if s[:3].lower() == "chr":
        s = s[3:]
    return int(s) if s.isascii() and s.isdigit() else None


def parse_chr_list(text, option="--chr"):
    """The set of (normalised) chromosomes named by a ``--chr`` value such as
    ``1-3,X,22`` or ``chr1 chr2``; ranges only between chromosome numbers."""
    items = [x for part in str(text).split(",") for x in (part.split() or [""])]
    out = set()
    for item in items:
        if not item:
            raise InputError(f"{option} '{text}': empty chromosome name")
        if "-" in item:
            a, _, b = item.partition("-")
            lo, hi = _chrom_number(a), _chrom_number(b)
            if lo is None or hi is None:
                raise InputError(f"{option} '{text}': '{item}' is not a range of chromosome "
                                 "numbers (ranges like 1-22 only)")
            if lo > hi:
                raise InputError(f"{option} '{text}': the range '{item}' runs backwards")
            out.update(normalise_chrom(str(c)) for c in range(lo, hi + 1))
        else:
            out.add(normalise_chrom(item))
    return out


def _normalised_chroms(chromosome):
    """normalise_chrom over a chromosome column, once per run of equal names."""
    chromosome = np.asarray(chromosome)
    m = chromosome.shape[0]
    if m == 0:
        return np.array([], dtype=object)
    starts = np.concatenate([[0], np.flatnonzero(chromosome[1:] != chromosome[:-1]) + 1])
    lengths = np.diff(np.concatenate([starts, [m]]))
    cache = {}
    names = []
    for c in chromosome[starts].tolist():
        if c not in cache:
            cache[c] = normalise_chrom(c)
        names.append(cache[c])
    return np.repeat(np.array(names, dtype=object), lengths)


def _in_set(values, wanted):
    wanted = set(wanted)
    values = np.asarray(values)
    return np.fromiter((v in wanted for v in values.tolist()), dtype=bool, count=values.shape[0])


def _chrom_list_text(chroms):
    names = sorted(chroms, key=chrom_sort_key)
    return ", ".join(names)


def select_variants(sid, chromosome, bp_position, start=None, stop=None, chroms=None,
                    from_bp=None, to_bp=None, extract=None, exclude=None,
                    source_name="the genotype file"):
    """Indices of the variants selected, and the log of each step.

    Steps, in order (each optional): ``start``/``stop`` (START END: 0-based, END
    exclusive), ``chroms`` (``--chr``: a string as typed, parsed by
    :func:`parse_chr_list`, or an iterable of names), ``from_bp``/``to_bp`` (inclusive;
    ``chroms`` must name exactly one chromosome), ``extract`` and ``exclude``
    (:class:`VariantList`, or any iterable of IDs).

    Returns ``(index, steps)``: ``index`` the sorted int64 array of the variants kept,
    ``steps`` a list of ``(description, number of variants kept after it)`` starting
    with ``("variants in <source_name>", m)``.  An InputError names the option when
    ``--chr`` matches no chromosome of the file, ``--extract`` no variant of the file,
    and lists the steps when nothing is left.
    """
    sid = np.asarray(sid)
    m = sid.shape[0]
    keep = np.ones(m, dtype=bool)
    steps = [(f"variants in {source_name}", m)]

    if start is not None or stop is not None:
        s = 0 if start is None else int(start)
        e = m if stop is None else int(stop)
        if s < 0 or e < 0:
            raise InputError(f"START {s} and END {e} must be non-negative")
        if s > e:
            raise InputError(f"START {s} is greater than END {e}")
        if s >= m and m:
            raise InputError(f"START {s} is past the last of the {m} SNPs in {source_name}")
        # job arrays split a file in fixed chunks: the last chunk's END may overshoot
        clamped = e > m
        e = min(e, m)
        keep[:s] = False
        keep[e:] = False
        steps.append((f"START {s} END {e} (variants {s}..{e - 1}"
                      + (f"; END {stop} clamped to the {m} SNPs of {source_name})"
                         if clamped else ")"), int(keep.sum())))

    chrom_set = None
    if chroms is not None:
        if isinstance(chroms, str):
            chrom_text, chrom_set = chroms, parse_chr_list(chroms)
        else:
            chrom_set = {normalise_chrom(c) for c in chroms}
            chrom_text = ",".join(sorted(chrom_set, key=chrom_sort_key))
        if not chrom_set:
            raise InputError("--chr: no chromosome given")
        norm = _normalised_chroms(chromosome)
        on = _in_set(norm, chrom_set)
        if not on.any():
            plural = "s" if len(chrom_set) > 1 else ""
            raise InputError(f"--chr {chrom_text}: no variant on chromosome{plural} "
                             f"{_chrom_list_text(chrom_set)} in {source_name}")
        keep &= on
        steps.append((f"--chr {chrom_text}", int(keep.sum())))

    if from_bp is not None or to_bp is not None:
        used = " ".join(f"{o} {v}" for o, v in (("--from-bp", from_bp), ("--to-bp", to_bp))
                        if v is not None)
        opts = "/".join(o for o, v in (("--from-bp", from_bp), ("--to-bp", to_bp))
                        if v is not None)
        if chrom_set is None or len(chrom_set) != 1:
            raise InputError(f"{opts} need{'s' if '/' not in opts else ''} exactly one "
                             f"chromosome in --chr"
                             + (f" (--chr {chrom_text} names {len(chrom_set)})"
                                if chrom_set is not None else ""))
        if from_bp is not None and to_bp is not None and from_bp > to_bp:
            raise InputError(f"--from-bp {from_bp} is greater than --to-bp {to_bp}")
        bp = np.asarray(bp_position)
        if from_bp is not None:
            keep &= bp >= from_bp
        if to_bp is not None:
            keep &= bp <= to_bp
        steps.append((used, int(keep.sum())))

    for option, lst in (("--extract", extract), ("--exclude", exclude)):
        if lst is None:
            continue
        if isinstance(lst, VariantList):
            ids, label = lst.ids, lst.label
        else:
            ids, label = frozenset(lst), option
        listed = _in_set(sid, ids)
        if option == "--extract":
            if not listed.any():
                raise InputError(f"{label}: none of its {len(ids)} variant IDs is in "
                                 f"{source_name}")
            keep &= listed
        else:
            keep &= ~listed
        steps.append((label, int(keep.sum())))

    if not keep.any():
        raise InputError("no variants left to test: "
                         + ", then ".join(f"{d}: {c}" for d, c in steps))
    return np.flatnonzero(keep).astype(np.int64), steps


def select_samples(keys, keep=None, remove=None, by_iid=False,
                   source_name="the genotype file"):
    """Which individuals ``--keep`` / ``--remove`` leave.

    ``keys`` are the ``(FID, IID)`` pairs of the individuals (any order; FID may be None);
    ``keep``/``remove`` are :class:`SampleList`.  A list is matched by IID alone when it
    is IID-only, when ``by_iid`` (the source has no FIDs, e.g. a ``#IID`` .psam), or for
    individuals whose FID is None; otherwise by ``(FID, IID)``.  ``--keep`` applies
    before ``--remove``, as in PLINK.

    Returns ``(mask, steps)``: a boolean array over ``keys`` and a list of
    ``(description, number of individuals kept after it)`` starting with
    ``("individuals in <source_name>", n)``.  Nothing left is an InputError.
    """
    keys = list(keys)
    n = len(keys)
    mask = np.ones(n, dtype=bool)
    steps = [(f"individuals in {source_name}", n)]
    for lst, is_keep in ((keep, True), (remove, False)):
        if lst is None:
            continue
        iids = lst.iids
        if lst.iid_only or by_iid:
            hit = np.fromiter((i in iids for _, i in keys), dtype=bool, count=n)
        else:
            pairs = lst.keys
            hit = np.fromiter(((i in iids) if f is None else ((f, i) in pairs)
                               for f, i in keys), dtype=bool, count=n)
        if is_keep and not hit.any():
            raise InputError(f"{lst.label}: none of the {len(lst.keys)} individuals it lists "
                             f"is in {source_name}")
        mask &= hit if is_keep else ~hit
        absent = len(lst.keys) - _n_found(lst, keys, by_iid)
        desc = lst.label + (f" ({absent} of its {len(lst.keys)} individuals not in "
                            f"{source_name})" if absent else "")
        steps.append((desc, int(mask.sum())))
    if not mask.any():
        raise InputError("no individuals left: "
                         + ", then ".join(f"{d}: {c}" for d, c in steps))
    return mask, steps


def _n_found(lst, keys, by_iid):
    """How many distinct entries of the list name an individual of ``keys``."""
    if lst.iid_only or by_iid or any(f is None for f, _ in keys):
        present = {i for _, i in keys}
        if lst.iid_only:
            return sum(1 for k in lst.keys if k in present)
        return sum(1 for _, i in lst.keys if i in present)
    present = set(keys)
    return sum(1 for k in lst.keys if k in present)
