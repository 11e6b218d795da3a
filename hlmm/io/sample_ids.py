"""Which sample IDs of a genotype file to match to the phenotype file.

A BGEN file embeds one ID per sample, and tools disagree on what it holds: qctool and
UK Biobank embed the IID, while plink2 ``--export bgen-1.2`` joins FID and IID with its
``--id-delim`` (``1_1`` for FID 1, IID 1) and writes the pair, split, in the Oxford
.sample beside it (ID_1 = FID, ID_2 = IID).  Without ``--sample``,
:func:`resolve_sample_ids` weighs, in this order of preference:

1. the ``.sample`` beside the .bgen, when it fits the embedded IDs: every ID_2 equals
   its embedded ID, or every ID_1, delimiter, ID_2 does;
2. the embedded IDs as IIDs (as plink2 reads them without ``--id-delim``);
3. the embedded IDs split on the delimiter (``--id-delim``, default ``_``) into FID and
   IID, when every ID splits into exactly one pair: an ID with one delimiter splits
   there; an ID with several at the one place that gives a (FID, IID) pair of the
   phenotype file (an ID none of whose splits is known is left out of the analysis
   anyway, and is split at its first delimiter).

and keeps the one that matches the most individuals of the phenotype file (the earlier
on a tie).  When none matches any individual (for any source, whatever its format)
the error shows the first IDs of both sides and what was tried.
"""
import os

import numpy as np

from ..errors import InputError
from .tokens import text_array
from .oxford_sample import read_sample_columns
from . import first_duplicate

SHOWN = 3   # IDs shown of each side in the no-match error

__all__ = ["resolve_sample_ids", "check_id_delim"]


def check_id_delim(delim):
    """The ``--id-delim`` character, checked."""
    if delim is None:
        return "_"
    if len(delim) != 1 or delim.isspace():
        raise InputError(f"--id-delim '{delim}': must be one character, not a space "
                         "(IDs are whitespace-separated)")
    return delim


class _Candidate:
    """One reading of a source's sample IDs (``reason``: why it cannot be used)."""

    def __init__(self, what, fid=None, iid=None, by_iid=False, reason=None, ids=None):
        self.what, self.fid, self.iid, self.by_iid, self.reason = (what, fid, iid, by_iid,
                                                                  reason)
        self._ids = ids     # the source's own (FID, IID) list: its IDs as they are

    def pairs(self):
        if self._ids is not None:
            return self._ids
        return list(zip(self.fid.tolist(), self.iid.tolist()))

    def __len__(self):
        return len(self._ids) if self._ids is not None else len(self.iid)

    def keys(self, by_iid):
        if by_iid:
            return [i for _, i in self.pairs()] if self.iid is None else self.iid.tolist()
        return self.pairs()


def _pheno_keys(pheno, by_iid):
    return set(pheno.iids) if by_iid else set(pheno.ids)


def _n_matched(cand, pheno):
    by_iid = cand.by_iid or pheno.match_by_iid
    known = _pheno_keys(pheno, by_iid)
    return sum(map(known.__contains__, cand.keys(by_iid)))


def _beside(src, delim):
    """Candidate 1: the .sample beside the .bgen, if it fits the embedded IDs."""
    path = os.path.splitext(src.path)[0] + ".sample"
    what = f"{path} beside it"
    if not os.path.isfile(path):
        return _Candidate(what, reason="no such file")
    try:
        id1, id2, _ = read_sample_columns(path, src.n_samples, path)
    except InputError as exc:
        return _Candidate(what, reason=str(exc))
    emb = src.embedded_ids.tolist()
    if not (id2.tolist() == emb
            or [a + delim + b for a, b in zip(id1.tolist(), id2.tolist())] == emb):
        return _Candidate(what, reason=f"its ID_2 (or ID_1{delim}ID_2) differ from the "
                                       "embedded IDs")
    by_iid = bool(len(id1) == 0 or np.all(id1 == "0") or np.all(id1 == id2))
    return _Candidate(what, id2.copy() if by_iid else id1, id2, by_iid)


