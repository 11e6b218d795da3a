"""The genome scan (``hlmm chr``): a null model, then every SNP's mean and variance effect.

Default mode (as the original): fit the null HLM ``y ~ X`` with log-variance ``V``, then
``y ← (y − Xα̂)/exp(Vβ̂/2)`` and ``X = V = 1``; with random effects the null h2 is
estimated on that projected y and starts every SNP's fit.  With ``fit_covariates``
the covariates stay in every SNP's model.  Each SNP's model adds the centred genotype
``x = g − 2f`` (individuals with a missing call dropped) to both X and V.  A SNP is
fitted when its missing-call percentage is below ``max_missing`` and its MAF above
``min_maf``; otherwise, or when its fit fails, its row is written with NaN values.

SNPs are processed in blocks (read, fitted and written in order, memory bounded by the
block), optionally by several threads.
"""
import concurrent.futures as cf
import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from ._threads import blas_single_threaded
from .io import open_genotypes, runs
from .hlm import HLM
from .output import AtomicOutputs, BF_COLUMNS, MODELS_COLUMNS, effects_table, models_block
from .random_effects import RandomEffectsInput
from .checkpoint import (BatchProgress, Interrupted, Partial, PrefixLock, check_prefix,
                         fingerprint, signals_interrupt)
from .robust import standardised_kurtosis
from .sample import build_sample, missing_summary


@dataclass
class ScanConfig:
    genofile: str
    start: int
    end: int
    phenofile: str
    outprefix: str
    whole_chr: bool = False
    mean_covar: str = None
    var_covar: str = None
    fit_covariates: bool = False
    random_gts: tuple = ()
    random_gts_txt: bool = False
    h2_init: float = 0.05
    phen_index: int = 1
    pheno_name: str = None
    min_maf: float = 0.05
    max_missing: float = 5.0
    missing_char: str = "NA"
    input_missing_phenotype: float = -9.0   # PLINK's numeric missing value; None = none
    append: bool = False
    no_covariate_estimates: bool = False
    no_h2_estimate: bool = False
    count_a2: bool = False
    threads: int = None
    block_size: int = None    # SNPs per block; None = 1000 for the HLM, 16 with random effects
    engine: str = "auto"      # "auto" (fast class statistics where valid) or "general"
    robust: bool = False      # sandwich SEs (hlmm.robust) instead of model-based ones
    robust_estimator: str = "pooled"
    brown_forsythe: bool = False
    sample: str = None        # BGEN: the .sample file when not beside the .bgen
    keep: str = None          # PLINK-style selection
    remove: str = None
    extract: str = None
    exclude: str = None
    chr: str = None
    from_bp: int = None
    to_bp: int = None
    dask_scheduler: str = None
    dask_workers: int = None
    resume: bool = False      # continue an interrupted run (hlmm.checkpoint)
    command: str = ""


FIT_KEYS = ("likelihood", "add", "add_se", "var", "var_se")
# HLMM dosage SNPs: the carriers' engine up to this fraction of non-modal calls, beyond
# it the general path (bench/bench_formats.py: 70 % carriers took 13.6 s per SNP against
# 5.5 s for the general path at n = 100,000, l = 500; the crossover is near 28 %)
CARRIER_FRACTION = 0.25


@dataclass
class SnpFit:
    n: int
    freq: float               # folded; NaN when the missingness filter failed
    fit: dict = None          # likelihood, add, add_se, var, var_se; None = no fit
    status: str = "ok"        # ok | filtered_missing | filtered_maf | failed: <reason>
    bf: tuple = None          # (F, −log10 p) of the Brown–Forsythe test, when asked for


class Log:
    """Lines for ``OUTPREFIX.log``."""

    def __init__(self):
        self.lines = []

    def __call__(self, msg):
        self.lines.append(msg)

    def text(self):
        return "\n".join(self.lines) + "\n"


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, k):
        pass


def _fmt(x):
    return repr(float(x))


