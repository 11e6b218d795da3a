"""``hlmm plot``: QQ, Manhattan and add-versus-var figures of a scan."""
import os

import click

from hlmm.cli.options import user_errors
from hlmm.io.results_table import read_table


@click.command("plot")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", "prefix", type=click.Path(), default=None,
              help="Prefix of the PNG files [default: RESULTS without .models.gz / "
                   ".dispersion.tsv].")
@click.option("--title", default=None,
              help="Title over every figure, before the name of the RESULTS file.")
@user_errors
def plot(results, prefix, title):
    """Figures of a scan's RESULTS table (.models.gz, or a .dispersion.tsv).

    Writes PREFIX.qq.png (QQ plots of the add, var and, when present, dispersion
    p-values, genomic-control lambda in each title, 95 % band and identity line in the
    legend), PREFIX.manhattan.png (-log10 p along the genome, from the chrom/pos
    columns when present, chromosomes in the order 1-22, X, Y, XY, MT, others; else the
    SNP index; with the Bonferroni line 0.05/m) and PREFIX.add_var.png (var t statistic
    against add t statistic). Every figure is titled with the RESULTS file name.

    A statistic with no finite p-value (every SNP filtered) is left out, with a warning;
    a table with no finite p-value at all is an error and writes nothing.
    """
    from hlmm.plots import plot_results

    if prefix is None:
        prefix = str(results)
        for suffix in (".models.gz", ".dispersion.tsv", ".gz", ".tsv", ".txt"):
            if prefix.endswith(suffix):
                prefix = prefix[: -len(suffix)]
                break
    directory = os.path.dirname(os.path.abspath(prefix))
    if not os.path.isdir(directory):
        raise click.BadParameter(f"directory {directory} does not exist",
                                 param_hint="'-o' / '--out'")
    try:
        table = read_table(results)
        paths = plot_results(table, prefix, title=title, source=results,
                             warn=lambda msg: click.echo(msg, err=True))
    except (ValueError, OSError) as exc:
        msg = str(exc) if not isinstance(exc, OSError) else (exc.strerror or str(exc))
        raise click.ClickException(msg if str(results) in msg else f"{results}: {msg}") \
            from None
    for p in paths:
        click.echo(f"Wrote {p}", err=True)


COMMANDS = [plot]
