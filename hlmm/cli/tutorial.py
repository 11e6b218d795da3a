"""``hlmm tutorial``: the original hlmm tutorial end to end, with nothing but this package.

Steps (files in DIR):
  1. ``hlmm simulate genotypes test`` and ``random`` (seeds S and S+1);
  2. ``hlmm simulate phenotype test.bed random.bed test_phenotype.fam`` (seed S+2);
  3. ``hlmm chr test.bed 0 SNPS test_phenotype.fam out_hlm`` (the HLM scan);
  4. ``hlmm dispersion out_hlm.models.gz`` → ``out_hlm.dispersion.tsv``;
  5. ``hlmm plot out_hlm.dispersion.tsv -o out_hlm`` → ``out_hlm.{qq,manhattan,add_var}.png``;
  6. with ``--mixed``: ``hlmm chr … out_hlmm --random-gts random.bed`` (the HLMM scan),
     then its dispersion effects and figures.
Then the headline statistics are printed on stdout.
"""
import os
import sys
import time

import click



def _say(msg):
    click.echo(f"[hlmm tutorial] {msg}", err=True)


def _run_chr(args):
    """Run ``hlmm chr`` in-process through click."""
    from hlmm.cli.main import main

    try:
        main.main(args=["chr", *args], standalone_mode=False, prog_name="hlmm")
    except click.exceptions.Exit as exc:
        if exc.exit_code:
            raise click.ClickException(f"hlmm chr exited with status {exc.exit_code}")
    except click.ClickException as exc:
        raise click.ClickException(f"hlmm chr: {exc.format_message()}") from None
    except SystemExit as exc:
        if exc.code:
            raise click.ClickException(f"hlmm chr exited with status {exc.code}") from None


def format_headline(label, h):
    """The headline statistics of one scan as printed by the tutorial."""
    lines = [
        f"{label}: {h['n_snps']} SNPs",
        f"  median add_t^2: {h['median_add_t2']:.4g}",
        f"  median var_t^2: {h['median_var_t2']:.4g}   (chi2_1 median: 0.4549)",
        f"  KS test of var_t^2 against chi2_1: p = {h['ks_var_p']:.3g}",
    ]
    if "r" in h:
        lines += [
            f"  Huber slope of var on add: r = {h['r']:.6g}, noise-adjusted r_av = "
            f"{h['r_av']:.6g}",
            f"  KS test of dispersion_t^2 (first SNP excluded) against chi2_1: "
            f"p = {h['ks_dispersion_p']:.3g}",
            f"  {h['first_snp']} (simulated dispersion effect): dispersion = "
            f"{h['first_dispersion']:.4g} (SE {h['first_dispersion_se']:.3g}), "
            f"p = {10 ** -h['first_dispersion_pval']:.3g} "
            f"(-log10 p = {h['first_dispersion_pval']:.3g})",
        ]
    return "\n".join(lines)


def _analyse(directory, outname, label, step, total):
    """Dispersion effects and figures of ``outname.models.gz``; returns the headline."""
    from hlmm.sim.dispersion import SIGNAL_P, dispersion_table, headline_statistics
    from hlmm.plots import plot_results

    models = os.path.join(directory, outname + ".models.gz")
    disp_path = os.path.join(directory, outname + ".dispersion.tsv")
    t0 = time.perf_counter()
    try:
        # a small --n may leave the simulated mean effects within their noise: the
        # tutorial still shows its numbers, with the warning `hlmm dispersion` would give
        table, fit = dispersion_table(models, force=True)
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"{models}: {exc}") from None
    if fit.signal_p > SIGNAL_P:
        _say(f"WARNING: no clear polygenic mean signal in {outname} (var(add)/mean(add_se^2) "
             f"= {fit.signal_ratio:.3g}, p = {fit.signal_p:.3g}): `hlmm dispersion` would "
             "refuse it without --force; its dispersion effects are largely a mean test")
    table.write(disp_path, compress=False)
    _say(f"step {step}/{total}: dispersion effects -> {disp_path} "
         f"({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    paths = plot_results(table, os.path.join(directory, outname), title=label, source=disp_path)
    _say(f"step {step + 1}/{total}: figures -> {', '.join(paths)} "
         f"({time.perf_counter() - t0:.1f} s)")
    return headline_statistics(table, fit)


@click.command("tutorial")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--n", "n", type=click.IntRange(min=10), default=50_000, show_default=True,
              help="Individuals. The original tutorial used 100000 (--n 100000).")
