"""Many phenotypes in one pass over the genotypes (``--pheno-name A,B``, ``--phen-index
1-5,8``, ``--all-pheno``).

Each phenotype P keeps everything a single-phenotype run has: its own sample (its own
missing values), null model, standardised y and, with random effects, null h2 — one
:class:`~hlmm.scan.genome_scan.GenomeScan` per phenotype.  What is shared is the genotype work:

* every SNP block is read once (:meth:`GenomeScan._read_block`);
* **HLM** (default mode): the genotype-class sums of every phenotype come from one
  kernel (:func:`hlmm._core._multi.class_column_sums`).  Over the union U of the
  phenotypes' samples, with ``B`` the matrix of columns ``1[i ∉ sample_P]`` (one per
  distinct sample other than U, as bit fields of shared integer columns) and
  ``y_P^q`` (q = 1, 2, and 3, 4 with ``--robust``; 0 outside P's sample), the sums of
  B's columns over each genotype class of a SNP are sums of tables of the subset sums
  of B's rows in groups of eight individuals, built once per block of SNPs (blocks of
  1024 by default); each SNP's commonest class is the columns' totals less the other
  classes (exact for the counts; for y and y² rounded as the direct sums are; the
  third and fourth powers of ``--robust`` are summed directly).  Per phenotype and SNP this gives ``n_k`` (U's count
  less the individuals P lacks, exact integers), ``Σ_k y, Σ_k y²`` (…), from which its
  fit is O(1) as in a single run.
* **HLMM** (default mode): phenotypes with the same sample share G, ``M_all = GᵀG`` and,
  per SNP, the carriers' Grams ``M_k = Σ_{i∈k} g_i g_iᵀ`` (one syrk per class, the
  dominant cost); the class sums ``u_k = Σ_{i∈k} g_i`` and ``s_k = Σ_{i∈k} y_i g_i`` of
  all phenotypes come with them from one syrk of the gathered rows ``[g_i, 1, y_i…]``
  (:func:`hlmm._core._gram.gram_products_rows`).
  Only the O(l³) Newton work is per phenotype.
* other modes (``--fit-covariates``, ``--engine general``) fit each phenotype's SNP
  models from the shared block.

A phenotype that cannot be analysed (too few individuals, a null model that fails) is
skipped with a line in the log and on stderr; the others go on.
"""
import sys
import threading
import time

import numpy as np

from ..errors import InputError
from .block_fits import BlockFits
from .genome_scan import GenomeScan, ScanInputs, SnpFit