def _split(src, delim, pheno):
    """Candidate 3: the embedded IDs split on ``delim`` into (FID, IID)."""
    what = f"the embedded IDs split on '{delim}' into FID and IID (--id-delim)"
    if pheno.match_by_iid:
        known_iid = set(pheno.iids)
        known = lambda f, i: i in known_iid  # noqa: E731
    else:
        pairs = set(pheno.ids)
        known = lambda f, i: (f, i) in pairs  # noqa: E731
    fid, iid = [], []
    for s in src.embedded_ids.tolist():
        parts = s.split(delim)
        if len(parts) == 2 and parts[0] and parts[1]:
            f, i = parts
        else:
            splits = [(delim.join(parts[:k]), delim.join(parts[k:]))
                      for k in range(1, len(parts))]
            splits = [(f, i) for f, i in splits if f and i]
            if not splits:
                return _Candidate(what, reason=f"'{s}' does not split")
            hits = [p for p in splits if known(*p)]
            if len(hits) > 1:
                return _Candidate(what, reason=f"'{s}' splits into {len(hits)} "
                                               "individuals of the phenotype file")
            f, i = hits[0] if hits else splits[0]
        fid.append(f)
        iid.append(i)
    fid, iid = text_array(fid), text_array(iid)
    if first_duplicate(fid, iid) is not None:
        return _Candidate(what, reason="two IDs split into the same pair")
    return _Candidate(what, fid, iid, False)


def _candidates(src, delim, pheno):
    embedded = getattr(src, "embedded_ids", None)
    if embedded is None:
        where = getattr(src, "sample_source", None)
        # (.bed: ids is the list the source keeps, without building its fid/iid arrays)
        return [_Candidate(f"the IDs of {where or src.path}", by_iid=src.match_by_iid,
                           ids=src.ids)]
    return [_beside(src, delim),
            _Candidate(f"the IDs embedded in {src.path} as IIDs", src.iid, src.iid, True),
            _split(src, delim, pheno)]


def _show(ids, by_iid):
    head = [i if by_iid or f is None else f"{f} {i}" for f, i in ids[:SHOWN]]
    return ", ".join(f"'{h}'" for h in head) + (", …" if len(ids) > SHOWN else "")


def resolve_sample_ids(src, pheno, id_delim="_"):
    """Give the genotype source ``src`` the sample IDs that match the phenotype table
    ``pheno`` (:class:`hlmm.io.tables.Table`) best (see the module docstring); returns a
    line for the log saying which were used.  No individual in common is an
    InputError showing the first IDs of both sides and the sources tried.  The log
    line is None for formats whose IDs leave no choice (.bed, .pgen)."""
    delim = check_id_delim(id_delim)
    cands = _candidates(src, delim, pheno)
    usable = [c for c in cands if c.reason is None]
    if len(usable) == 1 and src.format != "bgen":
        # one reading and no count to log: whether any individual matches is enough
        known = _pheno_keys(pheno, usable[0].by_iid or pheno.match_by_iid)
        counts = [int(any(map(known.__contains__,
                              usable[0].keys(usable[0].by_iid or pheno.match_by_iid))))]
    else:
        counts = [_n_matched(c, pheno) for c in usable]
    if not counts or max(counts) == 0:
        tried = "; ".join(c.what + (f" ({c.reason})" if c.reason else
                                    f": {_show(c.pairs(), c.by_iid)}") for c in cands)
        raise InputError(f"{src.option} {src.path}: no individuals in common with "
                         f"{pheno.path} ({_show(pheno.ids, pheno.match_by_iid)}); "
                         f"sample IDs tried: {tried}")
    best = usable[counts.index(max(counts))]
    if best.fid is not None:
        src.fid, src.iid, src.match_by_iid = best.fid, best.iid, best.by_iid
        src.sample_source = best.what
    if src.format != "bgen":
        return None
    return (f"Sample IDs of {src.path}: {best.what} ({max(counts)} of {len(best)} "
            f"in {pheno.path}"
            + (", matched by IID)" if best.by_iid or pheno.match_by_iid else ")"))
