"""A many-phenotype HLM block fitted for every phenotype at once.

The shared kernel (:func:`hlmm._core._multi.class_column_sums`) leaves, per SNP, the class
sums of every phenotype's columns.  A phenotype's fit of a SNP is then O(1); with 100
phenotypes the per-phenotype Python around those O(1) fits (a gather of its columns,
a call of the Cython fit, a dict of arrays, the filters) cost as much as the fits.  Here
each of those steps runs once per block on arrays of all phenotypes (``P × m`` rows):

* one gather of the sums ``(P, m, 3, 1 + powers)`` (class k's ``n_k, Σ_k y, Σ_k y², …``),
  the counts of each phenotype's own sample being the union's less its bit field (see
  :meth:`hlmm.scan.many_phenotypes.MultiScan._setup_union`): every block's, the
  per-phenotype path's included;
* one :func:`hlmm._core._classfit.hlm_fit_block` over the ``P·m`` rows;
* one pass of the SNP filters (:func:`hlmm.scan.snp_filters.filter_codes`), each
  phenotype's own sample size in its rows.

The results are those of the per-phenotype path
(:meth:`hlmm.scan.genome_scan.GenomeScan.fit_read` with the same sums) bit for bit: the
same sums in the same order, the same fit, the same filters.  Used for blocks of hard
calls without ``--robust`` and off chrX; other blocks take the per-phenotype path
with their gathered sums.
"""
import numpy as np

from .block_fits import FIT_KEYS, BlockFits
from .class_engines import _COL, _REASON_LUT, _REASONS, _hlm_raw
from .snp_filters import filter_codes

_FIT_COLS = np.array([_COL[k] for k in FIT_KEYS], dtype=np.intp)


class UnionFits:
    """The gather of every phenotype's class sums and their fits (see the module).

    ``cols``: per phenotype, its columns of the kernel's output ``[count, Σy, Σy², …]``
    (as many for each: the powers of y, 2, or 4 with ``--robust``);
    ``fields``: per phenotype ``(shift, mask)`` of its bit field in the count column
    (``(0, 0)`` for a phenotype over the whole union: its counts are the union's);
    ``sizes``: each phenotype's analysis sample size."""

    def __init__(self, cols, fields, sizes):
        self.P = len(cols)
        self._cols = np.asarray(cols, dtype=np.intp)          # (P, 1 + powers)
        self._index = (0, 0, None)      # (m, C, the gather's flat positions) of a block
        self._shift = np.array([f[0] for f in fields], dtype=np.int64)[:, None, None]
        self._mask = np.array([f[1] for f in fields], dtype=np.int64)[:, None, None]
        self._sizes = np.asarray(sizes, dtype=np.float64)

    def stats(self, sums):
        """``(P, m, 3, 1 + powers)``: per phenotype, SNP and class k = 0, 1, 2, ``n_k,
        Σ_k y, Σ_k y², …`` over the phenotype's own sample, from the kernel's ``sums``
        ``(out, counts)``: its columns gathered and each count the union's less the
        individuals the phenotype lacks (its bit field)."""
        out, counts = sums
        m, C = out.shape[0], out.shape[2]
        im, iC, index = self._index
        if (im, iC) != (m, C):
            # out[j, k, cols[p, q]] → res[p, j, k, q]: one gather (its positions made
            # once per block size; blocks are all one size but the last)
            index = (np.arange(m)[None, :, None, None] * (4 * C)
                     + np.arange(3)[None, None, :, None] * C
                     + self._cols[:, None, None, :])
            self._index = (m, C, index)
        res = np.take(out.reshape(-1), index)                           # (P, m, 3, 3)
        n = res[..., 0]
        field = (n.astype(np.int64) >> self._shift) & self._mask
        np.subtract(counts[None, :, :3], field, out=n, casting="unsafe")
        return res

    def fit(self, cfg, stats):
        """Every phenotype's :class:`BlockFits` of a block from its ``stats``
        (:meth:`stats` of n, Σy and Σy²): the MLE of each SNP's HLM and the SNP filters,
        as :meth:`hlmm.scan.genome_scan.GenomeScan._fits_from_classes` sets them (the
        likelihood still of the standardised trait)."""
        P, m = stats.shape[:2]
        flat = stats.reshape(P * m, 9)
        out, status = _hlm_raw(flat)
        n_l = out[:, _COL["n"]].astype(np.int64)
        freq_u = out[:, _COL["freq"]]
        _, fcode = filter_codes(cfg, np.repeat(self._sizes, m), n_l, freq_u,
                                lambda j: flat.reshape(-1, 3, 3)[j, :, 0])
        code = np.where(fcode != 0, fcode, np.where(status == 0, 0, 3)).astype(np.int8)
        est = np.empty((P * m, 6))
        np.take(out, _FIT_COLS, axis=1, out=est[:, :5])
        est[:, 5] = 0.0
        est[code != 0, :5] = np.nan
        failed = np.flatnonzero(code == 3)
        reasons = _REASON_LUT[np.where((status[failed] >= 0)
                                       & (status[failed] < len(_REASONS)),
                                       status[failed], len(_REASONS))]
        freq = np.ascontiguousarray(freq_u)
        blocks = []
        for p in range(P):
            s = slice(p * m, (p + 1) * m)
            lo, hi = np.searchsorted(failed, [p * m, (p + 1) * m])
            blocks.append(BlockFits.of_arrays(
                n_l[s], freq[s], code[s], est[s],
                {int(j) - p * m: str(r) for j, r in zip(failed[lo:hi], reasons[lo:hi])}))
        return blocks