class GenomeScan:
    """Everything the per-SNP fits share: sample, designs, null model, G."""

    _stop = None      # a threading.Event set on SIGTERM/SIGINT: slow loops stop early

    def _check_stop(self):
        if self._stop is not None and self._stop.is_set():
            raise Interrupted(15)

    def __init__(self, cfg, log):
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
        self.geno = open_genotypes(cfg.genofile, "GENOFILE", count_a1=not cfg.count_a2,
                                   sample_file=cfg.sample, num_threads=cfg.threads)
        self.bed = self.geno        # the name of hlmm 2.0
        if cfg.count_a2 and self.geno.format != "bed":
            raise InputError(f"--count-a2 is for .bed files; {self.geno.path} counts "
                             f"{'ALT' if self.geno.format == 'pgen' else 'the second allele'}")
        from .selection import (read_sample_list, read_variant_list, select_samples,
                                select_variants)

        start, stop = (None, None) if cfg.whole_chr else (cfg.start, cfg.end)
        self.snps, steps = select_variants(
            self.geno.sid, self.geno.chromosome, self.geno.bp_position, start, stop,
            chroms=cfg.chr, from_bp=cfg.from_bp, to_bp=cfg.to_bp,
            extract=read_variant_list(cfg.extract, "--extract") if cfg.extract else None,
            exclude=read_variant_list(cfg.exclude, "--exclude") if cfg.exclude else None,
            source_name=self.geno.path)
        self.snps = np.asarray(self.snps, dtype=np.intp)
        counted = {"bed": "A2" if cfg.count_a2 else "A1", "pgen": "ALT",
                   "bgen": "second"}[self.geno.format]
        log(f"Test genotypes: {self.bed.path} ({self.geno.format}): {self.bed.n_samples} "
            f"individuals, {self.bed.n_snps} SNPs; testing {len(self.snps)}, counting the "
            f"{counted} allele" + (", dosages where stored" if self.geno.has_dosages else ""))
        for desc, k in steps:
            log(f"  {desc}: {k}")
        geno_ids = self.geno.ids
        if cfg.keep or cfg.remove:
            mask, steps = select_samples(
                geno_ids, read_sample_list(cfg.keep, "--keep") if cfg.keep else None,
                read_sample_list(cfg.remove, "--remove") if cfg.remove else None,
                by_iid=self.geno.match_by_iid, source_name=self.geno.path)
            geno_ids = [k for k, m in zip(geno_ids, mask) if m]
            for desc, k in steps:
                log(f"  {desc}: {k}")

        random = (RandomEffectsInput(cfg.random_gts, cfg.random_gts_txt, cfg.missing_char,
                                     cfg.threads) if cfg.random_gts else None)
        s = build_sample(cfg.phenofile, cfg.missing_char, cfg.phen_index, cfg.pheno_name,
                         cfg.mean_covar, cfg.var_covar, order_ids=geno_ids,
                         other_ids=[("--random-gts", ids) for ids in random.ids] if random
                         else (), missing_number=cfg.input_missing_phenotype,
                         by_iid=self.geno.match_by_iid or (random is not None
                                                           and random.match_by_iid))
        self.sample = s
        fam_pos = {k: i for i, k in enumerate(self.bed.ids)}
        self.sample_index = np.array([fam_pos[k] for k in s.ids], dtype=np.intp)
        c = s.counts
        log(f"Phenotype: {cfg.phenofile}: {c['phenotype_rows']} rows")
        log(missing_summary(c))
        log(f"Individuals in {self.bed.path}: {self.bed.n_samples}; analysed: {s.n} "
            f"(matched by {'IID' if s.by_iid else 'FID and IID'}) "
            f"(dropped: {c['not_in_phenotype']} not in the phenotype file, "
            f"{c['missing_phenotype']} with a missing phenotype, "
            f"{c['missing_covariate']} with a missing covariate, "
            f"{c['not_in_random_gts']} not in the random-effects genotypes)")
        if s.n <= s.X.shape[1] + s.V.shape[1] + 2:
            raise InputError(f"only {s.n} individuals analysed: too few for the model")

        self.G = random.design(s.ids, log, s.by_iid) if random else None
        self.t_setup = time.perf_counter() - t0
        self._fit_null()

    # --- null model ----------------------------------------------------------------
    def _fit_null(self):
        cfg, s, log = self.cfg, self.sample, self.log
        t0 = time.perf_counter()
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                null = HLM(s.y, s.X, s.V).fit()
        except FloatingPointError:
            what = f"'{cfg.pheno_name}'" if cfg.pheno_name else f"column {cfg.phen_index}"
            big = float(np.max(np.abs(s.y)))
            raise InputError(f"phenotype {what} of {cfg.phenofile}: its likelihood overflows "
                             f"(values up to {big:.3g}); rescale it, e.g. divide by "
                             f"1e{int(np.floor(np.log10(big)))}") from None
        except ValueError as exc:
            raise InputError(f"null model: {exc} (check --mean-covar/--var-covar)") from None
        if not null.converged:
            raise InputError(f"the null model did not converge ({null.message})")
        self.null = null
        self.null_mean = (s.X_names, null.alpha / s.X_sd, null.alpha_se / s.X_sd)
        self.null_var = (s.V_names, null.beta / s.V_sd, null.beta_se / s.V_sd)
        log(f"Null HLM: log-likelihood {float(null.loglik)!r}, {null.n_iter} Newton iterations")
        for (names, est, se), kind in ((self.null_mean, "mean"), (self.null_var, "log-variance")):
            for nm, e, sd in zip(names, est, se):
                log(f"  null {kind} effect {nm}: {float(e)!r} (SE {float(sd)!r})")
        self._check_kurtosis(null)
        y, X, V = s.y, s.X, s.V
        if not cfg.fit_covariates:
            y = (y - X @ null.alpha) / np.exp(0.5 * (V @ null.beta))
            X = V = np.ones((s.n, 1))
        self.y, self.X, self.V = np.ascontiguousarray(y), X, V
        self.h2_start = cfg.h2_init
        self.null_h2 = None
        if self.G is not None and not cfg.no_h2_estimate:
            from .mixed import HLMM

            res = HLMM(self.y, self.X, self.V, self.G).fit(h2_init=cfg.h2_init)
            if not res.converged:
                raise InputError(f"the null HLMM did not converge ({res.message})")
            self.null_h2 = (res.h2, res.h2_se)
            self.h2_start = max(res.h2, 1e-4)
            log(f"Null h2: {float(res.h2)!r} (SE {float(res.h2_se)!r}), "
                f"log-likelihood {float(res.loglik)!r}")
        self.t_null = time.perf_counter() - t0
        # Class statistics cover the default mode (X = V = [1, x] per SNP) with hard calls.
        if cfg.engine not in ("auto", "general"):
            raise InputError(f"--engine {cfg.engine}: must be 'auto' or 'general'")
        self.engine = "general"
        if cfg.engine == "auto" and not cfg.fit_covariates:
            from .scan_engine import HLMClassScan, HLMMClassScan

            if self.G is None:
                from ._core import _bed

                self.engine = "classes"
                self._class_scan = HLMClassScan(self.y)
                # Built once: per .bed byte, the sums of y and y² over each subset of its
                # four samples, so a SNP costs a few lookups per byte.
                # Robust SEs need the class sums of y³ and y⁴ too.
                self._tables = _bed.subset_tables(self.sample_index, self.y,
                                                  self.bed.n_samples, 4 if cfg.robust else 2)
                if self.geno.has_dosages:
                    from .dosage_engine import DosageClassScan

                    self._dosage_scan = DosageClassScan(
                        self.y, self.sample_index, self.geno.dosage_scale,
                        cfg.robust_estimator if cfg.robust else False)
            else:
                self.engine = "classes_hlmm"
                self._class_scan = HLMMClassScan(
                    self.y, self.G, self.h2_start,
                    robust=cfg.robust_estimator if cfg.robust else False)
        # A block is the unit of parallel work: HLM SNPs cost microseconds, HLMM SNPs
        # up to seconds, so the latter come in small blocks to keep every thread busy.
        # Other formats are read as every sample's dosages: smaller blocks bound memory.
        self.block_size = cfg.block_size or (
            16 if self.G is not None or self.engine != "classes"
            else 1000 if self.geno.format == "bed" else 128)
        self._bf = None
        if cfg.brown_forsythe:
            from .levene import BrownForsythe

            # On the null model's standardised residual (the scan's y in the default
            # mode): covariates projected out, as OSCA users adjust before --vqtl.
            if cfg.fit_covariates:
                r = (s.y - s.X @ self.null.alpha) / np.exp(0.5 * (s.V @ self.null.beta))
            else:
                r = self.y
            self._bf_y = np.ascontiguousarray(r)
            self._bf = BrownForsythe(self.sample_index, self._bf_y, self.bed.n_samples,
                                     self._count_a1)
            log("Brown-Forsythe test: on the null model's standardised residuals, "
                "genotype classes as groups (bf_f, bf_pval)")
        log(f"Engine: {self.engine}")

    def _check_kurtosis(self, null):
        """Model-based variance tests assume normal residuals: with kurtosis κ of the
        null model's standardised residuals their χ² is scaled by about (κ − 1)/2
        (``hlmm.robust``).  Outside λ ∈ [0.9, 1.1] (κ ∈ [2.8, 3.2]), when the deviation is
        beyond sampling noise (3 SEs, SE(κ̂) ≈ √(24/n) under normality), warn."""
        cfg, s, log = self.cfg, self.sample, self.log
        e = (s.y - s.X @ null.alpha) * np.exp(-0.5 * (s.V @ null.beta))
        kappa = standardised_kurtosis(e)
        lam = (kappa - 1.0) / 2.0
        self.kurtosis = kappa
        log(f"Kurtosis of the null model's standardised residuals: {kappa:.4g} (normal: 3)")
        if cfg.robust:
            self.se_kind = (f"Standard errors: robust (sandwich, {cfg.robust_estimator} "
                            "moments; see hlmm.robust)")
            log(self.se_kind)
            return
        self.se_kind = "Standard errors: model-based (valid for normal residuals)"
        log(self.se_kind)
        if not 0.9 <= lam <= 1.1 and abs(kappa - 3.0) > 3.0 * np.sqrt(24.0 / s.n):
            what = ("inflated" if lam > 1 else "deflated (power lost)")
            msg = (f"warning: the kurtosis of the phenotype's null-model residuals is "
                   f"{kappa:.3g} (3 for a normal trait): model-based variance tests are "
                   f"{what}, about λ = {lam:.2f}; use --robust for valid var p-values")
            log(msg)
            print(f"hlmm: {msg}", file=sys.stderr)

    # --- per SNP ---------------------------------------------------------------------
    def _fit_one(self, g):
        """Filter and fit one SNP given its dosages over the analysis sample."""
        ok = ~np.isnan(g)
        n_l = int(ok.sum())
        gl = g[ok]
        f = gl.mean() / 2.0 if n_l else np.nan
        freq, status = self._filter(n_l, f)
        if status != "ok":
            return SnpFit(n_l, freq, None, status)
        x = gl - 2.0 * f
        X = np.column_stack([self.X[ok], x])
        V = np.column_stack([self.V[ok], x])
        robust = self.cfg.robust_estimator if self.cfg.robust else False
        try:
            if self.G is None:
                res = HLM(self.y[ok], X, V).fit(robust=robust)
            else:
                from .mixed import HLMM

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

    def _filter(self, n_l, f):
        """The original's filters on a SNP's call count and counted-allele frequency f:
        ``(freq, status)`` with freq folded (NaN when the missingness filter fails)."""
        cfg = self.cfg
        if not 100.0 * (1.0 - n_l / self.sample.n) < cfg.max_missing:
            return np.nan, "filtered_missing"
        freq = min(f, 1.0 - f)
        if not freq > cfg.min_maf:
            return freq, "filtered_maf"
        return freq, "ok"

    def _read_block(self, idx):
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
        from ._core import _dosage

        parts = [self.geno.read_rows(a, b) for a, b in runs(idx)]
        rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
        packed = np.empty((len(idx), (self.geno.n_samples + 3) // 4), dtype=np.uint8)
        hard = np.empty(len(idx), dtype=np.uint8)
        # dosage variants are fitted from `rows`: their best-guess bytes only serve
        # Brown–Forsythe
        _dosage.pack_rows(rows, packed, hard, self._bf is not None)
        return packed, rows, hard.astype(bool)

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

    def _fits_from_classes(self, res, fits, cols):
        """SnpFit of columns ``cols`` from a class-engine result dict (filters applied)."""
        keys = FIT_KEYS + (("av_cov",) if "av_cov" in res else ())
        for j, col in enumerate(cols):
            n_l = int(res["n"][j])
            freq, status = self._filter(n_l, res["freq"][j])
            if status != "ok":
                fits[col] = SnpFit(n_l, freq, None, status)
            elif not res["ok"][j]:
                fits[col] = SnpFit(n_l, freq, None, f"failed: {res['reason'][j]}")
            else:
                fits[col] = SnpFit(n_l, freq, {k: res[k][j] for k in keys})

    def _fit_block_classes(self, idx, packed, rows, hard):
        """Default mode, HLM: class statistics straight from the packed bytes; SNPs with
        stored dosages from their dosage-value classes."""
        from ._core import _bed

        m = len(idx)
        if self.cfg.robust:
            moments = np.empty((m, 15))
            _bed.class_moments_tabled(packed, *self._tables, self._count_a1, moments)
            res = self._class_scan.fit_block_robust(moments, self.cfg.robust_estimator)
            stats = np.ascontiguousarray(moments.reshape(-1, 3, 5)[:, :, :3]).reshape(-1, 9)
        else:
            stats = np.empty((m, 9))
            _bed.class_stats_tabled(packed, *self._tables, self._count_a1, stats)
            res = self._class_scan.fit_block(stats)
        fits = [None] * m
        self._fits_from_classes(res, fits, range(m))
        dos = np.flatnonzero(~hard)
        if dos.size:
            rd = self._dosage_scan.fit_block(rows, which=dos)
            self._fits_from_classes(rd, fits, dos)
            for j in dos[rd["off_grid"]]:
                fits[j] = self._fit_one(self._analysis(rows, j))
            stats = None        # the dosage SNPs' class sums are not in stats
        return fits, stats

    def _fit_block_classes_hlmm(self, idx, packed, rows, hard):
        """Default mode, HLMM: genotype classes decoded from the packed bytes; per SNP only
        the carriers of the smaller classes touch G (``HLMMClassScan``); dosage SNPs
        with the modal value as the large class (``fit_snp_dosage``)."""
        from ._core import _bed

        codes = np.empty((1, self.sample.n), dtype=np.int8)
        fits = []
        for j in range(len(idx)):
            self._check_stop()
            if hard[j]:
                _bed.decode_codes(packed[j:j + 1], self.sample_index, self._count_a1, codes)
                c = codes[0]
                called = c >= 0
                n_l = int(called.sum())
                f = c[called].sum(dtype=np.int64) / (2.0 * n_l) if n_l else np.nan
            else:
                c = self._analysis(rows, j)
                called = ~np.isnan(c)
                n_l = int(called.sum())
                f = c[called].mean() / 2.0 if n_l else np.nan
                vals, cnt = np.unique(c[called], return_counts=True)
                if n_l and n_l - cnt.max() > CARRIER_FRACTION * n_l:
                    # many carriers: a weighted syrk over them per evaluation costs more
                    # than the general path's evaluations over everyone (measured)
                    fits.append(self._fit_one(c))
                    continue
            freq, status = self._filter(n_l, f)
            if status != "ok":
                fits.append(SnpFit(n_l, freq, None, status))
                continue
            res = self._class_scan.fit_snp(c) if hard[j] else self._class_scan.fit_snp_dosage(c)
            if not res["ok"]:
                fits.append(SnpFit(n_l, freq, None, f"failed: {res['reason']}"))
            else:
                fits.append(SnpFit(n_l, freq, {k: res[k] for k in FIT_KEYS + (
                    ("av_cov",) if "av_cov" in res else ())}))
        return fits

    def _add_bf(self, fits, packed, stats=None):
        """Brown–Forsythe (F, −log10 p) of the SNPs that pass the filters (dosages: of
        the best-guess genotypes)."""
        if self._bf is None:
            return fits
        F, p = self._bf.block(packed, stats=stats)
        for j, fit in enumerate(fits):
            if fit.status in ("ok",) or fit.status.startswith("failed"):
                fit.bf = (F[j], p[j])
        return fits

    def fit_block(self, s, e=None):
        """SnpFit for the variants ``s`` (an index array) or ``s..e-1`` (thread-safe)."""
        idx = np.arange(s, e, dtype=np.intp) if e is not None else np.asarray(s, np.intp)
        packed, rows, hard = self._read_block(idx)
        stats = None
        if self.engine == "classes":
            fits, stats = self._fit_block_classes(idx, packed, rows, hard)
        elif self.engine == "classes_hlmm":
            fits = self._fit_block_classes_hlmm(idx, packed, rows, hard)
        elif rows is None:
            dos = np.concatenate([self.geno.read_dosages(a, b, self.sample_index)
                                  for a, b in runs(idx)], axis=1)
            fits = [self._fit_one(dos[:, j]) for j in range(len(idx))
                    if self._check_stop() is None]
        else:
            fits = [self._fit_one(self._analysis(rows, j)) for j in range(len(idx))
                    if self._check_stop() is None]
        for a, b in runs(idx):
            for v, reason in self.geno.unusable(a, b):
                fits[int(np.searchsorted(idx, v))] = SnpFit(0, np.nan, None,
                                                            f"unusable: {reason}")
        return self._add_bf(fits, packed, stats)

    def blocks(self):
        """The variant index arrays of the blocks, in order."""
        b = self.block_size
        return [self.snps[i:i + b] for i in range(0, len(self.snps), b)]

    def iter_fits(self, threads=1):
        """Yield ``(variant indices, [SnpFit, …])`` per block in SNP order, ``threads``
        blocks in flight."""
        with blas_single_threaded(threads > 1):
            yield from self._iter_fits(threads)

    def _iter_fits(self, threads):
        blocks = self.blocks()
        if threads <= 1 or len(blocks) <= 1:
            for idx in blocks:
                yield idx, self.fit_block(idx)
            return
        with cf.ThreadPoolExecutor(max_workers=threads) as pool:
            pending = []
            it = iter(blocks)
            for blk in it:
                pending.append((blk, pool.submit(self.fit_block, blk)))
                if len(pending) >= 2 * threads:
                    break
            try:
                while pending:
                    idx, fut = pending.pop(0)
                    rows = fut.result()
                    nxt = next(it, None)
                    if nxt is not None:
                        pending.append((nxt, pool.submit(self.fit_block, nxt)))
                    yield idx, rows
            finally:        # interrupted: blocks not started are dropped
                for _, fut in pending:
                    fut.cancel()


def run_scan(cfg, progress=None):
    """Run a whole scan and write its outputs; returns the counts of SNP outcomes.

    ``progress``, if given, is called with the number of SNPs to scan and returns a
    context manager with ``update(k)`` (click.progressbar fits), or None (then, as in a
    batch log, a progress line is printed every minute).  Rows are kept in
    ``OUTPREFIX.models.partial`` as blocks finish (:mod:`hlmm.checkpoint`); an
    interruption raises :class:`hlmm.checkpoint.Interrupted` with ``done``/``total``.
    """
    t_start = time.perf_counter()
    log = Log()
    if cfg.command:
        log(f"Command: {cfg.command}")
    log(f"Started: {time.strftime('%Y-%m-%d %H:%M:%S')}")
    check_prefix(cfg.outprefix)
    if cfg.dask_scheduler and cfg.dask_workers:
        raise InputError("--dask-scheduler and --dask-workers exclude each other")
    if cfg.dask_scheduler or cfg.dask_workers:
        from .dask_scan import _require_distributed

        _require_distributed("--dask-scheduler" if cfg.dask_scheduler else "--dask-workers")
    lock = PrefixLock(cfg.outprefix)
    try:
        return _run_locked(cfg, log, progress, t_start)
    finally:
        lock.release()


def _status_code(fit):
    """A SNP's outcome as stored in the partial file (no tabs)."""
    return fit.status.replace("\t", " ").replace("\n", " ").replace(": ", ":", 1)


def _check_append(models_path, columns, scan):
    """--append: the table must be gzip, readable, with this run's header, and must not
    hold any SNP being added."""
    import gzip

    sids = set(scan.bed.sid[scan.snps].tolist())
    try:
        with gzip.open(models_path, "rt") as fh:
            header = fh.readline().rstrip("\n").split("\t")
            if header != columns:
                raise InputError(f"--append: {models_path} has other columns than this run "
                                 f"writes ({len(header)} against {len(columns)}; e.g. "
                                 "--brown-forsythe differs)")
            for line_no, line in enumerate(fh, start=2):
                sid = line.split("\t", 1)[0]
                if sid in sids:
                    raise InputError(f"--append: {models_path} line {line_no} already holds "
                                     f"SNP {sid}, which this run would add again")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"--append: {models_path} is not a readable gzip table "
                         f"({str(exc).splitlines()[0]})") from None
    # The SE columns must mean the same for every row: the earlier runs' log says which.
    log_path = scan.cfg.outprefix + ".log"
    if os.path.exists(log_path):
        with open(log_path) as fh:
            kinds = [ln.strip() for ln in fh if ln.startswith("Standard errors:")]
        mine = scan.se_kind
        if kinds and kinds[-1] != mine:
            raise InputError(f"--append: {models_path} holds '{kinds[-1]}' and this run would "
                             f"add '{mine}' ({log_path}); use the same --robust setting")


def _run_locked(cfg, log, progress, t_start):
    models_path = cfg.outprefix + ".models.gz"
    scan = GenomeScan(cfg, log)
    columns = MODELS_COLUMNS + (BF_COLUMNS if cfg.brown_forsythe else [])
    append = cfg.append and os.path.exists(models_path)
    if append:
        _check_append(models_path, columns, scan)
    partial = Partial(cfg.outprefix)
    partial.start(fingerprint(cfg), cfg.resume)
    bed = scan.bed
    all_snps = scan.snps
    k = len(partial.kept)
    if k:
        if k > len(all_snps) or partial.kept != bed.sid[all_snps[:k]].tolist():
            raise InputError(f"--resume: {partial.path} does not match the SNPs of this "
                             "run; run without --resume to start afresh")
        log(f"Resumed: {k} SNPs kept from the unfinished run, {len(all_snps) - k} to go")
        scan.snps = all_snps[k:]
    total = len(all_snps)
    threads = cfg.threads or os.cpu_count() or 1
    counted, other = bed.counted_alleles()
    t_loop = time.perf_counter()
    stop = threading.Event()
    done = k
    handler = signals_interrupt(stop)
    try:
        handler.__enter__()
        with contextlib.ExitStack() as stack:
            if cfg.dask_scheduler or cfg.dask_workers:
                from .dask_scan import dask_client, iter_fits_dask

                client = stack.enter_context(dask_client(cfg.dask_scheduler,
                                                         cfg.dask_workers, cfg.threads))
                log(f"Dask: {len(client.scheduler_info()['workers'])} worker(s) at "
                    f"{client.scheduler.address}")
                fits = iter_fits_dask(scan, client)
            else:
                scan._stop = stop
                fits = scan.iter_fits(threads)
            bar = progress(total) if progress is not None else None
            bar = stack.enter_context(bar if bar is not None else BatchProgress(total, k))
            if k and not isinstance(bar, BatchProgress):
                bar.update(k)           # the bar counts the resumed SNPs as done
            for idx, block in fits:
                text = models_block(bed.sid[idx], [f.n for f in block],
                                    [f.freq for f in block], [f.fit for f in block],
                                    bed.chromosome[idx], bed.bp_position[idx],
                                    counted[idx], other[idx],
                                    [f.bf for f in block] if cfg.brown_forsythe else None)
                partial.append([_status_code(f) for f in block], text)
                done += len(block)
                for i, fit in zip(idx, block):
                    if fit.status.startswith("failed"):
                        print(f"hlmm: warning: fit failed for {bed.sid[i]}: {fit.status[8:]}",
                              file=sys.stderr)
                bar.update(len(block))
        scan._stop = None
        partial.close()
        # still under the handler: a signal while writing leaves no half-written file
        return _write_outputs(cfg, scan, log, partial, columns, append, threads, t_start,
                              t_loop, models_path)
    except Interrupted as exc:
        exc.done, exc.total, exc.partial = done, total, partial.path
        raise
    except BaseException:
        if done == 0 and not cfg.resume:
            partial.finish()        # nothing was computed: leave no checkpoint behind
        raise
    finally:
        handler.__exit__(None, None, None)
        scan._stop = None
        partial.close()


_OUTPUT_SUFFIXES = (".models.gz", ".null_mean_effects.txt", ".null_variance_effects.txt",
                    ".null_h2.txt", ".log")


def _write_outputs(cfg, scan, log, partial, columns, append, threads, t_start, t_loop,
                   models_path):
    """The final files from the partial rows; files of the prefix this run does not
    write (left by a run of another configuration) are removed."""
    counts = {"ok": 0, "filtered_missing": 0, "filtered_maf": 0, "failed": 0}
    unusable = {}
    failures = []
    written = set()
    with AtomicOutputs() as out:
        if not cfg.append:
            if not cfg.no_covariate_estimates:
                if cfg.mean_covar is not None:
                    out.text(cfg.outprefix + ".null_mean_effects.txt",
                             "name\testimate\tse\n" + effects_table(*scan.null_mean))
                    written.add(".null_mean_effects.txt")
                if cfg.var_covar is not None:
                    out.text(cfg.outprefix + ".null_variance_effects.txt",
                             "name\testimate\tse\n" + effects_table(*scan.null_var))
                    written.add(".null_variance_effects.txt")
            if scan.null_h2 is not None:
                out.text(cfg.outprefix + ".null_h2.txt",
                         f"h2\tse\n{_fmt(scan.null_h2[0])}\t{_fmt(scan.null_h2[1])}\n")
                written.add(".null_h2.txt")
        # one streamed pass over the partial rows: the table and the outcome counts
        with out.open_gzip(models_path, append=append) as fh, open(partial.path) as rows:
            if not append:
                fh.write("\t".join(columns) + "\n")
            for line in rows:
                status, row = line.split("\t", 1)
                fh.write(row)
                if status.startswith("unusable"):
                    reason = status[9:]
                    unusable[reason] = unusable.get(reason, 0) + 1
                    continue
                key = "failed" if status.startswith("failed") else status
                counts[key] += 1
                if key == "failed":
                    failures.append(f"{row.split(chr(9), 1)[0]}: {status[7:]}")
        t_end = time.perf_counter()
        log(f"SNPs: {sum(counts.values())} written; {counts['ok']} fitted, "
            f"{counts['filtered_missing']} filtered on missingness (>= {cfg.max_missing}%), "
            f"{counts['filtered_maf']} filtered on MAF (<= {cfg.min_maf}), "
            f"{counts['failed']} failed")
        for reason, k in sorted(unusable.items()):
            log(f"  {k} variant(s) not usable ({reason}): written with NaN")
        counts["unusable"] = sum(unusable.values())
        if counts["ok"] == 0 and counts["filtered_missing"] + counts["filtered_maf"] > 0:
            log("Warning: every SNP was filtered out; no SNP was fitted")
        for line in failures:
            log(f"  failed: {line}")
        log(f"Timing: setup {scan.t_setup:.3f} s, null model {scan.t_null:.3f} s, "
            f"SNP loop {t_end - t_loop:.3f} s, total {t_end - t_start:.3f} s "
            f"({threads} thread(s), blocks of {scan.block_size} SNPs)")
        log(f"Output: {models_path}")
        log_path = cfg.outprefix + ".log"
        if cfg.append and os.path.exists(log_path):
            with open(log_path) as fh:
                previous = fh.read()
            out.text(log_path, previous + log.text())
        else:
            out.text(log_path, log.text())
        out.commit()
    if not cfg.append:
        for suffix in _OUTPUT_SUFFIXES:
            if suffix not in written and suffix not in (".models.gz", ".log"):
                try:
                    os.remove(cfg.outprefix + suffix)
                except FileNotFoundError:
                    pass
    partial.finish()
    return counts
