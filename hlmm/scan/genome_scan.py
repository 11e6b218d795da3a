"""One phenotype's genome scan (``hlmm chr``): every SNP's mean and variance effect.

:class:`GenomeScan` holds what the SNP fits share, built in stages: the sample (from
:class:`hlmm.scan.inputs.ScanInputs`), the null model (:mod:`hlmm.scan.null_model`:
default mode ``y ← (y − Xα̂)/exp(Vβ̂/2)`` and ``X = V = 1``, or the covariates kept with
``fit_covariates``; the null h2 with random effects), then the engine (genotype-class
statistics where exact, else the general path).  Each SNP's model adds the centred
genotype ``x = g − 2f`` (individuals with a missing call dropped) to both X and V; a SNP
passes the filters of :mod:`hlmm.scan.snp_filters` or its row is written with NA values.
Its likelihood is reported on the trait's own scale (:meth:`GenomeScan.finish_block`).
The loop over blocks of SNPs is :class:`hlmm.scan.blocks.BlockLoop`.
"""
import time

import numpy as np

from .block_fits import FIT_KEYS, BlockFits, SnpFit  # noqa: F401 (SnpFit: API)
from ..errors import InputError
from ..io import runs
from ..models.hlm import HLM
from ..io.sample import missing_summary
from .blocks import BlockLoop
from .checkpoint import Interrupted
from .config import ScanConfig  # noqa: F401 (part of this module's API)
from .inputs import ScanInputs  # noqa: F401 (part of this module's API)
from .null_model import NullModel


# HLMM dosage SNPs: the carriers' engine up to this fraction of non-modal calls, beyond
# it the general path.  With the differenced Hessian the crossover was near 28 %
# (bench/bench_formats.py, n = 100,000, l = 500: 70 % carriers 13.6 s per SNP against
# 5.5 s); with the exact carriers' Hessian (about 4× fewer syrks) at n = 20,000, l = 500:
# 22, 35 and 53 % carriers 0.47, 0.61 and 0.86 s against 2.0 s for the general path
CARRIER_FRACTION = 0.6


