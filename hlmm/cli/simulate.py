"""``hlmm simulate genotypes|phenotype``: the tutorial's data, without PLINK or R."""
import os

import click



def _check_outdir(path, param_hint):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise click.BadParameter(f"directory {directory} does not exist",
                                 param_hint=param_hint)
    if os.path.isdir(path):
        raise click.BadParameter(f"{path} is a directory", param_hint=param_hint)


@click.group("simulate")
def simulate():
    """Simulate genotypes (.bed) and the tutorial's phenotype."""


@simulate.command("genotypes")
@click.argument("outprefix", type=click.Path(dir_okay=False))
@click.option("--n", "n", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Number of individuals.")
@click.option("--snps", type=click.IntRange(min=1), default=500, show_default=True,
              help="Number of SNPs.")
@click.option("--maf-min", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Lower bound of the uniform distribution of allele frequencies.")
@click.option("--maf-max", type=click.FloatRange(0, 1), default=0.95, show_default=True,
              help="Upper bound of the uniform distribution of allele frequencies.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of numpy's default_rng [default: fresh entropy].")
@click.option("--block-snps", type=click.IntRange(min=1), default=256, show_default=True,
              help="SNPs drawn and written at a time (memory ~ n x block bytes).")
def genotypes(outprefix, n, snps, maf_min, maf_max, seed, block_snps):
    """Write OUTPREFIX.bed/.bim/.fam: independent SNPs in Hardy-Weinberg equilibrium.

    Like `plink --simulate` with a `null` SNP set: each SNP's allele frequency is uniform
    on [--maf-min, --maf-max], genotypes are Binomial(2, frequency), no missing calls.
    A1 is the sample's minor allele (as plink --make-bed); the .bed counts A1. IDs are
    per0 per0, per1 per1, ...; SNPs null_0, null_1, ... on chromosome 1.
    """
    if maf_min > maf_max:
        raise click.BadParameter(f"--maf-min {maf_min} exceeds --maf-max {maf_max}",
                                 param_hint="'--maf-min'")
    _check_outdir(outprefix + ".bed", "OUTPREFIX")
    # here, not at import: keeps `hlmm chr` start-up light
    from hlmm.sim import genotypes as gensim

    try:
        gensim.simulate_genotypes(outprefix, n, snps, maf_min, maf_max, seed=seed,
                                  block_snps=block_snps)
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"{outprefix}: {exc}") from None
    click.echo(f"Wrote {outprefix}.bed/.bim/.fam ({n} individuals, {snps} SNPs)", err=True)


@simulate.command("phenotype")
@click.argument("test_bed", metavar="TEST.bed", type=click.Path(exists=True, dir_okay=False))
@click.argument("random_bed", metavar="RANDOM.bed",
                type=click.Path(exists=True, dir_okay=False))
@click.argument("out", metavar="OUT.fam", type=click.Path(dir_okay=False))
@click.option("--h2", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.10, show_default=True,
              help="Fraction of the phenotypic variance due to the SNPs' mean effects.")
@click.option("--dispersion", type=float, default=0.05, show_default=True,
              help="Dispersion effect (log-variance per A1 allele) of TEST.bed's first SNP.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of numpy's default_rng [default: fresh entropy].")
def phenotype(test_bed, random_bed, out, h2, dispersion, seed):
    """Simulate the tutorial's Gamma phenotype and write OUT.fam (FID IID y).

    Every SNP of TEST.bed and RANDOM.bed gets a N(0,1) mean effect on the A1 dosage; the
    first SNP of TEST.bed also has a mean effect and the dispersion effect. The phenotype
    is Gamma distributed given the genotypes (variance proportional to the mean, times
    exp(dispersion x centred dosage of the first SNP)) and then inverse-normal
    transformed.
    """
    _check_outdir(out, "OUT.fam")
    from hlmm.sim import genotypes as gensim

    try:
        sim = gensim.simulate_phenotype([test_bed, random_bed], h2=h2, dispersion=dispersion,
                                        seed=seed)
        gensim.write_phenotype(out, sim.fid, sim.iid, sim.y)
    except ValueError as exc:
        msg = str(exc)
        named = test_bed in msg or random_bed in msg
        raise click.ClickException(msg if named else f"{test_bed}: {msg}") from None
    except OSError as exc:
        name = exc.filename or test_bed
        raise click.ClickException(f"{name}: {exc.strerror or exc}") from None
    click.echo(f"Wrote {out} ({sim.y.shape[0]} individuals; gamma mean {sim.gamma_mean:g}, "
               f"scale {sim.s:.4g})", err=True)


COMMANDS = [simulate]