class _Prefaulted:
    """Zeros for the kernel's tiles of B (``n`` union individuals at most, ``P``
    phenotypes × ``powers`` columns and at most a count column per three of them, for
    fields of at most 17 bits; more bits need more columns), their pages faulted in by a
    thread of its own while the phenotypes' null models are fitted: written the first
    time, each page costs more than the kernel's use of it."""

    def __init__(self, n, P, powers):
        from .._core import _multi

        width = max(1, int(n).bit_length())
        ncount = -(-(-(-P // max(1, 52 // width))) // 8) * 8
        self._raw = _multi.huge_zeros(_multi.tiled_size(n, ncount + powers * P))
        self._thread = threading.Thread(target=_multi.touch_pages, args=(self._raw,),
                                        daemon=True)
        self._thread.start()

    def result(self):
        self._thread.join()
        return self._raw


class MultiScan:
    """The per-phenotype scans of one run and the genotype work they share."""

    _stop_event = None

    def __getstate__(self):             # (Dask ships the scan to its workers)
        state = dict(self.__dict__)
        state.pop("_scratch", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._scratch = threading.local()

    def __init__(self, cfg, log, inputs=None):
        t0 = time.perf_counter()
        self.cfg = cfg
        self.log = log
        # per scan thread: the table kernel's list buffer, reused from block to block
        self._scratch = threading.local()
        inputs = inputs or ScanInputs(cfg, log)
        self.geno = self.bed = inputs.geno
        self.snps = inputs.snps
        self.scans, self.skipped = [], []
        errors = []
        self._tiles = None
        for label, scan, lines in self._phenotype_scans(cfg, log, inputs):
            for line in lines:          # (the log of a scan made in a thread, in order)
                log(line)
            if isinstance(scan, InputError):
                msg = f"phenotype '{label}' skipped: {scan}"
                log(msg)
                print(f"hlmm: warning: {msg}", file=sys.stderr)
                self.skipped.append(label)
                errors.append(str(scan))
                continue
            scan.log = scan.null_model.log = log
            self.scans.append(scan)
            if self._tiles is None and scan.engine == "classes":
                self._tiles = _Prefaulted(self.geno.n_samples, len(inputs.phenotypes),
                                          4 if cfg.robust else 2)
        if not self.scans:
            raise InputError(f"every phenotype was skipped; the first: {errors[0]}")
        odd = [(s.label, *s.kurtosis_warning) for s in self.scans if s.kurtosis_warning]
        if odd:
            shown = ", ".join(f"{lb} (kurtosis {k:.3g}, λ ≈ {lam:.2f})" for lb, k, lam in odd[:8])
            print(f"hlmm: warning: {len(odd)} of {len(self.scans)} phenotypes have null-model "
                  f"residuals far from normal, so their model-based variance tests are "
                  f"miscalibrated: {shown}{', …' if len(odd) > 8 else ''}; use --robust "
                  f"for valid var p-values (each is in {cfg.outprefix}.log)",
                  file=sys.stderr)
        binary = [s.label for s in self.scans if s.binary_warning]
        if binary:
            print(f"hlmm: warning: {len(binary)} of {len(self.scans)} phenotypes are binary "
                  f"(two values): their variance is fixed by their mean, so their var "
                  f"p-values are not tests of variance effects: {', '.join(binary[:8])}"
                  f"{', …' if len(binary) > 8 else ''} (each is in {cfg.outprefix}.log)",
                  file=sys.stderr)
        first = self.scans[0]
        self.engine = first.engine
        if self.engine == "classes":
            self._setup_union()
            # blocks of many SNPs share the kernel's tables (tablesums.h)
            self.block_size = cfg.block_size or 1024
        else:
            self.block_size = first.block_size
        if self.engine == "classes_hlmm":
            self._setup_groups()
        log(f"Phenotypes: {len(self.scans)} analysed"
            + (f", {len(self.skipped)} skipped ({', '.join(self.skipped)})"
               if self.skipped else "")
            + "; the genotypes are read once for all of them")
        # the null models' share of the set-up's wall time (made in threads, their own
        # times add up to more than it)
        wall = time.perf_counter() - t0
        own = [sum(s.t_setup for s in self.scans), sum(s.t_null for s in self.scans)]
        self.t_null = own[1] * min(1.0, wall / max(sum(own), 1e-300))
        self.t_setup = wall - self.t_null

    @staticmethod
    def _phenotype_scans(cfg, log, inputs):
        """Yield ``(label, GenomeScan or the InputError that skips it, its log lines)``
        per phenotype, in order.  The first is made here, the others, without random
        effects or --interaction (whose set-ups share caches), in ``threads`` threads:
        their null models are numpy work that mostly releases the GIL (100 phenotypes
        at n = 100,000: 0.29 s against 0.48 s one after the other); each logs into a
        buffer of its own, replayed in order."""
        import concurrent.futures as cf
        import os

        from ..io.run_log import Log

        def make(column, label, into):
            try:
                return label, GenomeScan(cfg, into, inputs, column, label, multi=True)
            except InputError as exc:
                return label, exc

        phenos = list(inputs.phenotypes)
        yield *make(*phenos[0], log), []
        threads = min(cfg.threads or os.cpu_count() or 1, len(phenos) - 1)
        if threads <= 1 or cfg.random_gts or cfg.interaction:
            for column, label in phenos[1:]:
                yield *make(column, label, log), []
            return

        def buffered(pheno):
            own = Log()
            return (*make(*pheno, own), own.lines)

        with cf.ThreadPoolExecutor(max_workers=threads) as pool:
            yield from pool.map(buffered, phenos[1:])

    # a SIGTERM/SIGINT stops every phenotype's per-SNP loops
    @property
    def _stop(self):
        return self._stop_event

    @_stop.setter
    def _stop(self, event):
        self._stop_event = event
        for s in self.scans:
            s._stop = event

    # --- HLM: one kernel for the class sums of every phenotype ----------------------
    def _setup_union(self):
        from .._core import _multi

        scans = self.scans
        powers = 4 if self.cfg.robust else 2
        in_any = np.zeros(self.geno.n_samples, dtype=bool)
        for s in scans:
            in_any[s.sample_index] = True
        U = np.flatnonzero(in_any)
        # union position of each .bed individual (a gather per sample, no search)
        where = np.full(self.geno.n_samples, -1, dtype=np.intp)
        where[U] = np.arange(U.size)
        # each distinct sample's union positions, found once (samples are told apart by
        # a cheap fingerprint, then compared: hashing each sample's bytes cost more)
        keys, samples, seen = [], {}, {}
        for s in scans:
            idx = s.sample_index
            bucket = seen.setdefault((idx.size, int(idx.sum()), int(idx[::257].sum())), [])
            key = next((k for k in bucket if np.array_equal(samples[k][0], idx)), None)
            if key is None:
                key = len(samples)
                bucket.append(key)
                # the whole union: a slice, not a scatter
                samples[key] = (idx, slice(0, U.size) if idx.size == U.size else where[idx])
            keys.append(key)
        samples = {key: pos for key, (_, pos) in samples.items()}
        # The kernel counts the union's individuals per class; a sample's own class
        # counts are those minus the counts of the union's individuals it lacks, an
        # integer bit field of a shared column: sample w adds 2^shift_w to its column
        # for each individual it lacks, in a field just wide enough for that number
        # (a sample missing 200 of 100,000 takes 8 bits).  Every partial sum is an
        # integer below 2^52, so the class sums are exact whatever the order (and the
        # kernel may take each SNP's commonest class as the column total minus the
        # others: ``exact``); each sample's count is its field.
        fields, used = {}, []
        for key, pos in samples.items():
            if isinstance(pos, slice):
                continue
            width = max(1, int(U.size - pos.size).bit_length())
            col = next((c for c, u in enumerate(used) if u + width <= 52), len(used))
            if col == len(used):
                used.append(0)
            fields[key] = (col, used[col], width)
            used[col] += width
        # the count columns fill whole tiles of their own (the kernel's exact tiles)
        ncount = -(-len(used) // 8) * 8
        C = ncount + powers * len(scans)
        # B's columns written into the kernel's tiles (_core/tablesums.h)
        Bt = _multi.tiled_zeros(U.size, C, self._tiles.result() if self._tiles else None)
        self._tiles = None

        def put(c, values, pos=slice(0, U.size)):
            Bt[c // 8, pos, c % 8] = values

        counts = np.zeros((len(used), U.size))
        for key, (col, shift, width) in fields.items():
            lacks = np.full(U.size, float(1 << shift))
            lacks[samples[key]] = 0.0
            counts[col] += lacks
        for c in range(len(used)):
            put(c, counts[c])
        del counts
        self._cols, self._counts = [], []
        for p, (s, key) in enumerate(zip(scans, keys)):
            base = ncount + powers * p
            yq = s.y
            for q in range(powers):
                put(base + q, yq, samples[key])
                yq = yq * s.y
            f = fields.get(key)
            # the count's column (unused for the union: from the kernel's counts)
            self._cols.append(np.r_[0 if f is None else f[0], base:base + powers]
                              .astype(np.intp))
            self._counts.append(None if f is None else (f[1], (1 << f[2]) - 1))
        self._U = U.astype(np.intp)
        # every phenotype's class sums gathered at once (and, where they can be, fitted)
        from .union_fits import UnionFits

        self._union = UnionFits(self._cols,
                                [(0, 0) if f is None else f for f in self._counts],
                                [s.sample.n for s in scans])
        # every SNP's commonest class from the columns' totals (tablesums.h): exact for
        # the counts; for y and y² a rounding of the direct sum's order, which the
        # model-based fits take as it is; --robust's third and fourth moments are
        # summed directly, as its SEs subtract them and would magnify it
        derive = ncount if self.cfg.robust else Bt.shape[0] * 8
        self._Bt, self._C, self._derive = Bt, C, derive
        self.log(f"Class statistics: one kernel over {U.size} individuals and {C} "
                 f"columns ({len(samples)} distinct sample(s), {len(fields)} of them "
                 f"counted in {len(used)} column(s); {len(scans)} phenotypes × {powers} "
                 "powers)")

    def _union_sums(self, packed):
        from .._core import _multi

        m = packed.shape[0]
        # the sums and the lists of a part of the block: buffers of the thread's, grown
        # when needed (fresh ones each block would fault their pages in again; the
        # phenotypes' fits copy what they take from the sums)
        out = getattr(self._scratch, "out", None)
        if out is None or out.shape[0] < m:
            out = self._scratch.out = np.empty((m, 4, self._C))
        out = out[:m]
        counts = np.empty((m, 4), np.int64)
        need = _multi.list_entries(m, self._U.size)
        buf = getattr(self._scratch, "lists", None)
        if buf is None or buf.size < need:
            buf = self._scratch.lists = _multi.huge_zeros(need, np.uint16)
        _multi.class_column_sums(packed, self._U, self.scans[0]._count_a1, self._Bt, out,
                                 counts, scratch=buf, derive=self._derive)
        return out, counts

    # --- HLMM: Grams shared by phenotypes with the same sample ----------------------
    def _setup_groups(self):
        groups = {}
        for p, s in enumerate(self.scans):
            groups.setdefault(s.sample_index.tobytes(), []).append(p)
        self._groups = list(groups.values())
        self._group_Y, self._group_S = [], []
        for g in self._groups:
            cs = [self.scans[p]._class_scan for p in g]
            # columns: 1 (for u_k), then each phenotype's y
            self._group_Y.append(np.ascontiguousarray(
                np.column_stack([np.ones(cs[0].n)] + [c.y for c in cs])))
            self._group_S.append(np.vstack([cs[0].u_all] + [c.s_all for c in cs]))
        self.log(f"Random-effects Grams: shared within {len(self._groups)} group(s) of "
                 "phenotypes with the same individuals")

    def _fit_group_hlmm(self, gi, idx, packed, rows, hard, fits):
        group = self._groups[gi]
        scans = [self.scans[p] for p in group]
        s0 = scans[0]
        codes = np.empty((1, s0.sample.n), dtype=np.int8)
        for j in range(len(idx)):
            s0._check_stop()
            if not hard[j] or len(group) == 1:
                for p, s in zip(group, scans):
                    fits[p][j] = s._fit_snp_hlmm(j, packed, rows, hard, codes)
                continue
            c, n_l, f = s0._snp_codes(j, packed, codes)
            freq, status = s0._filter(n_l, f, c)
            if status != "ok":
                for p in group:
                    fits[p][j] = SnpFit(n_l, freq, None, status)
                continue
            # the Grams once for the group, every phenotype's class sums with them
            parts = s0._class_scan.class_parts_many(c, self._group_Y[gi],
                                                    self._group_S[gi])
            # (the LD cache those Grams came from: each phenotype's Newton starts at its
            # fit of the SNP they were updated from)
            cache = s0._class_scan._ld_cache(self._group_Y[gi], self._group_S[gi]) \
                if s0._class_scan.ld else None
            for q, (p, s) in enumerate(zip(group, scans)):
                res = s._class_scan.fit_snp(c, parts=parts[q],
                                            ld_start=None if cache is None else (cache, q))
                fits[p][j] = s._class_fit(n_l, freq, res)

    # --- blocks ----------------------------------------------------------------------
    def fit_block(self, s, e=None):
        """Per phenotype, the SnpFit of the variants ``s`` (an index array) or
        ``s..e-1``: ``[[SnpFit, …] for each phenotype]`` (thread-safe)."""
        idx = np.arange(s, e, dtype=np.intp) if e is not None else np.asarray(s, np.intp)
        first = self.scans[0]
        packed, rows, hard = first._read_block(idx)
        if self.engine == "classes":
            stats = self._union.stats(self._union_sums(packed))
            # blocks of hard calls with model-based SEs, off chrX (whose frequencies
            # count males once: attached after set-up): every phenotype fitted at once
            if (not self.cfg.robust and hard.all()
                    and all(s._x_freq is None for s in self.scans)):
                return [scan.finish_block(idx, packed, fits, stats[p].reshape(-1, 9), rows,
                                          hard)
                        for p, (scan, fits) in enumerate(
                            zip(self.scans, self._union.fit(self.cfg, stats)))]
            return [scan.fit_read(idx, packed, rows, hard, stats[p])
                    for p, scan in enumerate(self.scans)]
        if self.engine == "classes_hlmm":
            fits = [[None] * len(idx) for _ in self.scans]
            for gi in range(len(self._groups)):
                self._fit_group_hlmm(gi, idx, packed, rows, hard, fits)
            return [scan.finish_block(idx, packed, f, rows=rows, hard=hard)
                    for scan, f in zip(self.scans, fits)]
        return [scan.fit_read(idx, packed, rows, hard) for scan in self.scans]

    def _prepare_text(self):
        alleles = self.geno.counted_alleles()       # once for all phenotypes
        for s in self.scans:
            s._alleles = alleles

    def _fit_block_text(self, idx):
        from ..io.output import pack_block, stat_cells

        out = self.fit_block(idx)          # a BlockFits per phenotype
        labels = self.scans[0].row_labels(idx)     # the same for every phenotype
        # the t statistics and p-values of every phenotype in one pass
        parts = [BlockFits.from_fits(part) for part in out]
        m = len(idx)
        cells = stat_cells(np.concatenate([part.est for part in parts]))
        for p, (scan, part) in enumerate(zip(self.scans, parts)):
            part.packed = pack_block(scan.block_lines(idx, part, labels,
                                                      cells[p * m:(p + 1) * m]))
        return parts

    blocks = GenomeScan.blocks
    iter_fits = GenomeScan.iter_fits
    _iter_fits = GenomeScan._iter_fits