class GenomeScan(BlockLoop):
    """Everything the per-SNP fits share: sample, designs, null model, G."""

    _stop = None      # a threading.Event set on SIGTERM/SIGINT: slow loops stop early
    kurtosis_warning = None   # (κ, λ) when the model-based variance tests are miscalibrated
    _interaction = None       # the GxE engine (hlmm.scan.interaction), with --interaction
    _moments = None           # --fit-covariates' class moments (hlmm.scan.moment_engine)
    _x_freq = None    # chrX: frequencies counting males once (hlmm.scan.xchr.MaleOnceFrequency)

    def _check_stop(self):
        if self._stop is not None and self._stop.is_set():
            raise Interrupted(15)

    def __init__(self, cfg, log, inputs=None, column=None, label=None, multi=False):
        """``inputs`` (:class:`ScanInputs`), ``column`` and ``label``: one phenotype of a
        many-phenotype run (``multi``: the class statistics come from the shared kernel
        of :mod:`hlmm.scan.many_phenotypes`); by default the one phenotype ``cfg`` selects."""
        self.cfg = cfg
        self.log = log
        t0 = time.perf_counter()
        if cfg.h2_init is not None and not 0 < cfg.h2_init <= 1:
            raise InputError(f"--h2-init {cfg.h2_init}: must be in (0, 1]")
        if not 0 <= cfg.min_maf < 0.5:
            raise InputError(f"--min-maf {cfg.min_maf}: must be in [0, 0.5)")
        if not 0 <= cfg.max_missing <= 100:
            raise InputError(f"--max-missing {cfg.max_missing}: must be a percentage in "
                             "[0, 100] (5 means 5 %)")
        if cfg.robust and cfg.random_gts and cfg.robust_estimator != "pooled":
            raise InputError(f"--robust-estimator {cfg.robust_estimator}: only 'pooled' is "
                             "defined for the HLMM (--random-gts)")
        if cfg.block_size is not None and cfg.block_size < 1:
            raise InputError(f"--block-size {cfg.block_size}: must be at least 1")
        if inputs is None:
            inputs = ScanInputs(cfg, log)
            column, label = inputs.phenotypes[0]
        self.label = label
        self._n_phenos = len(inputs.phenotypes)
        self.geno = inputs.geno
        self.bed = self.geno        # the name of hlmm 2.0
        self.snps = inputs.snps
        frame = inputs.frame
        if len(inputs.phenotypes) > 1:
            log(f"Phenotype '{label}' (column {column + 1} of {cfg.phenofile}):")
        s = frame.sample(frame.pheno.values[:, column],
                         label if len(inputs.phenotypes) > 1 else None)
        self.sample = s
        self.sample_index = inputs.sample_index(s)
        c = s.counts
        log(f"Phenotype: {cfg.phenofile}: {c['phenotype_rows']} rows")
        log(missing_summary(c))
        log(f"Individuals in {self.bed.path}: {self.bed.n_samples}; analysed: {s.n} "
            f"(matched by {'IID' if s.by_iid else 'FID and IID'}) "
            f"(dropped: "
            + "".join(f"{k} by {why}, " for why, k in inputs.dropped.items())
            + f"{c['not_in_phenotype']} not in the phenotype file, "
            f"{c['missing_phenotype']} with a missing phenotype, "
            f"{c['missing_covariate']} with a missing covariate, "
            f"{c['not_in_random_gts']} not in the random-effects genotypes)")
        log(f"Phenotype rows matching no genotyped individual left: {inputs.unmatched_rows}")
        from .interaction import sample_options

        # --cat-covar's levels in the log, --rint, --interaction (E into the variance)
        self._interaction = sample_options(cfg, s, log, frame)
        if s.n <= s.X.shape[1] + s.V.shape[1] + 2:
            raise InputError(f"only {s.n} individuals analysed: too few for the model"
                             + (f" of phenotype '{label}'" if len(inputs.phenotypes) > 1
                                else ""))
        self.multi = multi
        self.G = inputs.random_design(s, log)
        self._grams = inputs.grams     # GᵀG per design, shared by phenotypes (dropped after use)
        self.t_setup = time.perf_counter() - t0
        self._fit_null()

    # --- null model and engine ---------------------------------------------------------
    def _fit_null(self):
        cfg = self.cfg
        nm = NullModel(self.sample, self.G, self.log, phenofile=cfg.phenofile,
                       label=self.label, multi=self.multi,
                       fit_covariates=cfg.fit_covariates or self._interaction is not None,
                       robust=cfg.robust, robust_estimator=cfg.robust_estimator,
                       h2_init=cfg.h2_init, no_h2_estimate=cfg.no_h2_estimate)
        self.null_model = nm
        # what the runner and the many-phenotype scan read
        self.null, self.null_mean, self.null_var, self.null_h2 = (
            nm.fit, nm.mean_effects, nm.var_effects, nm.h2)
        self.kurtosis, self.kurtosis_warning = nm.kurtosis, nm.kurtosis_warning
        self.binary_warning, self.se_kind = nm.binary_warning, nm.se_kind
        self.y, self.X, self.V, self.h2_start = nm.y, nm.X, nm.V, nm.h2_start
        self.t_null = nm.seconds
        if self._interaction is not None:
            self._interaction.start(self.null, self.G, self.h2_start,
                                    cfg.robust_estimator if cfg.robust else False)
            if cfg.engine in ("auto", "fast"):
                # (the moments' features, n × ~100, held per phenotype: 2 GB in all)
                self._interaction.use_kernel(self.X, self.V, self.y,
                                             memory=(2 << 30) // self._n_phenos)
        self._choose_engine()

    def _choose_engine(self):
        """The engine (genotype-class statistics where exact, else the general path), the
        block size and the Brown–Forsythe test of this scan."""
        cfg, s, log = self.cfg, self.sample, self.log
        # Class statistics cover the default mode (X = V = [1, x] per SNP) with hard calls.
        if cfg.engine not in ("auto", "general", "fast"):
            raise InputError(f"--engine {cfg.engine}: must be 'auto', 'general' or 'fast'")
        self.engine = "general"
        if self._interaction is not None and self._interaction.moments is not None:
            self.engine = "interaction_moments"
        elif (cfg.engine in ("auto", "fast") and cfg.fit_covariates and self.G is None
              and not cfg.robust and self._interaction is None
              and np.all(self.X[:, 0] == 1.0) and np.all(self.V[:, 0] == 1.0)):
            from .moment_engine import MomentEngine

            mom = MomentEngine(self.y, self.X, self.V, self.null, [],
                               (2 << 30) // self._n_phenos)
            if mom.supported:
                self.engine, self._moments = "moments", mom
        elif (cfg.engine in ("auto", "fast") and not cfg.fit_covariates
              and self._interaction is None):
            from .class_engines import HLMClassScan, HLMMClassScan

            if self.G is None:
                from .._core import _bed

                self.engine = "classes"
                self._class_scan = HLMClassScan(self.y)
                # Built once: per .bed byte, the sums of y and y² over each subset of its
                # four samples, so a SNP costs a few lookups per byte.
                # Robust SEs need the class sums of y³ and y⁴ too.
                # (a many-phenotype run gets them from hlmm.scan.many_phenotypes's shared kernel)
                self._tables = None if self.multi else _bed.subset_tables(
                    self.sample_index, self.y, self.bed.n_samples, 4 if cfg.robust else 2)
                if self.geno.has_dosages:
                    from .dosage_engine import DosageClassScan

                    self._dosage_scan = DosageClassScan(
                        self.y, self.sample_index, self.geno.dosage_scale,
                        cfg.robust_estimator if cfg.robust else False)
            else:
                self.engine = "classes_hlmm"
                key = id(self.G)
                self._class_scan = HLMMClassScan(
                    self.y, self.G, self.h2_start,
                    robust=cfg.robust_estimator if cfg.robust else False,
                    M_all=self._grams.get(key))
                self._grams[key] = self._class_scan.M_all
        self._grams = None
        # A block is the unit of parallel work: HLM SNPs cost microseconds, HLMM SNPs
        # up to seconds, so the latter come in small blocks to keep every thread busy.
        # Other formats are read as every sample's dosages: smaller blocks bound memory;
        # BGEN's float64 rows in blocks of ~24 MB, which malloc reuses instead of mapping
        # fresh pages for every block (100 MB blocks: ~15 % slower, twice the memory).
        self.block_size = cfg.block_size or (
            256 if "moments" in self.engine else
            16 if self.G is not None or self.engine != "classes"
            else 1000 if self.geno.format == "bed"
            else min(128, max(16, 3_000_000 // self.geno.n_samples))
            if self.geno.format == "bgen" else 128)
        self._bf = None
        if cfg.brown_forsythe:
            from .levene import BrownForsythe

            # On the null model's standardised residual (the scan's y in the default
            # mode): covariates projected out, as OSCA users adjust before --vqtl.
            if cfg.fit_covariates:
                r = self.null_model.standardised()
            else:
                r = self.y
            self._bf_y = np.ascontiguousarray(r)
            self._bf = BrownForsythe(self.sample_index, self._bf_y, self.bed.n_samples,
                                     self._count_a1)
            log("Brown-Forsythe test: on the null model's standardised residuals, "
                "genotype classes as groups (bf_f, bf_pval)")
        log(f"Engine: {self.engine}" + (
            self._interaction.engine_note(self.engine) if self._interaction is not None
            else self._moments.note() if self.engine == "moments" else ""))
        if self.multi and not cfg.fit_covariates and self._interaction is None:
            # the default mode scans the projected y: with hundreds of phenotypes the
            # raw phenotype and covariate columns would only hold memory
            s.y = s.X = s.V = None

    def _to_trait_scale(self, fits, packed, rows, hard):
        """The likelihood column of ``fits`` (of the standardised trait) on the trait's
        own scale: minus ``Σ log σ_i`` over each SNP's called individuals."""
        nm = self.null_model
        if nm.log_sd is None:
            return
        ll = fits.est[:, 0]
        fitted = np.isfinite(ll)
        if np.ndim(nm.log_sd) == 0:
            ll[fitted] -= nm.log_jacobian(fits.n[fitted])
            return
        # variance covariates: σ_i varies, so a SNP with missing calls loses the log σ_i
        # of exactly those individuals
        partial = fitted & (fits.n < self.sample.n)
        ll[fitted & ~partial] -= nm.log_jacobian(self.sample.n)
        from .._core import _bed

        for j in np.flatnonzero(partial):
            if hard is None or hard[j]:
                codes = np.empty((1, self.sample.n), dtype=np.int8)
                _bed.decode_codes(packed[j:j + 1], self.sample_index, self._count_a1, codes)
                missing = codes[0] < 0
            else:
                missing = np.isnan(self._analysis(rows, j))
            ll[j] -= nm.log_jacobian(fits.n[j], missing)

    # --- per SNP ---------------------------------------------------------------------
    def _fit_one(self, g):
        """Filter and fit one SNP given its dosages over the analysis sample."""
        ok = ~np.isnan(g)
        n_l = int(ok.sum())
        gl = g[ok]
        f = gl.mean() / 2.0 if n_l else np.nan
        freq, status = self._filter(n_l, f, g)
        if status != "ok":
            return SnpFit(n_l, freq, None, status)
        x = gl - 2.0 * f
        rows = slice(None) if n_l == len(g) else ok       # no copy when all called
        if self._interaction is not None:
            return self._interaction.fit(self.y[ok], self.X[rows], self.V[rows], x, rows,
                                         n_l, freq, gl)
        X = np.column_stack([self.X[rows], x])
        if getattr(self, "_x_is_v", None) is None:        # the same covariates: one copy
            self._x_is_v = self.X.shape == self.V.shape and np.array_equal(self.X, self.V)
        V = X if self._x_is_v else np.column_stack([self.V[rows], x])
        robust = self.cfg.robust_estimator if self.cfg.robust else False
        try:
            if self.G is None:
                # --fit-covariates: from the null model's estimates and Hessian, the
                # SNP's effects at 0
                res = HLM(self.y[ok], X, V).fit(
                    start=self.null if self.cfg.fit_covariates else None, robust=robust)
            else:
                from ..models.hlmm import HLMM

                res = HLMM(self.y[ok], X, V, self.G[ok]).fit(h2_init=self.h2_start,
                                                             robust=robust)
        except (ValueError, np.linalg.LinAlgError) as exc:
            return SnpFit(n_l, freq, None, f"failed: {str(exc).splitlines()[0]}")
        if not res.converged:
            return SnpFit(n_l, freq, None, f"failed: {res.message}")
        p, q = X.shape[1] - 1, V.shape[1] - 1
        se_a, se_b = res.alpha_se[p], res.beta_se[q]
        if not (np.isfinite(se_a) and np.isfinite(se_b) and se_a > 0 and se_b > 0):
            return SnpFit(n_l, freq, None, "failed: standard errors undefined")
        fit = {"likelihood": res.loglik, "add": res.alpha[p], "add_se": se_a,
               "var": res.beta[q], "var_se": se_b}
        if robust:
            fit["av_cov"] = res.cov_params()[p, X.shape[1] + q]
        return SnpFit(n_l, freq, fit)

    @property
    def extra_columns(self):
        """The table's columns after the usual ones (GxE: hlmm.scan.interaction)."""
        return [] if self._interaction is None else self._interaction.columns

    def _filter(self, n_l, f, g=None):
        """The filters (:func:`hlmm.scan.snp_filters.filter_codes`) on a SNP's call count, its
        counted-allele frequency f and its values ``g`` (classes or dosages; for --hwe):
        ``(f, status)`` (f is kept unfolded for the table's a1_freq)."""
        from .block_fits import _CODES
        from .snp_filters import class_counts, filter_codes

        total, hwe_g = None, g
        if self._x_freq is not None and g is not None:
            f, total = self._x_freq.of_values(g)
            hwe_g = self._x_freq.females(g)     # (PLINK: chrX's HWE test on females)
        _, code = filter_codes(self.cfg, self.sample.n, [n_l], [f],
                               lambda j: class_counts(hwe_g),
                               allele_total=None if total is None else [total])
        return f, _CODES[code[0]]

    def _analysis(self, rows, j):
        """Variant j's dosages over the analysis individuals (float64, NaN missing)."""
        v = rows[j][self.sample_index].astype(np.float64)
        if rows.dtype == np.int8:
            v[v < 0] = np.nan
        return v

    @property
    def _count_a1(self):
        # packed rows of other formats are written counting the counted allele as A1
        return self.geno.count_a1 if self.geno.format == "bed" else True

    def _fits_from_classes(self, res, fits, cols, counts_of=None, once=None):
        """Rows ``cols`` of the BlockFits ``fits`` from a class-engine result dict, with
        the filters of :meth:`_filter` applied to whole arrays (``counts_of``: the
        hard-call class counts, for --hwe; ``once``: chrX's frequencies and allele
        totals counting males once and its females' class counts,
        :mod:`hlmm.scan.xchr`)."""
        from .snp_filters import filter_codes

        cols = np.asarray(cols, dtype=np.intp)
        n_l = np.asarray(res["n"], dtype=np.int64)
        if once is not None:
            res = dict(res, freq=once[0])
            counts_of = once[2].__getitem__
        freq, fcode = filter_codes(self.cfg, self.sample.n, n_l, res["freq"], counts_of,
                                   allele_total=None if once is None else once[1])
        ok = np.asarray(res["ok"], dtype=bool)
        code = np.where(fcode != 0, fcode, np.where(ok, 0, 3)).astype(np.int8)
        est = np.full((cols.size, 6), np.nan)
        est[:, 5] = 0.0
        fitted = code == 0
        for c, key in enumerate(FIT_KEYS + (("av_cov",) if "av_cov" in res else ())):
            est[fitted, c] = np.asarray(res[key], dtype=float)[fitted]
        reasons = {int(cols[j]): str(res["reason"][j]) for j in np.flatnonzero(code == 3)}
        fits.set_classes(cols, n_l, np.asarray(res["freq"], dtype=float), code, est, reasons)

    def _fit_block_classes(self, idx, packed, rows, hard, sums=None):
        """Default mode, HLM: class statistics straight from the packed bytes (or
        ``sums``: SNPs × classes 0, 1, 2 × [n, Σy, Σy², (Σy³, Σy⁴)] from the shared
        kernel of a many-phenotype run); SNPs with stored dosages from their
        dosage-value classes."""
        from .._core import _bed
        from .snp_filters import class_counts

        m = len(idx)
        if self.cfg.robust:
            if sums is None:
                moments = np.empty((m, 15))
                _bed.class_moments_tabled(packed, *self._tables, self._count_a1, moments)
            else:
                moments = np.ascontiguousarray(sums).reshape(m, 15)
            res = self._class_scan.fit_block_robust(moments, self.cfg.robust_estimator)
            stats = np.ascontiguousarray(moments.reshape(-1, 3, 5)[:, :, :3]).reshape(-1, 9)
        else:
            if sums is None:
                stats = np.empty((m, 9))
                _bed.class_stats_tabled(packed, *self._tables, self._count_a1, stats)
            else:
                stats = np.ascontiguousarray(sums).reshape(m, 9)
            res = self._class_scan.fit_block(stats)
        fits = BlockFits(m)
        x = self._x_freq
        self._fits_from_classes(res, fits, range(m),
                                lambda j: stats.reshape(-1, 3, 3)[j, :, 0],
                                None if x is None else x.of_block(packed, rows, hard, range(m)))
        dos = np.flatnonzero(~hard)
        if dos.size:
            rd = self._dosage_scan.fit_block(rows, which=dos)
            self._fits_from_classes(rd, fits, dos, lambda j: [
                class_counts(self._analysis(rows, k)) for k in dos[j]],
                None if x is None else x.of_block(packed, rows, hard, dos))
            for j in dos[rd["off_grid"]]:
                fits[j] = self._fit_one(self._analysis(rows, j))
            stats = None        # the dosage SNPs' class sums are not in stats
        return fits, stats

    def _fit_block_classes_hlmm(self, idx, packed, rows, hard):
        """Default mode, HLMM: genotype classes decoded from the packed bytes; per SNP only
        the carriers of the smaller classes touch G (``HLMMClassScan``); dosage SNPs
        with the modal value as the large class (``fit_snp_dosage``)."""
        codes = np.empty((1, self.sample.n), dtype=np.int8)
        fits = []
        for j in range(len(idx)):
            self._check_stop()
            fits.append(self._fit_snp_hlmm(j, packed, rows, hard, codes))
        return fits

    def _snp_codes(self, j, packed, codes):
        """Hard-call SNP j of a block: its classes over the analysis sample, call count
        and counted-allele frequency."""
        from .._core import _bed

        _bed.decode_codes(packed[j:j + 1], self.sample_index, self._count_a1, codes)
        c = codes[0]
        called = c >= 0
        n_l = int(called.sum())
        f = c[called].sum(dtype=np.int64) / (2.0 * n_l) if n_l else np.nan
        return c, n_l, f

    def _fit_snp_hlmm(self, j, packed, rows, hard, codes, parts=None):
        """One SNP of :meth:`_fit_block_classes_hlmm` (``parts``: the class Grams built
        for several phenotypes at once, :mod:`hlmm.scan.many_phenotypes`)."""
        if hard[j]:
            c, n_l, f = self._snp_codes(j, packed, codes)
        else:
            c = self._analysis(rows, j)
            called = ~np.isnan(c)
            n_l = int(called.sum())
            f = c[called].mean() / 2.0 if n_l else np.nan
            vals, cnt = np.unique(c[called], return_counts=True)
            if n_l and n_l - cnt.max() > CARRIER_FRACTION * n_l:
                # many carriers: a weighted syrk over them per evaluation costs more
                # than the general path's evaluations over everyone (measured)
                return self._fit_one(c)
        freq, status = self._filter(n_l, f, c)
        if status != "ok":
            return SnpFit(n_l, freq, None, status)
        res = (self._class_scan.fit_snp(c, parts=parts) if hard[j]
               else self._class_scan.fit_snp_dosage(c))
        return self._class_fit(n_l, freq, res)

    @staticmethod
    def _class_fit(n_l, freq, res):
        if not res["ok"]:
            return SnpFit(n_l, freq, None, f"failed: {res['reason']}")
        return SnpFit(n_l, freq, {k: res[k] for k in FIT_KEYS + (
            ("av_cov",) if "av_cov" in res else ())})

    def _add_bf(self, fits, packed, stats=None):
        """Brown–Forsythe (F, −log10 p) of the SNPs that pass the filters (dosages: of
        the best-guess genotypes)."""
        if self._bf is None:
            return fits
        F, p = self._bf.block(packed, stats=stats)
        tested = fits.tested
        fits.bf[tested, 0] = np.asarray(F)[tested]
        fits.bf[tested, 1] = np.asarray(p)[tested]
        return fits

    def fit_block(self, s, e=None):
        """SnpFit for the variants ``s`` (an index array) or ``s..e-1`` (thread-safe)."""
        idx = np.arange(s, e, dtype=np.intp) if e is not None else np.asarray(s, np.intp)
        return self.fit_read(idx, *self._read_block(idx))

    def fit_read(self, idx, packed, rows, hard, sums=None):
        """SnpFit for the variants ``idx`` read by :meth:`_read_block` (``sums``: their
        class sums from a many-phenotype run's shared kernel)."""
        stats = None
        if self.engine == "classes":
            fits, stats = self._fit_block_classes(idx, packed, rows, hard, sums)
        elif self.engine == "classes_hlmm":
            fits = self._fit_block_classes_hlmm(idx, packed, rows, hard)
        elif self.engine == "interaction_moments":
            fits = self._interaction.fit_block(self, idx, packed, rows, hard)
        elif self.engine == "moments":
            fits = self._moments.fit_block(self, None, packed, rows, hard)
        else:
            fits = [self._fit_one(self._analysis(rows, j) if not hard[j]
                                  else self._hard_dosages(packed, j))
                    for j in range(len(idx)) if self._check_stop() is None]
        return self.finish_block(idx, packed, fits, stats, rows, hard)

    def finish_block(self, idx, packed, fits, stats=None, rows=None, hard=None):
        """The block's outcomes as :class:`BlockFits` (likelihoods on the trait's own
        scale): the variants the model cannot use get NaN rows; Brown–Forsythe columns
        are added when asked for."""
        fits = BlockFits.from_fits(fits)
        self._to_trait_scale(fits, packed, rows, hard)
        for a, b in runs(idx):
            for v, reason in self.geno.unusable(a, b):
                fits[int(np.searchsorted(idx, v))] = SnpFit(0, np.nan, None,
                                                            f"unusable: {reason}")
        return self._add_bf(fits, packed, stats)

    def _hard_dosages(self, packed, j):
        """Hard-call SNP j of a block as floats over the analysis sample (NaN missing)."""
        codes = np.empty((1, self.sample.n), dtype=np.int8)
        c = self._snp_codes(j, packed, codes)[0].astype(np.float64)
        c[c < 0] = np.nan
        return c
