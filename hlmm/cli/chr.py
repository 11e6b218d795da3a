"""``hlmm chr``: the genome scan of SNP effects on the mean and the variance of a trait."""
import sys

import click

from hlmm.scan.checkpoint import Interrupted
from hlmm.scan.genome_scan import ScanConfig
from hlmm.scan.run import run_scan

from .options import (PrefixCommand, allele_options, command_line, missing_number_option,
                      option, progress_bar, sample_id_options, user_errors)


@click.command("chr", cls=PrefixCommand)
@click.argument("args", nargs=-1, required=True,
                metavar="GENOFILE [START END] PHENOFILE OUTPREFIX")
@option("--whole-chr", is_flag=True,
        help="Test every SNP in GENOFILE (START and END may be left out; if given, they "
             "are ignored).")
@option("--keep", type=click.Path(),
        help="Analyse only the individuals listed (lines FID IID, or IID), as PLINK.")
@option("--remove", type=click.Path(), help="Leave out the individuals listed.")
@option("--extract", type=click.Path(),
        help="Test only the variants whose IDs are listed (one per line).")
@option("--exclude", type=click.Path(), help="Leave out the variants listed.")
@option("--chr", "chr", metavar="LIST", help="Chromosomes to test, e.g. 1-3,X (PLINK codes).")
@option("--from-bp", type=int, help="First position to test (with one --chr).")
@option("--to-bp", type=int, help="Last position to test (with one --chr).")
@sample_id_options
@option("--mean-covar", type=click.Path(dir_okay=False), help="Mean covariates file (FID IID c1 …).")
@option("--var-covar", type=click.Path(dir_okay=False), help="Variance covariates file (FID IID c1 …).")
@option("--cat-covar", metavar="NAMES",
        help="Covariate columns holding labels (batch, centre, …), comma-separated: "
             "dummy-coded, the first level in sorted order as the baseline.")
@option("--cat-base", multiple=True, metavar="NAME=LEVEL",
        help="The baseline level of a --cat-covar column (repeatable).")
@option("--fit-covariates", is_flag=True,
        help="Fit the covariates in every SNP's model instead of projecting them out once.")
@option("--interaction", metavar="NAME",
        help="GxE: test the SNP's interaction with the --mean-covar column NAME; each SNP's "
             "model is the full HLM (covariates + E + g + g.E in the mean, variance "
             "covariates + E + g in the log-variance); columns int, int_se, int_t, "
             "int_pval, gxe_pval.")
@option("--interaction-var", is_flag=True,
        help="With --interaction: g.E in the variance model too (columns vint, vint_se, "
             "vint_t, vint_pval).")
@option("--rint", is_flag=True,
        help="Rank-inverse-normal transform each phenotype over the individuals analysed "
             "(Blom's offset, ties at their average rank), as REGENIE's --apply-rint.")
@option("--random-gts", multiple=True, type=click.Path(dir_okay=False),
        help="Genotype file (.bed, .pgen or .bgen) of the SNPs modelled as random effects "
             "(repeatable: files are joined).")
@option("--random-gts-txt", is_flag=True,
        help="--random-gts is a text table FID IID x1 … instead of a .bed.")
@option("--pred", type=click.Path(dir_okay=False), metavar="FILE",
        help="REGENIE step 1's PREFIX_pred.list: for a SNP on chromosome c the trait is y "
             "minus its LOCO prediction of the other chromosomes (related individuals).")
@option("--sex", type=click.Path(dir_okay=False), metavar="FILE",
        help="Sex of the individuals (lines FID IID SEX; 1 male, 2 female) for chromosome X "
             "[default: .fam column 5, .psam SEX, .sample sex].")
@option("--xchr-model", type=click.IntRange(0, 2), default=2, show_default=True,
        help="Males' chromosome X genotypes coded 0/2 (2) or 0/1 (1), or chrX skipped (0), "
             "as plink2.")
