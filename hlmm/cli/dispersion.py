"""``hlmm dispersion``: dispersion effects (variance effects adjusted for mean effects)."""
import os

import click


def default_output(path):
    """``X.models.gz`` → ``X.dispersion.tsv``; any other name gets ``.dispersion.tsv`` added."""
    base = str(path)
    for suffix in (".models.gz", ".models", ".gz", ".tsv", ".txt"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base + ".dispersion.tsv"


@click.command("dispersion")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False),
              help="Output table [default: RESULTS with .models.gz replaced by "
                   ".dispersion.tsv].")
@click.option("--tol", type=click.FloatRange(min=0, min_open=True), default=1e-12,
              show_default=True,
              help="Convergence tolerance of the Huber IRLS (relative change of the "
                   "residuals). 1e-4 with --max-iter 20 reproduces MASS::rlm's default stop.")
@click.option("--max-iter", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Maximum IRLS iterations.")
@click.option("--force", is_flag=True,
              help="Compute dispersion effects even when the scan shows no clear polygenic "
                   "mean signal (test p > 0.001, see the README); they are then close to "
                   "a rescaled mean test.")
def dispersion(results, out, tol, max_iter, force):
    """Dispersion effects from a scan's RESULTS table (.models.gz, gzip or plain text).

    Fits a Huber robust regression without intercept of the variance effects (var) on
    the mean effects (add) across SNPs, corrects its slope for the noise in add
    (r_av), and adds the columns dispersion = var - r_av*add, dispersion_se,
    dispersion_t and dispersion_pval (-log10 p) to the table. Filtered SNPs (NA
    rows) are left out of the regression and stay NA.

    The method assumes polygenic mean effects: it refuses a scan whose mean effects
    are not clearly above their noise (var(add) against mean(add_se^2)) unless --force.
    """
    out = out or default_output(results)
    if os.path.isdir(out):
        raise click.BadParameter(f"{out} is a directory", param_hint="'-o' / '--out'")
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise click.BadParameter(f"directory {out_dir} does not exist",
                                 param_hint="'-o' / '--out'")
    try:
        from hlmm.sim.dispersion import SIGNAL_P, dispersion_table

        table, fit = dispersion_table(results, tol=tol, maxiter=max_iter, force=force)
    except (ValueError, OSError) as exc:
        raise click.ClickException(_with_file(exc, results)) from None
    if not fit.huber.converged:
        click.echo(f"warning: the Huber regression did not converge in {max_iter} "
                   "iterations", err=True)
    try:
        table.write(out, compress=False)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"Huber slope of var on add (r): {fit.r:.10g} ({fit.huber.n_iter} IRLS "
               f"iterations, {fit.n_used} SNPs)", err=True)
    click.echo(f"polygenic mean signal: var(add)/mean(add_se^2) = {fit.signal_ratio:.4g}, "
               f"p = {fit.signal_p:.3g} against none", err=True)
    click.echo(f"noise adjustment: {fit.noise_adjustment:.10g}  r_av: {fit.r_av:.10g}",
               err=True)
    if fit.signal_p > SIGNAL_P:
        click.echo(f"WARNING: no clear polygenic mean signal (p = {fit.signal_p:.3g} > "
                   f"{SIGNAL_P:g}); computed only because of --force: the dispersion "
                   "columns are then largely a rescaled mean test", err=True)
    click.echo(f"Wrote {out}", err=True)


def _with_file(exc, path):
    msg = str(exc) if not isinstance(exc, OSError) else (exc.strerror or str(exc))
    return msg if str(path) in msg else f"{path}: {msg}"


COMMANDS = [dispersion]
