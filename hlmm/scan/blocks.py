"""The block loop of a genome scan: SNPs are read, fitted and formatted in blocks (memory
bounded by the block), in SNP order, with ``threads`` blocks in flight.

:class:`BlockLoop` is the part of :class:`hlmm.scan.genome_scan.GenomeScan` that knows
blocks, not models: reading a block (the packed .bed bytes, or every sample's dosages
for other formats), cutting the selected SNPs into blocks, running ``fit_block`` over
them in a thread pool and turning a block's outcomes into the partial file's lines.
It needs of its host ``geno``, ``snps``, ``block_size``, ``cfg.brown_forsythe``,
``_bf`` and ``fit_block``.
"""
import concurrent.futures as cf

import numpy as np

from .._threads import blas_single_threaded
from ..io import runs


class BlockLoop:
    """Blocks of SNPs: read, iterate (threads), format (see the module docstring)."""

    _alleles = None
    extra_columns = ()      # columns after the usual ones (their values: BlockFits.extra)
    _xcoding = None     # chrX: the males' recoding (hlmm.scan.xchr.XCoding)

    def _read_block(self, idx):
        packed, rows, hard = self._read_raw(idx)
        if self._xcoding is not None:
            packed, rows = self._xcoding(packed, rows)
        return packed, rows, hard

    def _read_raw(self, idx):
        """``(packed, rows, hard)`` of the variants ``idx``: .bed bytes (hard calls; the
        best-guess genotypes of dosages for other formats) and, for other formats, the
        variant-major dosages of every sample (``read_rows``) and which variants hold
        hard calls only."""
        if self.geno.format == "bed":
            parts = [self.geno.read_packed(a, b) for a, b in runs(idx)]
            # one run (the usual case) is used as read: a concatenated copy would double
            # the memory of every block in flight
            packed = parts[0] if len(parts) == 1 else np.concatenate(parts)
            return packed, None, np.ones(len(idx), bool)
        from .._core import _dosage

        parts = [self.geno.read_rows(a, b) for a, b in runs(idx)]
        rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
        packed = np.empty((len(idx), (self.geno.n_samples + 3) // 4), dtype=np.uint8)
        hard = np.empty(len(idx), dtype=np.uint8)
        # dosage variants are fitted from `rows`: their best-guess bytes only serve
        # Brown–Forsythe
        _dosage.pack_rows(rows, packed, hard, self._bf is not None)
        return packed, rows, hard.astype(bool)

    def blocks(self, threads=1):
        """The variant index arrays of the blocks, in order: at most ``block_size`` SNPs
        each, of equal sizes and, where that allows, as many as a multiple of
        ``threads`` (with 19½ blocks of work on two threads, one would wait alone for
        the last full block)."""
        b, m = self.block_size, len(self.snps)
        k = -(-m // b)
        if threads > 1 and k > 1:
            k = -(-k // threads) * threads
        size = -(-m // k) if k else b
        return [self.snps[i:i + size] for i in range(0, m, size)]

    def iter_fits(self, threads=1, text=False):
        """Yield ``(variant indices, outcomes)`` per block in SNP order, ``threads``
        blocks in flight; with ``text`` each :class:`BlockFits` carries its rows as the
        checkpoint keeps them (``.packed``), formatted and compressed in the worker
        threads."""
        with blas_single_threaded(threads > 1):
            if text:
                self._prepare_text()
            yield from self._iter_fits(threads, text)

    def _prepare_text(self):
        # before the worker threads start, which all read it
        if self._alleles is None:
            self._alleles = self.geno.counted_alleles()

    def _fit_block_text(self, idx):
        from ..io.output import pack_block

        part = self.fit_block(idx)
        part.packed = pack_block(self.block_lines(idx, part))
        return part

    def row_labels(self, idx):
        """The table's SNP IDs, positions and alleles of the variants ``idx``, packed
        (:func:`hlmm.io.output.row_labels`)."""
        from ..io.output import row_labels

        self._prepare_text()
        counted, other = self._alleles
        g = self.geno
        return row_labels(g.sid[idx], g.chromosome[idx], g.bp_position[idx], counted[idx],
                          other[idx])

    def block_lines(self, idx, part, labels=None, cells=None):
        """The partial-file lines (``status<TAB>row``, bytes) of ``part`` (a
        :class:`BlockFits` of the variants ``idx``); ``labels``: their
        :meth:`row_labels`, ``cells`` the statistics' columns
        (:func:`hlmm.io.output.stat_cells`), if already made."""
        from .block_fits import STATUS_NAMES
        from ..io.output import models_block_lines

        if labels is None:
            labels = self.row_labels(idx)
        overrides = {j: s.encode() for j, s in part.reason_statuses().items()}
        lines = models_block_lines(part.code, STATUS_NAMES, overrides, labels, part.n,
                                   part.freq, part.est,
                                   part.bf if self.cfg.brown_forsythe else None, cells)
        extra = self.extra_columns
        if extra:
            from ..io.output import append_cells

            lines = append_cells(lines, part.extra, len(extra))
        return lines

    def _iter_fits(self, threads, text=False):
        fit = self._fit_block_text if text else self.fit_block
        blocks = self.blocks(threads)
        if threads <= 1 or len(blocks) <= 1:
            for idx in blocks:
                yield idx, fit(idx)
            return
        with cf.ThreadPoolExecutor(max_workers=threads) as pool:
            pending = []
            it = iter(blocks)
            for blk in it:
                pending.append((blk, pool.submit(fit, blk)))
                if len(pending) >= 2 * threads:
                    break
            try:
                while pending:
                    idx, fut = pending.pop(0)
                    rows = fut.result()
                    nxt = next(it, None)
                    if nxt is not None:
                        pending.append((nxt, pool.submit(fit, nxt)))
                    yield idx, rows
            finally:        # interrupted: blocks not started are dropped
                for _, fut in pending:
                    fut.cancel()