@option("--no-x-sex", is_flag=True,
        help="On chromosome X, do not add sex as a covariate of the mean and the variance.")
@option("--h2-init", type=float, default=0.05, show_default=True,
        help="Starting value of h2 for the null HLMM.")
@option("--phen-index", metavar="LIST",
        help="Phenotype column(s) to analyse, 1 = first; a list with ranges such as 1-5,8 "
             "[default: 1].")
@option("--pheno-name", metavar="LIST",
        help="Analyse the phenotype column(s) with these header names (comma-separated).")
@option("--all-pheno", is_flag=True,
        help="Analyse every phenotype column, reading the genotypes once; phenotype P "
             "writes OUTPREFIX.P.models.gz and its own null-model files.")
@option("--min-maf", "--maf", type=float, default=0.05, show_default=True,
        help="Fit SNPs with minor allele frequency above this (--maf: PLINK's name).")
@option("--max-missing", type=float, default=5.0, show_default=True,
        help="Fit SNPs with a missing-call percentage below this.")
@option("--geno", type=click.FloatRange(0, 1), default=None, metavar="FRACTION",
        help="PLINK's missing-call filter as a fraction: --geno 0.02 is --max-missing 2.")
@option("--mac", type=click.FloatRange(min=0), default=None, metavar="COUNT",
        help="Fit SNPs with a minor allele count (dosages: their sum) of at least this.")
@option("--hwe", type=click.FloatRange(0, 1), default=None, metavar="P",
        help="Fit SNPs whose Hardy-Weinberg exact test p-value (hard calls of the analysed "
             "individuals) is at least P, as PLINK's --hwe.")
@option("--mind", type=click.FloatRange(0, 1), default=None, metavar="FRACTION",
        help="Leave out individuals with a missing-call rate above this over the test "
             "SNPs (one extra pass over them before the scan), as PLINK's --mind.")
@option("--missing-char", default="NA", show_default=True, help="Missing value string (-9 is missing too: see --input-missing-phenotype).")
@missing_number_option()
@option("--append", is_flag=True, help="Append rows to an existing OUTPREFIX.models.gz.")
@option("--resume", is_flag=True,
        help="Continue an interrupted run of the same command from its "
             "OUTPREFIX.models.partial (the inputs and options must be unchanged).")
@option("--no-covariate-estimates", is_flag=True, help="Do not write the null covariate effects.")
@option("--no-h2-estimate", is_flag=True,
        help="Do not estimate the null h2; start every SNP's fit at --h2-init.")
@allele_options
@option("--threads", type=click.IntRange(min=1), default=None,
        help="Threads for SNP blocks, and the most any thread pool (BLAS included) uses "
             "[default: all cores].")
@option("--block-size", type=click.IntRange(min=1), default=None,
        help="SNPs per block (the unit of parallel work) [default: 1000 for a .bed, 128 "
             "for other formats; 256 with --interaction or --fit-covariates fitted from "
             "class moments; 16 with random effects or one fit per SNP; 1024 for several "
             "phenotypes].")
@option("--engine", type=click.Choice(["auto", "general", "fast"]), default="auto",
        show_default=True,
        help="auto: per-SNP fits from genotype-class statistics where they give the exact "
             "MLE (hard calls; with --interaction, from weighted class moments); general: "
             "fit every SNP's full model one by one; fast: the same as auto (its former "
             "approximate GxE engine was slower than the exact one).")
@option("--robust", is_flag=True,
        help="Sandwich (robust) standard errors, valid for non-normal traits "
             "(add_se … av_pval hold the robust values).")
@option("--robust-estimator", type=click.Choice(["pooled", "hc0"]), default="pooled",
        show_default=True,
        help="Meat of the sandwich: moments pooled over individuals (calibrated down to "
             "MAF 0.01) or per-individual HC0.")
@option("--brown-forsythe", is_flag=True,
        help="Also the Brown-Forsythe test (Levene about the class medians, OSCA "
             "--vqtl-mtd 2) per SNP: columns bf_f, bf_pval.")
