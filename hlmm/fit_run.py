"""``hlmm fit``: one HLM (or HLMM with random effects) from phenotype/covariate files.

The job of the original fit_hlmm_model.py: covariates are z-scored for the fit and their
effects reported on their own scale (:meth:`hlmm.io.sample.Sample.own_scale`: slopes and SEs
divided by the covariate's SD, the intercept moved back to covariates at 0 with its SE by
the covariance of the intercept and the slopes).
"""
import sys
import time
from dataclasses import dataclass

from .errors import InputError
from .models.hlm import HLM
from .io import check_sample_option
from .io.sample_ids import check_id_delim
from .io.phenotypes import binary_trait_warning
from .io.output import AtomicOutputs, effects_table
from .io.random_effects import RandomEffectsInput
from .io.run_log import Log
from .io.sample import build_sample, missing_summary
from .io.tables import read_table


@dataclass
class FitConfig:
    phenofile: str
    outprefix: str
    mean_covar: str = None
    var_covar: str = None
    random_gts: tuple = ()
    random_gts_txt: bool = False
    h2_init: float = 0.05
    phen_index: int = 1
    pheno_name: str = None
    missing_char: str = "NA"
    input_missing_phenotype: float = -9.0
    no_h2_estimate: bool = False
    robust: bool = False
    sample: str = None        # --sample: the Oxford .sample of --random-gts .bgen files
    id_delim: str = "_"       # --id-delim: FID/IID delimiter of IDs embedded in a .bgen
    cat_covar: str = None     # categorical covariate columns (hlmm.io.categorical)
    cat_base: tuple = ()
    command: str = ""


def _categorical(cfg):
    """--cat-covar/--cat-base as (names, {name: base}) (hlmm.io.categorical)."""
    if not cfg.cat_covar:
        if cfg.cat_base:
            raise InputError("--cat-base needs --cat-covar")
        return None
    from .io.categorical import parse_options

    return parse_options(cfg.cat_covar, cfg.cat_base)


def run_fit(cfg):
    """Fit the model and write ``OUTPREFIX.{mean_effects,variance_effects,h2}.txt`` and
    ``OUTPREFIX.log``; returns the results object with covariate-scale names."""
    t0 = time.perf_counter()
    log = Log()
    if cfg.command:
        log(f"Command: {cfg.command}")
    if not 0 < cfg.h2_init <= 1:
        raise InputError(f"--h2-init {cfg.h2_init}: must be in (0, 1]")
    check_id_delim(cfg.id_delim)
    check_sample_option(cfg.sample, () if cfg.random_gts_txt else cfg.random_gts)
    random = (RandomEffectsInput(cfg.random_gts, cfg.random_gts_txt, cfg.missing_char,
                                 sample_file=cfg.sample)
              if cfg.random_gts else None)
    pheno = read_table(cfg.phenofile, cfg.missing_char, cfg.input_missing_phenotype)
    if random is not None:
        for note in random.match_ids(pheno, cfg.id_delim):
            log(note)
    s = build_sample(cfg.phenofile, cfg.missing_char, cfg.phen_index, cfg.pheno_name,
                     cfg.mean_covar, cfg.var_covar,
                     other_ids=[("--random-gts", ids) for ids in random.ids] if random else (),
                     missing_number=cfg.input_missing_phenotype,
                     by_iid=random is not None and random.match_by_iid, pheno_table=pheno,
                     categorical=_categorical(cfg))
    c = s.counts
    log(f"Phenotype: {cfg.phenofile}: {c['phenotype_rows']} rows; analysed {s.n} "
        f"({c['missing_phenotype']} missing phenotype, {c['missing_covariate']} missing a "
        f"covariate, {c['not_in_random_gts']} not in the random-effects genotypes)")
    log(missing_summary(c))
    if s.n <= s.X.shape[1] + s.V.shape[1] + 1:
        raise InputError(f"only {s.n} individuals analysed: too few for the model")
    msg = binary_trait_warning(s.y)
    if msg is not None:
        log(msg)
        print(f"hlmm: {msg}", file=sys.stderr)
    G = random.design(s.ids, log, s.by_iid) if random else None
    try:
        if G is None:
            res = HLM(s.y, s.X, s.V).fit(robust=cfg.robust)
        else:
            from .models.hlmm import HLMM

            res = HLMM(s.y, s.X, s.V, G).fit(h2_init=cfg.h2_init, robust=cfg.robust)
    except ValueError as exc:
        raise InputError(f"model: {exc} (check --mean-covar/--var-covar)") from None
    if not res.converged:
        raise InputError(f"the model fit did not converge ({res.message})")
    names = ([f"mean:{n}" for n in s.X_names] + [f"var:{n}" for n in s.V_names]
             + (["h2"] if G is not None else []))
    res.param_names = names
    mean = s.own_scale("mean", res.alpha, res.alpha_cov)
    var = s.own_scale("variance", res.beta, res.beta_cov)
    log(f"Log-likelihood {float(res.loglik)!r}; converged in {res.n_iter} iterations")
    log(f"Standard errors: {res.cov_type}")
    with AtomicOutputs() as out:
        out.text(cfg.outprefix + ".mean_effects.txt", "name\testimate\tse\n" + effects_table(*mean))
        out.text(cfg.outprefix + ".variance_effects.txt",
                 "name\testimate\tse\n" + effects_table(*var))
        if G is not None and not cfg.no_h2_estimate:
            out.text(cfg.outprefix + ".h2.txt", f"h2\tse\n{float(res.h2)!r}\t{float(res.h2_se)!r}\n")
        log(f"Time: {time.perf_counter() - t0:.3f} s")
        out.text(cfg.outprefix + ".log", log.text())
        out.commit()
    return res, mean, var
