"""Scans whose null model depends on the chromosome: related individuals through
REGENIE's LOCO predictions (``--pred FILE``) and chromosome X (:mod:`hlmm.scan.xchr`).

**LOCO.**
For a SNP on chromosome c the trait is

    y_c = y − s·LOCO_c,

REGENIE's step 2 for a quantitative trait: ``LOCO_c`` is the polygenic prediction of the
trait from every chromosome but c (step 1, ridge regression on genome-wide SNPs), so
y_c keeps the SNP's own effect and loses most of the polygenic signal that related
individuals share — the signal that inflates a scan of unrelated-looking fits.  REGENIE's
predictions are on the scale of its step-1 phenotype, the trait residualised on the
covariates and divided by ``s = ‖r‖/√(n − p)`` (``r``: the OLS residuals of y on the
mean covariates and an intercept, p their number; ``Data::residualize_res``), so hlmm
multiplies them by s, computed over each chromosome's analysed individuals, before
subtracting.  Everything then is the usual scan of y_c: the null model, the standardised
trait, the random-effects h2, the engines.

**Chromosome X** has its own sample (individuals of known sex), designs (sex as a
covariate) and male coding.

So the null model differs by chromosome: :class:`ChromosomeScan` holds one scan per
group of SNPs (a LOCO row, and chrX apart) — a
:class:`~hlmm.scan.genome_scan.GenomeScan`, or a
:class:`~hlmm.scan.many_phenotypes.MultiScan` whose phenotypes each subtract their own
LOCO file — and cuts the SNPs into blocks that never cross a chromosome, each fitted by
its group's scan.  Individuals without a prediction (absent from the file, or
``NA``) are dropped and counted; a chromosome with no row is an error naming it.
The null-model files hold one row per group and covariate (``chrC:NAME``, ``chrX:sex``,
``autosomes:NAME`` without --pred), the h2 file one row per group.  Every group's scan
is built up front (errors before any output; memory grows with the number of groups).
"""
import copy

import numpy as np

from ..errors import InputError
from ..io.loco import loco_row, read_loco, read_pred_list
from ..io.selection import normalise_chrom
from .genome_scan import GenomeScan


def _is_x(chrom):
    return normalise_chrom(chrom) == "X"


def _chrom_runs(chroms):
    """``(starts, names)`` of the runs of equal names in ``chroms`` (vectorised: a
    biobank file has millions of variants and a few dozen runs)."""
    chroms = np.asarray(chroms)
    if chroms.size == 0:
        return np.zeros(0, np.intp), []
    starts = np.r_[0, np.flatnonzero(chroms[1:] != chroms[:-1]) + 1].astype(np.intp)
    return starts, chroms[starts].tolist()


def _per_snp(chroms, fn):
    """``fn(name)`` (a number or bool) per variant, computed once per run."""
    starts, names = _chrom_runs(chroms)
    lengths = np.diff(np.r_[starts, len(chroms)])
    return np.repeat(np.array([fn(name) for name in names]), lengths)


def by_chromosome(cfg, inputs):
    """Whether the scan needs :class:`ChromosomeScan`: --pred, or test SNPs on chrX."""
    if cfg.pred:
        return True
    return any(map(_is_x, set(_chrom_runs(inputs.geno.chromosome[inputs.snps])[1])))


def _fid_iid_keys(table):
    """``FID_IID`` per row of a phenotype table (a table without FIDs: ``IID_IID``, as
    REGENIE names individuals of a file without family IDs)."""
    return [f"{iid if fid is None else fid}_{iid}" for fid, iid in table.ids]


def _residual_scale(y, X):
    """REGENIE's ``scale_Y``: ‖r‖/√(n − p) of the OLS residuals r of y on X."""
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ coef
    return float(np.sqrt(r @ r / max(1, y.size - X.shape[1])))


class _PhenotypeView:
    """One phenotype's outputs in a many-phenotype LOCO run: its scans by chromosome."""

    def __init__(self, label, scans):
        self.label, self._scans = label, scans      # [(row, GenomeScan)]
        self.se_kind = scans[0][1].se_kind

    def block_lines(self, idx, part, labels=None):
        return self._scans[0][1].block_lines(idx, part, labels)

    @property
    def null_mean(self):
        return _stack([(c, s.null_mean) for c, s in self._scans])

    @property
    def null_var(self):
        return _stack([(c, s.null_var) for c, s in self._scans])

    @property
    def null_h2(self):
        return _h2(self._scans)

    @property
    def null_h2_text(self):
        return _h2_text(self._scans)