@option("--dask-scheduler", metavar="ADDRESS",
        help="Run the SNP blocks on this existing Dask scheduler (files on a shared "
             "filesystem); needs pip install 'hlmm[dask]'.")
@option("--dask-workers", type=click.IntRange(min=1),
        help="Run the SNP blocks on a new local Dask cluster of N worker processes.")
@user_errors
def chr_command(args, **opts):
    """Scan SNPs START..END-1 (0-based; an END past the last SNP means up to it) of
    GENOFILE (.bed, .pgen or .bgen), or with --whole-chr every SNP, for effects on the
    mean and the variance of the phenotype in PHENOFILE, writing OUTPREFIX.models.gz,
    OUTPREFIX.log and the null-model files."""
    genofile, start, end, phenofile, outprefix = _positional(args, opts["whole_chr"])
    geno = opts.pop("geno")
    if geno is not None:
        ctx = click.get_current_context()
        if ctx.get_parameter_source("max_missing") != click.core.ParameterSource.DEFAULT:
            raise click.UsageError("--geno and --max-missing set the same filter: give one")
        opts["max_missing"] = 100.0 * geno
    cfg = ScanConfig(genofile=genofile, start=start, end=end, phenofile=phenofile,
                     outprefix=outprefix, random_gts=tuple(opts.pop("random_gts")),
                     cat_base=tuple(opts.pop("cat_base")),
                     command=command_line(click.get_current_context()),
                     **opts)
    try:
        counts = run_scan(cfg, progress=progress_bar("Scanning SNPs"))
    except Interrupted as exc:
        click.echo(f"\nhlmm: interrupted by {exc} after {exc.done} of {exc.total} SNPs; "
                   f"they are kept in {exc.partial}: rerun the same command with --resume",
                   err=True)
        sys.exit(128 + exc.signum)
    per = counts.pop("phenotypes", None) or [(None, f"{outprefix}.models.gz", counts)]
    for label, path, c in per:
        filtered = sum(v for k, v in c.items() if k.startswith("filtered_"))
        click.echo(f"{sum(c.values())} SNPs written to {path}: "
                   f"{c['ok']} fitted, {filtered} "
                   f"filtered, {c['failed']} failed"
                   + (f", {c['unusable']} not usable" if c.get("unusable") else ""),
                   err=True)
        if c["ok"] == 0 and filtered > 0:
            click.echo(f"hlmm: warning: every SNP was filtered out ({c['filtered_missing']} on "
                       f"--max-missing {opts['max_missing']:g} %, {c['filtered_maf']} on "
                       f"--min-maf {opts['min_maf']:g}"
                       + "".join(f", {c['filtered_' + k]} on --{k} {opts[k]:g}"
                                 for k in ("mac", "hwe") if opts[k] is not None)
                       + "); no SNP was fitted"
                       + (f" (phenotype {label})" if label else ""), err=True)


def _positional(args, whole_chr):
    """GENOFILE START END PHENOFILE OUTPREFIX, or without START END under --whole-chr
    (as PLINK and REGENIE take a whole file by default)."""
    if len(args) == 3:
        if not whole_chr:
            raise click.UsageError("START and END are missing: give them, or --whole-chr "
                                   "to test every SNP of GENOFILE")
        return args[0], None, None, args[1], args[2]
    if len(args) != 5:
        raise click.UsageError(f"expected GENOFILE [START END] PHENOFILE OUTPREFIX, got "
                               f"{len(args)} argument(s): {' '.join(args)}")
    bounds = []
    for name, text in (("START", args[1]), ("END", args[2])):
        try:
            bounds.append(int(text))
        except ValueError:
            raise click.BadParameter(f"'{text}' is not an integer", param_hint=name) from None
    return args[0], bounds[0], bounds[1], args[3], args[4]


COMMANDS = [chr_command]
