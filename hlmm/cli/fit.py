"""``hlmm fit``: fit one HLM, or an HLMM with ``--random-gts``, from files."""
import click

from hlmm.fit_run import FitConfig, run_fit

from .options import (PrefixCommand, command_line, missing_number_option, option,
                      sample_id_options, user_errors)


@click.command("fit", cls=PrefixCommand)
@click.argument("phenofile", type=click.Path(dir_okay=False))
@click.argument("outprefix")
@option("--mean-covar", type=click.Path(dir_okay=False), help="Mean covariates file (FID IID c1 …).")
@option("--var-covar", type=click.Path(dir_okay=False), help="Variance covariates file (FID IID c1 …).")
@option("--cat-covar", metavar="NAMES",
        help="Covariate columns holding labels (batch, centre, …), comma-separated: "
             "dummy-coded, the first level in sorted order as the baseline.")
@option("--cat-base", multiple=True, metavar="NAME=LEVEL",
        help="The baseline level of a --cat-covar column (repeatable).")
@option("--random-gts", multiple=True, type=click.Path(dir_okay=False),
        help="PLINK .bed of the SNPs modelled as random effects (repeatable).")
@option("--random-gts-txt", is_flag=True, help="--random-gts is a text table FID IID x1 ….")
@sample_id_options
@option("--h2-init", type=float, default=0.05, show_default=True, help="Starting value of h2.")
@option("--phen-index", type=int, default=1, show_default=True,
        help="Which phenotype column to analyse (1 = first).")
@option("--pheno-name", help="Analyse the phenotype column with this header name.")
@option("--missing-char", default="NA", show_default=True, help="Missing value string (-9 is missing too: see --input-missing-phenotype).")
@missing_number_option()
@option("--no-h2-estimate", is_flag=True, help="Do not write OUTPREFIX.h2.txt.")
@option("--robust", is_flag=True,
        help="Sandwich (robust) standard errors of the mean and variance effects, valid "
             "for non-normal traits.")
@user_errors
def fit_command(phenofile, outprefix, **opts):
    """Fit one heteroskedastic linear (mixed) model to PHENOFILE, writing
    OUTPREFIX.mean_effects.txt, OUTPREFIX.variance_effects.txt and, with random
    effects, OUTPREFIX.h2.txt."""
    cfg = FitConfig(phenofile=phenofile, outprefix=outprefix,
                    random_gts=tuple(opts.pop("random_gts")),
                    cat_base=tuple(opts.pop("cat_base")),
                    command=command_line(click.get_current_context()), **opts)
    res, mean, var = run_fit(cfg)
    click.echo("Fit on z-scored covariates (each centred at its mean and divided by its SD, "
               "so the intercepts are those at the covariates' means):")
    click.echo(res.summary())
    click.echo("\nOn the covariates' own scale (as in the output files):")
    for kind, (names, est, se) in (("mean", mean), ("log-variance", var)):
        for nm, e, s in zip(names, est, se):
            click.echo(f"  {kind:12s} {nm:12s} {e: .6g} (SE {s:.6g})")


COMMANDS = [fit_command]