@click.option("--snps", type=click.IntRange(min=3), default=500, show_default=True,
              help="Test SNPs (all scanned).")
@click.option("--random-snps", type=click.IntRange(min=1), default=500, show_default=True,
              help="SNPs of the random-effects genotypes (they also have mean effects).")
@click.option("--mixed/--no-mixed", default=False, show_default=True,
              help="Also run the HLMM scan with random.bed as random effects (slow).")
@click.option("--h2", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.10, show_default=True, help="Simulated h2 of the phenotype.")
@click.option("--dispersion", "dispersion_effect", type=float, default=0.05,
              show_default=True, help="Simulated dispersion effect of the first test SNP.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True,
              help="Seeds: test genotypes S, random genotypes S+1, phenotype S+2.")
def tutorial(directory, n, snps, random_snps, mixed, h2, dispersion_effect, seed):
    """Run the hlmm tutorial in DIR: simulate data, scan, dispersion effects, figures.

    Simulates TEST (--snps) and RANDOM (--random-snps) genotypes for --n individuals
    and the tutorial's Gamma phenotype, in which every SNP has a mean effect and the
    first test SNP (null_0) also a dispersion effect; scans the test SNPs with the HLM
    (and, with --mixed, the HLMM with RANDOM as random effects); estimates dispersion
    effects; draws QQ, Manhattan and add-versus-var figures; prints the headline
    statistics. The default size (half the original's individuals) takes well under a
    minute on 2 cores; --n 100000 is the original's size. --mixed adds the HLMM scan
    with RANDOM's SNPs as random effects, which takes much longer.
    """
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise click.BadParameter(f"{directory} is not a directory", param_hint="DIR")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(f"cannot create {directory}: {exc.strerror or exc}",
                                 param_hint="DIR") from None
    from hlmm.sim import genotypes as gensim

    total = 8 if mixed else 5
    p = lambda name: os.path.join(directory, name)  # noqa: E731
    start = time.perf_counter()

    t0 = time.perf_counter()
    try:
        gensim.simulate_genotypes(p("test"), n, snps, 0.05, 0.95, seed=seed)
        gensim.simulate_genotypes(p("random"), n, random_snps, 0.05, 0.95, seed=seed + 1)
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"{directory}: cannot simulate genotypes: {exc}") from None
    _say(f"step 1/{total}: simulated genotypes of {n} individuals -> test.bed ({snps} SNPs), "
         f"random.bed ({random_snps} SNPs) ({time.perf_counter() - t0:.1f} s)")

    t0 = time.perf_counter()
    try:
        sim = gensim.simulate_phenotype([p("test.bed"), p("random.bed")], h2=h2,
                                        dispersion=dispersion_effect, seed=seed + 2)
        gensim.write_phenotype(p("test_phenotype.fam"), sim.fid, sim.iid, sim.y)
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"{directory}: cannot simulate the phenotype: {exc}") \
            from None
    _say(f"step 2/{total}: simulated phenotype -> test_phenotype.fam "
         f"({time.perf_counter() - t0:.1f} s)")

    t0 = time.perf_counter()
    _say(f"step 3/{total}: HLM scan: hlmm chr test.bed 0 {snps} test_phenotype.fam out_hlm")
    _run_chr([p("test.bed"), "0", str(snps), p("test_phenotype.fam"), p("out_hlm")])
    _say(f"step 3/{total}: HLM scan done ({time.perf_counter() - t0:.1f} s)")
    headlines = [("HLM scan", _analyse(directory, "out_hlm", "HLM", 4, total))]

    if mixed:
        t0 = time.perf_counter()
        _say(f"step 6/{total}: HLMM scan: hlmm chr test.bed 0 {snps} test_phenotype.fam "
             "out_hlmm --random-gts random.bed")
        _run_chr([p("test.bed"), "0", str(snps), p("test_phenotype.fam"), p("out_hlmm"),
                  "--random-gts", p("random.bed")])
        _say(f"step 6/{total}: HLMM scan done ({time.perf_counter() - t0:.1f} s)")
        headlines.append(("HLMM scan", _analyse(directory, "out_hlmm", "HLMM", 7, total)))

    _say(f"done in {time.perf_counter() - start:.1f} s; outputs in {directory}")
    sys.stdout.flush()
    for label, h in headlines:
        click.echo(format_headline(label, h))


COMMANDS = [tutorial]