def _stack(parts):
    names, est, se = [], [], []
    for c, (n, e, s) in parts:
        names += [f"{_key_name(c, True)}:{x}" for x in n]
        est += list(np.asarray(e, dtype=float))
        se += list(np.asarray(s, dtype=float))
    return names, est, se


def _h2(scans):
    return scans[0][1].null_h2


def _h2_text(scans):
    if scans[0][1].null_h2 is None:
        return None
    return "chr\th2\tse\n" + "".join(
        f"{_key_name(c)}\t{float(s.null_h2[0])!r}\t{float(s.null_h2[1])!r}\n" for c, s in scans)


def _key_name(key, prefix=False):
    """How the log and the null files name a group: its LOCO row, X, or the autosomes
    (without --pred)."""
    row, is_x = key
    name = "X" if is_x else str(row) if row else "autosomes"
    return ("chr" + name if name != "autosomes" else name) if prefix else name


class ChromosomeScan:
    """The scans of one run with ``--pred`` or chrX SNPs (see the module docstring).
    Presents the interface the runner uses of a GenomeScan (one phenotype) or a MultiScan
    (several):
    ``snps``, ``blocks``, ``fit_block``, ``iter_fits``, ``block_size``, the null-model
    values; ``scans`` holds the per-phenotype output views of a many-phenotype run."""

    def __init__(self, cfg, log, inputs):
        self.cfg, self.log = cfg, log
        self.geno = self.bed = inputs.geno
        self.multi = len(inputs.phenotypes) > 1
        self._rows = {}
        locos = self._read_predictions(cfg, log, inputs) if cfg.pred else None
        self.snps = self._skip_x(cfg, log, inputs)
        groups = self._groups(self.snps)
        sex = self._sex(cfg, log, inputs, groups)
        self._by_key = {}
        from .group_engines import EngineCache

        self._engines = EngineCache(self._by_key, cfg.robust)
        self.t_setup = self.t_null = 0.0
        pheno = inputs.frame.pheno
        for key, snps in groups:
            row, is_x = key
            log(f"Chromosome {_key_name(key)} ({len(snps)} test SNPs)"
                + (": the trait minus its LOCO prediction of the other chromosomes"
                   if locos else ""))
            sub = copy.copy(inputs)
            sub.snps = snps
            sub.frame = copy.copy(inputs.frame)
            if locos:
                values = pheno.values.copy()
                for column, label in inputs.phenotypes:
                    values[:, column] = self._adjusted(inputs, column, label, locos[label],
                                                       row, log)
                sub.frame.pheno = copy.copy(pheno)
                sub.frame.pheno.values = values
            if is_x:
                from .xchr import x_frame

                sub.frame = x_frame(sub.frame, sex[inputs.order_bed_pos], cfg.no_x_sex, log)
            if self.multi:
                from .many_phenotypes import MultiScan

                scan = MultiScan(cfg, log, sub)
            else:
                column, label = inputs.phenotypes[0]
                scan = GenomeScan(cfg, log, sub, column, label)
            if is_x:
                self._attach_x(scan, sex)
            self._by_key[key] = scan
            self.t_setup += scan.t_setup
            self.t_null += scan.t_null
            if len(groups) > 1:
                self._engines.shelve(key)
        if not self._by_key:
            raise InputError("no test SNPs left (--xchr-model 0 skipped every one)")
        first = next(iter(self._by_key.values()))
        self.block_size = first.block_size
        self.engine = first.engine
        self.se_kind = (first.scans[0] if self.multi else first).se_kind
        if self.multi:
            self._views(inputs)
        else:
            self.label = first.label

    def _skip_x(self, cfg, log, inputs):
        snps = inputs.snps
        if cfg.xchr_model not in (0, 1, 2):
            raise InputError(f"--xchr-model {cfg.xchr_model}: must be 0, 1 or 2")
        if cfg.xchr_model != 0 or len(snps) == 0:
            return snps
        x = _per_snp(self.geno.chromosome[snps], _is_x).astype(bool)
        if x.any():
            log(f"--xchr-model 0: {int(x.sum())} chromosome X SNP(s) skipped")
        return snps[~x]

    def _sex(self, cfg, log, inputs, groups):
        n_x = sum(len(snps) for (_, is_x), snps in groups if is_x)
        if not n_x:
            return None
        from ..io.sex import read_sex
        from .xchr import check_sex

        sex = read_sex(self.geno, cfg.sex, sample_file=cfg.sample)
        check_sex(sex, self.geno, n_x)
        log(f"Sex ({cfg.sex or 'from ' + self.geno.path}): {int((sex == 1).sum())} male, "
            f"{int((sex == 2).sum())} female, {int((sex == 0).sum())} unknown; males on "
            f"chromosome X coded 0/{cfg.xchr_model} (--xchr-model {cfg.xchr_model})")
        return sex

    def _attach_x(self, scan, sex):
        from .xchr import MaleOnceFrequency, XCoding

        coding = XCoding(np.flatnonzero(sex == 1), self.cfg.xchr_model,
                         (scan.scans[0] if self.multi else scan)._count_a1)
        for s in (scan.scans if self.multi else [scan]):
            s._xcoding = coding
            s._x_freq = MaleOnceFrequency(s, sex[s.sample_index] == 1, self.cfg.xchr_model)

    # --- setup -----------------------------------------------------------------------
    def _read_predictions(self, cfg, log, inputs):
        """Each analysed phenotype's LOCO predictions, by label."""
        listed = read_pred_list(cfg.pred)
        table = inputs.frame.pheno
        names = {label for _, label in inputs.phenotypes}
        from ..io.phenotypes import select_phenotypes

        known = {label for _, label in select_phenotypes(table, all_pheno=True)} \
            if table.values.shape[1] > 0 else set()
        for name in listed:
            if name not in known:
                raise InputError(f"--pred {cfg.pred}: phenotype '{name}' is not a column of "
                                 f"{cfg.phenofile} (columns: {', '.join(sorted(known)[:12])})")
        locos = {}
        for _, label in inputs.phenotypes:
            path = listed.get(label)
            if path is None:
                raise InputError(f"--pred {cfg.pred}: no line for phenotype '{label}' "
                                 "(lines 'NAME PATH', one per phenotype)")
            locos[label] = read_loco(path)
            log(f"LOCO predictions of '{label}': {path} "
                f"({len(locos[label].ids)} individuals, chromosome rows "
                f"{', '.join(map(str, sorted(locos[label].rows)))})")
        fid_iid = _fid_iid_keys(table)
        self._cols = {label: loco.column_of(fid_iid) for label, loco in locos.items()}
        unused = sorted(set(listed) - names)
        if unused:
            log(f"  --pred: lines for phenotypes not analysed ignored: {', '.join(unused)}")
        return locos

    def _groups(self, snps):
        """``[((LOCO row, is chrX), its SNPs)]`` in order of first appearance (row 0
        without --pred); a chromosome REGENIE has no row for is an error."""
        order = {}
        code = _per_snp(self.geno.chromosome[snps],
                        lambda c: order.setdefault(self._key_of(c), len(order)))
        return [(k, snps[code == i]) for k, i in order.items()]

    def _key_of(self, chrom):
        r = self._rows.get(chrom)
        if r is None:
            r = (self._loco_row(chrom) if self.cfg.pred else 0, _is_x(chrom))
            self._rows[chrom] = r
        return r

    def _loco_row(self, chrom):
        r = loco_row(chrom)
        if r is None:
            raise InputError(f"--pred: test SNPs on chromosome {chrom} of {self.geno.path}, "
                             "which has no LOCO row (REGENIE's rows are 1-22 and 23 for "
                             "X/Y/XY); leave them out with --chr or --exclude")
        return r

    def _adjusted(self, inputs, column, label, loco, c, log):
        """Phenotype ``column`` minus s·LOCO_c over the phenotype table's rows; NaN for
        individuals without a prediction on chromosome c."""
        frame = inputs.frame
        y_all = frame.pheno.values[:, column]
        values = loco.values(c, label)
        col = self._cols[label]
        pred = np.full(y_all.shape, np.nan)
        has = col >= 0
        pred[has] = values[col[has]]
        base = frame.sample(y_all.copy(), label)
        base_rows = frame.rows[base.order_pos]
        absent = int((col[base_rows] < 0).sum())
        na = int(np.isnan(pred[base_rows]).sum()) - absent
        masked = np.where(np.isnan(pred), np.nan, y_all)
        try:
            s = frame.sample(masked, label)
        except InputError:
            raise InputError(f"--pred {loco.path}: none of the {base.n} individuals "
                             f"analysed for '{label}' has a prediction for chromosome {c} "
                             "(individuals are matched by FID_IID)") from None
        rows = frame.rows[s.order_pos]
        scale = _residual_scale(s.y, s.X)
        out = np.full(y_all.shape, np.nan)
        out[rows] = s.y - scale * pred[rows]
        log(f"  '{label}': y − s·LOCO_{c}, s = {scale:.6g} (the SD of y's residuals on the "
            f"mean covariates: REGENIE's scale); {absent + na} individual(s) without a "
            f"prediction dropped ({absent} not in {loco.path}, {na} NA)")
        return out

    def _views(self, inputs):
        labels = None
        for c, m in self._by_key.items():
            mine = [s.label for s in m.scans]
            if labels is None:
                labels = mine
            elif mine != labels:
                raise InputError(f"--pred: the phenotypes analysable differ between "
                                 f"chromosomes ({', '.join(labels)} against {', '.join(mine)} "
                                 f"on chromosome {c}); see the log")
        self.skipped = next(iter(self._by_key.values())).skipped
        self.scans = [_PhenotypeView(label, [(c, m.scans[p]) for c, m in self._by_key.items()])
                      for p, label in enumerate(labels)]

    # --- what the runner reads of a single-phenotype scan ----------------------------
    @property
    def null_mean(self):
        return _stack([(c, s.null_mean) for c, s in self._by_key.items()])

    @property
    def null_var(self):
        return _stack([(c, s.null_var) for c, s in self._by_key.items()])

    @property
    def null_h2(self):
        return _h2(list(self._by_key.items()))

    @property
    def null_h2_text(self):
        return _h2_text(list(self._by_key.items()))

    # --- blocks ----------------------------------------------------------------------
    @property
    def _stop(self):
        return getattr(self, "_stop_event", None)

    @_stop.setter
    def _stop(self, event):
        self._stop_event = event
        for s in self._by_key.values():
            s._stop = event

    def _scan_of(self, idx):
        return self._by_key[self._key_of(self.geno.chromosome[int(idx[0])])]

    def _with_scan(self, idx, method, *args):
        """``scan.method(idx, *args)`` of the group of ``idx``, its tables alive."""
        key = self._key_of(self.geno.chromosome[int(idx[0])])
        scan = self._engines.acquire(key)
        try:
            return getattr(scan, method)(idx, *args)
        finally:
            self._engines.done(key)

    def blocks(self, threads=1):
        """Blocks of at most ``block_size`` SNPs, none crossing a chromosome (``threads``:
        as :meth:`hlmm.scan.blocks.BlockLoop.blocks` takes it; not used)."""
        snps = self.snps
        if len(snps) == 0:
            return []
        starts, names = _chrom_runs(self.geno.chromosome[snps])
        keys = [self._key_of(c) for c in names]
        cut = [a for a, k, prev in zip(starts[1:].tolist(), keys[1:], keys) if k != prev]
        out = []
        for part in np.split(snps, cut):
            b = self.block_size
            out += [part[i:i + b] for i in range(0, len(part), b)]
        return out

    def fit_block(self, s, e=None):
        idx = np.arange(s, e, dtype=np.intp) if e is not None else np.asarray(s, np.intp)
        return self._with_scan(idx, "fit_block")

    def block_lines(self, idx, part, labels=None):
        return self._scan_of(idx).block_lines(idx, part, labels)

    def _fit_block_text(self, idx):
        return self._with_scan(idx, "_fit_block_text")

    def _prepare_text(self):
        alleles = self.geno.counted_alleles()       # once for every chromosome's scans
        for s in self._by_key.values():
            for t in (s.scans if self.multi else [s]):
                t._alleles = alleles

    iter_fits = GenomeScan.iter_fits
    _iter_fits = GenomeScan._iter_fits
